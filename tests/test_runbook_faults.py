"""Operator mistakes get one clear message: parameters, paths, URLs, confirmations, kubeconfigs."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import free_loopback_port
from runbook_lib.cli import main
from runbook_lib.errors import ParameterError, RunbookError, ServiceError
from runbook_lib.local_service import process_exists, start_local_service
from runbook_lib.params import load_params
from runbook_lib.runstate import record_result
from runbook_lib.steps.preflight import check_prerequisites
from runbook_lib.steps.smoke import recorded_service_url
from runbook_lib.steps.teardown import tear_down

pytestmark = pytest.mark.timeout(120)


def test_unknown_parameter_suggests_name() -> None:
    with pytest.raises(ParameterError, match=r"unknown parameter service_prot \(did you mean service_port\?\)"):
        load_params(overrides={"service_prot": 8011})


def test_bad_value_names_override_not_file(tmp_path: Path) -> None:
    params_file = tmp_path / "p.yaml"
    params_file.write_text("replicas: 2\n")

    with pytest.raises(ParameterError) as caught:
        load_params(params_file, {"replicas": -1})

    assert "replicas: Input should be greater than or equal to 0 (got -1)" in str(caught.value)
    assert str(params_file) not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "is a folder"), (b"%PDF-1.7\n\x93\x94\xff", "is not UTF-8 text")],
)
def test_params_file_not_yaml_text(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "params"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)

    with pytest.raises(ParameterError, match=message):
        load_params(path)


def test_cli_reports_unusable_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("x")

    code = main(["k8s", "render", "--out", str(taken / "sub")])

    assert code == 2
    err = capsys.readouterr().err
    assert f"cannot use {taken}" in err
    assert "Check the path and its permissions" in err


def test_smoke_rejects_url_without_scheme(capsys: pytest.CaptureFixture) -> None:
    code = main(["smoke", "--url", "127.0.0.1:8000"])

    assert code == 2
    assert "must start with http:// or https://" in capsys.readouterr().err


def test_smoke_reports_unreachable_service_once(capsys: pytest.CaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_loopback_port()}"

    code = main(["smoke", "--url", url])

    assert code == 1
    out = capsys.readouterr().out
    assert out.count("FAIL") == 1
    assert f"no service answers at {url}" in out


def test_smoke_after_teardown_says_restart(tmp_path: Path) -> None:
    params = load_params(overrides={"run_dir": str(tmp_path)})
    record_result(tmp_path, "04_rollout", {"service_url": "http://127.0.0.1:9"})
    record_result(tmp_path, "06_teardown", {"actions": []})

    with pytest.raises(RunbookError, match=r"06_teardown stopped the service .* runbook run --only 04,05"):
        recorded_service_url(params)


def test_teardown_confirm_by_absolute_path(tmp_path: Path) -> None:
    share = tmp_path / "share"
    (share / "sets").mkdir(parents=True)
    params = load_params(overrides={"run_dir": str(tmp_path / "state"), "share_dir": str(share), "dry_run": False})

    with pytest.raises(ParameterError, match=rf"Pass -p confirm={share} to remove it"):
        tear_down(params.model_copy(update={"confirm": "elsewhere"}))
    assert share.exists()

    tear_down(params.model_copy(update={"confirm": str(tmp_path / "." / "share")}))
    assert not share.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [("{{{ not yaml", "is not valid YAML"), (None, "not found")],
)
def test_preflight_checks_kubeconfig(tmp_path: Path, content: str | None, message: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if content is not None:
        kubeconfig.write_text(content)
    params = load_params(overrides={"target": "kubeconfig", "kubeconfig": str(kubeconfig), "run_dir": str(tmp_path)})

    report = check_prerequisites(params)

    [failed] = report.failed
    assert failed.name == "Kubernetes cluster"
    assert message in failed.detail


def test_service_not_ready_is_stopped(tmp_path: Path) -> None:
    started = []

    with pytest.raises(ServiceError, match="was not ready after"):
        start_local_service(
            models_dir=tmp_path / "empty-share",
            host="127.0.0.1",
            port=free_loopback_port(),
            workers=1,
            log_path=tmp_path / "service.log",
            ready_timeout_s=3,
            on_started=started.append,
        )

    [service] = started
    assert not process_exists(service.pid)
