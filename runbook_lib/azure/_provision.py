"""Plan and apply: show each resource's current versus desired state, then create or update it.

``plan`` only reads. ``apply`` writes only the resources whose plan action
is ``create`` or ``update``, so a second apply sends no writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials import TokenCredential

from ..errors import AzurePlanError
from ..params import RunbookParams
from ._arm import arm_errors, to_wire, wait_for
from ._diff import FieldChange, diff, merge
from ._resources import ResourceSpec, resource_specs
from ._session import AzureSession, connect

logger = logging.getLogger("runbook_lib.azure")

# Fields Resource Manager computes; a GET-modify-PUT leaves them out of the request.
_READ_ONLY_FIELDS = ("id", "name", "type", "systemData", "etag")
_READ_ONLY_PROPERTIES = ("provisioningState", "powerState", "fqdn", "azurePortalFQDN", "maxAgentPools")


@dataclass
class ResourceChange:
    """The plan for one resource: its action and the fields that would change."""

    kind: str
    name: str
    resource_id: str
    action: str
    changes: list[FieldChange] = field(default_factory=list)
    blocked: list[FieldChange] = field(default_factory=list)
    result: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "resource_id": self.resource_id,
            "action": self.action,
            "changes": [change.render() for change in self.changes],
            "blocked": [change.render() for change in self.blocked],
            "result": self.result,
        }


@dataclass
class Plan:
    """Per resource, the current versus desired state and the action apply would take."""

    resources: list[ResourceChange]
    settings: dict[str, Any]

    @property
    def has_changes(self) -> bool:
        return any(resource.action != "none" for resource in self.resources)

    @property
    def blocked(self) -> list[ResourceChange]:
        return [resource for resource in self.resources if resource.action == "replace"]

    def render(self) -> str:
        """Format the plan as a table with one line per changed field."""
        width_kind = max(len(resource.kind) for resource in self.resources)
        width_name = max(len(resource.name) for resource in self.resources)
        lines = [f"{'Resource':<{width_kind}}  {'Name':<{width_name}}  Action"]

        for resource in self.resources:
            action = resource.result or resource.action
            lines.append(f"{resource.kind:<{width_kind}}  {resource.name:<{width_name}}  {action}")
            if resource.action == "update":
                lines.extend(f"    {change.render()}" for change in resource.changes)
            for change in resource.blocked:
                lines.append(f"    cannot change in place: {change.render()}")

        if not self.has_changes:
            lines.append("No changes: every resource matches the desired state.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "has_changes": self.has_changes,
            "resources": [resource.to_dict() for resource in self.resources],
            "settings": self.settings,
        }


@dataclass
class ApplyResult:
    """Outcome of apply: the executed plan and the outputs later steps need (registry login server, OIDC issuer, ...)."""

    plan: Plan
    outputs: dict[str, Any]

    @property
    def changed(self) -> bool:
        return self.plan.has_changes

    def render(self) -> str:
        lines = [self.plan.render(), ""]
        lines.extend(f"{key}: {value}" for key, value in self.outputs.items())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "plan": self.plan.to_dict(), "outputs": self.outputs}


def _plan_resource(spec: ResourceSpec, current: dict[str, Any] | None) -> ResourceChange:
    change = ResourceChange(kind=spec.kind, name=spec.name, resource_id=spec.resource_id, action="create")
    if current is None:
        return change

    change.changes = diff(current, spec.desired)
    change.blocked = [item for item in change.changes if item.path in spec.immutable]
    if change.blocked:
        change.action = "replace"
    elif change.changes:
        change.action = "update"
    else:
        change.action = "none"
    return change


def plan_session(session: AzureSession) -> tuple[Plan, dict[str, dict[str, Any] | None]]:
    """Read every resource and compare it with its desired state; returns the plan and current bodies."""
    specs = resource_specs(session.settings)
    currents: dict[str, dict[str, Any] | None] = {}
    resources = []

    for spec in specs:
        parents_missing = any(currents.get(parent) is None for parent in spec.depends_on)
        if parents_missing:
            current = None
        else:
            with arm_errors(session.settings, f"read {spec.kind} {spec.name}"):
                current = spec.current(session)

        currents[spec.kind] = current
        resources.append(_plan_resource(spec, current))

    return Plan(resources=resources, settings=session.settings.to_dict()), currents


def plan(params: RunbookParams, credential: TokenCredential | None = None) -> Plan:
    """Compare every resource's current state with the desired state, and change nothing.

    Args:
        params (`RunbookParams`): runbook parameters; empty Azure values take ``infra/defaults.json``.
        credential (`TokenCredential`, *optional*): a credential to use instead of ``azure_credential``'s.

    Raises:
        AzureError: a read failed; subclasses name missing roles or sign-in problems.

    Example:
        >>> print(plan(params).render())  # doctest: +SKIP
        Resource            Name        Action
        resource group      rg-docling  create
        ...
    """
    session = connect(params, credential)
    result, _ = plan_session(session)
    return result


def _update_body(spec: ResourceSpec, current: dict[str, Any]) -> dict[str, Any]:
    if not spec.merge_on_update:
        return spec.desired

    body = {key: value for key, value in current.items() if key not in _READ_ONLY_FIELDS}
    properties = body.get("properties")
    if isinstance(properties, dict):
        body["properties"] = {key: value for key, value in properties.items() if key not in _READ_ONLY_PROPERTIES}
        for pool in body["properties"].get("agentPoolProfiles", []) or []:
            for key in ("provisioningState", "powerState", "nodeImageVersion", "currentOrchestratorVersion"):
                pool.pop(key, None)
    return merge(body, spec.desired)


def apply_session(session: AzureSession) -> ApplyResult:
    """Apply the plan with an existing session; see :func:`apply`."""
    current_plan, currents = plan_session(session)

    if current_plan.blocked:
        details = "; ".join(
            f"{resource.kind} {resource.name}: " + ", ".join(change.render() for change in resource.blocked)
            for resource in current_plan.blocked
        )
        raise AzurePlanError(
            f"Cannot apply: some changes need new resources ({details}). Keep the current values, or delete "
            "the resource (teardown) and apply again."
        )

    specs = {spec.kind: spec for spec in resource_specs(session.settings)}
    for resource in current_plan.resources:
        if resource.action == "none":
            resource.result = "unchanged"
            continue

        spec = specs[resource.kind]
        current = currents.get(resource.kind)
        body = spec.desired if current is None else _update_body(spec, current)
        verb = "create" if resource.action == "create" else "update"
        label = f"{verb} {spec.kind} {spec.name}"
        logger.info("Starting to %s", label)

        with arm_errors(session.settings, label):
            outcome = spec.write(session, body)
            if spec.long_running:
                outcome = wait_for(outcome, label, session.operation_timeout_s)

        currents[resource.kind] = to_wire(outcome)
        resource.result = "created" if verb == "create" else "updated"
        logger.info("Finished: %s", label)

    with arm_errors(session.settings, "read the provisioned resources"):
        outputs = collect_outputs(session)
    return ApplyResult(plan=current_plan, outputs=outputs)


def apply(params: RunbookParams, credential: TokenCredential | None = None) -> ApplyResult:
    """Create or update the resources so they match the desired state, waiting on long-running operations.

    Resources already in the desired state get no request; a second apply therefore sends no writes.

    Args:
        params (`RunbookParams`): runbook parameters; empty Azure values take ``infra/defaults.json``.
        credential (`TokenCredential`, *optional*): a credential to use instead of ``azure_credential``'s.

    Raises:
        AzurePlanError: a change needs a new resource (region, VM size of the system pool, storage kind).
        AzureAuthorizationError: the signed-in identity lacks a role; the message names it and the scope.
        AzureQuotaError, AzureSkuNotAvailableError: the region cannot host the nodes.
        AzureNameConflictError: a registry or storage account name is taken; the message suggests a suffix.

    Example:
        >>> result = apply(params)  # doctest: +SKIP
        >>> result.outputs["oidc_issuer_url"]  # doctest: +SKIP
        'https://westeurope.oic.prod-aks.azure.com/.../'
    """
    return apply_session(connect(params, credential))


def collect_outputs(session: AzureSession) -> dict[str, Any]:
    """Read the values later notebooks need from the provisioned resources."""
    settings = session.settings
    registry = to_wire(session.containerregistry.registries.get(settings.resource_group, settings.acr_name))
    cluster = to_wire(
        session.containerservice.managed_clusters.get(settings.resource_group, settings.aks_cluster_name)
    )
    cluster_properties = cluster.get("properties", {})
    kubelet = (cluster_properties.get("identityProfile") or {}).get("kubeletidentity") or {}

    return {
        "subscription_id": settings.subscription_id,
        "location": settings.location,
        "resource_group": settings.resource_group,
        "aks_cluster_name": settings.aks_cluster_name,
        "acr_name": settings.acr_name,
        "acr_login_server": registry.get("properties", {}).get("loginServer"),
        "storage_account": settings.storage_account,
        "share_name": settings.share_name,
        "oidc_issuer_url": (cluster_properties.get("oidcIssuerProfile") or {}).get("issuerURL"),
        "kubelet_object_id": kubelet.get("objectId"),
        "kubelet_client_id": kubelet.get("clientId"),
        "node_resource_group": cluster_properties.get("nodeResourceGroup"),
    }
