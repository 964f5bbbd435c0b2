"""``runbook azure ...`` in a child process against the fake Resource Manager, signed in through a fake ``az``.

The child gets REQUESTS_CA_BUNDLE in its environment, so the real SDK trusts the fake's
certificate. ``azure_credential=cli`` makes azure-identity run ``az account get-access-token``;
a small ``az`` script on PATH answers it and records its arguments.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.arm_server import DEFAULT_TOKEN, SUBSCRIPTION_ID

pytestmark = pytest.mark.timeout(180)

AUDIENCE = "https://management.fake.example"


@pytest.fixture
def cli_env(fake_arm, tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(
        "#!/bin/sh\n"
        'echo "$@" >> "$FAKE_AZ_LOG"\n'
        f"echo '{{\"accessToken\": \"{DEFAULT_TOKEN}\", \"expires_on\": 4102444800, \"tokenType\": \"Bearer\"}}'\n"
    )
    az.chmod(az.stat().st_mode | stat.S_IXUSR)

    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "REQUESTS_CA_BUNDLE": fake_arm.ca_bundle,
            "FAKE_AZ_LOG": str(tmp_path / "az.log"),
        }
    )
    return env


def _runbook(env: dict[str, str], fake_arm, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "runbook_lib.cli",
        "azure",
        *args,
        "-p",
        f"subscription_id={SUBSCRIPTION_ID}",
        "-p",
        f"arm_endpoint={fake_arm.base_url}",
        "-p",
        f"arm_audience={AUDIENCE}",
        "-p",
        "azure_credential=cli",
        "-p",
        "environment_name=cli",
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=150, check=False)


def test_apply_twice_writes_once(fake_arm, cli_env, tmp_path):
    first = _runbook(cli_env, fake_arm, "apply", "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["changed"] is True
    assert result["outputs"]["resource_group"] == "rg-cli"
    writes_after_first = len(fake_arm.writes())
    assert writes_after_first == 5

    [cluster] = [request.body for request in fake_arm.requests_to("PUT", r"/managedClusters/")]
    assert cluster["properties"]["securityProfile"]["workloadIdentity"]["enabled"] is True

    second = _runbook(cli_env, fake_arm, "apply")
    assert second.returncode == 0, second.stderr
    assert "No changes" in second.stdout
    assert len(fake_arm.writes()) == writes_after_first

    az_calls = (tmp_path / "az.log").read_text().splitlines()
    assert az_calls
    assert all(f"--resource {AUDIENCE}" in call for call in az_calls)


def test_roles_and_teardown_guard(fake_arm, cli_env):
    assert _runbook(cli_env, fake_arm, "apply").returncode == 0

    roles = _runbook(cli_env, fake_arm, "roles")
    assert roles.returncode == 0, roles.stderr
    assert "AcrPull" in roles.stdout
    assert "created" in roles.stdout

    dry = _runbook(cli_env, fake_arm, "teardown")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run" in dry.stdout
    assert fake_arm.requests_to("DELETE", r".") == []

    confirmed = _runbook(cli_env, fake_arm, "teardown", "-p", "confirm=rg-cli")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "Deleted resource group rg-cli" in confirmed.stdout
    assert len(fake_arm.requests_to("DELETE", r"/resourcegroups/rg-cli$")) == 1


def test_authorization_error_exits_2(fake_arm, cli_env):
    scope = f"/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/rg-cli"
    fake_arm.deny("PUT", r"/resourcegroups/rg-cli$", "Microsoft.Resources/subscriptions/resourcegroups/write", scope)

    result = _runbook(cli_env, fake_arm, "apply")

    assert result.returncode == 2
    assert "Contributor" in result.stderr
    assert scope in result.stderr
    assert "Traceback" not in result.stderr


def test_preflight_failure_exits_1(fake_arm, cli_env):
    fake_arm.usages["cores"] = {"limit": 4, "currentValue": 4}

    result = _runbook(cli_env, fake_arm, "preflight")

    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "Total Regional vCPUs" in result.stdout
