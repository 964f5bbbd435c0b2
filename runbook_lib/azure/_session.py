"""Sign-in and SDK clients for one Resource Manager endpoint.

The credential comes from the ``azure_credential`` parameter. The endpoint
is the public, US Government or China cloud's, or ``arm_endpoint`` with
``arm_audience`` for Azure Stack Hub and private clouds. TLS verification
stays on: a custom certificate authority comes from ``REQUESTS_CA_BUNDLE``,
which the SDK's transport (requests) reads.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlparse

from azure.core.credentials import TokenCredential

from ..errors import ParameterError
from ..params import RunbookParams
from ._settings import AzureSettings, resolve_settings

logger = logging.getLogger("runbook_lib.azure")


@dataclass(frozen=True)
class CloudEndpoints:
    """Resource Manager URL, token audience and Microsoft Entra authority of one cloud."""

    resource_manager: str
    audience: str
    authority_host: str


CLOUDS = {
    "AzureCloud": CloudEndpoints(
        "https://management.azure.com", "https://management.azure.com", "https://login.microsoftonline.com"
    ),
    "AzureUSGovernment": CloudEndpoints(
        "https://management.usgovcloudapi.net", "https://management.usgovcloudapi.net", "https://login.microsoftonline.us"
    ),
    "AzureChinaCloud": CloudEndpoints(
        "https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn"
    ),
}


def resolve_endpoints(params: RunbookParams) -> CloudEndpoints:
    """Pick the Resource Manager endpoint and audience from ``azure_cloud``, ``arm_endpoint`` and ``arm_audience``.

    Raises:
        ParameterError: ``arm_endpoint`` is not an https URL; the SDK sends tokens only over TLS.

    Example:
        >>> resolve_endpoints(RunbookParams(azure_cloud="AzureChinaCloud")).resource_manager
        'https://management.chinacloudapi.cn'
    """
    cloud = CLOUDS[params.azure_cloud]
    if not params.arm_endpoint:
        return cloud

    endpoint = params.arm_endpoint.rstrip("/")
    parsed = urlparse(endpoint)
    if parsed.scheme != "https" or not parsed.netloc:
        raise ParameterError(
            f"arm_endpoint {params.arm_endpoint!r} is invalid: Resource Manager needs an https:// URL. "
            "For a private certificate authority, point REQUESTS_CA_BUNDLE at its PEM file."
        )
    audience = (params.arm_audience or endpoint).rstrip("/")
    return CloudEndpoints(endpoint, audience, cloud.authority_host)


def build_credential(params: RunbookParams) -> TokenCredential:
    """Create the azure-identity credential named by ``azure_credential``.

    - ``default`` tries environment variables, workload identity, managed identity and the Azure CLI in turn.
    - ``cli`` uses the ``az login`` session.
    - ``workload-identity`` reads the federated token that AKS projects into pods.
    - ``managed-identity`` uses the VM's or pod's identity, and ``AZURE_CLIENT_ID`` selects a user-assigned one.

    Example:
        >>> type(build_credential(RunbookParams(azure_credential="cli"))).__name__
        'AzureCliCredential'
    """
    from azure.identity import (
        AzureCliCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    authority = resolve_endpoints(params).authority_host
    kind = params.azure_credential

    if kind == "cli":
        return AzureCliCredential()
    if kind == "workload-identity":
        return WorkloadIdentityCredential(authority=authority)
    if kind == "managed-identity":
        return ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID"))
    return DefaultAzureCredential(authority=authority)


@dataclass
class AzureSession:
    """A credential, the resolved settings and lazily created management clients for one subscription."""

    settings: AzureSettings
    credential: TokenCredential
    endpoints: CloudEndpoints
    operation_timeout_s: float = 3600
    role_visibility_timeout_s: float = 300
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def scope(self) -> str:
        """OAuth scope for Resource Manager tokens."""
        return f"{self.endpoints.audience}/.default"

    def _client_options(self) -> dict[str, Any]:
        return {"base_url": self.endpoints.resource_manager, "credential_scopes": [self.scope]}

    @cached_property
    def resources(self):
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self.credential, self.settings.subscription_id, **self._client_options())

    @cached_property
    def containerservice(self):
        from azure.mgmt.containerservice import ContainerServiceClient

        return ContainerServiceClient(self.credential, self.settings.subscription_id, **self._client_options())

    @cached_property
    def containerregistry(self):
        from azure.mgmt.containerregistry import ContainerRegistryManagementClient

        return ContainerRegistryManagementClient(self.credential, self.settings.subscription_id, **self._client_options())

    @cached_property
    def registry_tasks(self):
        from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient

        return ContainerRegistryTasksMgmtClient(self.credential, self.settings.subscription_id, **self._client_options())

    @cached_property
    def storage(self):
        from azure.mgmt.storage import StorageManagementClient

        return StorageManagementClient(self.credential, self.settings.subscription_id, **self._client_options())

    @cached_property
    def authorization(self):
        from azure.mgmt.authorization import AuthorizationManagementClient

        return AuthorizationManagementClient(self.credential, self.settings.subscription_id, **self._client_options())

    @cached_property
    def compute(self):
        from azure.mgmt.compute import ComputeManagementClient

        return ComputeManagementClient(self.credential, self.settings.subscription_id, **self._client_options())


def connect(params: RunbookParams, credential: TokenCredential | None = None) -> AzureSession:
    """Resolve settings and endpoints and prepare clients; nothing is sent until a client is used.

    Args:
        params (`RunbookParams`): runbook parameters (``subscription_id``, ``azure_credential``, ...).
        credential (`TokenCredential`, *optional*): a credential to use instead of the one
            ``azure_credential`` names, such as one a notebook already created.

    Raises:
        ParameterError: a parameter is missing or invalid.

    Example:
        >>> session = connect(RunbookParams(target="aks", subscription_id="00000000-0000-0000-0000-000000000000"))
        >>> session.scope
        'https://management.azure.com/.default'
    """
    settings = resolve_settings(params)
    endpoints = resolve_endpoints(params)

    return AzureSession(
        settings=settings,
        credential=credential or build_credential(params),
        endpoints=endpoints,
        operation_timeout_s=params.azure_operation_timeout_s,
        role_visibility_timeout_s=params.role_visibility_timeout_s,
    )
