"""Benchmark the model download against huggingface_hub's snapshot_download, side by side, on the Hub emulator.

Measures, in one run on one machine:

1. wall time of ``runbook models download`` (CLI process: resolve, download over Xet,
   verify every hash, publish, switch ``current``) versus a process that calls
   ``huggingface_hub.snapshot_download`` for the same repositories and patterns into a
   local folder, alternating the two, several repetitions each;
2. verification throughput of ``verify_model_set`` versus ``sha256sum`` on the same files;
3. wall time of a no-op re-run of ``runbook models download`` on the published set.

It writes the results into the "Model download" section of docs/benchmarks.md and the
raw numbers into benchmarks/results/download.json.

Usage:
    .venv/bin/python benchmarks/bench_download.py [--size-mb 320] [--repetitions 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_PAGE = REPO_ROOT / "docs" / "benchmarks.md"
RESULTS_FILE = REPO_ROOT / "benchmarks" / "results" / "download.json"
SECTION_START = "<!-- bench_download:start -->"
SECTION_END = "<!-- bench_download:end -->"

ENV = {
    "HF_XET_TELEMETRY_ENABLED": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}

# snapshot_download in a fresh process: the same repositories and patterns as the model set.
# is_xet_available() is called first because huggingface_hub 1.33 caches it without a lock,
# and worker threads racing the first lookup fall back to plain HTTP.
SNAPSHOT_SCRIPT = """
import json, sys
from huggingface_hub import snapshot_download
from huggingface_hub.utils._runtime import is_xet_available
assert is_xet_available()
endpoint, dest, repos = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
for repo in repos:
    snapshot_download(
        repo["repo"], revision=repo["revision"], endpoint=endpoint,
        local_dir=f"{dest}/{repo['folder']}", allow_patterns=repo.get("include") or None,
    )
"""


def layout(size_mb: int) -> dict[str, dict[str, int]]:
    """Return two repositories of generated files adding up to about ``size_mb`` megabytes."""
    mb = 1_000_000
    big = int(size_mb * 0.3) * mb
    mid = int(size_mb * 0.15) * mb
    small = int(size_mb * 0.05) * mb
    return {
        "bench/layout": {
            "config.json": 900,
            "preprocessor_config.json": 400,
            "model.safetensors": big,
        },
        "bench/models": {
            "model_artifacts/tableformer/accurate/tm_config.json": 2_000,
            "model_artifacts/tableformer/accurate/tableformer_accurate.safetensors": big,
            "model_artifacts/tableformer/fast/tm_config.json": 2_000,
            "model_artifacts/tableformer/fast/tableformer_fast.safetensors": mid,
            "model_artifacts/tableformer/fast/extra.bin": small,
            "model_artifacts/other/unused.safetensors": small,
            "README.md": 300,
        },
    }


MODEL_SET = {
    "name": "benchmark",
    "repositories": [
        {"repo": "bench/layout", "revision": "main", "folder": "bench--layout"},
        {"repo": "bench/models", "revision": "v1", "folder": "bench--models", "include": ["model_artifacts/tableformer/**"]},
    ],
}


def run(command: list[str], env: dict[str, str] | None = None) -> float:
    """Run a command and return its wall time in seconds; raise with its output if it fails.

    Dirty pages of the previous run are written out first, outside the timing, so that one
    variant's write-back does not slow down the next one.
    """
    os.sync()
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed with {completed.returncode}:\n{completed.stdout}\n{completed.stderr}")
    return elapsed


def machine() -> dict[str, str]:
    """Describe the machine: CPU, cores, memory, OS, Python and library versions."""
    info: dict[str, str] = {}
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in lscpu.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "Flags") and value.strip():
            info[key.strip()] = value.strip()
    if "Flags" in info:
        info["SHA extensions"] = "yes" if " sha_ni" in f" {info.pop('Flags')} " else "no"
    with open("/proc/meminfo") as handle:
        total_kb = int(handle.readline().split()[1])
    info["Memory"] = f"{total_kb / 1024 / 1024:.1f} GiB"
    info["Kernel"] = platform.release()
    info["Python"] = platform.python_version()
    for name in ("huggingface_hub", "hf_xet"):
        info[name] = metadata.version(name)
    info["sha256sum"] = subprocess.run(["sha256sum", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return info


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=320, help="Approximate size of the model set in MB (default: %(default)s).")
    parser.add_argument("--repetitions", type=int, default=5, help="Runs of each variant (default: %(default)s).")
    parser.add_argument("--workdir", type=Path, help="Scratch folder (default: a temporary folder, deleted afterwards).")
    parser.add_argument("--no-docs", action="store_true", help="Print the results without updating docs/benchmarks.md.")
    args = parser.parse_args()

    os.environ.update(ENV)
    sys.path.insert(0, str(REPO_ROOT))
    import yaml

    from runbook_lib.hub_emulator import HubEmulator, RepositoryStore, write_synthetic_files
    from runbook_lib.models import verify_model_set

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-download-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **ENV}
    env.pop("HF_TOKEN", None)

    try:
        print(f"Generating about {args.size_mb} MB of files in {workdir}", flush=True)
        store = RepositoryStore(workdir / "store")
        for index, (repo, sizes) in enumerate(layout(args.size_mb).items()):
            source = write_synthetic_files(workdir / "sources" / repo.replace("/", "--"), sizes, seed=index)
            store.add_commit(repo, source, tags=["v1"])
        model_set_file = workdir / "model-set.yaml"
        model_set_file.write_text(yaml.safe_dump(MODEL_SET))

        runbook = [sys.executable, "-m", "runbook_lib.cli", "models", "download", "--model-set", str(model_set_file),
                   "--progress", "none"]
        runbook_times: list[float] = []
        snapshot_times: list[float] = []
        noop_times: list[float] = []

        with HubEmulator(workdir / "store") as hub:
            repos = json.dumps(MODEL_SET["repositories"])
            for index in range(args.repetitions + 1):
                share, staging, snap = (workdir / f"{name}-{index}" for name in ("share", "staging", "snapshot"))
                ours = lambda: run([*runbook, "--dest", str(share), "--staging", str(staging), "--endpoint", hub.endpoint], env)  # noqa: E731
                theirs = lambda: run([sys.executable, "-c", SNAPSHOT_SCRIPT, hub.endpoint, str(snap), repos], env)  # noqa: E731

                # Alternate which variant goes first; repetition 0 warms the page cache and is dropped.
                if index % 2 == 0:
                    mine, baseline = ours(), theirs()
                else:
                    baseline, mine = theirs(), ours()
                noop = run([*runbook, "--dest", str(share), "--staging", str(staging), "--endpoint", hub.endpoint], env)
                if index > 0:
                    runbook_times.append(mine)
                    snapshot_times.append(baseline)
                    noop_times.append(noop)
                print(f"  run {index}: runbook {mine:.2f} s, snapshot_download {baseline:.2f} s, no-op {noop:.2f} s", flush=True)
                if index < args.repetitions:
                    shutil.rmtree(snap)
                    shutil.rmtree(share)

            large_http = [r.path for r in hub.requests if "/resolve/" in r.path and r.path.endswith((".safetensors", ".bin"))]

        published = workdir / f"share-{args.repetitions}"
        manifest = json.loads((published / "sets" / (published / "current").read_text().strip() / "manifest.json").read_text())
        total_bytes = sum(entry["size"] for repo in manifest["repositories"] for entry in repo["files"])
        transports = sorted({entry["transport"] for repo in manifest["repositories"] for entry in repo["files"] if entry["size"] > 1_000_000})
        files = sorted(str(p) for p in (published / "sets").rglob("*") if p.is_file() and p.name != "manifest.json")

        verify_times: list[float] = []
        sha256sum_times: list[float] = []
        for index in range(args.repetitions + 1):
            started = time.perf_counter()
            report = verify_model_set(published)
            ours_s = time.perf_counter() - started
            assert report.ok, report.format_table()
            theirs_s = run(["sha256sum", *files])
            if index > 0:
                verify_times.append(ours_s)
                sha256sum_times.append(theirs_s)

        results = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "set_bytes": total_bytes,
            "set_files": len(files),
            "repetitions": args.repetitions,
            "transports_of_large_files": transports,
            "large_files_fetched_over_http": len(large_http),
            "runbook_download_s": runbook_times,
            "snapshot_download_s": snapshot_times,
            "noop_rerun_s": noop_times,
            "verify_s": verify_times,
            "sha256sum_s": sha256sum_times,
        }
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n")
    section = render(results)
    print(section)
    if not args.no_docs:
        update_docs(section)
    return 0


def render(results: dict) -> str:
    """Return the Markdown section for docs/benchmarks.md."""
    size_mb = results["set_bytes"] / 1e6
    ours, theirs = median(results["runbook_download_s"]), median(results["snapshot_download_s"])
    verify, sha = median(results["verify_s"]), median(results["sha256sum_s"])
    noop = median(results["noop_rerun_s"])
    paired = median([a / b for a, b in zip(results["runbook_download_s"], results["snapshot_download_s"])])
    verify_rate, sha_rate = size_mb / verify, size_mb / sha
    machine_rows = "\n".join(f"| {key} | {value} |" for key, value in results["machine"].items())

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    return f"""{SECTION_START}
## Model download

Measured by `benchmarks/bench_download.py` on {results['date']}, against the Hub emulator on
loopback, with a generated model set of {size_mb:.0f} MB in {results['set_files']} files
(two repositories, large files stored with Xet). Each variant ran {results['repetitions']} times
after one warm-up run, alternating which went first; the table gives medians.

| Measure | runbook | baseline | ratio | goal |
| --- | --- | --- | --- | --- |
| Download, wall time (process start to exit) | {ours:.2f} s | snapshot_download {theirs:.2f} s | {ours / theirs:.2f}x | no slower: {verdict(ours <= theirs)} |
| Verification throughput (warm page cache) | {verify_rate:.0f} MB/s | sha256sum {sha_rate:.0f} MB/s | {verify_rate / sha_rate:.2f}x | at least 0.8x: {verdict(verify_rate >= 0.8 * sha_rate)} |
| No-op re-run, wall time | {noop:.2f} s | | | under 2 s: {verdict(noop < 2.0)} |

The median of the per-repetition download ratios (runbook over snapshot_download, each pair
run back to back) is {paired:.2f}x.

All runs, in seconds: runbook download {runs(results['runbook_download_s'])}; snapshot_download
{runs(results['snapshot_download_s'])}; no-op re-run {runs(results['noop_rerun_s'])}; verify
{runs(results['verify_s'])}; sha256sum {runs(results['sha256sum_s'])}.

What each side does:

- `runbook models download` runs as a new process. It resolves the revisions, lists the
  trees, downloads into a staging folder (large files through hf_xet, transports
  recorded: {', '.join(results['transports_of_large_files'])}), hashes every file against the Hub's
  sha256 or git blob sha1, publishes the set (hard links, because staging and share were on
  one file system here; the Job copies from its emptyDir instead), writes the manifest and
  `current`, and deletes the staging folder.
- The baseline is a new process that calls `snapshot_download(local_dir=...)` once per
  repository with the same include patterns. It checks sizes only. It calls
  `is_xet_available()` before downloading so that every large file goes through Xet;
  {results['large_files_fetched_over_http']} large files were fetched over plain HTTP in all runs together.
- Verification: `verify_model_set` hashes the published files in parallel threads (hashlib,
  4 MiB reads); `sha256sum` hashes the same files in one process. Both read from the page cache.
- Before each timed run the script calls `sync`, outside the timing, so that the previous
  run's write-back of a few hundred MB does not slow down the next one.
- The no-op re-run is the CLI process on a published, unchanged set: one revision lookup
  per branch or tag, a manifest read and a size check per file; most of it is interpreter
  and import start-up.

Machine:

| | |
| --- | --- |
{machine_rows}

NOTE: other work shared the machine's 2 cores during the run, so single runs vary. Compare
the medians and the ratios, not single runs.
{SECTION_END}"""


def update_docs(section: str) -> None:
    """Replace the "Model download" section of docs/benchmarks.md, or append it."""
    text = DOCS_PAGE.read_text(encoding="utf-8") if DOCS_PAGE.exists() else "# Benchmarks\n"
    if SECTION_START in text and SECTION_END in text:
        before, _, rest = text.partition(SECTION_START)
        _, _, after = rest.partition(SECTION_END)
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS_PAGE.write_text(text, encoding="utf-8")
    print(f"Updated {DOCS_PAGE}")


if __name__ == "__main__":
    sys.exit(main())
