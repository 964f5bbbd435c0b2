"""Desired state of each Azure resource, in the REST (wire) form the Bicep templates also declare.

Each :class:`ResourceSpec` reads a resource's current state and
writes its desired state with the Azure SDK. Bodies are plain JSON
dicts with Resource Manager's property names, so the plan compares them
field by field with what the SDK reads back, and tests can compare them
with the Bicep templates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._arm import get_or_none, to_wire
from ._session import AzureSession
from ._settings import AzureSettings


@dataclass(frozen=True)
class ResourceSpec:
    """One resource the runbook manages: its identity, desired body and SDK calls."""

    kind: str
    name: str
    resource_id: str
    desired: dict[str, Any]
    read: Callable[[AzureSession], Any]
    write: Callable[[AzureSession, dict[str, Any]], Any]
    long_running: bool = True
    # Paths whose change needs a new resource; the plan reports them and apply stops.
    immutable: tuple[str, ...] = ("location",)
    # When true, apply overlays the desired body on the current one (a GET-modify-PUT).
    merge_on_update: bool = False
    depends_on: tuple[str, ...] = field(default_factory=tuple)

    def current(self, session: AzureSession) -> dict[str, Any] | None:
        """Read the resource; None when it does not exist."""
        return to_wire(get_or_none(lambda: self.read(session)))


def resource_group_body(settings: AzureSettings) -> dict[str, Any]:
    return {"location": settings.location, "tags": dict(settings.tags)}


def registry_body(settings: AzureSettings) -> dict[str, Any]:
    acr = settings.defaults["acr"]
    return {
        "location": settings.location,
        "tags": dict(settings.tags),
        "sku": {"name": settings.acr_sku},
        "properties": {"adminUserEnabled": acr["adminUserEnabled"]},
    }


def storage_account_body(settings: AzureSettings) -> dict[str, Any]:
    storage = settings.defaults["storage"]
    return {
        "location": settings.location,
        "tags": dict(settings.tags),
        "sku": {"name": settings.storage_sku},
        "kind": storage["kind"],
        "properties": {
            "minimumTlsVersion": storage["minimumTlsVersion"],
            "allowBlobPublicAccess": storage["allowBlobPublicAccess"],
            "largeFileSharesState": storage["largeFileSharesState"],
            "supportsHttpsTrafficOnly": storage["supportsHttpsTrafficOnly"],
        },
    }


def file_share_body(settings: AzureSettings) -> dict[str, Any]:
    return {"properties": {"shareQuota": settings.share_quota_gb}}


def managed_cluster_body(settings: AzureSettings) -> dict[str, Any]:
    aks = settings.defaults["aks"]
    properties: dict[str, Any] = {
        "dnsPrefix": settings.aks_cluster_name,
        "agentPoolProfiles": [
            {
                "name": aks["systemPoolName"],
                "mode": "System",
                "count": settings.aks_node_count,
                "vmSize": settings.aks_node_size,
                "osType": "Linux",
                "type": "VirtualMachineScaleSets",
            }
        ],
        "oidcIssuerProfile": {"enabled": aks["oidcIssuerEnabled"]},
        "securityProfile": {"workloadIdentity": {"enabled": aks["workloadIdentityEnabled"]}},
        "storageProfile": {"fileCSIDriver": {"enabled": aks["fileCsiDriverEnabled"]}},
    }
    if settings.kubernetes_version:
        properties["kubernetesVersion"] = settings.kubernetes_version

    return {
        "location": settings.location,
        "tags": dict(settings.tags),
        "identity": {"type": "SystemAssigned"},
        "properties": properties,
    }


def resource_specs(settings: AzureSettings) -> list[ResourceSpec]:
    """List the resources in the order apply creates them.

    Example:
        >>> [spec.kind for spec in resource_specs(settings)]
        ['resource group', 'container registry', 'storage account', 'file share', 'AKS cluster']
    """
    group, share = settings.resource_group, settings.share_name
    acr, account, cluster = settings.acr_name, settings.storage_account, settings.aks_cluster_name
    system_pool = settings.defaults["aks"]["systemPoolName"]

    return [
        ResourceSpec(
            kind="resource group",
            name=group,
            resource_id=settings.resource_group_id,
            desired=resource_group_body(settings),
            read=lambda s: s.resources.resource_groups.get(group),
            write=lambda s, body: s.resources.resource_groups.create_or_update(group, body),
            long_running=False,
        ),
        ResourceSpec(
            kind="container registry",
            name=acr,
            resource_id=settings.acr_id,
            desired=registry_body(settings),
            read=lambda s: s.containerregistry.registries.get(group, acr),
            write=lambda s, body: s.containerregistry.registries.begin_create(group, acr, body),
            depends_on=("resource group",),
        ),
        ResourceSpec(
            kind="storage account",
            name=account,
            resource_id=settings.storage_account_id,
            desired=storage_account_body(settings),
            read=lambda s: s.storage.storage_accounts.get_properties(group, account),
            write=lambda s, body: s.storage.storage_accounts.begin_create(group, account, body),
            immutable=("location", "kind"),
            depends_on=("resource group",),
        ),
        ResourceSpec(
            kind="file share",
            name=share,
            resource_id=f"{settings.storage_account_id}/fileServices/default/shares/{share}",
            desired=file_share_body(settings),
            read=lambda s: s.storage.file_shares.get(group, account, share),
            write=lambda s, body: s.storage.file_shares.create(group, account, share, body),
            long_running=False,
            immutable=(),
            depends_on=("storage account",),
        ),
        ResourceSpec(
            kind="AKS cluster",
            name=cluster,
            resource_id=settings.aks_id,
            desired=managed_cluster_body(settings),
            read=lambda s: s.containerservice.managed_clusters.get(group, cluster),
            write=lambda s, body: s.containerservice.managed_clusters.begin_create_or_update(group, cluster, body),
            immutable=("location", f"properties.agentPoolProfiles[{system_pool}].vmSize", "properties.dnsPrefix"),
            merge_on_update=True,
            depends_on=("resource group",),
        ),
    ]
