"""Teardown's confirmation guard, ACR Tasks builds and the AKS kubeconfig, against the fake Resource Manager."""

from __future__ import annotations

import io
import tarfile

import pytest
import yaml
from fakes.arm_server import StaticTokenCredential

from runbook_lib import azure
from runbook_lib.errors import AcrBuildError, ParameterError

pytestmark = pytest.mark.timeout(120)

CREDENTIAL = StaticTokenCredential()


@pytest.fixture
def provisioned(fake_arm, arm_params):
    outputs = azure.apply(arm_params, CREDENTIAL).outputs
    fake_arm.clear_requests()
    return outputs


@pytest.fixture
def build_context(tmp_path):
    context = tmp_path / "context"
    (context / "service").mkdir(parents=True)
    (context / "service" / "Dockerfile").write_text("FROM python:3.12-slim\nUSER 10001\n")
    (context / "service" / "app.py").write_text("print('hello')\n")
    (context / ".venv").mkdir()
    (context / ".venv" / "big.bin").write_bytes(b"0" * 1000)
    (context / "notes.tmp").write_text("scratch")
    (context / ".dockerignore").write_text("# local files\n*.tmp\n")
    return context


def test_teardown_without_confirm_is_dry_run(fake_arm, arm_params, provisioned):
    result = azure.teardown(arm_params, CREDENTIAL)

    assert result.dry_run
    assert not result.deleted
    assert fake_arm.writes() == []
    assert {item["type"] for item in result.resources} == {
        "Microsoft.ContainerRegistry/registries",
        "Microsoft.Storage/storageAccounts",
        "Microsoft.ContainerService/managedClusters",
    }
    assert result.node_resource_groups == [provisioned["node_resource_group"]]
    assert "-p confirm=rg-demo" in result.render()


def test_teardown_with_wrong_confirm_keeps_group(fake_arm, arm_params, provisioned):
    result = azure.teardown(arm_params.model_copy(update={"confirm": "rg-other"}), CREDENTIAL)

    assert not result.deleted
    assert fake_arm.requests_to("DELETE", r".") == []
    assert fake_arm.resource(azure.resolve_settings(arm_params).resource_group_id) is not None


def test_teardown_with_confirm_deletes_group(fake_arm, arm_params, provisioned):
    confirmed = arm_params.model_copy(update={"confirm": "rg-demo"})

    result = azure.teardown(confirmed, CREDENTIAL)

    assert result.deleted
    [delete] = fake_arm.requests_to("DELETE", r".")
    assert delete.path.lower().endswith("/resourcegroups/rg-demo")
    assert fake_arm.resource(azure.resolve_settings(arm_params).resource_group_id) is None

    again = azure.teardown(confirmed, CREDENTIAL)
    assert not again.exists
    assert "nothing to delete" in again.render()


def test_skip_build_sends_nothing(fake_arm, arm_params, provisioned, build_context):
    result = azure.build_image(arm_params.model_copy(update={"skip_build": True}), build_context, credential=CREDENTIAL)

    assert result.skipped
    assert result.image == f"{provisioned['acr_login_server']}/docling-api:0.1.0"
    assert fake_arm.writes() == []
    assert fake_arm.requests_to("POST", r"scheduleRun") == []


def test_build_uploads_context_and_schedules_run(fake_arm, arm_params, provisioned, build_context):
    result = azure.build_image(arm_params, build_context, credential=CREDENTIAL)

    assert not result.skipped
    assert result.status == "Succeeded"
    assert result.image == f"{provisioned['acr_login_server']}/docling-api:0.1.0"

    [upload] = fake_arm.requests_to("PUT", r"^/fake/blob/upload/")
    with tarfile.open(fileobj=io.BytesIO(upload.body), mode="r:gz") as archive:
        names = set(archive.getnames())
    assert names == {".dockerignore", "service/Dockerfile", "service/app.py"}

    [schedule] = fake_arm.requests_to("POST", r"/scheduleRun$")
    assert schedule.body["type"] == "DockerBuildRequest"
    assert schedule.body["imageNames"] == ["docling-api:0.1.0"]
    assert schedule.body["isPushEnabled"] is True
    assert schedule.body["dockerFilePath"] == "service/Dockerfile"
    assert schedule.body["sourceLocation"].startswith("source/")


def test_failed_run_shows_log_tail(fake_arm, arm_params, provisioned, build_context):
    (build_context / ".dockerignore").write_text("service/Dockerfile\n")

    with pytest.raises(AcrBuildError) as caught:
        azure.build_image(arm_params, build_context, credential=CREDENTIAL)

    message = str(caught.value)
    assert "Failed" in message
    assert "service/Dockerfile not found" in message
    assert "skip_build=true" in message


def test_image_in_other_registry_is_rejected(fake_arm, arm_params, provisioned, build_context):
    params = arm_params.model_copy(update={"image": "ghcr.io/example/docling-api:1"})

    with pytest.raises(ParameterError, match="ghcr.io"):
        azure.build_image(params, build_context, credential=CREDENTIAL)


def test_missing_dockerfile_is_a_parameter_error(fake_arm, arm_params, provisioned, build_context):
    with pytest.raises(ParameterError, match="Dockerfile"):
        azure.build_image(arm_params, build_context, dockerfile="missing/Dockerfile", credential=CREDENTIAL)


def test_kubeconfig_is_returned_as_bytes(fake_arm, arm_params, provisioned):
    data = azure.get_aks_kubeconfig(arm_params, CREDENTIAL)

    config = yaml.safe_load(data)
    assert config["kind"] == "Config"
    assert config["current-context"] == provisioned["aks_cluster_name"]
    assert fake_arm.writes() == []
