"""Cluster access through a kubeconfig context or an AKS kubeconfig with a Microsoft Entra token."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import pytest
import yaml

from runbook_lib.errors import ClusterAccessError, UsageError
from runbook_lib.k8s import connect_aks, connect_cluster, connect_kubeconfig
from runbook_lib.params import RunbookParams


def kubeconfig_params(server, **overrides) -> RunbookParams:
    return RunbookParams(target="kubeconfig", kubeconfig=str(server.kubeconfig_path), **overrides)


def test_connect_by_context(kube_apiserver):
    with connect_cluster(kubeconfig_params(kube_apiserver, kube_context="fake")) as cluster:
        assert cluster.server_version() == "v1.33.2"
        assert cluster.description == "kubeconfig context 'fake'"
        assert cluster.host == kube_apiserver.url

    assert kube_apiserver.requests[-1].authorization == "Bearer fake-token"


def test_connect_by_current_context_from_env(kube_apiserver, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(kube_apiserver.kubeconfig_path))

    with connect_cluster(RunbookParams(target="kubeconfig")) as cluster:
        assert cluster.server_version() == "v1.33.2"
        assert "current context" in cluster.description


def test_missing_kubeconfig_file(tmp_path):
    with pytest.raises(ClusterAccessError, match=f"Kubeconfig file {tmp_path / 'nope'} not found"):
        connect_kubeconfig(tmp_path / "nope")


def test_unknown_context(kube_apiserver):
    with pytest.raises(ClusterAccessError) as caught:
        connect_cluster(kubeconfig_params(kube_apiserver, kube_context="kind-missing"))

    assert "context kind-missing" in str(caught.value)
    assert "kubectl config get-contexts" in str(caught.value)


def test_unreachable_api_server(kube_apiserver, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = yaml.safe_load(kube_apiserver.kubeconfig_path.read_text())
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    path = tmp_path / "closed"
    path.write_text(yaml.safe_dump(config))

    with pytest.raises(ClusterAccessError, match=f"Cannot reach the Kubernetes API server at http://127.0.0.1:{port}"):
        connect_cluster(RunbookParams(target="kubeconfig", kubeconfig=str(path)))


def test_rejected_credentials(kube_apiserver):
    kube_apiserver.token = "rotated"

    with pytest.raises(ClusterAccessError, match="rejected the credentials .* \\(401 Unauthorized\\)"):
        connect_cluster(kubeconfig_params(kube_apiserver))


def test_local_target_has_no_cluster():
    with pytest.raises(UsageError, match="Target 'local' has no Kubernetes cluster"):
        connect_cluster(RunbookParams(target="local"))


def test_aks_target_needs_kubeconfig_source():
    with pytest.raises(UsageError, match="pass get_aks_kubeconfig"):
        connect_cluster(RunbookParams(target="aks"))


def test_aks_kubeconfig_with_token(kube_apiserver):
    text = kube_apiserver.kubeconfig_path.read_bytes()

    with connect_cluster(RunbookParams(target="aks"), get_aks_kubeconfig=lambda: text) as cluster:
        assert cluster.server_version() == "v1.33.2"
        assert cluster.description == "AKS context 'fake'"


@dataclass
class Token:
    token: str
    expires_on: int


class FakeCredential:
    """An azure-identity style credential that issues numbered tokens valid for ``lifetime_s``."""

    def __init__(self, lifetime_s: int):
        self.lifetime_s = lifetime_s
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs) -> Token:
        self.scopes.extend(scopes)
        return Token(f"entra-{len(self.scopes)}", int(time.time()) + self.lifetime_s)


def entra_kubeconfig(server) -> str:
    """A kubeconfig shaped like AKS user credentials with Microsoft Entra integration: the user runs kubelogin."""
    config = yaml.safe_load(server.kubeconfig_path.read_text())
    config["users"][0]["user"] = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "kubelogin",
        "args": ["get-token", "--environment", "AzurePublicCloud", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630",
                 "--client-id", "80faf920-1908-4b52-b5ef-a8e7bedfc67a", "--tenant-id", "00000000-0000-0000-0000-000000000000",
                 "--login", "devicecode"],
        "interactiveMode": "IfAvailable",
    }}
    return yaml.safe_dump(config)


def test_aks_entra_token_replaces_kubelogin(kube_apiserver):
    kube_apiserver.token = "entra-1"
    credential = FakeCredential(lifetime_s=3600)

    with connect_aks(lambda: entra_kubeconfig(kube_apiserver), credential=credential) as cluster:
        assert cluster.server_version() == "v1.33.2"
        assert cluster.server_version() == "v1.33.2"

    assert credential.scopes == ["6dae42f8-4368-4678-94ff-3960e28e3630/.default"]
    assert kube_apiserver.requests[-1].authorization == "Bearer entra-1"


def test_aks_entra_token_refreshed_before_expiry(kube_apiserver):
    credential = FakeCredential(lifetime_s=60)
    kube_apiserver.token = "entra-2"

    with connect_aks(lambda: entra_kubeconfig(kube_apiserver), credential=credential) as cluster:
        assert cluster.server_version() == "v1.33.2"

    assert len(credential.scopes) == 2


def test_aks_kubeconfig_not_yaml():
    with pytest.raises(ClusterAccessError, match="not valid YAML"):
        connect_aks(lambda: b"clusters: [unclosed")


def test_aks_kubeconfig_without_contexts():
    with pytest.raises(ClusterAccessError, match="contains no contexts"):
        connect_aks(lambda: "apiVersion: v1\nkind: Config\n")
