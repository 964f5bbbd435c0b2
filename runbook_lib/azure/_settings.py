"""Resolved Azure settings: runbook parameters merged with the shared defaults file.

``infra/defaults.json`` contains the defaults both provisioning paths use: the
Bicep templates load it with ``loadJsonContent`` and this module reads it.
A runbook parameter left empty takes the value from that file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..params import RunbookParams
from ._naming import unique_string

DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "infra" / "defaults.json"

_SUBSCRIPTION_ID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_ACR_NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
_STORAGE_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_AKS_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9]$")
_GROUP_NAME = re.compile(r"^[-\w._()]{1,89}[-\w_()]$")
_SHARE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


@lru_cache(maxsize=4)
def load_defaults(path: Path = DEFAULTS_FILE) -> dict[str, Any]:
    """Read the defaults file shared with the Bicep templates.

    Raises:
        ParameterError: the file is missing or is not valid JSON.

    Example:
        >>> load_defaults()["aks"]["nodeCount"]
        2
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError(
            f"Azure defaults file {path} not found. Run the runbook from a checkout of the repository, "
            "which contains infra/defaults.json."
        ) from None
    except json.JSONDecodeError as exc:
        raise ParameterError(f"Azure defaults file {path} is not valid JSON: {exc}.") from None


@dataclass(frozen=True)
class RoleSpec:
    """A built-in role the kubelet identity gets, and the resource it is assigned on."""

    key: str
    role_id: str
    role_name: str
    scope_kind: str


@dataclass(frozen=True)
class AzureSettings:
    """Every value the Azure layer needs, with defaults applied and names derived."""

    subscription_id: str
    location: str
    environment_name: str
    name_suffix: str
    resource_group: str
    aks_cluster_name: str
    acr_name: str
    storage_account: str
    share_name: str
    share_quota_gb: int
    aks_node_count: int
    aks_node_size: str
    kubernetes_version: str | None
    acr_sku: str
    storage_sku: str
    tags: dict[str, str]
    defaults: dict[str, Any] = field(repr=False)

    @property
    def subscription_scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    @property
    def resource_group_id(self) -> str:
        return f"{self.subscription_scope}/resourceGroups/{self.resource_group}"

    @property
    def acr_id(self) -> str:
        return f"{self.resource_group_id}/providers/Microsoft.ContainerRegistry/registries/{self.acr_name}"

    @property
    def storage_account_id(self) -> str:
        return f"{self.resource_group_id}/providers/Microsoft.Storage/storageAccounts/{self.storage_account}"

    @property
    def aks_id(self) -> str:
        return f"{self.resource_group_id}/providers/Microsoft.ContainerService/managedClusters/{self.aks_cluster_name}"

    def role_specs(self) -> list[RoleSpec]:
        """List the roles for the kubelet identity, in the defaults file's order."""
        return [
            RoleSpec(key=key, role_id=role["id"], role_name=role["name"], scope_kind=role["scope"])
            for key, role in self.defaults["roles"].items()
        ]

    def scope_for(self, scope_kind: str) -> str:
        """Return the resource id a role of ``scope_kind`` is assigned on."""
        scopes = {"containerRegistry": self.acr_id, "storageAccount": self.storage_account_id}
        return scopes[scope_kind]

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("defaults")
        return values


def resolve_settings(params: RunbookParams, defaults: dict[str, Any] | None = None) -> AzureSettings:
    """Merge runbook parameters with the defaults file and derive resource names.

    Names follow the Bicep templates: ``rg-<environment>`` for the resource group, and
    ``aks-``, ``cr`` and ``st`` followed by ``uniqueString(subscription id, environment, region)``
    for the others, unless ``name_suffix`` or an explicit name is set.

    Args:
        params (`RunbookParams`): the runbook parameters.
        defaults (`dict`, *optional*): the defaults file's content; read from ``infra/defaults.json`` when omitted.

    Raises:
        ParameterError: the subscription id is missing or malformed, or a name breaks Azure's naming rules.

    Example:
        >>> settings = resolve_settings(RunbookParams(target="aks",
        ...     subscription_id="00000000-0000-0000-0000-000000000000", environment_name="demo"))
        >>> settings.resource_group, settings.aks_node_count
        ('rg-demo', 2)
    """
    defaults = defaults or load_defaults()
    abbreviations = defaults["abbreviations"]

    subscription_id = params.subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID", "")
    if not subscription_id:
        raise ParameterError(
            "subscription_id is missing. Pass -p subscription_id=<id> or set AZURE_SUBSCRIPTION_ID "
            "(`az account show --query id -o tsv` prints the current one)."
        )
    if not _SUBSCRIPTION_ID.match(subscription_id):
        raise ParameterError(f"subscription_id {subscription_id!r} is not a subscription id (a GUID).")

    location = (params.location or defaults["location"]).replace(" ", "").lower()
    environment_name = params.environment_name or defaults["environmentName"]
    suffix = params.name_suffix or unique_string(f"/subscriptions/{subscription_id}", environment_name, location)
    suffix = suffix.lower()

    settings = AzureSettings(
        subscription_id=subscription_id,
        location=location,
        environment_name=environment_name,
        name_suffix=suffix,
        resource_group=params.resource_group or f"{abbreviations['resourceGroup']}{environment_name}",
        aks_cluster_name=params.aks_cluster_name or f"{abbreviations['managedCluster']}{suffix}",
        acr_name=params.acr_name or f"{abbreviations['containerRegistry']}{suffix}",
        storage_account=params.storage_account or f"{abbreviations['storageAccount']}{suffix}",
        share_name=params.share_name or defaults["storage"]["shareName"],
        share_quota_gb=params.share_quota_gb or defaults["storage"]["shareQuotaGb"],
        aks_node_count=params.aks_node_count or defaults["aks"]["nodeCount"],
        aks_node_size=params.aks_node_size or defaults["aks"]["nodeSize"],
        kubernetes_version=params.kubernetes_version or None,
        acr_sku=params.acr_sku or defaults["acr"]["sku"],
        storage_sku=params.storage_sku or defaults["storage"]["sku"],
        tags={**defaults["tags"], "azd-env-name": environment_name},
        defaults=defaults,
    )
    _check_names(settings)
    return settings


def _check_names(settings: AzureSettings) -> None:
    checks = [
        ("resource_group", settings.resource_group, _GROUP_NAME, "1-90 letters, digits, '-', '_', '.', '(' or ')'"),
        ("aks_cluster_name", settings.aks_cluster_name, _AKS_NAME, "1-63 letters, digits, '-' or '_'"),
        ("acr_name", settings.acr_name, _ACR_NAME, "5-50 letters or digits"),
        ("storage_account", settings.storage_account, _STORAGE_NAME, "3-24 lower-case letters or digits"),
        ("share_name", settings.share_name, _SHARE_NAME, "3-63 lower-case letters, digits or single '-'"),
    ]

    for name, value, pattern, rule in checks:
        if not pattern.match(value):
            raise ParameterError(f"{name} {value!r} is invalid: Azure allows {rule}. Choose another value.")
