"""Kubelet role assignments against the fake Resource Manager."""

from __future__ import annotations

import pytest
from fakes.arm_server import SUBSCRIPTION_ID, StaticTokenCredential

from runbook_lib import azure
from runbook_lib.errors import AzureAuthorizationError, AzurePlanError

pytestmark = pytest.mark.timeout(120)

CREDENTIAL = StaticTokenCredential()
ROLE_IDS = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Storage Account Contributor": "17d1049b-9a84-46fb-8f53-869881c3d3ab",
    "Storage File Data SMB Share Contributor": "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb",
}


@pytest.fixture
def provisioned(fake_arm, arm_params):
    """Provision the resources and return the apply outputs, with the request log cleared."""
    outputs = azure.apply(arm_params, CREDENTIAL).outputs
    fake_arm.clear_requests()
    return outputs


def _role_definition_id(role_guid: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"


def test_role_assignment_bodies(fake_arm, arm_params, provisioned):
    result = azure.assign_kubelet_roles(arm_params, CREDENTIAL)

    puts = fake_arm.requests_to("PUT", r"/roleAssignments/")
    assert len(puts) == 3
    by_role = {request.body["properties"]["roleDefinitionId"]: request for request in puts}
    assert set(by_role) == {_role_definition_id(guid) for guid in ROLE_IDS.values()}

    for request in puts:
        properties = request.body["properties"]
        assert properties["principalId"] == provisioned["kubelet_object_id"]
        assert properties["principalType"] == "ServicePrincipal"

    acr_scope = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-demo/providers/Microsoft.ContainerRegistry/registries/{provisioned['acr_name']}"
    acr_put = by_role[_role_definition_id(ROLE_IDS["AcrPull"])]
    expected_name = azure.arm_guid(acr_scope, provisioned["kubelet_object_id"], _role_definition_id(ROLE_IDS["AcrPull"]))
    assert acr_put.path == f"{acr_scope}/providers/Microsoft.Authorization/roleAssignments/{expected_name}"

    storage_puts = [request for request in puts if "/storageAccounts/" in request.path]
    assert len(storage_puts) == 2

    assert [assignment.state for assignment in result.assignments] == ["created"] * 3
    assert result.kubelet_object_id == provisioned["kubelet_object_id"]
    rendered = result.render()
    assert "AcrPull" in rendered
    assert provisioned["kubelet_object_id"] in rendered
    assert "Storage File Data SMB Share Contributor" in rendered


def test_second_run_sends_no_writes(fake_arm, arm_params, provisioned):
    azure.assign_kubelet_roles(arm_params, CREDENTIAL)
    fake_arm.clear_requests()

    again = azure.assign_kubelet_roles(arm_params, CREDENTIAL)

    assert fake_arm.writes() == []
    assert [assignment.state for assignment in again.assignments] == ["present"] * 3
    assert not again.changed


def test_equivalent_assignment_with_other_name_counts(fake_arm, arm_params, provisioned):
    settings = azure.resolve_settings(arm_params)
    scope = settings.acr_id
    other_name = "11111111-2222-3333-4444-555555555555"
    fake_arm.put_resource(
        f"{scope}/providers/Microsoft.Authorization/roleAssignments/{other_name}",
        {
            "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{other_name}",
            "name": other_name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": _role_definition_id(ROLE_IDS["AcrPull"]),
                "principalId": provisioned["kubelet_object_id"],
                "principalType": "ServicePrincipal",
                "scope": scope,
            },
        },
    )

    result = azure.assign_kubelet_roles(arm_params, CREDENTIAL)

    states = {assignment.role_name: assignment.state for assignment in result.assignments}
    assert states["AcrPull"] == "present"
    assert len(fake_arm.requests_to("PUT", r"/registries/.*/roleAssignments/")) == 0


def test_role_assignment_exists_conflict_counts(fake_arm, arm_params, provisioned):
    fake_arm.fail("PUT", r"/registries/.*/roleAssignments/", 409, "RoleAssignmentExists", "The role assignment already exists.")

    result = azure.assign_kubelet_roles(arm_params, CREDENTIAL)

    states = {assignment.role_name: assignment.state for assignment in result.assignments}
    assert states["AcrPull"] == "present"
    assert states["Storage Account Contributor"] == "created"


def test_waits_until_assignments_are_visible(fake_arm, arm_params, provisioned):
    fake_arm.role_visibility_lag = 1

    result = azure.assign_kubelet_roles(arm_params, CREDENTIAL)

    gets = fake_arm.requests_to("GET", r"/roleAssignments/[0-9a-f-]+$")
    assert len(gets) == 3 * 2
    assert [assignment.state for assignment in result.assignments] == ["created"] * 3


def test_plan_shows_missing_then_present(fake_arm, arm_params, provisioned):
    before = azure.plan_role_assignments(arm_params, CREDENTIAL)
    assert [assignment.state for assignment in before.assignments] == ["missing"] * 3
    assert fake_arm.writes() == []

    azure.assign_kubelet_roles(arm_params, CREDENTIAL)
    after = azure.plan_role_assignments(arm_params, CREDENTIAL)
    assert [assignment.state for assignment in after.assignments] == ["present"] * 3


def test_missing_write_permission_names_rbac_role(fake_arm, arm_params, provisioned):
    settings = azure.resolve_settings(arm_params)
    fake_arm.deny("PUT", r"/roleAssignments/", "Microsoft.Authorization/roleAssignments/write", settings.acr_id)

    with pytest.raises(AzureAuthorizationError) as caught:
        azure.assign_kubelet_roles(arm_params, CREDENTIAL)

    message = str(caught.value)
    assert "Role Based Access Control Administrator" in message
    assert settings.acr_id in message


def test_missing_cluster_is_a_plan_error(fake_arm, arm_params):
    with pytest.raises(AzurePlanError, match="not found"):
        azure.assign_kubelet_roles(arm_params, CREDENTIAL)
