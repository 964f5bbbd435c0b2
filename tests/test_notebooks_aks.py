"""The notebooks' aks path under papermill, against the fake Resource Manager.

The runner's kernels inherit this process's environment, so a stand-in ``az``
on PATH signs in (``azure_credential=cli``) and REQUESTS_CA_BUNDLE makes the
real Azure SDK trust the fake's certificate.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fakes.arm_server import DEFAULT_TOKEN, SUBSCRIPTION_ID

from runbook_lib.cli import main

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def aks_overrides(fake_arm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``-p`` options that point every notebook at the fake Resource Manager, with a stand-in ``az`` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(
        "#!/bin/sh\n"
        f"echo '{{\"accessToken\": \"{DEFAULT_TOKEN}\", \"expires_on\": 4102444800, \"tokenType\": \"Bearer\"}}'\n"
    )
    az.chmod(az.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")

    return [
        "-p", f"run_dir={tmp_path / 'state'}",
        "-p", f"subscription_id={SUBSCRIPTION_ID}",
        "-p", f"arm_endpoint={fake_arm.base_url}",
        "-p", "azure_credential=cli",
        "-p", "environment_name=nbtest",
        "-p", "role_visibility_timeout_s=30",
    ]


def test_aks_provision_then_no_changes(fake_arm, aks_overrides: list[str], tmp_path: Path) -> None:
    first = main(["run", "--target", "aks", "--only", "00,01,02", "--out", str(tmp_path / "first"), *aks_overrides])

    assert first == 0
    writes = fake_arm.writes()
    assert any(request.method == "PUT" and "/managedClusters/" in request.path for request in writes)
    assert any("/roleAssignments/" in request.path for request in writes)
    provision = json.loads((tmp_path / "state" / "01_provision.json").read_text())
    assert provision["changed"] is True

    fake_arm.clear_requests()
    second = main(["run", "--target", "aks", "--only", "00,01,02", "--out", str(tmp_path / "second"), *aks_overrides])

    assert second == 0
    assert fake_arm.writes() == []
    assert json.loads((tmp_path / "state" / "01_provision.json").read_text())["changed"] is False


def test_aks_teardown_guarded(fake_arm, aks_overrides: list[str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--target", "aks", "--only", "01", "--out", str(tmp_path / "provision"), *aks_overrides]) == 0
    resource_group = json.loads((tmp_path / "state" / "01_provision.json").read_text())["outputs"]["resource_group"]
    fake_arm.clear_requests()

    dry = main(["run", "--target", "aks", "--only", "06", "--out", str(tmp_path / "dry"), *aks_overrides])
    assert dry == 0
    assert fake_arm.writes() == []
    assert "would delete" in (tmp_path / "dry" / "06_teardown.html").read_text()

    wrong = main([
        "run", "--target", "aks", "--only", "06", "--out", str(tmp_path / "wrong"), *aks_overrides,
        "-p", "dry_run=false", "-p", "confirm=rg-something-else",
    ])
    assert wrong == 1
    assert f"Refusing to delete resource group {resource_group}" in capsys.readouterr().err
    assert fake_arm.writes() == []

    confirmed = main([
        "run", "--target", "aks", "--only", "06", "--out", str(tmp_path / "confirmed"), *aks_overrides,
        "-p", "dry_run=false", "-p", f"confirm={resource_group}",
    ])
    assert confirmed == 0
    assert [request.method for request in fake_arm.writes()] == ["DELETE"]
