"""The notebooks' cluster path under papermill, against the fake Kubernetes API server.

Target ``kubeconfig`` runs notebooks 03 (model volume and download Job) and 04
(Deployment and Service) with the real ``kubernetes`` client in the kernel; the
fake scripts the cluster's answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from fakes.kube_scenarios import (
    DOWNLOAD_LOG,
    script_job_image_pull_backoff,
    script_job_success,
    script_rollout_available,
    script_service_address,
)

from conftest import free_loopback_port
from runbook_lib.cli import main

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def cluster_overrides(kube_apiserver, tmp_path: Path) -> list[str]:
    """``-p`` options that point the notebooks at the fake API server, with short waits."""
    return [
        "-p", f"run_dir={tmp_path / 'state'}",
        "-p", f"kubeconfig={kube_apiserver.kubeconfig_path}",
        "-p", "kube_context=fake",
        "-p", "image=registry.example.net/docling-api:0.1.0",
        "-p", "storage_class=standard",
        "-p", "job_timeout_s=30",
        "-p", "rollout_timeout_s=30",
        "-p", "service_ip_timeout_s=30",
        "-p", "stuck_pod_grace_s=0",
    ]


def cell_text(notebook_path: Path) -> str:
    """Return every text and error output of an executed notebook, joined."""
    notebook = nbformat.read(notebook_path, as_version=4)
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("evalue", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
            parts.append(output.get("data", {}).get("text/html", ""))
    return "\n".join(parts)


def test_cluster_apply_to_rollout(kube_apiserver, cluster_overrides: list[str], tmp_path: Path) -> None:
    script_job_success(kube_apiserver)
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver, "20.50.1.7")

    code = main(["run", "--target", "kubeconfig", "--only", "03,04", "--out", str(tmp_path / "out"), *cluster_overrides])

    assert code == 0
    assert DOWNLOAD_LOG[-1] in cell_text(tmp_path / "out" / "03_models.ipynb")
    rollout = json.loads((tmp_path / "state" / "04_rollout.json").read_text())
    assert rollout["service_url"] == "http://20.50.1.7:80"
    assert kube_apiserver.get("deployments", "docling", "docling-model") is not None

    again = main(["run", "--target", "kubeconfig", "--only", "03,04", "--out", str(tmp_path / "again"), *cluster_overrides])

    assert again == 0
    assert "No changes" in cell_text(tmp_path / "again" / "03_models.ipynb")


def test_cluster_failing_job_diagnosed(
    kube_apiserver, cluster_overrides: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    script_job_image_pull_backoff(kube_apiserver)

    code = main(["run", "--target", "kubeconfig", "--only", "03,04", "--out", str(tmp_path / "out"), *cluster_overrides])

    assert code == 1
    assert "03_models.ipynb failed" in capsys.readouterr().err
    output = cell_text(tmp_path / "out" / "03_models.ipynb")
    assert "ImagePullBackOff" in output
    assert "AcrPull" in output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [n["status"] for n in summary["notebooks"]] == ["failed", "not run"]


def test_cluster_smoke_failure_rolls_back(kube_apiserver, cluster_overrides: list[str], tmp_path: Path) -> None:
    script_job_success(kube_apiserver)
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver)
    assert main(["run", "--target", "kubeconfig", "--only", "03,04", "--out", str(tmp_path / "v1"), *cluster_overrides]) == 0
    upgrade = [*cluster_overrides, "-p", "image=registry.example.net/docling-api:0.2.0"]
    assert main(["run", "--target", "kubeconfig", "--only", "04", "--out", str(tmp_path / "v2"), *upgrade]) == 0

    closed_port = free_loopback_port()
    code = main([
        "run", "--target", "kubeconfig", "--only", "05", "--out", str(tmp_path / "smoke"), *upgrade,
        "-p", f"service_url=http://127.0.0.1:{closed_port}", "-p", "rollback_on_smoke_failure=true",
        "-p", "smoke_timeout_s=5",
    ])

    assert code == 1
    deployment = kube_apiserver.get("deployments", "docling", "docling-model")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.net/docling-api:0.1.0"
    assert "Rolled back" in cell_text(tmp_path / "smoke" / "05_smoke_test.ipynb")
