"""The fake API server rejects what it does not implement with the errors a real API server returns."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "docling"}}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "docling"}, "data": {"a": "1"}}


@pytest.fixture
def api(kube_apiserver):
    api_client = config.new_client_from_config(config_file=str(kube_apiserver.kubeconfig_path), persist_config=False)
    yield api_client
    api_client.close()


def raw(api, method, path, body=None, content_type="application/json", query=None):
    """Send a request through the client's REST layer and return the HTTP response."""
    return api.rest_client.pool_manager.request(
        method, api.configuration.host + path, body=body, fields=query,
        headers={"Content-Type": content_type, "Authorization": "Bearer fake-token"},
    )


def apply(api, path, obj, manager="test", **query):
    params = {"fieldManager": manager, **query} if manager else dict(query)
    url = path + "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else path
    return raw(api, "PATCH", url, json.dumps(obj).encode(), "application/apply-patch+yaml")


def status_of(response) -> dict:
    body = json.loads(response.data)
    assert body["kind"] == "Status"
    return body


def test_apply_creates_then_keeps_version(api):
    first = apply(api, "/api/v1/namespaces/docling", NAMESPACE)
    second = apply(api, "/api/v1/namespaces/docling", NAMESPACE)

    assert first.status == 200
    assert json.loads(first.data)["metadata"]["resourceVersion"] == json.loads(second.data)["metadata"]["resourceVersion"]


def test_apply_requires_field_manager(api):
    response = apply(api, "/api/v1/namespaces/docling", NAMESPACE, manager=None)

    assert response.status == 400
    assert "fieldManager is required" in status_of(response)["message"]


def test_apply_into_missing_namespace(api):
    response = apply(api, "/api/v1/namespaces/docling/configmaps/settings", CONFIGMAP)

    assert response.status == 404
    assert status_of(response)["message"] == 'namespaces "docling" not found'


def test_apply_name_mismatch(api):
    response = apply(api, "/api/v1/namespaces/other", NAMESPACE)

    assert response.status == 400
    assert "does not match the name on the URL" in status_of(response)["message"]


def test_apply_invalid_object(api):
    apply(api, "/api/v1/namespaces/docling", NAMESPACE)
    bad = dict(CONFIGMAP, data={"a": 1}, extra=True)

    response = apply(api, "/api/v1/namespaces/docling/configmaps/settings", bad)

    assert response.status == 422
    assert status_of(response)["reason"] == "Invalid"


def test_unsupported_patch_types(api):
    apply(api, "/api/v1/namespaces/docling", NAMESPACE)

    merge = raw(api, "PATCH", "/api/v1/namespaces/docling", b"{}", "application/merge-patch+json")
    unknown = raw(api, "PATCH", "/api/v1/namespaces/docling", b"{}", "text/plain")

    assert merge.status == 415
    assert unknown.status == 415
    assert "accepted media types include" in status_of(unknown)["message"]


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/api/v1/widgets", 404),
        ("GET", "/apis/batch/v2/jobs", 404),
        ("GET", "/api/v1/namespaces/docling/persistentvolumes", 404),
        ("POST", "/api/v1/namespaces/docling/configmaps", 405),
        ("PUT", "/api/v1/namespaces/docling", 405),
        ("GET", "/api/v1/namespaces/docling/pods/p/exec", 404),
    ],
)
def test_unknown_requests_rejected(api, method, path, code):
    response = raw(api, method, path, b"{}" if method != "GET" else None)

    assert response.status == code
    assert status_of(response)["code"] == code


def test_unsupported_selectors_rejected(api):
    core = client.CoreV1Api(api)

    with pytest.raises(ApiException) as field:
        core.list_namespaced_pod("docling", field_selector="spec.schedulerName=default")
    with pytest.raises(ApiException) as label:
        core.list_namespaced_pod("docling", label_selector="tier in (web)")

    assert field.value.status == 400
    assert "field label not supported: spec.schedulerName" in field.value.body
    assert label.value.status == 400


def test_job_template_immutable(api, kube_apiserver):
    apply(api, "/api/v1/namespaces/docling", NAMESPACE)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "docling"},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "a:1"}]}}}}
    assert apply(api, "/apis/batch/v1/namespaces/docling/jobs/j", job).status == 200

    job["spec"]["template"]["spec"]["containers"][0]["image"] = "a:2"
    response = apply(api, "/apis/batch/v1/namespaces/docling/jobs/j", job)

    assert response.status == 422
    assert status_of(response)["message"] == 'Job.batch "j" is invalid: spec.template: Invalid value: field is immutable'
    assert kube_apiserver.get("jobs", "docling", "j")["spec"]["template"]["spec"]["containers"][0]["image"] == "a:1"


def test_dry_run_stores_nothing(api, kube_apiserver):
    response = apply(api, "/api/v1/namespaces/docling", NAMESPACE, dryRun="All")

    assert response.status == 200
    assert kube_apiserver.get("namespaces", "", "docling") is None


def test_log_of_waiting_container(api, kube_apiserver):
    apply(api, "/api/v1/namespaces/docling", NAMESPACE)
    kube_apiserver.put({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "docling"},
        "spec": {"containers": [{"name": "c", "image": "a:1"}]},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "image": "a:1", "imageID": "", "ready": False,
                                                              "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]},
    })

    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).read_namespaced_pod_log("p", "docling")

    assert caught.value.status == 400
    assert json.loads(caught.value.body)["message"] == 'container "c" in pod "p" is waiting to start: ContainerCreating'


def test_watch_replays_from_resource_version(api, kube_apiserver):
    core = client.CoreV1Api(api)
    apply(api, "/api/v1/namespaces/docling", NAMESPACE)
    listed = core.list_namespace()
    apply(api, "/api/v1/namespaces/docling/configmaps/settings", CONFIGMAP)

    response = core.list_namespaced_config_map("docling", watch=True, resource_version=listed.metadata.resource_version,
                                               timeout_seconds=1, _preload_content=False)
    events = [json.loads(line) for line in response.data.decode().splitlines()]

    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "settings")]


def test_server_stop_ends_streams(kube_apiserver, api):
    kube_apiserver.stop()

    with pytest.raises(urllib3.exceptions.HTTPError):
        client.CoreV1Api(api).list_namespace(_request_timeout=2)
