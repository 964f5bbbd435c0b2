"""Server-side apply through the real kubernetes client against the fake API server."""

from __future__ import annotations

import logging

import pytest

from runbook_lib.errors import ApplyError, ClusterAccessError
from runbook_lib.k8s import FIELD_MANAGER, apply_manifests, connect_kubeconfig, render_manifests
from runbook_lib.params import EXAMPLE_PARAMS_FILE, load_params


def render(**overrides):
    return render_manifests(load_params(EXAMPLE_PARAMS_FILE, overrides))


@pytest.fixture
def cluster(kube_apiserver):
    with connect_kubeconfig(kube_apiserver.kubeconfig_path, "fake") as cluster:
        yield cluster


def test_first_apply_creates_everything(cluster, kube_apiserver):
    result = apply_manifests(cluster, render().documents())

    assert [obj.action for obj in result.objects] == ["created"] * 7
    assert result.changed
    assert result.summary() == "Applied 7 objects: 7 created."
    applies = [r for r in kube_apiserver.requests if r.method == "PATCH"]
    assert len(applies) == 7
    assert all(r.content_type == "application/apply-patch+yaml" for r in applies)
    assert all(r.query["fieldManager"] == FIELD_MANAGER == "docling-runbook" for r in applies)
    assert kube_apiserver.get("deployments", "docling", "docling-model")["metadata"]["managedFields"][0]["manager"] == "docling-runbook"


def test_second_apply_changes_nothing_and_says_so(cluster, kube_apiserver, caplog):
    apply_manifests(cluster, render().documents())
    versions = {obj["metadata"]["name"]: obj["metadata"]["resourceVersion"]
                for plural in ("namespaces", "persistentvolumes", "persistentvolumeclaims", "configmaps", "jobs", "deployments", "services")
                for obj in kube_apiserver.list(plural)}

    with caplog.at_level(logging.INFO, logger="runbook_lib.k8s"):
        result = apply_manifests(cluster, render().documents())

    assert [obj.action for obj in result.objects] == ["unchanged"] * 7
    assert not result.changed
    assert result.summary() == "No changes: all 7 objects are unchanged."
    assert "No changes: all 7 objects are unchanged." in caplog.text
    for obj in result.objects:
        assert obj.resource_version == versions[obj.name], obj.label


def test_changed_parameter_configures_one_object(cluster):
    apply_manifests(cluster, render().documents())

    result = apply_manifests(cluster, render(replicas=2).documents())

    changed = [(obj.kind, obj.action) for obj in result.objects if obj.action != "unchanged"]
    assert changed == [("Deployment", "configured")]
    assert "1 configured, 6 unchanged" in result.summary()
    assert any(line.split() == ["Deployment", "docling/docling-model", "configured"] for line in str(result).splitlines())


def test_dry_run_stores_nothing(cluster, kube_apiserver):
    first = apply_manifests(cluster, render().select("Namespace"), dry_run=True)
    assert [obj.action for obj in first.objects] == ["would create"]
    assert kube_apiserver.get("namespaces", "", "docling") is None

    apply_manifests(cluster, render().documents())
    result = apply_manifests(cluster, render(replicas=4).documents(), dry_run=True)

    assert [(obj.kind, obj.action) for obj in result.objects if obj.action != "unchanged"] == [("Deployment", "would configure")]
    assert result.summary().startswith("Dry run: ")
    assert kube_apiserver.get("deployments", "docling", "docling-model")["spec"]["replicas"] == 1


def test_immutable_field_names_the_fix(cluster):
    apply_manifests(cluster, render().documents())

    with pytest.raises(ApplyError) as caught:
        apply_manifests(cluster, render(storage_account="stotheraccount").select("PersistentVolume"))

    message = str(caught.value)
    assert "Applying PersistentVolume docling-models-docling failed (422)" in message
    assert "field is immutable" in message
    assert "kubectl delete persistentvolume docling-models-docling" in message


def test_missing_namespace_named(cluster):
    with pytest.raises(ApplyError, match=r'namespaces "docling" not found\. Apply the namespace first'):
        apply_manifests(cluster, render().select("ConfigMap"))


def test_conflict_without_force(cluster, kube_apiserver):
    apply_manifests(cluster, render().documents())
    cluster.apps.patch_namespaced_deployment(
        "docling-model", "docling", [{"op": "replace", "path": "/spec/replicas", "value": 5}], field_manager="kubectl-edit")

    with pytest.raises(ApplyError) as caught:
        apply_manifests(cluster, render().select("Deployment"), force_conflicts=False)
    assert 'conflict with "kubectl-edit"' in str(caught.value)
    assert "force_conflicts=True" in str(caught.value)

    result = apply_manifests(cluster, render().select("Deployment"))
    assert [obj.action for obj in result.objects] == ["configured"]
    assert kube_apiserver.get("deployments", "docling", "docling-model")["spec"]["replicas"] == 1


def test_unreachable_cluster_during_apply(cluster, kube_apiserver):
    kube_apiserver.stop()

    with pytest.raises(ClusterAccessError) as caught:
        apply_manifests(cluster, render().select("Namespace"))

    assert f"Cannot reach the Kubernetes API server at {kube_apiserver.url}" in str(caught.value)
    assert "Check the kubeconfig context" in str(caught.value)
