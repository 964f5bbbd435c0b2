"""The worker pool on a model share: set resolution, two workers, a crashed worker and a timed-out one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

from test_service_api import metric_value

TESTDATA_DIR = Path(__file__).resolve().parent.parent / "testdata"
SET_ID = "2026-12-01T10-00-00Z-demo"
# Every conversion in this module uses the default options, whose converter each worker loads
# and warms up at start, so small documents finish far below this limit.
REQUEST_TIMEOUT_S = 5

pytestmark = pytest.mark.timeout(600)


def _link_or_copy(source: str, destination: str) -> str:
    try:
        Path(destination).hardlink_to(source)
    except OSError:
        shutil.copy2(source, destination)
    return destination


def write_share(share: Path, models: Path) -> dict:
    """Publish the demo models as set SET_ID in a share folder, with a manifest and 'current'."""
    set_dir = share / "sets" / SET_ID
    shutil.copytree(models, set_dir, copy_function=_link_or_copy)

    repositories = []
    for repo, folder, commit in (
        ("docling-project/docling-layout-heron", "docling-project--docling-layout-heron", "1" * 40),
        ("docling-project/docling-models", "docling-project--docling-models", "2" * 40),
    ):
        files = [
            {"path": str(path.relative_to(set_dir / folder)), "size": path.stat().st_size, "sha256": None,
             "xet_hash": None, "transport": "local"}
            for path in sorted((set_dir / folder).rglob("*")) if path.is_file()
        ]
        repositories.append({"repo": repo, "revision": "v2.3.0" if "models" in repo else "main", "commit": commit,
                             "folder": folder, "files": files})

    manifest = {
        "set_id": SET_ID,
        "created_at": "2026-12-01T10:00:00Z",
        "tools": {"huggingface_hub": "1.33.0"},
        "endpoint": "local://test",
        "repositories": repositories,
        "bytes_downloaded": 0,
        "duration_s": 0.0,
        "throughput_bytes_per_s": 0.0,
    }
    (set_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (share / "current").write_text(f"{SET_ID}\n", encoding="utf-8")
    return manifest


@pytest.fixture(scope="module")
def share_service(start_service, demo_models_dir, tmp_path_factory):
    share = tmp_path_factory.mktemp("share")
    manifest = write_share(share, demo_models_dir)
    service = start_service(
        share, workers=2, env={"DOCLING_API_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S)}
    )
    return service, share, manifest


@pytest.fixture(scope="module")
def long_pdf(tmp_path_factory) -> Path:
    """A 480-page text PDF (under the 500-page limit): converting it takes far longer than REQUEST_TIMEOUT_S."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = tmp_path_factory.mktemp("long") / "long_report.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for page in range(1, 481):
        for line in range(40):
            pdf.drawString(60, 780 - line * 18, f"Page {page} line {line}: the harbour renovation continues on schedule.")
        pdf.showPage()
    pdf.save()
    return path


def convert(service, path: Path):
    return service.client.post("/convert", files={"file": (path.name, path.read_bytes())})


def busy_worker_pid(service) -> int:
    """Wait until a worker is busy and return its process id."""
    deadline = 120
    for _ in range(deadline * 20):
        for worker in service.client.get("/").json()["workers"]:
            if worker["state"] == "busy":
                return worker["pid"]
        threading.Event().wait(0.05)
    pytest.fail("no worker became busy")


def test_root_reports_model_set_from_manifest(share_service):
    service, share, manifest = share_service

    model_set = service.client.get("/").json()["model_set"]

    assert model_set["source"] == "share"
    assert model_set["set_id"] == SET_ID
    assert model_set["artifacts_path"] == str(share / "sets" / SET_ID)
    assert model_set["created_at"] == "2026-12-01T10:00:00Z"
    revisions = {repo["repo"]: (repo["revision"], repo["commit"]) for repo in model_set["repositories"]}
    assert revisions == {
        repo["repo"]: (repo["revision"], repo["commit"]) for repo in manifest["repositories"]
    }


def test_workers_load_models_from_set(share_service):
    service, share, _ = share_service

    response = convert(service, TESTDATA_DIR / "dutch_pdf.pdf")

    assert response.status_code == 200, response.text
    assert "Jaarverslag 2025" in response.json()["markdown"]
    started = [record for record in service.log_records() if record.get("message") == "Starting conversion workers"]
    assert started[0]["artifacts_path"] == str(share / "sets" / SET_ID)
    assert started[0]["set_id"] == SET_ID
    workers = service.client.get("/").json()["workers"]
    assert [worker["state"] for worker in workers] == ["idle", "idle"]


def test_crashed_worker_fails_only_its_request(share_service, long_pdf):
    service, _, _ = share_service
    results: dict[str, object] = {}

    def convert_long() -> None:
        results["long"] = convert(service, long_pdf)

    thread = threading.Thread(target=convert_long)
    thread.start()
    pid = busy_worker_pid(service)
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=120)

    # The other worker keeps serving while the killed one is replaced.
    other = convert(service, TESTDATA_DIR / "english_two_column.pdf")

    crashed = results["long"]
    assert crashed.status_code == 500
    error = crashed.json()["error"]
    assert error["code"] == "converter_crashed"
    assert "long_report.pdf" in error["message"]
    assert "crashed" in error["message"]
    assert "Traceback" not in crashed.text
    assert other.status_code == 200, other.text

    service.wait_until("/ready", 200, timeout_s=300)
    workers = service.client.get("/").json()["workers"]
    assert pid not in [worker["pid"] for worker in workers]
    assert sorted(worker["generation"] for worker in workers) == [0, 1]
    metrics = service.client.get("/metrics").text
    assert metric_value(metrics, "docling_api_worker_restarts_total", {"reason": "crash"}) == 1


def test_timeout_replaces_worker(share_service, long_pdf):
    service, _, _ = share_service
    restarts_before = metric_value(service.client.get("/metrics").text, "docling_api_worker_restarts_total", {"reason": "timeout"})

    response = convert(service, long_pdf)

    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "conversion_timeout"
    assert "long_report.pdf" in error["message"]
    assert f"{REQUEST_TIMEOUT_S} s" in error["message"]
    assert service.client.get("/health").status_code == 200

    metrics = service.client.get("/metrics").text
    assert metric_value(metrics, "docling_api_worker_restarts_total", {"reason": "timeout"}) == restarts_before + 1
    assert metric_value(metrics, "docling_api_conversions_in_flight") == 0

    # Both workers are back, and conversions work again.
    deadline_workers = None
    for _ in range(600):
        workers = service.client.get("/").json()["workers"]
        deadline_workers = workers
        if all(worker["state"] == "idle" for worker in workers):
            break
        threading.Event().wait(0.5)
    assert all(worker["state"] == "idle" for worker in deadline_workers)
    assert convert(service, TESTDATA_DIR / "english_two_column.pdf").status_code == 200


def test_spool_folder_empty_after_faults(share_service):
    service, _, _ = share_service

    assert service.upload_spools() == []
