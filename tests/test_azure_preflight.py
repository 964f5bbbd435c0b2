"""Preflight checks against the fake Resource Manager."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError
from fakes.arm_server import StaticTokenCredential, default_vm_sku

from runbook_lib import azure
from runbook_lib.errors import AzurePlanError

pytestmark = pytest.mark.timeout(120)

CREDENTIAL = StaticTokenCredential()


def _failed(report) -> dict[str, str]:
    return {check.name: check.detail for check in report.checks if not check.ok}


def test_all_checks_pass(fake_arm, arm_params):
    report = azure.preflight(arm_params, CREDENTIAL)

    assert report.ok, report.render()
    names = [check.name for check in report.checks]
    assert names[:2] == ["credential", "subscription"]
    assert "provider Microsoft.ContainerService" in names
    assert report.quota["vcpus_needed"] == 8
    assert fake_arm.writes() == []
    report.raise_for_failures()


def test_unregistered_provider_fails_with_hint(fake_arm, arm_params):
    fake_arm.state.providers["microsoft.containerservice"] = "NotRegistered"

    report = azure.preflight(arm_params, CREDENTIAL)

    detail = _failed(report)["provider Microsoft.ContainerService"]
    assert "az provider register -n Microsoft.ContainerService" in detail
    assert "register_providers=true" in detail
    with pytest.raises(AzurePlanError, match="Microsoft.ContainerService"):
        report.raise_for_failures()


def test_register_providers_registers(fake_arm, arm_params):
    fake_arm.state.providers["microsoft.containerservice"] = "NotRegistered"

    report = azure.preflight(arm_params.model_copy(update={"register_providers": True}), CREDENTIAL)

    assert report.ok, report.render()
    assert len(fake_arm.requests_to("POST", r"/providers/Microsoft.ContainerService/register$")) == 1


def test_small_quota_names_region_and_size(fake_arm, arm_params):
    fake_arm.usages["standarddsv2family"] = {"limit": 10, "currentValue": 6}

    report = azure.preflight(arm_params, CREDENTIAL)

    detail = _failed(report)["quota standardDSv2Family vCPUs"]
    assert "westeurope" in detail
    assert "Standard_DS3_v2" in detail
    assert "4 of 10" in detail
    assert "8 needed" in detail


def test_restricted_size_names_region(fake_arm, arm_params):
    sku = default_vm_sku("Standard_DS3_v2", "standardDSv2Family", 4)
    sku["restrictions"] = [{"type": "Location", "values": ["westeurope"], "reasonCode": "NotAvailableForSubscription"}]
    fake_arm.skus = [sku]

    report = azure.preflight(arm_params, CREDENTIAL)

    detail = _failed(report)["VM size"]
    assert "Standard_DS3_v2" in detail
    assert "westeurope" in detail
    assert "NotAvailableForSubscription" in detail


def test_unknown_size_fails(fake_arm, arm_params):
    report = azure.preflight(arm_params.model_copy(update={"aks_node_size": "Standard_Nope"}), CREDENTIAL)

    assert "Standard_Nope is not offered in region westeurope" in _failed(report)["VM size"]


def test_taken_storage_name_suggests_suffix(fake_arm, arm_params):
    fake_arm.taken_names.add(azure.resolve_settings(arm_params).storage_account)

    report = azure.preflight(arm_params, CREDENTIAL)

    assert "name_suffix" in _failed(report)["storage account name"]


def test_disabled_subscription_fails(fake_arm, arm_params):
    fake_arm.subscription_state = "Disabled"

    report = azure.preflight(arm_params, CREDENTIAL)

    assert "is Disabled" in _failed(report)["subscription"]
    assert len(report.checks) == 2


class _FailingCredential:
    def get_token(self, *scopes, **kwargs):
        raise ClientAuthenticationError("Please run 'az login' to setup account.")

    def get_token_info(self, *scopes, options=None):
        raise ClientAuthenticationError("Please run 'az login' to setup account.")


def test_credential_failure_stops_early(fake_arm, arm_params):
    report = azure.preflight(arm_params.model_copy(update={"azure_credential": "cli"}), _FailingCredential())

    assert [check.name for check in report.checks] == ["credential"]
    assert "az login" in _failed(report)["credential"]
    assert fake_arm.requests == []
