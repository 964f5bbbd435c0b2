"""The Bicep templates declare the same resources, roles and defaults as the SDK path.

The templates are parsed with pycep-parser; no Bicep CLI is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from runbook_lib import azure
from runbook_lib.azure._resources import managed_cluster_body, registry_body, storage_account_body
from runbook_lib.params import RunbookParams

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    parser = BicepParser()
    return {path.relative_to(INFRA).as_posix(): parser.parse(file_path=path) for path in INFRA.rglob("*.bicep")}


@pytest.fixture(scope="module")
def defaults() -> dict[str, Any]:
    return json.loads((INFRA / "defaults.json").read_text())


@pytest.fixture(scope="module")
def settings() -> azure.AzureSettings:
    return azure.resolve_settings(RunbookParams(target="aks", subscription_id=SUBSCRIPTION))


def _json_path(expression: Any) -> list[str]:
    """Turn ``loadJsonContent('defaults.json').a.b`` as pycep parses it into ['a', 'b']."""
    operator = expression["operator"]
    assert operator["type"] == "property_accessor"
    left, right = operator["operands"]["operand_1"], operator["operands"]["operand_2"]

    if isinstance(left, dict) and "function" in left:
        assert left["function"]["type"] == "load_json_content"
        assert left["function"]["parameters"]["file_path"] == "defaults.json"
        prefix: list[str] = []
    else:
        prefix = _json_path(left) if isinstance(left, dict) else [left]

    if isinstance(right, dict):
        return prefix + _json_path(right)
    return prefix + [right]


def _lookup(data: dict[str, Any], path: list[str]) -> Any:
    for key in path:
        data = data[key]
    return data


def _variable_path(expression: Any) -> list[str]:
    """Turn ``defaults.a.b`` (a property chain on the ``defaults`` variable) into ['a', 'b']."""
    path = _json_path(expression)
    assert path[0] == "defaults"
    return path[1:]


def test_every_template_parses(templates):
    assert set(templates) == {
        "main.bicep",
        "modules/acr.bicep",
        "modules/acr-role.bicep",
        "modules/aks.bicep",
        "modules/storage.bicep",
        "modules/storage-roles.bicep",
    }


def test_parameter_defaults_come_from_defaults_file(templates, defaults, settings):
    parameters = templates["main.bicep"]["parameters"]
    expected = {
        "aksNodeCount": (["aks", "nodeCount"], settings.aks_node_count),
        "aksNodeSize": (["aks", "nodeSize"], settings.aks_node_size),
        "acrSku": (["acr", "sku"], settings.acr_sku),
        "storageSku": (["storage", "sku"], settings.storage_sku),
        "shareName": (["storage", "shareName"], settings.share_name),
        "shareQuotaGb": (["storage", "shareQuotaGb"], settings.share_quota_gb),
    }

    for name, (path, sdk_value) in expected.items():
        assert _json_path(parameters[name]["default"]) == path, name
        assert _lookup(defaults, path) == sdk_value, name

    assert defaults["aks"]["nodeCount"] == 2
    assert defaults["aks"]["nodeSize"] == "Standard_DS3_v2"
    assert defaults["acr"]["sku"] == "Basic"
    assert defaults["storage"]["sku"] == "Standard_LRS"
    assert defaults["storage"]["shareQuotaGb"] == 100


def test_names_use_abbreviations_and_unique_string(templates, defaults):
    main = templates["main.bicep"]
    token = main["variables"]["resourceToken"]["value"]["operator"]["operands"]["true_value"]["function"]
    unique = token["parameters"]["string_to_change"]["function"]
    assert unique["type"] == "unique_string"
    assert unique["parameters"]["extra_string_1"] == "environmentName"
    assert unique["parameters"]["extra_string_2"] == "location"
    assert unique["parameters"]["base_string"]["operator"]["operands"]["operand_2"] == "id"
    assert defaults["abbreviations"] == {"resourceGroup": "rg-", "managedCluster": "aks-", "containerRegistry": "cr", "storageAccount": "st"}


def test_resource_types(templates):
    types = {
        (file, name): (resource["type"], resource["existing"])
        for file, template in templates.items()
        for name, resource in template.get("resources", {}).items()
    }

    assert types[("main.bicep", "resourceGroup")][0] == "Microsoft.Resources/resourceGroups"
    assert types[("modules/acr.bicep", "registry")] == ("Microsoft.ContainerRegistry/registries", False)
    assert types[("modules/storage.bicep", "account")] == ("Microsoft.Storage/storageAccounts", False)
    assert types[("modules/storage.bicep", "share")] == ("Microsoft.Storage/storageAccounts/fileServices/shares", False)
    assert types[("modules/aks.bicep", "cluster")] == ("Microsoft.ContainerService/managedClusters", False)
    assert types[("modules/acr-role.bicep", "assignment")] == ("Microsoft.Authorization/roleAssignments", False)
    assert types[("modules/storage-roles.bicep", "assignments")] == ("Microsoft.Authorization/roleAssignments", False)


def _module_params(templates, module: str) -> dict[str, Any]:
    return templates["main.bicep"]["modules"][module]["config"]["params"]


def test_cluster_matches_sdk_body(templates, defaults, settings):
    cluster = templates["modules/aks.bicep"]["resources"]["cluster"]["config"]
    properties = cluster["properties"]
    sdk = managed_cluster_body(settings)

    assert cluster["identity"] == sdk["identity"]
    assert properties["oidcIssuerProfile"] == {"enabled": "oidcIssuerEnabled"}
    assert properties["securityProfile"] == {"workloadIdentity": {"enabled": "workloadIdentityEnabled"}}
    assert properties["storageProfile"] == {"fileCSIDriver": {"enabled": "fileCsiDriverEnabled"}}

    [pool] = properties["agentPoolProfiles"]
    [sdk_pool] = sdk["properties"]["agentPoolProfiles"]
    assert pool["mode"] == sdk_pool["mode"] == "System"
    assert pool["osType"] == sdk_pool["osType"]
    assert pool["type"] == sdk_pool["type"]
    assert pool["count"] == "nodeCount"
    assert pool["vmSize"] == "nodeSize"

    params = _module_params(templates, "aks")
    for bicep_name, key in [
        ("oidcIssuerEnabled", "oidcIssuerEnabled"),
        ("workloadIdentityEnabled", "workloadIdentityEnabled"),
        ("fileCsiDriverEnabled", "fileCsiDriverEnabled"),
        ("systemPoolName", "systemPoolName"),
    ]:
        assert _variable_path(params[bicep_name]) == ["aks", key]
    assert sdk["properties"]["oidcIssuerProfile"]["enabled"] is defaults["aks"]["oidcIssuerEnabled"] is True
    assert sdk["properties"]["securityProfile"]["workloadIdentity"]["enabled"] is True


def test_storage_matches_sdk_body(templates, settings):
    account = templates["modules/storage.bicep"]["resources"]["account"]["config"]
    share = templates["modules/storage.bicep"]["resources"]["share"]["config"]
    sdk = storage_account_body(settings)
    params = _module_params(templates, "storage")

    assert set(account["properties"]) == set(sdk["properties"])
    for key in sdk["properties"]:
        assert account["properties"][key] == key
        assert _variable_path(params[key]) == ["storage", key]
    assert _variable_path(params["kind"]) == ["storage", "kind"]
    assert share["properties"] == {"shareQuota": "shareQuotaGb"}
    assert sdk["properties"] == {
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "largeFileSharesState": "Enabled",
        "supportsHttpsTrafficOnly": True,
    }


def test_registry_matches_sdk_body(templates, settings):
    registry = templates["modules/acr.bicep"]["resources"]["registry"]["config"]
    params = _module_params(templates, "registry")

    assert registry["properties"] == {"adminUserEnabled": "adminUserEnabled"}
    assert _variable_path(params["adminUserEnabled"]) == ["acr", "adminUserEnabled"]
    assert registry_body(settings)["properties"] == {"adminUserEnabled": False}


def test_role_assignments_match_defaults(templates, defaults):
    acr_role = _module_params(templates, "acrPull")
    assert _variable_path(acr_role["roleId"]) == ["roles", "acrPull", "id"]

    storage_roles = _module_params(templates, "storageRoles")
    assert [_variable_path(item) for item in storage_roles["roleIds"]] == [
        ["roles", "storageAccountContributor", "id"],
        ["roles", "storageFileDataSmbShareContributor", "id"],
    ]

    assert {key: role["id"] for key, role in defaults["roles"].items()} == {
        "acrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
        "storageAccountContributor": "17d1049b-9a84-46fb-8f53-869881c3d3ab",
        "storageFileDataSmbShareContributor": "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb",
    }

    for file, name in [("modules/acr-role.bicep", "assignment"), ("modules/storage-roles.bicep", "assignments")]:
        config = templates[file]["resources"][name]["config"]
        config = config.get("config", config)
        assert config["properties"]["principalType"] == "ServicePrincipal"
        assert config["properties"]["principalId"] == "principalId"
        guid = config["name"]["function"]
        assert guid["type"] == "guid"
        assert guid["parameters"]["extra_string_1"] == "principalId"


def test_parameters_file_and_azd_hook():
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"

    project = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert project["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    hook = project["hooks"]["postprovision"]["posix"]["run"]
    assert hook.startswith("runbook run --target aks --from 03")
    assert 'aks_cluster_name="$AZURE_AKS_CLUSTER_NAME"' in hook

    outputs = BicepParser().parse(file_path=INFRA / "main.bicep")["outputs"]
    for variable in ("AZURE_RESOURCE_GROUP", "AZURE_AKS_CLUSTER_NAME", "AZURE_CONTAINER_REGISTRY_NAME", "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_FILE_SHARE_NAME"):
        assert variable in outputs
        assert f"${variable}" in hook
