"""Benchmark the conversion service against docling-serve and against docling in-process, side by side.

Measures, in one run on one machine, with the same models folder, the same documents,
the same conversion options (OCR off, table structure off, Markdown out) and the same
worker count:

1. throughput and p50/p95 latency at 1, 2 and 4 concurrent clients of ``docling-api``
   (``POST /convert``) and of ``docling-serve`` (``POST /v1/convert/file``, synchronous)
   with its default ``DOCLING_SERVE_SYNC_POLL_INTERVAL`` (2 s) and with it lowered to 1
   and to 0 (its synchronous endpoint polls its own job queue at that interval);
2. the service's overhead against ``DocumentConverter.convert`` plus the Markdown export
   in this process, document by document, one request at a time;
3. peak resident memory of each server (its process and all its children).

The servers run at the same time, each idle while another one is measured; the
rounds rotate which one goes first. It writes the "Conversion service" section of
docs/benchmarks.md and the raw numbers into benchmarks/results/service.json.

Usage:
    .venv/bin/python benchmarks/bench_service.py [--models-dir DIR] [--workers 2] [--repetitions 3]

Without ``--models-dir`` it writes the tiny demo models (``runbook models demo``) into a
temporary folder. docling-serve comes from the ``bench`` extra (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_PAGE = REPO_ROOT / "docs" / "benchmarks.md"
RESULTS_FILE = REPO_ROOT / "benchmarks" / "results" / "service.json"
SECTION_START = "<!-- bench_service:start -->"
SECTION_END = "<!-- bench_service:end -->"

TESTDATA_DIR = REPO_ROOT / "testdata"
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus" / "docling"
DOCUMENTS = (
    TESTDATA_DIR / "dutch_pdf.pdf",
    TESTDATA_DIR / "english_two_column.pdf",
    CORPUS_DIR / "multi_page.pdf",
    CORPUS_DIR / "normal_4pages.pdf",
)
CONCURRENCY = (1, 2, 4)
# Requests each client sends per measured batch (it cycles through the documents).
REQUESTS_PER_CLIENT = 8
# Passes over the documents per round for the overhead: each document in-process and through the
# service back to back, the order alternating from pass to pass.
OVERHEAD_PASSES = 4

# The same options on every side. docling-serve's include_images defaults to true, which
# renders picture images; docling-api never does, so it is turned off there.
API_OPTIONS = {"do_ocr": "false", "do_table_structure": "false", "to_formats": "md"}
SERVE_OPTIONS = {
    "do_ocr": "false",
    "do_table_structure": "false",
    "to_formats": "md",
    "include_images": "false",
    "image_export_mode": "placeholder",
}
SERVE_POLL_INTERVALS = (2, 1, 0)

# Goals of the service: overhead at most 5 %, throughput at least docling-serve's.
MAX_OVERHEAD = 0.05


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """One server under test: a subprocess on a loopback port and what it takes to call it."""

    name: str
    label: str
    url: str
    process: subprocess.Popen
    log_path: Path
    endpoint: str
    file_field: str
    options: dict[str, str]
    peak_rss: int = 0
    samples: dict[int, list[float]] = field(default_factory=dict)
    throughput: dict[int, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def convert(self, client: httpx.Client, path: Path) -> float:
        """Convert one document and return the wall time. A response other than 200 is recorded as an error."""
        started = time.perf_counter()
        response = client.post(
            f"{self.url}{self.endpoint}",
            files={self.file_field: (path.name, path.read_bytes(), "application/pdf")},
            data=self.options,
        )
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            self.errors.append(f"{path.name}: {response.status_code} {response.text[:200]}")
        return elapsed

    def tree_rss(self) -> int:
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_docling_api(models: Path, workers: int, workdir: Path) -> Server:
    port = free_port()
    log_path = workdir / "docling-api.log"
    (workdir / "api-spool").mkdir(exist_ok=True)
    env = {**os.environ, "DOCLING_API_TEMP_DIR": str(workdir / "api-spool"), "DOCLING_API_MAX_QUEUE": "64"}
    command = [
        sys.executable, "-m", "docling_api", "--models-dir", str(models), "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning",
    ]
    process = subprocess.Popen(command, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, env=env)
    server = Server("docling-api", "docling-api", f"http://127.0.0.1:{port}", process, log_path,
                    "/convert", "file", API_OPTIONS)
    wait_for(server, "/ready")
    return server


def start_docling_serve(models: Path, workers: int, workdir: Path, poll_interval: int) -> Server:
    port = free_port()
    name = f"docling-serve-poll-{poll_interval}"
    log_path = workdir / f"{name}.log"
    env = {
        **os.environ,
        "DOCLING_SERVE_ARTIFACTS_PATH": str(models),
        # Its start-up warm-up wants OCR and TableFormer weights the demo models do not all have.
        "DOCLING_SERVE_LOAD_MODELS_AT_BOOT": "false",
        "DOCLING_SERVE_ENABLE_UI": "false",
        "DOCLING_SERVE_ENG_LOC_NUM_WORKERS": str(workers),
        "DOCLING_SERVE_SYNC_POLL_INTERVAL": str(poll_interval),
        "DOCLING_SERVE_SCRATCH_PATH": str(workdir / f"{name}-scratch"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "docling_serve", "run", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, env=env)
    label = f"docling-serve, poll {poll_interval} s" + (" (default)" if poll_interval == 2 else "")
    server = Server(name, label, f"http://127.0.0.1:{port}", process, log_path,
                    "/v1/convert/file", "files", SERVE_OPTIONS)
    wait_for(server, "/health")
    return server


def wait_for(server: Server, path: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}{path}", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{server.name} did not return 200 on {path} within {timeout_s} s")


class MemorySampler:
    """Samples the resident memory of a server's process tree while a batch runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.server.peak_rss = max(self.server.peak_rss, self.server.tree_rss())
            self._stop.wait(0.25)


def run_batch(server: Server, documents: list[Path], clients: int) -> tuple[list[float], float]:
    """Run ``clients`` clients that each send REQUESTS_PER_CLIENT conversions; return latencies and requests/s."""

    def client_loop(offset: int) -> list[float]:
        with httpx.Client(timeout=600) as client:
            return [
                server.convert(client, documents[(offset + index) % len(documents)])
                for index in range(REQUESTS_PER_CLIENT)
            ]

    with MemorySampler(server), ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        results = list(pool.map(client_loop, range(clients)))
        wall = time.perf_counter() - started
    latencies = [value for result in results for value in result]
    return latencies, len(latencies) / wall


def warm_up(server: Server, documents: list[Path], workers: int) -> None:
    """Convert every document once per worker, so that each worker has loaded its converter."""
    with ThreadPoolExecutor(workers) as pool, httpx.Client(timeout=600) as client:
        for _ in range(2):
            list(pool.map(lambda path: server.convert(client, path), documents * workers))
    server.errors.clear()


class InProcessConverter:
    """docling's DocumentConverter in this process, with the options the servers use."""

    def __init__(self, models: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from docling.datamodel.accelerator_options import AcceleratorDevice, AcceleratorOptions
        from docling.datamodel.base_models import InputFormat
        from docling.datamodel.pipeline_options import PdfPipelineOptions
        from docling.document_converter import DocumentConverter, PdfFormatOption

        options = PdfPipelineOptions(
            artifacts_path=models,
            do_ocr=False,
            do_table_structure=False,
            accelerator_options=AcceleratorOptions(device=AcceleratorDevice.CPU),
        )
        self.converter = DocumentConverter(format_options={InputFormat.PDF: PdfFormatOption(pipeline_options=options)})
        self.converter.initialize_pipeline(InputFormat.PDF)

    def convert(self, path: Path) -> float:
        started = time.perf_counter()
        result = self.converter.convert(path)
        result.document.export_to_markdown()
        return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def machine() -> dict[str, str]:
    """Describe the machine: CPU, cores, memory, OS, Python and the versions compared."""
    info: dict[str, str] = {}
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in lscpu.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core") and value.strip():
            info[key.strip()] = value.strip()
    info["Memory"] = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    info["Kernel"] = platform.release()
    info["Python"] = platform.python_version()
    for name in ("docling", "docling-serve", "torch", "uvicorn"):
        info[name] = metadata.version(name)
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, help="docling artifacts folder (default: demo models in a temp folder).")
    parser.add_argument("--workers", type=int, default=2, help="Workers of each server (default: %(default)s).")
    parser.add_argument("--repetitions", type=int, default=3, help="Rounds over all concurrencies (default: %(default)s).")
    parser.add_argument("--workdir", type=Path, help="Scratch folder (default: a temporary folder, deleted afterwards).")
    parser.add_argument("--no-docs", action="store_true", help="Print the results without updating docs/benchmarks.md.")
    args = parser.parse_args()

    documents = [path for path in DOCUMENTS if path.is_file()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-service-"))
    workdir.mkdir(parents=True, exist_ok=True)
    servers: list[Server] = []
    try:
        models = args.models_dir
        if models is None:
            sys.path.insert(0, str(REPO_ROOT))
            from runbook_lib.models.demo import write_demo_models

            print(f"Writing the demo models into {workdir / 'models'}", flush=True)
            models = write_demo_models(workdir / "models", seed=0)

        print(f"Starting docling-api and docling-serve ({args.workers} workers each)", flush=True)
        servers.append(start_docling_api(models, args.workers, workdir))
        for interval in SERVE_POLL_INTERVALS:
            servers.append(start_docling_serve(models, args.workers, workdir, interval))
        for server in servers:
            warm_up(server, documents, args.workers)

        print("Loading docling in this process", flush=True)
        in_process = InProcessConverter(models)
        for path in documents:
            in_process.convert(path)
        direct: dict[str, list[float]] = {path.name: [] for path in documents}
        sequential: dict[str, list[float]] = {path.name: [] for path in documents}

        for repetition in range(args.repetitions):
            order = servers[repetition % len(servers):] + servers[: repetition % len(servers)]
            for clients in CONCURRENCY:
                for server in order:
                    latencies, throughput = run_batch(server, documents, clients)
                    server.samples.setdefault(clients, []).extend(latencies)
                    server.throughput.setdefault(clients, []).append(throughput)
                    print(f"round {repetition + 1} {server.name} c={clients}: {throughput:.2f} req/s, "
                          f"p50 {statistics.median(latencies):.3f} s", flush=True)

            # Overhead: the same documents one at a time, in process and through the service, back to back.
            api = servers[0]
            with httpx.Client(timeout=600) as client:
                for overhead_pass in range(OVERHEAD_PASSES):
                    for path in documents:
                        if overhead_pass % 2:
                            sequential[path.name].append(api.convert(client, path))
                            direct[path.name].append(in_process.convert(path))
                        else:
                            direct[path.name].append(in_process.convert(path))
                            sequential[path.name].append(api.convert(client, path))

        results = summarize(servers, direct, sequential, documents, args)
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        section = render(results)
        print(section)
        if not args.no_docs:
            update_docs(section)
    finally:
        for server in servers:
            server.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def summarize(servers: list[Server], direct: dict, sequential: dict, documents: list[Path], args) -> dict:
    by_server = {}
    for server in servers:
        by_server[server.name] = {
            "label": server.label,
            "peak_rss_bytes": server.peak_rss,
            "errors": server.errors,
            "concurrency": {
                str(clients): {
                    "throughput_rps_median": statistics.median(server.throughput[clients]),
                    "throughput_rps_runs": server.throughput[clients],
                    "latency_p50_s": statistics.median(server.samples[clients]),
                    "latency_p95_s": percentile(server.samples[clients], 0.95),
                    "requests": len(server.samples[clients]),
                }
                for clients in CONCURRENCY
            },
        }

    overhead = {
        name: {
            "in_process_median_s": statistics.median(direct[name]),
            "service_median_s": statistics.median(sequential[name]),
            "in_process_runs_s": direct[name],
            "service_runs_s": sequential[name],
        }
        for name in direct
    }
    total_direct = sum(item["in_process_median_s"] for item in overhead.values())
    total_service = sum(item["service_median_s"] for item in overhead.values())
    # The median of per-pair ratios, each pair run back to back, is steadier on a shared machine.
    pair_ratios = [service / inproc for name in direct for inproc, service in zip(direct[name], sequential[name])]
    return {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "workers": args.workers,
        "repetitions": args.repetitions,
        "requests_per_client": REQUESTS_PER_CLIENT,
        "overhead_samples": args.repetitions * OVERHEAD_PASSES,
        "documents": [path.name for path in documents],
        "options": API_OPTIONS,
        "servers": by_server,
        "overhead": {
            "documents": overhead,
            "total_in_process_s": total_direct,
            "total_service_s": total_service,
            "ratio_of_totals": total_service / total_direct,
            "median_pair_ratio": statistics.median(pair_ratios),
        },
        "in_process_peak_rss_bytes": psutil.Process().memory_info().rss,
        "machine": machine(),
    }


def render(results: dict) -> str:
    servers = results["servers"]
    api = servers["docling-api"]
    serve_names = [name for name in servers if name != "docling-api"]

    rows = []
    verdicts = []
    for clients in CONCURRENCY:
        key = str(clients)
        ours = api["concurrency"][key]
        for name in ["docling-api", *serve_names]:
            item = servers[name]["concurrency"][key]
            ratio = "" if name == "docling-api" else f"{ours['throughput_rps_median'] / item['throughput_rps_median']:.2f}x"
            rows.append(
                f"| {clients} | {servers[name]['label']} | {item['throughput_rps_median']:.2f} | "
                f"{item['latency_p50_s']:.2f} | {item['latency_p95_s']:.2f} | {ratio} |"
            )
        best = max(serve_names, key=lambda name: servers[name]["concurrency"][key]["throughput_rps_median"])
        verdicts.append(ours["throughput_rps_median"] >= servers[best]["concurrency"][key]["throughput_rps_median"])

    overhead = results["overhead"]
    overhead_rows = [
        f"| {name} | {item['in_process_median_s']:.3f} | {item['service_median_s']:.3f} | "
        f"{item['service_median_s'] / item['in_process_median_s']:.2f}x |"
        for name, item in overhead["documents"].items()
    ]
    extra = overhead["ratio_of_totals"] - 1
    per_request_ms = (overhead["total_service_s"] - overhead["total_in_process_s"]) / len(overhead["documents"]) * 1000
    memory_rows = [f"| {servers[name]['label']} | {servers[name]['peak_rss_bytes'] / 2**20:.0f} MiB |" for name in servers]
    machine_rows = "\n".join(f"| {key} | {value} |" for key, value in results["machine"].items())
    errors = {name: len(item["errors"]) for name, item in servers.items()}
    met = "met" if all(verdicts) else "not met at every concurrency"
    overhead_met = "met" if extra <= MAX_OVERHEAD else "not met"

    return f"""{SECTION_START}
## Conversion service

Measured by `benchmarks/bench_service.py` on {results['measured_at']}. The servers ran at the same time
on loopback with the same demo models (`runbook models demo`), {results['workers']} workers each, and the
same options: `do_ocr=false`, `do_table_structure=false`, Markdown out (docling-serve also
`include_images=false`, `image_export_mode=placeholder`, so that neither side renders pictures). Documents:
{', '.join(results['documents'])}. Each client sends {results['requests_per_client']} requests back to back,
cycling through the documents; {results['repetitions']} rounds over all concurrencies, rotating which
server goes first. Throughput is the median over the rounds; p50 and p95 are over all requests.

| Clients | Server | Throughput (req/s) | p50 latency (s) | p95 latency (s) | docling-api throughput ratio |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Goal, throughput at least docling-serve's at every concurrency, compared with docling-serve's best
poll setting at each concurrency: **{met}**. docling-serve's synchronous endpoint submits a job to its own
queue and checks it every `DOCLING_SERVE_SYNC_POLL_INTERVAL` seconds (default 2, an integer); each row
names the setting. At 0 it checks on every pass of its event loop.

Overhead against docling in-process (`DocumentConverter.convert` and `export_to_markdown` in the
benchmark's own process, same options), one request at a time: each document in-process and through the
service back to back, the order alternating, {results['overhead_samples']} times each; medians:

| Document | In-process (s) | docling-api (s) | Ratio |
| --- | --- | --- | --- |
{chr(10).join(overhead_rows)}

Sum of the medians: {overhead['total_in_process_s']:.3f} s in-process, {overhead['total_service_s']:.3f} s
through the service, an overhead of {extra * 100:.1f} %, or {per_request_ms:.0f} ms per request (median of the
back-to-back pair ratios {overhead['median_pair_ratio']:.2f}x). Goal, at most {MAX_OVERHEAD * 100:.0f} % on the
sum of the medians: **{overhead_met}**. The service's share is the upload over HTTP, the spooling to disk, the
format detection, the PDFium checks (page count, encryption, and the pixel size of every embedded image and
page, which loads each page: 1 to 12 ms for these documents), the pipe to the worker and the JSON response. It
is about the same per request whatever the document, so its share shrinks as conversions get longer; the demo
models used here convert a page in well under 0.1 s.

Peak resident memory of each server, its process and all its children, during the measured batches:

| Server | Peak RSS |
| --- | --- |
{chr(10).join(memory_rows)}

docling-api runs each worker as a process of its own, with its own copy of torch and the models. That is what
lets a crash or a kill take down one conversion only. docling-serve's workers are threads of one process that
share them. The web process of docling-api imports torch too (through docling's service schemas for the
docling-serve-compatible API), about 0.7 GB of the total here.

Failed requests during the measured batches: {', '.join(f'{name} {count}' for name, count in errors.items())}.

Machine:

| | |
| --- | --- |
{machine_rows}

NOTE: other work shared the machine's 2 cores during the run, so single runs vary. Compare
the medians and the ratios, not single runs.
{SECTION_END}"""


def update_docs(section: str) -> None:
    """Replace the "Conversion service" section of docs/benchmarks.md, or append it."""
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
