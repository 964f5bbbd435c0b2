"""``download_model_set`` against the Hub emulator: publish, Xet, idempotence, faults, resume, leases."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

os.environ.setdefault("HF_XET_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from runbook_lib.errors import (  # noqa: E402
    DiskFullError,
    HubAuthError,
    HubError,
    HubNotFoundError,
    LeaseError,
    ModelSetError,
    UsageError,
    VerificationError,
)
from runbook_lib.hub_emulator import Fault, HubEmulator, RepositoryStore, write_synthetic_files  # noqa: E402
from runbook_lib.models import (  # noqa: E402
    RetryPolicy,
    active_set_path,
    download_model_set,
    parse_model_set,
    read_current,
    verify_model_set,
)

TOKEN = "download-test-token"
ALPHA = {
    "config.json": 150,
    "model.safetensors": 2_000_000,
    "extra/weights.bin": 1_000_000,
    "extra/vocab.json": 300_000,
    "README.md": 60,
}
BETA = {
    "model_artifacts/tableformer/accurate/tm_config.json": 200,
    "model_artifacts/tableformer/accurate/tableformer_accurate.safetensors": 1_500_000,
    "model_artifacts/tableformer/fast/tableformer_fast.safetensors": 800_000,
    "model_artifacts/layout/other.safetensors": 900_000,
    "README.md": 60,
}
XET_FILES = {"model.safetensors", "extra/weights.bin"} | {p for p in BETA if p.endswith(".safetensors")}
# Files the model set selects: alpha without its README, beta's tableformer folder.
SET_FILE_COUNT = (len(ALPHA) - 1) + sum(p.startswith("model_artifacts/tableformer/") for p in BETA)

MODEL_SET = {
    "name": "test-set",
    "repositories": [
        {"repo": "acme/alpha", "revision": "main", "exclude": ["README.md"]},
        {"repo": "acme/beta", "revision": "v1", "folder": "acme--beta", "include": ["model_artifacts/tableformer/**"]},
    ],
}
MANIFEST_KEYS = {
    "set_id", "created_at", "tools", "endpoint", "repositories",
    "bytes_downloaded", "duration_s", "throughput_bytes_per_s",
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("download-sources")
    return {
        "acme/alpha": write_synthetic_files(root / "alpha", ALPHA, seed=2),
        "acme/beta": write_synthetic_files(root / "beta", BETA, seed=3),
    }


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, Path]) -> Path:
    root = tmp_path_factory.mktemp("download-store")
    store = RepositoryStore(root)
    store.add_commit("acme/alpha", sources["acme/alpha"])
    store.add_commit("acme/beta", sources["acme/beta"], tags=["v1"])
    store.add_commit("acme/private", sources["acme/alpha"], access="private")
    return root


@pytest.fixture
def hub(store_root: Path):
    with HubEmulator(store_root, token=TOKEN) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", "/nonexistent/token")


FAST_RETRY = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05)


def download(hub: HubEmulator, tmp_path: Path, model_set: dict | None = None, **options):
    options.setdefault("staging", tmp_path / "staging")
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("progress", "none")
    return download_model_set(parse_model_set(model_set or MODEL_SET), tmp_path / "share", endpoint=hub.endpoint, **options)


def expected_files(sources: dict[str, Path]) -> dict[str, Path]:
    files = {f"acme--alpha/{p}": sources["acme/alpha"] / p for p in ALPHA if p != "README.md"}
    files.update({f"acme--beta/{p}": sources["acme/beta"] / p for p in BETA if p.startswith("model_artifacts/tableformer/")})
    return files


def file_requests(hub: HubEmulator) -> list[str]:
    return [r.path for r in hub.requests if "/resolve/" in r.path or "/xet-read-token/" in r.path or "/tree/" in r.path]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def published_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"manifest.json"}


def test_download_publishes_verified_set(hub: HubEmulator, tmp_path: Path, sources: dict[str, Path]) -> None:
    result = download(hub, tmp_path)
    share = tmp_path / "share"
    expected = expected_files(sources)

    assert not result.already_published
    assert read_current(share) == result.set_id
    assert active_set_path(share) == share / "sets" / result.set_id
    assert published_files(result.path) == set(expected)
    for name, source in expected.items():
        assert (result.path / name).read_bytes() == source.read_bytes(), name
    assert result.bytes_downloaded == sum(p.stat().st_size for p in expected.values())
    assert not (share / "lease.json").exists()
    assert not (tmp_path / "staging" / result.set_id).exists()


def test_manifest_records_hashes_and_transports(hub: HubEmulator, tmp_path: Path, sources: dict[str, Path]) -> None:
    result = download(hub, tmp_path)
    manifest = json.loads((result.path / "manifest.json").read_text())
    by_name = {
        f"{repo['folder']}/{entry['path']}": (repo, entry) for repo in manifest["repositories"] for entry in repo["files"]
    }
    beta = next(repo for repo in manifest["repositories"] if repo["repo"] == "acme/beta")

    assert set(manifest) == MANIFEST_KEYS
    assert manifest["set_id"] == result.set_id
    assert manifest["endpoint"] == hub.endpoint
    assert set(manifest["tools"]) >= {"huggingface_hub", "hf_xet", "docling-aks-runbook"}
    assert beta["revision"] == "v1"
    assert beta["commit"] == RepositoryStore(hub.store.root).get("acme/beta").tags["v1"]
    assert beta["include"] == ["model_artifacts/tableformer/**"]
    for name, source in expected_files(sources).items():
        repo, entry = by_name[name]
        is_xet = entry["path"] in XET_FILES
        assert entry["sha256"] == sha256(source), name
        assert entry["size"] == source.stat().st_size, name
        assert entry["transport"] == ("xet" if is_xet else "http"), name
        assert (entry["xet_hash"] is not None) == is_xet, name
        assert (entry["git_sha1"] is not None) == (not is_xet), name


def test_large_files_go_through_xet(hub: HubEmulator, tmp_path: Path) -> None:
    download(hub, tmp_path)
    resolved = [r.path for r in hub.requests if "/resolve/" in r.path]
    tokens = [r.path for r in hub.requests if "/xet-read-token/" in r.path]

    assert not any(path.endswith(".safetensors") or path.endswith(".bin") for path in resolved)
    assert {path.split("/")[4] for path in tokens} == {"alpha", "beta"}
    assert hub.unexpected_requests == []


def test_rerun_downloads_nothing(hub: HubEmulator, tmp_path: Path) -> None:
    first = download(hub, tmp_path)
    hub.clear_requests()

    second = download(hub, tmp_path)

    assert second.already_published
    assert second.set_id == first.set_id
    assert second.bytes_downloaded == 0
    assert file_requests(hub) == []
    assert verify_model_set(tmp_path / "share").ok


def test_pinned_rerun_makes_no_request(hub: HubEmulator, tmp_path: Path) -> None:
    store = RepositoryStore(hub.store.root)
    pinned = {
        "repositories": [
            {"repo": "acme/alpha", "revision": store.get("acme/alpha").branches["main"]},
            {"repo": "acme/beta", "revision": store.get("acme/beta").tags["v1"]},
        ]
    }
    download(hub, tmp_path, pinned)
    hub.clear_requests()

    result = download(hub, tmp_path, pinned)

    assert result.already_published
    assert hub.requests == []


def test_published_set_is_reactivated_without_download(hub: HubEmulator, tmp_path: Path) -> None:
    first = download(hub, tmp_path)
    other = {"repositories": [{"repo": "acme/alpha", "revision": "main", "include": ["config.json"]}]}
    second = download(hub, tmp_path, other)
    hub.clear_requests()

    again = download(hub, tmp_path)

    assert second.set_id != first.set_id
    assert again.already_published
    assert again.set_id == first.set_id
    assert again.previous_set_id == second.set_id
    assert read_current(tmp_path / "share") == first.set_id
    assert [p for p in file_requests(hub) if "/resolve/" in p or "/xet-read-token/" in p] == []


@pytest.mark.parametrize("path", ["acme/alpha/model.safetensors", "acme/alpha/config.json"])
def test_corrupt_file_is_not_published(hub: HubEmulator, tmp_path: Path, path: str) -> None:
    hub.add_fault(Fault("corrupt", path=path, times=None))

    with pytest.raises(VerificationError) as error:
        download(hub, tmp_path)

    share = tmp_path / "share"
    assert error.value.exit_code == 1
    assert "sha256 mismatch" in str(error.value) or "git sha1 mismatch" in str(error.value)
    assert path.split("/", 2)[2] in str(error.value)
    assert read_current(share) is None
    assert list(share.glob("sets/*/manifest.json")) == []
    assert not (share / "lease.json").exists()
    staged = list((tmp_path / "staging").rglob(Path(path).name))
    assert [p for p in staged if ".tmp" not in p.parts] == []


def test_corrupt_download_recovers_on_next_run(hub: HubEmulator, tmp_path: Path) -> None:
    hub.add_fault(Fault("corrupt", path="acme/alpha/model.safetensors", times=None))
    with pytest.raises(VerificationError):
        download(hub, tmp_path)
    hub.clear_faults()

    result = download(hub, tmp_path)

    assert result.files_reused == SET_FILE_COUNT - 1
    assert result.files_downloaded == 1
    assert verify_model_set(tmp_path / "share").ok


def test_5xx_bursts_are_retried(hub: HubEmulator, tmp_path: Path) -> None:
    hub.add_fault(Fault("status", path="/api/models/acme/alpha/tree/*", status=503, times=2))
    hub.add_fault(Fault("status", path="/acme/alpha/resolve/*/config.json", status=502, times=2))

    result = download(hub, tmp_path)

    statuses = [r.status for r in hub.requests if r.fault == "status"]
    assert statuses == [503, 503, 502, 502]
    assert verify_model_set(tmp_path / "share").ok
    assert result.set_id == read_current(tmp_path / "share")


def test_dropped_connections_are_retried(hub: HubEmulator, tmp_path: Path) -> None:
    hub.add_fault(Fault("drop", path="/api/models/acme/beta/revision/*", times=1))
    hub.add_fault(Fault("drop", path="/acme/alpha/resolve/*/extra/vocab.json", times=1))

    download(hub, tmp_path)

    assert len([r for r in hub.requests if r.fault == "drop"]) == 2
    assert verify_model_set(tmp_path / "share").ok


def test_truncated_body_is_completed(hub: HubEmulator, tmp_path: Path, sources: dict[str, Path]) -> None:
    hub.add_fault(Fault("truncate", path="/acme/alpha/resolve/*/extra/vocab.json", fraction=0.3, times=1))

    result = download(hub, tmp_path)

    assert [r.fault for r in hub.requests if r.path.endswith("vocab.json")][0] == "truncate"
    assert (result.path / "acme--alpha/extra/vocab.json").read_bytes() == (sources["acme/alpha"] / "extra/vocab.json").read_bytes()


def test_persistent_5xx_fails_without_publishing(hub: HubEmulator, tmp_path: Path) -> None:
    hub.add_fault(Fault("status", path="/api/models/acme/beta/tree/*", status=503, times=None))

    with pytest.raises(HubError, match="HTTP 503") as error:
        download(hub, tmp_path)

    assert "acme/beta" in str(error.value)
    assert len([r for r in hub.requests if r.fault == "status"]) == FAST_RETRY.attempts
    assert read_current(tmp_path / "share") is None


def test_private_repo_needs_token(hub: HubEmulator, tmp_path: Path) -> None:
    private = {"repositories": [{"repo": "acme/private", "revision": "main", "include": ["config.json"]}]}

    with pytest.raises(HubAuthError, match="HF_TOKEN") as error:
        download(hub, tmp_path, private)
    result = download(hub, tmp_path, private, token=TOKEN)

    assert error.value.exit_code == 2
    assert TOKEN not in str(error.value)
    assert published_files(result.path) == {"acme--private/config.json"}


@pytest.mark.parametrize(
    ("repo", "revision", "message"),
    [("acme/absent", "main", "Repository acme/absent not found"), ("acme/alpha", "v9", "Revision 'v9' not found")],
)
def test_missing_repo_or_revision(hub: HubEmulator, tmp_path: Path, repo: str, revision: str, message: str) -> None:
    with pytest.raises(HubNotFoundError, match=message):
        download(hub, tmp_path, {"repositories": [{"repo": repo, "revision": revision}]})

    assert read_current(tmp_path / "share") is None


def test_include_matching_nothing(hub: HubEmulator, tmp_path: Path) -> None:
    model_set = {"repositories": [{"repo": "acme/beta", "revision": "v1", "include": ["model_artifacts/tableformer2/**"]}]}

    with pytest.raises(ModelSetError, match="matches the model set with include"):
        download(hub, tmp_path, model_set)


def test_staging_inside_share_is_rejected(hub: HubEmulator, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="inside the share"):
        download(hub, tmp_path, staging=tmp_path / "share" / "staging")


def test_live_lease_blocks_second_run(hub: HubEmulator, tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    now = datetime.now(timezone.utc).isoformat()
    (share / "lease.json").write_text(json.dumps({"owner": "other-host:1:abcd", "purpose": "publish x", "renewed_at": now}))

    with pytest.raises(LeaseError, match="other-host:1:abcd"):
        download(hub, tmp_path, lease_wait_s=0.3)

    assert read_current(share) is None
    assert json.loads((share / "lease.json").read_text())["owner"] == "other-host:1:abcd"


def test_stale_lease_is_taken_over(hub: HubEmulator, tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    old = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    (share / "lease.json").write_text(json.dumps({"owner": "dead-host:1:abcd", "purpose": "publish x", "renewed_at": old}))

    result = download(hub, tmp_path, lease_wait_s=0.3)

    assert read_current(share) == result.set_id
    assert not (share / "lease.json").exists()


def test_progress_log_records(hub: HubEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    logger = logging.getLogger("runbook_lib.models")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="runbook_lib.models")
    try:
        download(hub, tmp_path, progress="log", log_interval_s=60)
    finally:
        logger.removeHandler(caplog.handler)

    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Downloaded ")]
    assert progress, "expected at least the final progress record"
    assert progress[-1].endswith(f"{SET_FILE_COUNT} of {SET_FILE_COUNT} files")
    assert "(100%)" in progress[-1]


def test_progress_bar_on_request(hub: HubEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    download(hub, tmp_path, progress="bar")

    err = capsys.readouterr().err
    assert "Downloaded" in err
    assert f"{SET_FILE_COUNT}/{SET_FILE_COUNT} files" in err


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return result.returncode == 0


@pytest.fixture
def small_volume(tmp_path: Path):
    mounts: list[Path] = []

    def mount(name: str, options: str) -> Path:
        path = tmp_path / name
        if not _mount_tmpfs(path, options):
            pytest.skip("mounting a tmpfs needs root and mount permission")
        mounts.append(path)
        return path

    yield mount
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full_in_staging(hub: HubEmulator, tmp_path: Path, small_volume) -> None:
    staging = small_volume("small-staging", "size=1m")

    with pytest.raises(DiskFullError, match="--staging"):
        download(hub, tmp_path, staging=staging)

    assert read_current(tmp_path / "share") is None


def test_disk_full_on_share(hub: HubEmulator, tmp_path: Path, small_volume) -> None:
    share = small_volume("share", "size=2m")

    with pytest.raises(DiskFullError, match="share"):
        download_model_set(
            parse_model_set(MODEL_SET), share, staging=tmp_path / "staging", endpoint=hub.endpoint,
            retry=FAST_RETRY, progress="none",
        )

    assert read_current(share) is None
    assert list(share.glob("sets/*/manifest.json")) == []


def test_no_space_while_writing_share(hub: HubEmulator, tmp_path: Path, small_volume) -> None:
    share = small_volume("share", "size=64m,nr_inodes=8")

    with pytest.raises(DiskFullError, match="No space left on the share"):
        download_model_set(
            parse_model_set(MODEL_SET), share, staging=tmp_path / "staging", endpoint=hub.endpoint,
            retry=FAST_RETRY, progress="none",
        )

    assert read_current(share) is None
    assert list(share.glob("sets/*/manifest.json")) == []


def _cli(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "runbook_lib.cli", "models", *args]


def _write_model_set(path: Path, model_set: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(model_set))
    return path


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env.update(HF_XET_TELEMETRY_ENABLED="false", HF_HUB_DISABLE_TELEMETRY="1", **extra)
    return env


@pytest.mark.timeout(180)
def test_killed_run_resumes(hub: HubEmulator, tmp_path: Path) -> None:
    model_set = _write_model_set(tmp_path / "set.yaml", MODEL_SET)
    hub.add_fault(Fault("delay", path="/acme/alpha/resolve/*/extra/vocab.json", delay_s=120, times=1))
    staging = tmp_path / "staging"
    command = _cli(
        "download", "--model-set", str(model_set), "--dest", str(tmp_path / "share"), "--staging", str(staging),
        "--endpoint", hub.endpoint, "--progress", "none", "--max-workers", "2",
    )
    process = subprocess.Popen(command, env=_subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        hub.wait_for_request(lambda r: r.fault == "delay", timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = list(staging.glob("*/.state.json"))
            if states and len(json.loads(states[0].read_text())) >= 3:
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    share = tmp_path / "share"
    assert read_current(share) is None
    assert list(share.glob("sets/*/manifest.json")) == []
    assert (share / "lease.json").exists()

    hub.clear_faults()
    result = download(hub, tmp_path, lease_stale_after_s=0.5, lease_wait_s=30)

    assert result.files_reused >= 3
    assert 0 < result.bytes_downloaded < result.manifest.total_bytes
    assert verify_model_set(share).ok
    assert read_current(share) == result.set_id


@pytest.mark.timeout(180)
def test_concurrent_runs_publish_once(hub: HubEmulator, tmp_path: Path) -> None:
    model_set = _write_model_set(tmp_path / "set.yaml", MODEL_SET)
    processes = [
        subprocess.Popen(
            _cli(
                "download", "--model-set", str(model_set), "--dest", str(tmp_path / "share"),
                "--staging", str(tmp_path / f"staging{i}"), "--endpoint", hub.endpoint, "--progress", "none",
            ),
            env=_subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=150) for p in processes]

    assert [p.returncode for p in processes] == [0, 0], outputs
    stdout = [out for out, _ in outputs]
    assert sum("Published set" in out for out in stdout) == 1, stdout
    assert sum("already published" in out for out in stdout) == 1, stdout
    assert len(list((tmp_path / "share" / "sets").iterdir())) == 1
    assert verify_model_set(tmp_path / "share").ok


@pytest.mark.timeout(120)
def test_xet_disabled_falls_back_to_http(hub: HubEmulator, tmp_path: Path, sources: dict[str, Path]) -> None:
    model_set = _write_model_set(tmp_path / "set.yaml", MODEL_SET)
    completed = subprocess.run(
        _cli(
            "download", "--model-set", str(model_set), "--dest", str(tmp_path / "share"),
            "--staging", str(tmp_path / "staging"), "--endpoint", hub.endpoint, "--progress", "none",
        ),
        env=_subprocess_env(HF_HUB_DISABLE_XET="1"),
        capture_output=True,
        text=True,
        timeout=100,
    )

    assert completed.returncode == 0, completed.stderr
    manifest = json.loads((active_set_path(tmp_path / "share") / "manifest.json").read_text())
    transports = {entry["transport"] for repo in manifest["repositories"] for entry in repo["files"]}
    assert transports == {"http"}
    assert verify_model_set(tmp_path / "share").ok
    assert not any("/xet-read-token/" in r.path for r in hub.requests)


def test_no_space_while_writing_staging(hub: HubEmulator, tmp_path: Path, small_volume) -> None:
    staging = small_volume("small-staging", "size=64m,nr_inodes=6")

    with pytest.raises(DiskFullError, match="staging|--staging"):
        download(hub, tmp_path, staging=staging)

    assert read_current(tmp_path / "share") is None
    assert not (tmp_path / "share" / "lease.json").exists()


def test_xet_announced_only_in_head(store_root: Path, tmp_path: Path) -> None:
    with HubEmulator(store_root, list_xet_hashes=False) as hub:
        result = download(hub, tmp_path)
        heads = [r.path for r in hub.requests if r.method == "HEAD"]

    transports = {entry.path: entry.transport for _, entry in result.manifest.iter_files()}
    assert transports["model.safetensors"] == "xet"
    assert transports["config.json"] == "http"
    assert any(path.endswith("model.safetensors") for path in heads)
    assert verify_model_set(tmp_path / "share").ok


def test_xet_file_without_lfs_metadata(store_root: Path, tmp_path: Path) -> None:
    with HubEmulator(store_root, list_lfs=False) as hub:
        result = download(hub, tmp_path)

    entries = {entry.path: entry for _, entry in result.manifest.iter_files()}
    assert entries["model.safetensors"].transport == "xet"
    assert entries["model.safetensors"].git_sha1 is None
    assert entries["config.json"].git_sha1 is not None
    assert verify_model_set(tmp_path / "share").ok
