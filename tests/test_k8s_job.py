"""The model download Job: logs streamed, failures diagnosed, re-runs idempotent, timeouts."""

from __future__ import annotations

import threading

import pytest
from fakes.kube_apiserver import now
from fakes.kube_scenarios import (
    DOWNLOAD_LOG,
    JOB,
    container_status,
    pod_for,
    script_job_image_pull_backoff,
    script_job_mount_failure,
    script_job_oom_killed,
    script_job_success,
)

from runbook_lib.errors import JobFailedError, KubernetesTimeoutError
from runbook_lib.k8s import (
    apply_manifests,
    connect_kubeconfig,
    prepare_model_storage,
    render_manifests,
    run_model_download_job,
    wait_for_job,
)
from runbook_lib.params import EXAMPLE_PARAMS_FILE, load_params

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def params(kube_apiserver):
    return load_params(EXAMPLE_PARAMS_FILE, {
        "target": "kubeconfig",
        "kubeconfig": str(kube_apiserver.kubeconfig_path),
        "kube_context": "fake",
        "job_timeout_s": 20,
        "stuck_pod_grace_s": 0,
    })


@pytest.fixture
def cluster(kube_apiserver, params):
    with connect_kubeconfig(params.kubeconfig, params.kube_context) as cluster:
        prepare_model_storage(cluster, params)
        yield cluster


def test_job_succeeds_with_logs_streamed(cluster, params, kube_apiserver):
    script_job_success(kube_apiserver)
    lines = []

    result = run_model_download_job(cluster, params, on_log_line=lines.append)

    assert result.status == "succeeded"
    assert result.pod == f"{JOB}-x7k2p"
    assert result.log_lines == len(DOWNLOAD_LOG)
    assert lines == [f"--- logs of pod {JOB}-x7k2p ---", *DOWNLOAD_LOG]
    assert kube_apiserver.following_log(f"{JOB}-x7k2p")
    assert kube_apiserver.watching("jobs")
    assert kube_apiserver.watching("pods")


def test_job_progress_logged(cluster, params, kube_apiserver, caplog):
    script_job_success(kube_apiserver)

    with caplog.at_level("INFO", logger="runbook_lib.k8s"):
        run_model_download_job(cluster, params, on_log_line=lambda line: None)

    assert f"pod {JOB}-x7k2p is Succeeded (Completed, exit code 0)" in caplog.text
    assert f"Job docling/{JOB} succeeded after" in caplog.text


def test_succeeded_job_not_run_again(cluster, params, kube_apiserver):
    script_job_success(kube_apiserver)
    run_model_download_job(cluster, params, on_log_line=lambda line: None)
    writes = len(kube_apiserver.writes())

    again = run_model_download_job(cluster, params, on_log_line=lambda line: None)

    assert again.status == "succeeded"
    assert again.reused
    assert len(kube_apiserver.writes()) == writes


def test_changed_inputs_recreate_job(cluster, params, kube_apiserver, tmp_path):
    script_job_success(kube_apiserver)
    run_model_download_job(cluster, params, on_log_line=lambda line: None)
    first_uid = kube_apiserver.get("jobs", "docling", JOB)["metadata"]["uid"]
    model_set = tmp_path / "set.yaml"
    model_set.write_text("repositories:\n  - repo: org/other\n    revision: v1\n")
    changed = params.model_copy(update={"model_set": str(model_set)})

    result = run_model_download_job(cluster, changed, on_log_line=lambda line: None)

    assert result.status == "succeeded"
    assert not result.reused
    assert kube_apiserver.get("jobs", "docling", JOB)["metadata"]["uid"] != first_uid
    deletes = [r for r in kube_apiserver.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [f"/apis/batch/v1/namespaces/docling/jobs/{JOB}"]
    assert deletes[0].query["propagationPolicy"] == "Background"


def test_image_pull_backoff_diagnosed(cluster, params, kube_apiserver):
    script_job_image_pull_backoff(kube_apiserver)

    with pytest.raises(JobFailedError) as caught:
        run_model_download_job(cluster, params, on_log_line=lambda line: None)

    message = str(caught.value)
    assert f"Job docling/{JOB} cannot start: pod {JOB}-pull1 is stuck (ImagePullBackOff)" in message
    assert "phase Pending" in message
    assert "container download: waiting (ImagePullBackOff)" in message
    assert "401 Unauthorized" in message
    assert "AcrPull role" in message
    assert "kubelet identity" in message
    assert f"kubectl -n docling describe pod {JOB}-pull1" in message


def test_image_pull_backoff_waits_for_grace(cluster, params, kube_apiserver):
    script_job_image_pull_backoff(kube_apiserver)
    patient = params.model_copy(update={"stuck_pod_grace_s": 600, "job_timeout_s": 1})

    with pytest.raises(KubernetesTimeoutError) as caught:
        run_model_download_job(cluster, patient, on_log_line=lambda line: None)

    assert "Timed out after 1 s waiting for Job docling/download-docling-model" in str(caught.value)
    assert "AcrPull role" in str(caught.value)


def test_mount_failure_diagnosed(cluster, params, kube_apiserver):
    script_job_mount_failure(kube_apiserver)

    with pytest.raises(JobFailedError) as caught:
        run_model_download_job(cluster, params, on_log_line=lambda line: None)

    message = str(caught.value)
    assert "stuck (FailedMount)" in message
    assert "Warning FailedMount: MountVolume.MountDevice failed" in message
    assert "Storage Account Contributor role on the storage account" in message
    assert "'stdoclingexample'" in message


def test_oom_killed_diagnosed(cluster, params, kube_apiserver):
    script_job_oom_killed(kube_apiserver)
    lines = []

    with pytest.raises(JobFailedError) as caught:
        run_model_download_job(cluster, params, on_log_line=lines.append)

    message = str(caught.value)
    assert f"Job docling/{JOB} failed (BackoffLimitExceeded: Job has reached the specified backoff limit)" in message
    assert "All 3 attempts failed" in message
    assert "container download: terminated (OOMKilled, exit code 137)" in message
    assert "Raise the download_memory_limit parameter" in message
    assert "(4Gi)" in message
    assert "Last log lines:\n  " + DOWNLOAD_LOG[0] in message
    assert DOWNLOAD_LOG[0] in lines


def test_deadline_exceeded_named(cluster, params, kube_apiserver):
    def fail(server, job):
        server.set_status("jobs", "docling", JOB, {"conditions": [
            {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]})

    kube_apiserver.on_write("Job", JOB, fail)

    with pytest.raises(JobFailedError) as caught:
        run_model_download_job(cluster, params, on_log_line=lambda line: None)

    assert "raise download_deadline_s (now 3600)" in str(caught.value)
    assert f"No pod of Job {JOB} was created" in str(caught.value)


def test_job_timeout(cluster, params, kube_apiserver):
    def start(server, job):
        server.put(pod_for(job, f"{JOB}-slow1", "Running", [container_status("download", "img", running=True)]))

    kube_apiserver.on_write("Job", JOB, start)
    short = params.model_copy(update={"job_timeout_s": 0.5})

    with pytest.raises(KubernetesTimeoutError) as caught:
        run_model_download_job(cluster, short, on_log_line=lambda line: None)

    message = str(caught.value)
    assert "Timed out after 0.5 s waiting for Job docling/download-docling-model; it is still running" in message
    assert "Raise job_timeout_s" in message
    assert f"Pod docling/{JOB}-slow1: phase Running" in message


def test_failed_job_recreated_on_next_run(cluster, params, kube_apiserver):
    script_job_oom_killed(kube_apiserver)
    with pytest.raises(JobFailedError):
        run_model_download_job(cluster, params, on_log_line=lambda line: None)
    kube_apiserver._hooks.clear()
    script_job_success(kube_apiserver)

    result = run_model_download_job(cluster, params, on_log_line=lambda line: None)

    assert result.status == "succeeded"
    assert kube_apiserver.get("pods", "docling", f"{JOB}-oom01") is None


def test_skip_model_wait_starts_only(cluster, params, kube_apiserver):
    result = run_model_download_job(cluster, params.model_copy(update={"skip_model_wait": True}))

    assert result.status == "started"
    assert kube_apiserver.get("jobs", "docling", JOB) is not None
    assert not kube_apiserver.watching("jobs")


def test_job_deleted_while_waiting(cluster, params, kube_apiserver):
    def delete(server, job):
        server.wait_until(lambda: server.watching("pods"))
        with server._cond:
            server._delete(("jobs", "docling", JOB))

    kube_apiserver.on_write("Job", JOB, delete)

    with pytest.raises(JobFailedError, match="was deleted while the runbook waited for it"):
        run_model_download_job(cluster, params, on_log_line=lambda line: None)


def test_wait_for_existing_job(cluster, params, kube_apiserver):
    apply_manifests(cluster, render_manifests(params).select("Job"))
    kube_apiserver.set_status("jobs", "docling", JOB, {"succeeded": 1, "completionTime": now(),
                                                      "conditions": [{"type": "Complete", "status": "True"}]})

    result = wait_for_job(cluster, "docling", JOB, timeout_s=5, on_log_line=lambda line: None)

    assert result.status == "succeeded"
    assert result.pod is None


def test_running_job_attached_not_recreated(cluster, params, kube_apiserver):
    apply_manifests(cluster, render_manifests(params).select("Job"))

    def finish():
        kube_apiserver.wait_until(lambda: kube_apiserver.watching("jobs"))
        kube_apiserver.set_status("jobs", "docling", JOB, {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})

    threading.Thread(target=finish, daemon=True).start()
    result = run_model_download_job(cluster, params, on_log_line=lambda line: None)

    assert result.status == "succeeded"
    assert not result.reused
    assert not [r for r in kube_apiserver.requests if r.method == "DELETE"]


def test_failing_command_points_at_output(cluster, params, kube_apiserver):
    def fail(server, job):
        pod = server.put(pod_for(job, f"{JOB}-err01", "Failed", [container_status("download", "img", terminated=("Error", 2))]))
        server.close_log("docling", pod["metadata"]["name"])
        server.set_status("jobs", "docling", JOB, {"failed": 3, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]})

    kube_apiserver.on_write("Job", JOB, fail)

    with pytest.raises(JobFailedError) as caught:
        run_model_download_job(cluster, params, on_log_line=lambda line: None)

    message = str(caught.value)
    assert "container download: terminated (Error, exit code 2)" in message
    assert f"Container download exits with code 2. Read its output: kubectl -n docling logs {JOB}-err01 -c download\n" in message + "\n"
