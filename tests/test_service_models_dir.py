"""How the service treats --models-dir: missing model folders, models that arrive later, broken shares."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)


def run_cli(models_dir: Path, *flags: str) -> subprocess.CompletedProcess:
    """Run docling-api in the foreground; it is expected to exit before it serves."""
    return subprocess.run(
        [sys.executable, "-m", "docling_api", "--models-dir", str(models_dir), "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def empty_models_service(start_service, tmp_path_factory):
    models_dir = tmp_path_factory.mktemp("empty-models")
    return start_service(models_dir, wait_ready=False), models_dir


def test_ready_503_names_missing_folder(empty_models_service):
    service, models_dir = empty_models_service

    response = service.client.get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert str(models_dir / "docling-project--docling-layout-heron") in body["reason"]
    assert "runbook models download --dest" in body["reason"]
    assert "runbook models demo --dest" in body["reason"]
    assert service.client.get("/health").status_code == 200


def test_root_lists_missing_folders(empty_models_service):
    service, _ = empty_models_service

    body = service.client.get("/").json()

    assert body["ready"] is False
    assert body["model_set"]["complete"] is False
    assert "docling-project--docling-layout-heron" in body["model_set"]["missing_folders"]
    assert "docling-project--docling-models/model_artifacts/tableformer/accurate" in body["model_set"]["missing_folders"]


def test_convert_503_without_models(empty_models_service):
    service, _ = empty_models_service
    content = (Path(__file__).resolve().parent.parent / "testdata" / "dutch_pdf.pdf").read_bytes()

    response = service.client.post("/convert", files={"file": ("dutch_pdf.pdf", content)})

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert "docling-project--docling-layout-heron" in error["message"]


def test_models_arriving_later_are_loaded(empty_models_service, demo_models_dir):
    service, models_dir = empty_models_service

    # The folder is filled after the service started, as a download job does on a fresh cluster.
    # Each model folder appears whole, through a rename, as a publishing step would do it.
    staging = models_dir.parent / f"{models_dir.name}-staging"
    shutil.copytree(demo_models_dir, staging, copy_function=_link_or_copy)
    for folder in ("docling-project--docling-models", "docling-project--docling-layout-heron"):
        (staging / folder).rename(models_dir / folder)

    service.wait_until("/ready", 200, timeout_s=300)
    assert service.client.get("/").json()["model_set"]["complete"] is True


def test_cli_rejects_current_without_set(tmp_path):
    (tmp_path / "current").write_text("2026-01-01-missing\n")

    completed = run_cli(tmp_path)

    assert completed.returncode == 2
    assert "2026-01-01-missing" in completed.stderr
    assert "manifest.json" in completed.stderr
    assert "runbook models download" in completed.stderr


def test_cli_rejects_set_without_manifest(tmp_path, demo_models_dir):
    set_dir = tmp_path / "sets" / "set-a"
    shutil.copytree(demo_models_dir, set_dir, copy_function=_link_or_copy)
    (tmp_path / "current").write_text("set-a")

    completed = run_cli(tmp_path)

    assert completed.returncode == 2
    assert str(set_dir / "manifest.json") in completed.stderr
    assert "does not exist" in completed.stderr


def test_cli_rejects_invalid_current(tmp_path):
    (tmp_path / "current").write_text("../elsewhere")

    completed = run_cli(tmp_path)

    assert completed.returncode == 2
    assert "'../elsewhere'" in completed.stderr


def test_cli_rejects_invalid_flag_value(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "docling_api", "--models-dir", str(tmp_path), "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 2
    assert "--workers / DOCLING_API_WORKERS" in completed.stderr
    assert "(got 0)" in completed.stderr


def _link_or_copy(source: str, destination: str) -> str:
    try:
        Path(destination).hardlink_to(source)
    except OSError:
        shutil.copy2(source, destination)
    return destination


def test_console_script_prints_version():
    script = Path(sys.executable).parent / "docling-api"

    completed = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)

    assert completed.returncode == 0
    assert completed.stdout.startswith("docling-api ")


def test_cli_rejects_port_in_use(tmp_path):
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        completed = run_cli(tmp_path, "--port", str(port))

    assert completed.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in completed.stderr
    assert "pick another port with --port" in completed.stderr
