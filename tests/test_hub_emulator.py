"""The Hub emulator against the real huggingface_hub client: endpoints, Xet, access control, faults."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("HF_XET_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from huggingface_hub import HfApi, hf_hub_download, snapshot_download  # noqa: E402
from huggingface_hub.errors import (  # noqa: E402
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from runbook_lib.errors import EmulatorError  # noqa: E402
from runbook_lib.hub_emulator import (  # noqa: E402
    Fault,
    HubEmulator,
    RepositoryStore,
    git_blob_sha1,
    load_faults,
    write_synthetic_files,
)

TOKEN = "emulator-test-token"
SIZES = {
    "config.json": 120,
    "model.safetensors": 1_500_000,
    "sub/weights.bin": 700_000,
    "sub/notes.txt": 40,
}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_files(tmp_path_factory.mktemp("emulator-source"), SIZES, seed=1)


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory, source: Path) -> Path:
    root = tmp_path_factory.mktemp("emulator-store")
    store = RepositoryStore(root)
    store.add_commit("acme/tiny", source, tags=["v1"])
    store.add_commit("acme/private", source, access="private")
    store.add_commit("acme/gated", source, access="gated")
    return root


@pytest.fixture
def hub(store_root: Path):
    with HubEmulator(store_root, token=TOKEN) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", "/nonexistent/token")


def _commit(store_root: Path) -> str:
    repo = RepositoryStore(store_root).get("acme/tiny")
    assert repo is not None
    return repo.branches["main"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_snapshot_download_matches_sources(hub: HubEmulator, source: Path, tmp_path: Path) -> None:
    folder = Path(snapshot_download("acme/tiny", revision="v1", endpoint=hub.endpoint, local_dir=tmp_path / "out"))

    for relative in SIZES:
        assert (folder / relative).read_bytes() == (source / relative).read_bytes(), relative


def test_snapshot_download_uses_xet_for_large_files(hub: HubEmulator, tmp_path: Path) -> None:
    snapshot_download("acme/tiny", endpoint=hub.endpoint, local_dir=tmp_path / "out")

    paths = [r.path for r in hub.requests if r.method == "GET"]
    assert not any(p.endswith("model.safetensors") for p in paths)
    assert not any(p.endswith("sub/weights.bin") for p in paths)
    assert any("/xet-read-token/" in p for p in paths)
    assert hub.unexpected_requests == []


def test_tree_listing_pages(store_root: Path) -> None:
    with HubEmulator(store_root, tree_page_size=2) as hub:
        entries = list(HfApi(endpoint=hub.endpoint).list_repo_tree("acme/tiny", recursive=True))
        tree_requests = [r for r in hub.requests if "/tree/" in r.path]

    assert sorted(e.path for e in entries) == sorted([*SIZES, "sub"])
    assert len(tree_requests) == 3


def test_tree_listing_of_a_folder(hub: HubEmulator) -> None:
    entries = list(HfApi(endpoint=hub.endpoint).list_repo_tree("acme/tiny", path_in_repo="sub"))

    assert sorted(e.path for e in entries) == ["sub/notes.txt", "sub/weights.bin"]


def test_head_of_xet_file_has_xet_headers(hub: HubEmulator, store_root: Path, source: Path) -> None:
    commit = _commit(store_root)
    response = httpx.head(f"{hub.endpoint}/acme/tiny/resolve/main/model.safetensors")

    assert response.status_code == 200
    assert response.headers["X-Repo-Commit"] == commit
    assert response.headers["ETag"] == f'"{_sha256(source / "model.safetensors")}"'
    assert response.headers["X-Linked-Size"] == str(SIZES["model.safetensors"])
    assert len(response.headers["X-Xet-Hash"]) == 64
    assert response.links["xet-auth"]["url"] == f"{hub.endpoint}/api/models/acme/tiny/xet-read-token/{commit}"


def test_xet_token_in_headers_and_json(hub: HubEmulator, store_root: Path) -> None:
    response = httpx.get(f"{hub.endpoint}/api/models/acme/tiny/xet-read-token/{_commit(store_root)}")
    body = response.json()

    assert response.headers["X-Xet-Cas-Url"].startswith("local://")
    assert body["casUrl"] == response.headers["X-Xet-Cas-Url"]
    assert body["accessToken"] == response.headers["X-Xet-Access-Token"]
    assert body["exp"] == int(response.headers["X-Xet-Token-Expiration"])
    assert body["exp"] > time.time()


def test_small_file_etag_is_git_blob_sha1(hub: HubEmulator, source: Path) -> None:
    data = (source / "config.json").read_bytes()
    head = httpx.head(f"{hub.endpoint}/acme/tiny/resolve/main/config.json")
    partial = httpx.get(f"{hub.endpoint}/acme/tiny/resolve/main/config.json", headers={"Range": "bytes=10-19"})

    assert head.headers["ETag"] == f'"{git_blob_sha1(data)}"'
    assert "X-Xet-Hash" not in head.headers
    assert partial.status_code == 206
    assert partial.content == data[10:20]
    assert partial.headers["Content-Range"] == f"bytes 10-19/{len(data)}"


def test_xet_file_over_plain_http(hub: HubEmulator, source: Path) -> None:
    data = (source / "model.safetensors").read_bytes()
    url = f"{hub.endpoint}/acme/tiny/resolve/main/model.safetensors"

    whole = httpx.get(url)
    middle = httpx.get(url, headers={"Range": "bytes=1000-1999999"})

    assert whole.content == data
    assert middle.status_code == 206
    assert middle.content == data[1000:]


def test_missing_repo_revision_and_file(hub: HubEmulator, tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("acme/absent", "config.json", endpoint=hub.endpoint, cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        HfApi(endpoint=hub.endpoint).repo_info("acme/tiny", revision="v9")
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("acme/tiny", "absent.json", endpoint=hub.endpoint, cache_dir=tmp_path)


def test_private_and_gated_repos_need_the_token(hub: HubEmulator) -> None:
    anonymous = HfApi(endpoint=hub.endpoint, token=False)
    with pytest.raises(RepositoryNotFoundError) as private_error:
        anonymous.repo_info("acme/private")
    with pytest.raises(GatedRepoError):
        anonymous.repo_info("acme/gated")

    assert private_error.value.response.status_code == 401
    assert HfApi(endpoint=hub.endpoint, token=TOKEN).repo_info("acme/private").sha
    assert HfApi(endpoint=hub.endpoint, token=TOKEN).repo_info("acme/gated").sha


def test_wrong_token_is_rejected(hub: HubEmulator) -> None:
    with pytest.raises(HfHubHTTPError) as error:
        HfApi(endpoint=hub.endpoint, token="hf_wrong").repo_info("acme/tiny")

    assert error.value.response.status_code == 401
    assert error.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"


def test_fault_status_burst(hub: HubEmulator) -> None:
    hub.add_fault(Fault("status", path="/api/models/acme/tiny/revision/*", status=503, times=2))
    url = f"{hub.endpoint}/api/models/acme/tiny/revision/main"

    statuses = [httpx.get(url).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


def test_fault_status_401_and_404(hub: HubEmulator) -> None:
    hub.add_fault(Fault("status", path="/api/models/acme/tiny", status=401, times=1))
    hub.add_fault(Fault("status", path="/acme/tiny/resolve/*", status=404, times=1))
    api = HfApi(endpoint=hub.endpoint, token=False)

    with pytest.raises(RepositoryNotFoundError):
        api.model_info("acme/tiny")
    response = httpx.get(f"{hub.endpoint}/acme/tiny/resolve/main/config.json")

    assert response.status_code == 404
    assert response.headers["X-Error-Code"] == "EntryNotFound"


def test_fault_drop_closes_without_answer(hub: HubEmulator) -> None:
    hub.add_fault(Fault("drop", path="/api/models/*", times=1))
    url = f"{hub.endpoint}/api/models/acme/tiny/revision/main"

    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)

    assert httpx.get(url).status_code == 200


def test_fault_truncate_cuts_the_body(hub: HubEmulator) -> None:
    hub.add_fault(Fault("truncate", path="/acme/tiny/resolve/*", fraction=0.5, times=1))
    url = f"{hub.endpoint}/acme/tiny/resolve/main/sub/weights.bin"

    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)

    assert len(httpx.get(url).content) == SIZES["sub/weights.bin"]


def test_fault_corrupt_http_body_keeps_etag(hub: HubEmulator, source: Path) -> None:
    hub.add_fault(Fault("corrupt", path="acme/tiny/config.json", times=None))
    response = httpx.get(f"{hub.endpoint}/acme/tiny/resolve/main/config.json")
    data = (source / "config.json").read_bytes()

    assert response.headers["ETag"] == f'"{git_blob_sha1(data)}"'
    assert len(response.content) == len(data)
    assert response.content != data


def test_fault_corrupt_xet_file_passes_huggingface_hub(hub: HubEmulator, source: Path, tmp_path: Path) -> None:
    hub.add_fault(Fault("corrupt", path="acme/tiny/model.safetensors", times=None))
    folder = Path(snapshot_download("acme/tiny", endpoint=hub.endpoint, local_dir=tmp_path / "out"))

    downloaded = folder / "model.safetensors"
    assert downloaded.stat().st_size == SIZES["model.safetensors"]
    assert _sha256(downloaded) != _sha256(source / "model.safetensors")


def test_fault_delay_trips_client_timeout(hub: HubEmulator) -> None:
    hub.add_fault(Fault("delay", path="/api/models/*", delay_s=2.0, times=1))

    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{hub.endpoint}/api/models/acme/tiny/revision/main", timeout=0.2)

    record = hub.wait_for_request(lambda r: r.fault == "delay" and r.status == 200, timeout=10)
    assert record.path == "/api/models/acme/tiny/revision/main"


def test_unexpected_request_is_recorded(hub: HubEmulator) -> None:
    response = httpx.get(f"{hub.endpoint}/api/whoami-v2")

    assert response.status_code == 404
    assert [r.path for r in hub.unexpected_requests] == ["/api/whoami-v2"]


def test_fault_file_loading(tmp_path: Path) -> None:
    good = tmp_path / "faults.yaml"
    good.write_text('- {kind: status, path: "/api/models/*", status: 503, times: 2}\n- {kind: drop}\n')
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {kind: status, code: 503}\n")

    faults = load_faults(good)

    assert [(f.kind, f.status, f.times) for f in faults] == [("status", 503, 2), ("drop", 503, 1)]
    with pytest.raises(EmulatorError, match="Unknown fault fields"):
        load_faults(bad)
    with pytest.raises(EmulatorError, match="Invalid fault kind"):
        Fault("explode")


def test_commit_without_changes_keeps_head(tmp_path: Path, source: Path) -> None:
    store = RepositoryStore(tmp_path / "store")
    first = store.add_commit("acme/tiny", source)
    again = store.add_commit("acme/tiny", source, tags=["v2"])
    changed = store.add_commit("acme/tiny", source, extra_files={"README.md": b"new\n"})

    repo = store.get("acme/tiny")
    assert repo is not None
    assert again == first
    assert repo.tags["v2"] == first
    assert changed != first
    assert repo.commits[changed].parent == first
    assert repo.branches["main"] == changed


def test_cli_build_demo_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from runbook_lib.cli import main

    models = tmp_path / "models"
    write_synthetic_files(models / "docling-project--docling-layout-heron", {"config.json": 100, "model.safetensors": 5000})
    write_synthetic_files(
        models / "docling-project--docling-models",
        {"model_artifacts/tableformer/fast/tm_config.json": 100, "model_artifacts/tableformer/fast/t.safetensors": 5000},
    )

    code = main(["hub-emulator", "build-demo", "--root", str(tmp_path / "store"), "--models", str(models)])
    missing = main(["hub-emulator", "build-demo", "--root", str(tmp_path / "store2"), "--models", str(tmp_path / "none")])

    repo = RepositoryStore(tmp_path / "store").get("docling-project/docling-models")
    assert code == 0
    assert repo.tags["v2.3.0"] == repo.branches["main"]
    assert f"docling-project/docling-models {repo.branches['main']}" in capsys.readouterr().out
    assert missing == 2


@pytest.mark.timeout(120)
def test_two_processes_download_at_once(hub: HubEmulator, tmp_path: Path, source: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from huggingface_hub import snapshot_download
        snapshot_download("acme/tiny", endpoint=sys.argv[1], local_dir=sys.argv[2])
        """
    )
    env = {**os.environ, "HF_XET_TELEMETRY_ENABLED": "false"}
    processes = [
        subprocess.Popen([sys.executable, "-c", script, hub.endpoint, str(tmp_path / f"out{i}")], env=env)
        for i in range(2)
    ]

    codes = [p.wait(timeout=100) for p in processes]

    assert codes == [0, 0]
    for i in range(2):
        assert (tmp_path / f"out{i}" / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()


@pytest.mark.timeout(60)
def test_cli_serve_runs_until_sigterm(store_root: Path, tmp_path: Path) -> None:
    endpoint_file = tmp_path / "endpoint"
    process = subprocess.Popen(
        [sys.executable, "-m", "runbook_lib.cli", "hub-emulator", "serve", "--root", str(store_root),
         "--endpoint-file", str(endpoint_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not endpoint_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        endpoint = endpoint_file.read_text().strip()

        response = httpx.get(f"{endpoint}/api/models/acme/tiny/revision/v1")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)

    assert response.status_code == 200
    assert response.json()["sha"] == _commit(store_root)
    assert process.returncode == 0
    assert f"serving {endpoint}" in output
