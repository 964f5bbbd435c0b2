"""Role assignments for the AKS kubelet identity.

The kubelet identity gets AcrPull on the registry, and Storage Account
Contributor plus Storage File Data SMB Share Contributor on the storage
account (the Azure Files CSI driver reads the account key with the first).
Assignment names are ``guid(scope, principal, role definition)``, as in the
Bicep templates, so both paths converge on the same assignments.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from ..errors import AzureError, AzurePlanError
from ..params import RunbookParams
from ._arm import arm_errors, error_code_and_message, to_wire, translate_error
from ._naming import arm_guid
from ._session import AzureSession, connect

logger = logging.getLogger("runbook_lib.azure")

PRINCIPAL_TYPE = "ServicePrincipal"


@dataclass
class RoleAssignmentStatus:
    """One role the kubelet identity needs on one scope, and what the runbook found or did."""

    role_name: str
    role_definition_id: str
    scope: str
    principal_id: str
    assignment_name: str
    state: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IdentityResult:
    """The kubelet identity and the state of each of its role assignments."""

    kubelet_object_id: str
    kubelet_client_id: str | None
    assignments: list[RoleAssignmentStatus]

    @property
    def changed(self) -> bool:
        return any(assignment.state == "created" for assignment in self.assignments)

    def render(self) -> str:
        """Format which identity got which role on which scope."""
        lines = [f"Kubelet identity: object id {self.kubelet_object_id}, client id {self.kubelet_client_id}"]
        width = max(len(assignment.role_name) for assignment in self.assignments)
        for assignment in self.assignments:
            lines.append(f"  {assignment.role_name:<{width}}  {assignment.state:<8}  on {assignment.scope}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kubelet_object_id": self.kubelet_object_id,
            "kubelet_client_id": self.kubelet_client_id,
            "changed": self.changed,
            "assignments": [assignment.to_dict() for assignment in self.assignments],
        }


def kubelet_identity(session: AzureSession) -> tuple[str, str | None]:
    """Read the object id and client id of the AKS cluster's kubelet identity.

    Raises:
        AzurePlanError: the cluster does not exist yet, or has no kubelet identity.
    """
    settings = session.settings
    with arm_errors(settings, f"read AKS cluster {settings.aks_cluster_name}"):
        try:
            cluster = to_wire(
                session.containerservice.managed_clusters.get(settings.resource_group, settings.aks_cluster_name)
            )
        except ResourceNotFoundError:
            raise AzurePlanError(
                f"AKS cluster {settings.aks_cluster_name} not found in resource group {settings.resource_group}. "
                "Provision it first (notebook 01, or `runbook azure apply`)."
            ) from None

    kubelet = ((cluster.get("properties") or {}).get("identityProfile") or {}).get("kubeletidentity") or {}
    if not kubelet.get("objectId"):
        raise AzurePlanError(
            f"AKS cluster {settings.aks_cluster_name} has no kubelet identity yet (provisioning state "
            f"{(cluster.get('properties') or {}).get('provisioningState')}). Wait for provisioning to finish "
            "and run this step again."
        )
    return kubelet["objectId"], kubelet.get("clientId")


def desired_assignments(session: AzureSession, principal_id: str) -> list[RoleAssignmentStatus]:
    """List the assignments the kubelet identity needs, with their deterministic names."""
    settings = session.settings
    statuses = []

    for role in settings.role_specs():
        scope = settings.scope_for(role.scope_kind)
        role_definition_id = f"{settings.subscription_scope}/providers/Microsoft.Authorization/roleDefinitions/{role.role_id}"
        statuses.append(
            RoleAssignmentStatus(
                role_name=role.role_name,
                role_definition_id=role_definition_id,
                scope=scope,
                principal_id=principal_id,
                assignment_name=arm_guid(scope, principal_id, role_definition_id),
                state="unknown",
            )
        )
    return statuses


def _role_guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def _existing_equivalent(session: AzureSession, expected: RoleAssignmentStatus) -> dict[str, Any] | None:
    """Find an assignment of the same role to the same principal on the same scope, whatever its name."""
    assignments = session.authorization.role_assignments.list_for_scope(
        expected.scope, filter=f"principalId eq '{expected.principal_id}'"
    )
    for assignment in assignments:
        body = to_wire(assignment)
        properties = body.get("properties", body)
        same_role = _role_guid(properties.get("roleDefinitionId", "")) == _role_guid(expected.role_definition_id)
        same_scope = (properties.get("scope") or "").lower() == expected.scope.lower()
        if same_role and same_scope:
            return body
    return None


def plan_role_assignments(params: RunbookParams, credential: TokenCredential | None = None) -> IdentityResult:
    """Show which role assignments exist and which are missing, and change nothing.

    Example:
        >>> print(plan_role_assignments(params).render())  # doctest: +SKIP
        Kubelet identity: object id 1b0c..., client id 6f1e...
          AcrPull  missing   on /subscriptions/.../registries/crabc
    """
    session = connect(params, credential)
    object_id, client_id = kubelet_identity(session)
    statuses = desired_assignments(session, object_id)

    for status in statuses:
        with arm_errors(session.settings, f"list role assignments on {status.scope}"):
            status.state = "present" if _existing_equivalent(session, status) else "missing"
    return IdentityResult(object_id, client_id, statuses)


def assign_kubelet_roles(params: RunbookParams, credential: TokenCredential | None = None) -> IdentityResult:
    """Grant the kubelet identity its roles, then wait until every assignment is visible.

    An existing equivalent assignment counts as success, whatever its name, and so does Resource Manager's
    ``RoleAssignmentExists`` conflict. New assignments set ``principalType: ServicePrincipal``, so that Resource
    Manager does not look the new identity up in a directory replica that has not seen it yet.

    Args:
        params (`RunbookParams`): runbook parameters naming the cluster, registry and storage account.
        credential (`TokenCredential`, *optional*): a credential to use instead of ``azure_credential``'s.

    Raises:
        AzurePlanError: the AKS cluster or its kubelet identity does not exist yet.
        AzureAuthorizationError: the signed-in identity may not write role assignments; the message names
            the role it needs (Role Based Access Control Administrator, User Access Administrator or Owner).
        AzureError: an assignment did not become visible within ``role_visibility_timeout_s``.

    Example:
        >>> result = assign_kubelet_roles(params)  # doctest: +SKIP
        >>> [assignment.state for assignment in result.assignments]  # doctest: +SKIP
        ['created', 'created', 'created']
    """
    session = connect(params, credential)
    object_id, client_id = kubelet_identity(session)
    statuses = desired_assignments(session, object_id)

    for status in statuses:
        _ensure_assignment(session, status)

    for status in statuses:
        if status.state == "created":
            _wait_until_visible(session, status)

    result = IdentityResult(object_id, client_id, statuses)
    for status in statuses:
        logger.info("Role %s for principal %s on %s: %s", status.role_name, object_id, status.scope, status.state)
    return result


def _ensure_assignment(session: AzureSession, status: RoleAssignmentStatus) -> None:
    settings = session.settings
    doing = f"assign role {status.role_name} to the kubelet identity on {status.scope}"

    with arm_errors(settings, f"list role assignments on {status.scope}"):
        if _existing_equivalent(session, status):
            status.state = "present"
            return

    body = {
        "properties": {
            "roleDefinitionId": status.role_definition_id,
            "principalId": status.principal_id,
            "principalType": PRINCIPAL_TYPE,
        }
    }
    try:
        session.authorization.role_assignments.create(status.scope, status.assignment_name, body)
    except HttpResponseError as exc:
        code, _ = error_code_and_message(exc)
        if exc.status_code == 409 and code.lower() == "roleassignmentexists":
            status.state = "present"
            return
        raise translate_error(exc, settings, doing) from exc

    status.state = "created"


def _wait_until_visible(session: AzureSession, status: RoleAssignmentStatus) -> None:
    """Poll the new assignment by name until Resource Manager returns it, with a growing delay."""
    deadline = time.monotonic() + session.role_visibility_timeout_s
    delay = 0.5

    while True:
        try:
            session.authorization.role_assignments.get(status.scope, status.assignment_name)
            return
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            raise translate_error(exc, session.settings, f"read role assignment {status.assignment_name}") from exc

        if time.monotonic() + delay > deadline:
            raise AzureError(
                f"Role assignment {status.role_name} on {status.scope} is not visible after "
                f"{session.role_visibility_timeout_s:.0f} s. Run this step again; if it keeps failing, check "
                "`az role assignment list --assignee "
                f"{status.principal_id} --scope {status.scope}`."
            )
        logger.info("Waiting for role assignment %s to become visible", status.role_name)
        time.sleep(delay)
        delay = min(delay * 2, 10)
