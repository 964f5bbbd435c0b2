"""Names, defaults, endpoints and credentials of the Azure layer, without any server."""

from __future__ import annotations

import uuid

import pytest

from runbook_lib import azure
from runbook_lib.errors import ParameterError
from runbook_lib.params import RunbookParams

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


# Values of Bicep's uniqueString() published with a public shell reimplementation of it.
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("test",), "rbgf3xv4ufgzg"),
        (("hello", "world"), "a7wkljktk6wne"),
        (("abc",), "cgtzqvhu4i23s"),
        (("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg",), "bmg7c6xu4tw46"),
        (("foo", "bar", "baz"), "xzi4ioaxtmth4"),
    ],
)
def test_unique_string_matches_bicep(values, expected):
    assert azure.unique_string(*values) == expected


def test_arm_guid_is_uuid5_of_joined_values():
    name = azure.arm_guid("/scope", "principal", "/role")

    assert name == str(uuid.uuid5(uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830"), "/scope-principal-/role"))
    assert uuid.UUID(name).version == 5


def test_settings_take_defaults_file():
    settings = azure.resolve_settings(RunbookParams(target="aks", subscription_id=SUBSCRIPTION))
    defaults = azure.load_defaults()
    suffix = azure.unique_string(f"/subscriptions/{SUBSCRIPTION}", defaults["environmentName"], defaults["location"])

    assert settings.resource_group == f"rg-{defaults['environmentName']}"
    assert settings.aks_cluster_name == f"aks-{suffix}"
    assert settings.acr_name == f"cr{suffix}"
    assert settings.storage_account == f"st{suffix}"
    assert settings.aks_node_count == 2
    assert settings.aks_node_size == "Standard_DS3_v2"
    assert settings.acr_sku == "Basic"
    assert settings.storage_sku == "Standard_LRS"
    assert settings.share_quota_gb == 100
    assert settings.tags["azd-env-name"] == defaults["environmentName"]


def test_share_name_default_matches_defaults_file():
    assert RunbookParams().share_name == azure.load_defaults()["storage"]["shareName"]


def test_parameters_override_defaults():
    params = RunbookParams(
        target="aks",
        subscription_id=SUBSCRIPTION,
        location="West Europe",
        environment_name="prod",
        name_suffix="abc123",
        resource_group="rg-custom",
        aks_node_count=5,
    )

    settings = azure.resolve_settings(params)

    assert settings.location == "westeurope"
    assert settings.resource_group == "rg-custom"
    assert settings.acr_name == "crabc123"
    assert settings.aks_node_count == 5


def test_missing_subscription_says_how_to_set_it(monkeypatch):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)

    with pytest.raises(ParameterError, match="AZURE_SUBSCRIPTION_ID"):
        azure.resolve_settings(RunbookParams(target="aks"))


def test_subscription_from_environment(monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)

    assert azure.resolve_settings(RunbookParams(target="aks")).subscription_id == SUBSCRIPTION


@pytest.mark.parametrize(
    ("field", "value"),
    [("subscription_id", "not-a-guid"), ("acr_name", "cr-with-dash"), ("storage_account", "UPPER"), ("share_name", "a")],
)
def test_invalid_values_are_named(field, value):
    params = RunbookParams(target="aks", subscription_id=SUBSCRIPTION).model_copy(update={field: value})

    with pytest.raises(ParameterError) as caught:
        azure.resolve_settings(params)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    ("cloud", "endpoint"),
    [
        ("AzureCloud", "https://management.azure.com"),
        ("AzureUSGovernment", "https://management.usgovcloudapi.net"),
        ("AzureChinaCloud", "https://management.chinacloudapi.cn"),
    ],
)
def test_cloud_endpoints(cloud, endpoint):
    resolved = azure.resolve_endpoints(RunbookParams(azure_cloud=cloud))

    assert resolved.resource_manager == endpoint
    assert resolved.audience == endpoint


def test_custom_endpoint_and_audience():
    params = RunbookParams(arm_endpoint="https://management.local.azurestack.external/", arm_audience="https://management.adfs.azurestack.local/abc")

    resolved = azure.resolve_endpoints(params)

    assert resolved.resource_manager == "https://management.local.azurestack.external"
    assert resolved.audience == "https://management.adfs.azurestack.local/abc"


def test_plain_http_endpoint_is_rejected():
    with pytest.raises(ParameterError, match="https://"):
        azure.resolve_endpoints(RunbookParams(arm_endpoint="http://127.0.0.1:8080"))


@pytest.mark.parametrize(
    ("kind", "class_name"),
    [
        ("default", "DefaultAzureCredential"),
        ("cli", "AzureCliCredential"),
        ("managed-identity", "ManagedIdentityCredential"),
    ],
)
def test_credential_kinds(kind, class_name):
    assert type(azure.build_credential(RunbookParams(azure_credential=kind))).__name__ == class_name


def test_workload_identity_credential(monkeypatch, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("projected-token")
    monkeypatch.setenv("AZURE_CLIENT_ID", "11111111-1111-1111-1111-111111111111")
    monkeypatch.setenv("AZURE_TENANT_ID", "22222222-2222-2222-2222-222222222222")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))

    credential = azure.build_credential(RunbookParams(azure_credential="workload-identity"))

    assert type(credential).__name__ == "WorkloadIdentityCredential"


def test_unknown_credential_kind_is_rejected():
    from runbook_lib.params import load_params

    with pytest.raises(ParameterError, match="azure_credential"):
        load_params(overrides={"azure_credential": "password"})
