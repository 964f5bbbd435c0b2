"""Plan and apply against the fake Resource Manager, driven by the real Azure SDK clients."""

from __future__ import annotations

import pytest
from fakes.arm_server import SUBSCRIPTION_ID, StaticTokenCredential

from runbook_lib import azure
from runbook_lib.errors import (
    AzureAuthorizationError,
    AzureCredentialError,
    AzureNameConflictError,
    AzurePlanError,
    AzureQuotaError,
    AzureSkuNotAvailableError,
)

pytestmark = pytest.mark.timeout(120)

CREDENTIAL = StaticTokenCredential()


def _put_bodies(fake_arm, path_regex: str) -> list[dict]:
    return [request.body for request in fake_arm.requests_to("PUT", path_regex)]


def test_plan_lists_every_resource_as_create(fake_arm, arm_params):
    result = azure.plan(arm_params, CREDENTIAL)

    assert [(item.kind, item.action) for item in result.resources] == [
        ("resource group", "create"),
        ("container registry", "create"),
        ("storage account", "create"),
        ("file share", "create"),
        ("AKS cluster", "create"),
    ]
    assert result.has_changes
    assert fake_arm.writes() == []

    rendered = result.render()
    assert "rg-demo" in rendered
    assert "AKS cluster" in rendered
    assert "create" in rendered


def test_apply_sends_the_desired_bodies(fake_arm, arm_params):
    result = azure.apply(arm_params, CREDENTIAL)
    suffix = azure.unique_string(f"/subscriptions/{SUBSCRIPTION_ID}", "demo", "westeurope")

    [cluster] = _put_bodies(fake_arm, r"/managedClusters/aks-")
    assert cluster["properties"]["oidcIssuerProfile"] == {"enabled": True}
    assert cluster["properties"]["securityProfile"]["workloadIdentity"] == {"enabled": True}
    assert cluster["identity"] == {"type": "SystemAssigned"}
    [pool] = cluster["properties"]["agentPoolProfiles"]
    assert pool["mode"] == "System"
    assert pool["count"] == 2
    assert pool["vmSize"] == "Standard_DS3_v2"

    [account] = _put_bodies(fake_arm, r"/storageAccounts/st[^/]+$")
    assert account["sku"] == {"name": "Standard_LRS"}
    assert account["properties"]["minimumTlsVersion"] == "TLS1_2"
    assert account["properties"]["allowBlobPublicAccess"] is False
    assert account["properties"]["largeFileSharesState"] == "Enabled"

    [share] = _put_bodies(fake_arm, r"/shares/models$")
    assert share == {"properties": {"shareQuota": 100}}

    [registry] = _put_bodies(fake_arm, r"/registries/cr")
    assert registry["sku"] == {"name": "Basic"}
    assert registry["properties"] == {"adminUserEnabled": False}

    assert result.outputs["aks_cluster_name"] == f"aks-{suffix}"
    assert result.outputs["acr_login_server"] == f"cr{suffix}.azurecr.io"
    assert result.outputs["oidc_issuer_url"].startswith("https://westeurope.oic.prod-aks.azure.com/")
    assert result.outputs["kubelet_object_id"]
    assert [item.result for item in result.plan.resources] == ["created"] * 5


def test_second_apply_sends_no_writes(fake_arm, arm_params):
    azure.apply(arm_params, CREDENTIAL)
    fake_arm.clear_requests()

    again = azure.apply(arm_params, CREDENTIAL)

    assert fake_arm.writes() == []
    assert not again.changed
    assert [item.result for item in again.plan.resources] == ["unchanged"] * 5
    assert "No changes" in again.render()


def test_node_count_change_updates_only_the_cluster(fake_arm, arm_params):
    azure.apply(arm_params, CREDENTIAL)
    fake_arm.clear_requests()
    bigger = arm_params.model_copy(update={"aks_node_count": 3, "share_quota_gb": 200})

    planned = azure.plan(bigger, CREDENTIAL)
    actions = {item.kind: item for item in planned.resources}
    assert actions["AKS cluster"].action == "update"
    assert [change.render() for change in actions["AKS cluster"].changes] == [
        "properties.agentPoolProfiles[system].count: 2 -> 3"
    ]
    assert actions["file share"].action == "update"
    assert actions["container registry"].action == "none"
    assert "count: 2 -> 3" in planned.render()

    azure.apply(bigger, CREDENTIAL)

    written = [(request.method, request.path.rsplit("/", 2)[-2]) for request in fake_arm.writes()]
    assert written == [("PUT", "shares"), ("PUT", "managedClusters")]
    [cluster] = _put_bodies(fake_arm, r"/managedClusters/")
    assert cluster["properties"]["agentPoolProfiles"][0]["count"] == 3
    # The update is a GET-modify-PUT: server-side fields the runbook does not manage are kept.
    assert cluster["properties"]["nodeResourceGroup"].startswith("MC_rg-demo_")
    assert "provisioningState" not in cluster["properties"]
    assert _put_bodies(fake_arm, r"/shares/")[0] == {"properties": {"shareQuota": 200}}


def test_vm_size_change_is_reported_and_refused(fake_arm, arm_params):
    azure.apply(arm_params, CREDENTIAL)
    fake_arm.clear_requests()
    resized = arm_params.model_copy(update={"aks_node_size": "Standard_D4s_v5"})

    planned = azure.plan(resized, CREDENTIAL)
    cluster = [item for item in planned.resources if item.kind == "AKS cluster"][0]
    assert cluster.action == "replace"
    assert "cannot change in place" in planned.render()

    with pytest.raises(AzurePlanError, match="Standard_D4s_v5"):
        azure.apply(resized, CREDENTIAL)
    assert fake_arm.writes() == []


def test_authorization_failure_names_role_and_scope(fake_arm, arm_params):
    scope = f"/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/rg-demo"
    fake_arm.deny("PUT", r"/resourcegroups/rg-demo$", "Microsoft.Resources/subscriptions/resourcegroups/write", scope)

    with pytest.raises(AzureAuthorizationError) as caught:
        azure.apply(arm_params, CREDENTIAL)

    message = str(caught.value)
    assert "Contributor" in message
    assert scope in message
    assert "Microsoft.Resources/subscriptions/resourcegroups/write" in message


def test_quota_error_names_region_and_size(fake_arm, arm_params):
    fake_arm.fail(
        "PUT",
        r"/managedClusters/",
        400,
        "QuotaExceeded",
        "Provisioning of resource(s) for container service aks in resource group rg-demo failed. Message: Operation "
        "could not be completed as it results in exceeding approved Total Regional Cores quota. Additional details - "
        "Deployment Model: Resource Manager, Location: westeurope, Current Limit: 10, Current Usage: 8, Additional "
        "Required: 8, (Minimum) New Limit Required: 16.",
    )

    with pytest.raises(AzureQuotaError) as caught:
        azure.apply(arm_params, CREDENTIAL)

    message = str(caught.value)
    assert "westeurope" in message
    assert "Standard_DS3_v2" in message
    assert "The limit is 10 vCPUs, 8 are in use and 8 more are needed" in message


def test_sku_error_names_region_and_size(fake_arm, arm_params):
    fake_arm.fail(
        "PUT",
        r"/managedClusters/",
        400,
        "SkuNotAvailable",
        "The requested size for resource 'aks-nodepool' is currently not available in location 'westeurope' zones '' "
        f"for subscription '{SUBSCRIPTION_ID}'. Please try another size or deploy to a different location or zones. "
        "See https://aka.ms/azureskunotavailable for details.",
    )

    with pytest.raises(AzureSkuNotAvailableError) as caught:
        azure.apply(arm_params, CREDENTIAL)

    assert "westeurope" in str(caught.value)
    assert "Standard_DS3_v2" in str(caught.value)
    assert "aks_node_size" in str(caught.value)


@pytest.mark.parametrize("kind", ["storage", "registry"])
def test_name_conflict_suggests_new_suffix(fake_arm, arm_params, kind):
    settings = azure.resolve_settings(arm_params)
    fake_arm.taken_names.add(settings.storage_account if kind == "storage" else settings.acr_name)

    with pytest.raises(AzureNameConflictError) as caught:
        azure.apply(arm_params, CREDENTIAL)

    message = str(caught.value)
    assert "-p name_suffix=" in message
    assert "already taken" in message


def test_rejected_token_is_a_credential_error(fake_arm, arm_params):
    with pytest.raises(AzureCredentialError, match="rejected the token"):
        azure.plan(arm_params, StaticTokenCredential("wrong-token"))
