"""The runbook's cluster path without notebooks: the calls notebooks 03, 04 and 05 make, in order."""

from __future__ import annotations

import json

import pytest
from fakes.kube_scenarios import (
    DOWNLOAD_LOG,
    script_job_image_pull_backoff,
    script_job_success,
    script_rollout_available,
    script_service_address,
)

from runbook_lib.errors import JobFailedError
from runbook_lib.k8s import connect_cluster, prepare_model_storage, roll_back_api, roll_out_api, run_model_download_job
from runbook_lib.params import load_params

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def params_file(kube_apiserver, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(
        "target: kubeconfig\n"
        f"kubeconfig: {kube_apiserver.kubeconfig_path}\n"
        "kube_context: fake\n"
        "image: registry.example.net/docling-api:0.1.0\n"
        "storage_class: standard\n"
        "replicas: 2\n"
        "job_timeout_s: 30\n"
        "rollout_timeout_s: 30\n"
        "service_ip_timeout_s: 30\n"
        "stuck_pod_grace_s: 0\n"
    )
    return path


def run_cluster_path(params, log_lines):
    """What the notebooks do on a cluster target, one call per cell."""
    with connect_cluster(params) as cluster:
        storage = prepare_model_storage(cluster, params)
        job = run_model_download_job(cluster, params, on_log_line=log_lines.append)
        rollout = roll_out_api(cluster, params)
    return storage, job, rollout


def test_cluster_path_from_apply_to_rollout(kube_apiserver, params_file):
    script_job_success(kube_apiserver)
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver, "20.50.1.7")
    params = load_params(params_file)
    lines = []

    storage, job, rollout = run_cluster_path(params, lines)

    assert storage.summary() == "Applied 3 objects: 3 created."
    assert job.status == "succeeded"
    assert lines[1:] == DOWNLOAD_LOG
    assert rollout.url == "http://20.50.1.7:80"
    assert rollout.available_replicas == 2
    recorded = json.loads(json.dumps({"job": job.to_dict(), "rollout": rollout.to_dict()}))
    assert recorded["rollout"]["url"] == "http://20.50.1.7:80"

    storage, job, rollout = run_cluster_path(params, lines)

    assert storage.summary() == "No changes: all 3 objects are unchanged."
    assert job.reused
    assert rollout.changed is False
    assert rollout.revision == "1"


def test_cluster_path_failing_job_diagnosed(kube_apiserver, params_file):
    script_job_image_pull_backoff(kube_apiserver)
    params = load_params(params_file)

    with pytest.raises(JobFailedError) as caught:
        run_cluster_path(params, [])

    message = str(caught.value)
    assert "ImagePullBackOff" in message
    assert "registry.example.net/docling-api:0.1.0" in message
    assert "AcrPull role" in message
    assert kube_apiserver.get("deployments", "docling", "docling-model") is None


def test_smoke_failure_rolls_back(kube_apiserver, params_file):
    script_job_success(kube_apiserver)
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver)
    params = load_params(params_file, {"rollback_on_smoke_failure": True})
    run_cluster_path(params, [])
    upgraded = params.model_copy(update={"image": "registry.example.net/docling-api:0.2.0"})
    run_cluster_path(upgraded, [])

    # Notebook 05 calls this when the smoke test against 0.2.0 fails and rollback_on_smoke_failure is set.
    with connect_cluster(upgraded) as cluster:
        result = roll_back_api(cluster, upgraded)

    assert result.to_image == "registry.example.net/docling-api:0.1.0"
    deployment = kube_apiserver.get("deployments", "docling", "docling-model")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.net/docling-api:0.1.0"
    assert deployment["status"]["availableReplicas"] == 2
