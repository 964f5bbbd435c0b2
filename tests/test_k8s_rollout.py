"""Deployment rollout, Service address and rollback through the fake API server."""

from __future__ import annotations

import threading

import pytest
from fakes.kube_scenarios import (
    DEPLOYMENT,
    SERVICE,
    complete_rollout,
    container_status,
    pod_for,
    script_rollout_available,
    script_rollout_never_available,
    script_service_address,
    script_service_pending,
)

from runbook_lib.errors import KubernetesError, KubernetesTimeoutError, RollbackError, RolloutFailedError
from runbook_lib.k8s import (
    apply_manifests,
    connect_kubeconfig,
    render_manifests,
    roll_back_api,
    roll_out_api,
    rollback_deployment,
    wait_for_deployment,
    wait_for_service_address,
)
from runbook_lib.params import EXAMPLE_PARAMS_FILE, load_params

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def params(kube_apiserver):
    return load_params(EXAMPLE_PARAMS_FILE, {
        "target": "kubeconfig",
        "kubeconfig": str(kube_apiserver.kubeconfig_path),
        "kube_context": "fake",
        "rollout_timeout_s": 20,
        "service_ip_timeout_s": 20,
        "stuck_pod_grace_s": 0,
    })


@pytest.fixture
def cluster(kube_apiserver, params):
    with connect_kubeconfig(params.kubeconfig, params.kube_context) as cluster:
        yield cluster


def test_rollout_reaches_service_url(cluster, params, kube_apiserver):
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver, "20.50.1.7")

    result = roll_out_api(cluster, params)

    assert result.url == "http://20.50.1.7:80"
    assert result.revision == "1"
    assert result.image == "crdoclingexample.azurecr.io/docling-api:0.1.0"
    assert (result.replicas, result.available_replicas) == (1, 1)
    assert result.changed is True
    assert result.to_dict()["url"] == "http://20.50.1.7:80"


def test_second_rollout_changes_nothing(cluster, params, kube_apiserver):
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver)
    roll_out_api(cluster, params)
    writes = len(kube_apiserver.writes())

    again = roll_out_api(cluster, params)

    assert again.changed is False
    assert again.revision == "1"
    assert len(kube_apiserver.writes()) == writes + 5
    assert all(r.method == "PATCH" for r in kube_apiserver.writes()[writes:])
    assert len(kube_apiserver.list("replicasets", "docling")) == 1


def test_rollout_waits_for_availability(cluster, params, kube_apiserver):
    apply_manifests(cluster, render_manifests(params).select("Namespace", "Deployment"))

    def finish():
        kube_apiserver.wait_until(lambda: kube_apiserver.watching("deployments"))
        complete_rollout(kube_apiserver)

    threading.Thread(target=finish, daemon=True).start()
    result = wait_for_deployment(cluster, "docling", DEPLOYMENT, params=params)

    assert result.available_replicas == 1


def test_progress_deadline_diagnosed(cluster, params, kube_apiserver):
    script_rollout_never_available(kube_apiserver)
    script_service_address(kube_apiserver)

    with pytest.raises(RolloutFailedError) as caught:
        roll_out_api(cluster, params)

    message = str(caught.value)
    assert "Deployment docling/docling-model exceeded its progress deadline (600 s)" in message
    assert "has timed out progressing" in message
    assert "container api: running" in message
    assert "Warning Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503" in message
    assert "The API returns an error on /ready" in message
    assert "model download Job succeeded" in message


def test_image_pull_backoff_fails_fast(cluster, params, kube_apiserver):
    def pull_error(server, deployment):
        deployment = server.get("deployments", "docling", DEPLOYMENT)
        rs = next(iter(server.list("replicasets", "docling")))
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        pod = server.put(pod_for(rs, f"{rs['metadata']['name']}-p0", "Pending", [
            container_status("api", image, waiting=("ErrImagePull", f'failed to pull and unpack image "{image}": 403 Forbidden'))]))
        server.add_event(pod, "Failed", f'Failed to pull image "{image}": 403 Forbidden')
        server.set_status("deployments", "docling", DEPLOYMENT, {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1})

    kube_apiserver.on_write("Deployment", DEPLOYMENT, pull_error)

    with pytest.raises(RolloutFailedError) as caught:
        roll_out_api(cluster, params)

    assert "cannot start pod docling-model-" in str(caught.value)
    assert "ErrImagePull" in str(caught.value)
    assert "AcrPull role" in str(caught.value)


def test_crash_loop_oom_hint(cluster, params, kube_apiserver):
    def crash(server, deployment):
        rs = next(iter(server.list("replicasets", "docling")))
        server.put(pod_for(rs, f"{rs['metadata']['name']}-c0", "Running", [
            container_status("api", "img", waiting=("CrashLoopBackOff", "back-off 40s restarting failed container"),
                             restarts=3, last_terminated=("OOMKilled", 137))]))
        server.set_status("deployments", "docling", DEPLOYMENT, {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1})

    kube_apiserver.on_write("Deployment", DEPLOYMENT, crash)

    with pytest.raises(RolloutFailedError) as caught:
        roll_out_api(cluster, params)

    message = str(caught.value)
    assert "CrashLoopBackOff" in message
    assert "last terminated: OOMKilled (exit code 137)" in message
    assert "Raise the memory_limit parameter (and its request)" in message
    assert "(8Gi)" in message


def test_rollout_timeout(cluster, params, kube_apiserver):
    apply_manifests(cluster, render_manifests(params).select("Namespace", "Deployment"))

    with pytest.raises(KubernetesTimeoutError) as caught:
        wait_for_deployment(cluster, "docling", DEPLOYMENT, params=params, timeout_s=0.5)

    message = str(caught.value)
    assert "Timed out after 0.5 s waiting for Deployment docling/docling-model" in message
    assert "waiting for the controller to observe the new generation" in message
    assert "No pod of the new revision exists" in message


def test_service_address_pending_hint(cluster, params, kube_apiserver):
    script_service_pending(kube_apiserver)
    apply_manifests(cluster, render_manifests(params).select("Namespace", "Service"))

    with pytest.raises(KubernetesTimeoutError) as caught:
        wait_for_service_address(cluster, "docling", SERVICE, params=params, timeout_s=0.5)

    message = str(caught.value)
    assert "Service docling/docling-model-service got no external address within 0.5 s (EXTERNAL-IP <pending>)" in message
    assert "Warning SyncLoadBalancerFailed" in message
    assert "PublicIPCountLimitReached" in message
    assert "kubectl -n docling port-forward svc/docling-model-service 8080:80" in message
    assert "cloud-provider-kind" in message


def test_service_hostname_and_ipv6(cluster, params, kube_apiserver):
    apply_manifests(cluster, render_manifests(params).select("Namespace", "Service"))

    kube_apiserver.set_status("services", "docling", SERVICE, {"loadBalancer": {"ingress": [{"ip": "2001:db8::5"}]}})
    assert wait_for_service_address(cluster, "docling", SERVICE, timeout_s=5) == "http://[2001:db8::5]:80"

    kube_apiserver.set_status("services", "docling", SERVICE, {"loadBalancer": {"ingress": [{"hostname": "lb.example.net"}]}})
    assert wait_for_service_address(cluster, "docling", SERVICE, timeout_s=5) == "http://lb.example.net:80"


def test_missing_service_named(cluster):
    with pytest.raises(KubernetesError, match="Service docling/docling-model-service not found: apply the manifests first"):
        wait_for_service_address(cluster, "docling", SERVICE, timeout_s=1)


def test_rollback_to_previous_replicaset(cluster, params, kube_apiserver):
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver)
    roll_out_api(cluster, params)
    bad = params.model_copy(update={"image": "crdoclingexample.azurecr.io/docling-api:0.2.0"})
    assert roll_out_api(cluster, bad).revision == "2"

    result = roll_back_api(cluster, bad)

    assert (result.from_revision, result.to_revision) == ("2", "1")
    assert (result.from_image, result.to_image) == ("crdoclingexample.azurecr.io/docling-api:0.2.0", "crdoclingexample.azurecr.io/docling-api:0.1.0")
    assert str(result).startswith("Rolled back Deployment docling/docling-model from revision 2")
    deployment = kube_apiserver.get("deployments", "docling", DEPLOYMENT)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "crdoclingexample.azurecr.io/docling-api:0.1.0"
    assert "pod-template-hash" not in deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert len(kube_apiserver.list("replicasets", "docling")) == 2
    patch = [r for r in kube_apiserver.requests if r.content_type == "application/json-patch+json"]
    assert patch[-1].query["fieldManager"] == "docling-runbook-rollback"


def test_rollback_dry_run_changes_nothing(cluster, params, kube_apiserver):
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver)
    roll_out_api(cluster, params)
    roll_out_api(cluster, params.model_copy(update={"replicas": 1, "cpu_limit": "3"}))

    result = rollback_deployment(cluster, "docling", DEPLOYMENT, dry_run=True)

    assert result.dry_run
    assert str(result).startswith("Would roll back")
    assert kube_apiserver.get("deployments", "docling", DEPLOYMENT)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


def test_redeploy_after_rollback_takes_fields_back(cluster, params, kube_apiserver):
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver)
    roll_out_api(cluster, params)
    newer = params.model_copy(update={"image": "crdoclingexample.azurecr.io/docling-api:0.2.0"})
    roll_out_api(cluster, newer)
    roll_back_api(cluster, newer)

    result = roll_out_api(cluster, newer)

    assert result.image == "crdoclingexample.azurecr.io/docling-api:0.2.0"
    assert result.revision == "4"


def test_rollback_without_previous_revision(cluster, params, kube_apiserver):
    script_rollout_available(kube_apiserver)
    script_service_address(kube_apiserver)
    roll_out_api(cluster, params)

    with pytest.raises(RollbackError, match="has no previous revision to roll back to \\(it runs revision 1"):
        rollback_deployment(cluster, "docling", DEPLOYMENT)
    with pytest.raises(RollbackError, match="has no revision 7 to roll back to: it keeps revisions 1 and runs 1"):
        rollback_deployment(cluster, "docling", DEPLOYMENT, to_revision=7)


def test_rollback_missing_deployment(cluster):
    with pytest.raises(KubernetesError, match="Deployment docling/docling-model not found"):
        rollback_deployment(cluster, "docling", DEPLOYMENT)
