"""Cluster access: a kubeconfig context for any cluster, or AKS credentials fetched through the Azure SDK."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..errors import ClusterAccessError, UsageError
from ..params import RunbookParams

logger = logging.getLogger("runbook_lib.k8s")

# Server application id of the AKS-managed Microsoft Entra integration, the audience of the tokens kubelogin requests.
AKS_AAD_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
TOKEN_REFRESH_MARGIN_S = 300


@dataclass
class Cluster:
    """A connection to one Kubernetes API server, with the typed and dynamic clients the runbook uses."""

    api_client: client.ApiClient
    description: str
    _closed: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return self.api_client.configuration.host

    @cached_property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @cached_property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)

    @cached_property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api_client)

    @cached_property
    def dynamic(self):
        """The dynamic client; it reads the API server's discovery documents on first use."""
        from kubernetes.dynamic import DynamicClient

        return DynamicClient(self.api_client)

    def server_version(self) -> str:
        """Return the API server's ``gitVersion``, such as ``v1.33.2``.

        Raises:
            ClusterAccessError: the API server cannot be reached or rejects the credentials.
        """
        try:
            return client.VersionApi(self.api_client).get_code().git_version
        except ApiException as exc:
            raise access_error(self, exc) from None
        except urllib3.exceptions.HTTPError as exc:
            raise unreachable_error(self, exc) from None

    def close(self) -> None:
        if not self._closed:
            self.api_client.close()
            self._closed = True

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def unreachable_error(cluster: Cluster, exc: Exception) -> ClusterAccessError:
    """Describe a connection failure to the API server, with what to check."""
    return ClusterAccessError(
        f"Cannot reach the Kubernetes API server at {cluster.host} ({cluster.description}): {exc}. "
        "Check the kubeconfig context, the network path (VPN, private cluster) and that the cluster runs."
    )


def access_error(cluster: Cluster, exc: ApiException) -> ClusterAccessError:
    """Translate a 401 or 403 from the API server into an error that names the fix."""
    if exc.status == 401:
        return ClusterAccessError(
            f"The Kubernetes API server at {cluster.host} rejected the credentials of {cluster.description} (401 Unauthorized). "
            "Refresh them: for AKS fetch the cluster credentials again; otherwise check the kubeconfig user."
        )
    if exc.status == 403:
        return ClusterAccessError(
            f"The Kubernetes API server at {cluster.host} denied {cluster.description} (403 Forbidden): {exc.reason}. "
            "The user needs rights to manage namespaces, PersistentVolumes, Jobs, Deployments and Services, "
            "for example the 'Azure Kubernetes Service RBAC Cluster Admin' role on AKS."
        )
    return ClusterAccessError(f"The Kubernetes API server at {cluster.host} returned {exc.status} {exc.reason}.")


def connect_cluster(
    params: RunbookParams,
    get_aks_kubeconfig: Callable[[], str | bytes] | None = None,
    credential: Any | None = None,
) -> Cluster:
    """Connect to the cluster of the runbook's target and check that the API server responds.

    Args:
        params (`RunbookParams`): ``target`` ("kubeconfig" or "aks"), ``kubeconfig`` and ``kube_context``.
        get_aks_kubeconfig (callable, *optional*): for target "aks", returns the cluster's kubeconfig,
            such as ``lambda: runbook_lib.azure.get_aks_kubeconfig(params, credential)``.
        credential (*optional*): an azure-identity credential; for AKS clusters with Microsoft Entra
            integration it supplies the bearer token that kubelogin would.

    Raises:
        UsageError: the target is "local", or "aks" without ``get_aks_kubeconfig``.
        ClusterAccessError: the kubeconfig or context is missing, or the API server cannot be reached.

    Example:
        >>> cluster = connect_cluster(load_params(overrides={"target": "kubeconfig", "kube_context": "kind-docling"}))  # doctest: +SKIP
        >>> cluster.server_version()  # doctest: +SKIP
        'v1.33.1'
    """
    if params.target == "kubeconfig":
        cluster = connect_kubeconfig(params.kubeconfig, params.kube_context)
    elif params.target == "aks":
        if get_aks_kubeconfig is None:
            raise UsageError(
                "Target 'aks' needs the cluster's kubeconfig: pass get_aks_kubeconfig, "
                "for example lambda: runbook_lib.azure.get_aks_kubeconfig(params, credential)."
            )
        cluster = connect_aks(get_aks_kubeconfig, credential=credential, context=params.kube_context)
    else:
        raise UsageError(f"Target {params.target!r} has no Kubernetes cluster: use target 'aks' or 'kubeconfig'.")

    version = cluster.server_version()
    logger.info("Connected to %s at %s, Kubernetes %s.", cluster.description, cluster.host, version)
    return cluster


def connect_kubeconfig(kubeconfig: str | os.PathLike | None = None, context: str | None = None) -> Cluster:
    """Connect through a kubeconfig file and context (AKS, kind, k3d, minikube or any other cluster).

    Args:
        kubeconfig (`str`, *optional*): the file; empty for ``$KUBECONFIG`` or ``~/.kube/config``.
        context (`str`, *optional*): the context; empty for the file's current context.

    Raises:
        ClusterAccessError: the file, the context or its credentials cannot be loaded.

    Example:
        >>> connect_kubeconfig(context="kind-docling")  # doctest: +SKIP
        Cluster(..., description="kubeconfig context 'kind-docling'")
    """
    if kubeconfig and not os.path.isfile(kubeconfig):
        raise ClusterAccessError(f"Kubeconfig file {kubeconfig} not found. Set the kubeconfig parameter to an existing file.")
    # Read $KUBECONFIG now: the kubernetes client reads it only once, when it is imported. It may list several files.
    path = os.fspath(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if not kubeconfig and not any(os.path.isfile(part) for part in path.split(os.pathsep)):
        raise ClusterAccessError(
            f"No kubeconfig found at {path}. Set the kubeconfig parameter or $KUBECONFIG to your cluster's "
            "kubeconfig file (for AKS use target aks, which fetches it)."
        )

    try:
        api_client = config.new_client_from_config(config_file=path, context=context, persist_config=False)
    except config.ConfigException as exc:
        raise ClusterAccessError(
            f"Cannot load kubeconfig {path} (context {context or 'current'}): {str(exc).rstrip('.')}. "
            "List the contexts with `kubectl config get-contexts` and set kube_context to one of them."
        ) from None
    except yaml.YAMLError as exc:
        raise ClusterAccessError(
            f"Kubeconfig {path} is not valid YAML ({type(exc).__name__}). Check the file, or set the kubeconfig parameter to another one."
        ) from None

    description = f"kubeconfig context {context!r}" if context else f"the current context of {path}"
    return Cluster(api_client, description)


def connect_aks(
    get_aks_kubeconfig: Callable[[], str | bytes],
    credential: Any | None = None,
    context: str | None = None,
) -> Cluster:
    """Connect to an AKS cluster with a kubeconfig fetched through the Azure SDK.

    For clusters with Microsoft Entra integration the kubeconfig's user runs ``kubelogin``; with a
    ``credential`` the runbook requests the token from it instead, so kubelogin need not be installed.

    Args:
        get_aks_kubeconfig (callable): returns the kubeconfig as text or bytes.
        credential (*optional*): an azure-identity credential for Entra-integrated clusters.
        context (`str`, *optional*): a context in that kubeconfig; empty for its current context.

    Raises:
        ClusterAccessError: the kubeconfig cannot be fetched or loaded.

    Example:
        >>> connect_aks(lambda: get_aks_kubeconfig(params, credential), credential)  # doctest: +SKIP
    """
    raw = get_aks_kubeconfig()
    try:
        kubeconfig = yaml.safe_load(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ClusterAccessError(f"The AKS kubeconfig is not valid YAML: {exc}") from None
    if not isinstance(kubeconfig, dict) or not kubeconfig.get("contexts"):
        raise ClusterAccessError("The AKS kubeconfig contains no contexts: fetch the cluster credentials again.")

    token_users = _kubelogin_users(kubeconfig) if credential is not None else {}
    for user in kubeconfig.get("users", []):
        if user["name"] in token_users:
            user["user"] = {}

    configuration = client.Configuration()
    try:
        config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=configuration, persist_config=False)
    except config.ConfigException as exc:
        raise ClusterAccessError(f"Cannot load the AKS kubeconfig (context {context or 'current'}): {exc}") from None

    context_name = context or kubeconfig.get("current-context")
    context_entry = next((c for c in kubeconfig["contexts"] if c["name"] == context_name), None)
    user_name = context_entry["context"].get("user") if context_entry else None
    if user_name in token_users:
        _use_entra_token(configuration, credential, token_users[user_name])

    return Cluster(client.ApiClient(configuration), f"AKS context {context_name!r}")


def _kubelogin_users(kubeconfig: dict) -> dict[str, str]:
    """Return the users that run kubelogin, mapped to the token audience (``--server-id``) they ask for."""
    users = {}
    for user in kubeconfig.get("users", []):
        exec_config = (user.get("user") or {}).get("exec") or {}
        if os.path.basename(str(exec_config.get("command", ""))) not in ("kubelogin", "kubelogin.exe"):
            continue
        args = [str(arg) for arg in exec_config.get("args") or []]
        server_id = args[args.index("--server-id") + 1] if "--server-id" in args[:-1] else AKS_AAD_SERVER_ID
        users[user["name"]] = server_id
    return users


def _use_entra_token(configuration: client.Configuration, credential: Any, server_id: str) -> None:
    """Authenticate with a Microsoft Entra token from ``credential``, refreshed before it expires."""
    scope = f"{server_id}/.default"
    state = {"expires_on": 0}

    def refresh(conf: client.Configuration) -> None:
        if state["expires_on"] - TOKEN_REFRESH_MARGIN_S > time.time():
            return
        token = credential.get_token(scope)
        state["expires_on"] = token.expires_on
        conf.api_key["authorization"] = token.token
        conf.api_key_prefix["authorization"] = "Bearer"

    configuration.refresh_api_key_hook = refresh
    refresh(configuration)
