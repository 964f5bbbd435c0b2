"""The Kubernetes layer against a real cluster (kind, k3d, minikube, AKS) named by KUBECONFIG; skipped otherwise.

Run with: KUBECONFIG=~/.kube/config pytest -m real_cluster tests/test_k8s_real_cluster.py
Optional: RUNBOOK_TEST_KUBE_CONTEXT (default: the current context) and RUNBOOK_TEST_STORAGE_CLASS
(default "standard", kind's class). Everything happens in a namespace created for the test and deleted after it.
"""

from __future__ import annotations

import os
import uuid

import pytest

from runbook_lib.k8s import apply_manifests, connect_cluster, render_and_validate
from runbook_lib.params import EXAMPLE_PARAMS_FILE, load_params

pytestmark = [
    pytest.mark.real_cluster,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set to a real cluster"),
]


@pytest.fixture(scope="module")
def params():
    return load_params(EXAMPLE_PARAMS_FILE, {
        "target": "kubeconfig",
        "kube_context": os.environ.get("RUNBOOK_TEST_KUBE_CONTEXT") or None,
        "namespace": f"docling-test-{uuid.uuid4().hex[:8]}",
        "storage_class": os.environ.get("RUNBOOK_TEST_STORAGE_CLASS", "standard"),
        "storage_access_mode": "ReadWriteOnce",
        "storage_account": None,
        "resource_group": None,
    })


@pytest.fixture(scope="module")
def cluster(params):
    with connect_cluster(params) as cluster:
        yield cluster
        try:
            cluster.core.delete_namespace(params.namespace, propagation_policy="Background")
        except Exception as exc:  # noqa: BLE001 - cleanup must not hide the test result
            print(f"Could not delete test namespace {params.namespace}: {exc}")


def test_manifests_valid_for_cluster_version(cluster, params):
    manifests = render_and_validate(params, cluster)

    assert manifests.get("Deployment")["metadata"]["namespace"] == params.namespace


def test_server_dry_run_accepts_everything(cluster, params):
    manifests = render_and_validate(params, cluster)
    apply_manifests(cluster, manifests.select("Namespace"))

    result = apply_manifests(cluster, manifests.documents()[1:], dry_run=True)

    assert all(obj.action == "would create" for obj in result.objects)


def test_apply_twice_changes_nothing(cluster, params):
    manifests = render_and_validate(params, cluster)
    objects = manifests.select("Namespace", "ConfigMap", "PersistentVolumeClaim")

    apply_manifests(cluster, objects)
    second = apply_manifests(cluster, objects)

    assert not second.changed, str(second)
