"""Teardown: delete the runbook's resource group, guarded by a confirmation that names it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials import TokenCredential

from ..params import RunbookParams
from ._arm import arm_errors, get_or_none, to_wire, wait_for
from ._session import connect

logger = logging.getLogger("runbook_lib.azure")


@dataclass
class TeardownResult:
    """Outcome of a teardown: the resource group's resources, and whether the group was deleted."""

    resource_group: str
    exists: bool
    deleted: bool
    resources: list[dict[str, str]] = field(default_factory=list)
    node_resource_groups: list[str] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        return self.exists and not self.deleted

    def render(self) -> str:
        """Describe what was deleted, or in a dry run what would be and how to confirm."""
        if not self.exists:
            return f"Resource group {self.resource_group} does not exist; nothing to delete."

        verb = "Deleted" if self.deleted else "Dry run: would delete"
        lines = [f"{verb} resource group {self.resource_group} with {len(self.resources)} resource(s):"]
        lines.extend(f"  {item['type']}  {item['name']}" for item in self.resources)
        lines.extend(f"  (AKS deletes its node resource group {name} with the cluster)" for name in self.node_resource_groups)

        if not self.deleted:
            lines.append(f"To delete, run again with -p confirm={self.resource_group}.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource_group": self.resource_group,
            "exists": self.exists,
            "deleted": self.deleted,
            "dry_run": self.dry_run,
            "resources": self.resources,
            "node_resource_groups": self.node_resource_groups,
        }


def teardown(params: RunbookParams, credential: TokenCredential | None = None) -> TeardownResult:
    """Delete the resource group when ``params.confirm`` equals its name; otherwise list what would go.

    The dry run sends only reads. The deletion waits for Resource Manager's long-running operation, which also
    removes the AKS node resource group.

    Args:
        params (`RunbookParams`): runbook parameters; ``confirm`` must equal the resource group name to delete.
        credential (`TokenCredential`, *optional*): a credential to use instead of ``azure_credential``'s.

    Raises:
        AzureAuthorizationError: the signed-in identity may not delete the resource group.

    Example:
        >>> print(teardown(params).render())  # doctest: +SKIP
        Dry run: would delete resource group rg-docling with 4 resource(s):
        ...
        To delete, run again with -p confirm=rg-docling.
    """
    session = connect(params, credential)
    settings = session.settings
    group = settings.resource_group

    with arm_errors(settings, f"read resource group {group}"):
        existing = get_or_none(lambda: session.resources.resource_groups.get(group))
    if existing is None:
        logger.info("Resource group %s does not exist; nothing to delete", group)
        return TeardownResult(resource_group=group, exists=False, deleted=False)

    with arm_errors(settings, f"list the resources in resource group {group}"):
        resources = [to_wire(item) for item in session.resources.resources.list_by_resource_group(group)]
        node_groups = _node_resource_groups(session, resources)

    result = TeardownResult(
        resource_group=group,
        exists=True,
        deleted=False,
        resources=[{"type": item.get("type", ""), "name": item.get("name", "")} for item in resources],
        node_resource_groups=node_groups,
    )

    if params.confirm != group:
        logger.info("Dry run: resource group %s kept; confirm=%r does not match", group, params.confirm)
        return result

    label = f"delete resource group {group}"
    logger.info("Starting to %s", label)
    with arm_errors(settings, label):
        wait_for(session.resources.resource_groups.begin_delete(group), label, session.operation_timeout_s)

    result.deleted = True
    logger.info("Finished: %s", label)
    return result


def _node_resource_groups(session, resources: list[dict[str, Any]]) -> list[str]:
    groups = []
    for item in resources:
        if (item.get("type") or "").lower() != "microsoft.containerservice/managedclusters":
            continue
        cluster = to_wire(session.containerservice.managed_clusters.get(session.settings.resource_group, item["name"]))
        node_group = (cluster.get("properties") or {}).get("nodeResourceGroup")
        if node_group:
            groups.append(node_group)
    return groups
