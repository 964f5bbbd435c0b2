"""The papermill runner: selection, parameters, failure reporting and reports."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from runbook_lib.cli import main
from runbook_lib.errors import ParameterError, UsageError
from runbook_lib.params import load_params, parse_override
from runbook_lib.runner import list_notebooks, select_notebooks

pytestmark = pytest.mark.timeout(300)


def write_notebook(path: Path, parameters: str, body: str) -> None:
    """Write a notebook with a tagged parameters cell followed by one code cell."""
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell, new_code_cell(body)]
    nbformat.write(notebook, path)


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    """Three small notebooks: one records its parameters, one fails on request, one records it ran."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(
        folder / "00_record.ipynb",
        'run_dir = ".runbook/run"\nservice_port = 8000\ndry_run = True\nsmoke_extra_dirs = []',
        "import json, pathlib\n"
        "pathlib.Path(run_dir).mkdir(parents=True, exist_ok=True)\n"
        "values = {'service_port': service_port, 'dry_run': dry_run, 'smoke_extra_dirs': smoke_extra_dirs}\n"
        "types = {name: type(value).__name__ for name, value in values.items()}\n"
        "pathlib.Path(run_dir, 'record.json').write_text(json.dumps({'values': values, 'types': types}))",
    )
    write_notebook(
        folder / "01_maybe_fail.ipynb",
        'confirm = ""',
        "if confirm == 'fail':\n    raise RuntimeError('expectation failed on purpose')",
    )
    write_notebook(
        folder / "02_last.ipynb",
        'run_dir = ".runbook/run"',
        "import pathlib\npathlib.Path(run_dir).mkdir(parents=True, exist_ok=True)\npathlib.Path(run_dir, 'last.txt').write_text('ran')",
    )
    return folder


def run(notebooks: Path, out: Path, *extra: str) -> int:
    """Run the ``runbook run`` command in-process on the test notebooks."""
    return main(["run", "--notebooks", str(notebooks), "--out", str(out), *extra])


def test_run_success_writes_reports(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    state = tmp_path / "state"

    assert run(notebooks, out, "-p", f"run_dir={state}") == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "success"
    assert [n["status"] for n in summary["notebooks"]] == ["success", "success", "success"]
    assert (out / "00_record.ipynb").exists()
    assert (out / "00_record.html").exists()
    assert "success" in (out / "report.html").read_text()
    assert (state / "last.txt").read_text() == "ran"


def test_run_overrides_keep_types(notebooks: Path, tmp_path: Path) -> None:
    params_file = tmp_path / "params.yaml"
    params_file.write_text("service_port: 9000\ndry_run: true\n")
    state = tmp_path / "state"

    code = run(
        notebooks, tmp_path / "out", "--params", str(params_file), "--only", "00",
        "-p", f"run_dir={state}", "-p", "service_port=8011", "-p", "dry_run=false", "-p", "smoke_extra_dirs=[a, b]",
    )

    assert code == 0
    record = json.loads((state / "record.json").read_text())
    assert record["values"] == {"service_port": 8011, "dry_run": False, "smoke_extra_dirs": ["a", "b"]}
    assert record["types"] == {"service_port": "int", "dry_run": "bool", "smoke_extra_dirs": "list"}


def test_run_failure_reports_cell(notebooks: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"

    code = run(notebooks, out, "-p", f"run_dir={tmp_path / 'state'}", "-p", "confirm=fail")

    assert code == 1
    err = capsys.readouterr().err
    assert "01_maybe_fail.ipynb failed" in err
    assert "raise RuntimeError('expectation failed on purpose')" in err
    assert "RuntimeError: expectation failed on purpose" in err
    assert str(out / "01_maybe_fail.ipynb") in err

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert [n["status"] for n in summary["notebooks"]] == ["success", "failed", "not run"]
    assert summary["notebooks"][1]["failure"]["ename"] == "RuntimeError"
    assert not (tmp_path / "state" / "last.txt").exists()


def test_run_from_step(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    state = tmp_path / "state"

    assert run(notebooks, out, "--from", "1", "-p", f"run_dir={state}") == 0

    summary = json.loads((out / "summary.json").read_text())
    assert [n["name"] for n in summary["notebooks"]] == ["01_maybe_fail.ipynb", "02_last.ipynb"]
    assert not (state / "record.json").exists()


def test_run_twice_same_out(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    state = f"run_dir={tmp_path / 'state'}"

    assert run(notebooks, out, "--only", "00,02", "-p", state) == 0
    assert run(notebooks, out, "--only", "00,02", "-p", state) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert [n["status"] for n in summary["notebooks"]] == ["success", "success"]


def test_run_unknown_parameter(notebooks: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = run(notebooks, tmp_path / "out", "-p", "servce_port=8011")

    assert code == 2
    err = capsys.readouterr().err
    assert "servce_port" in err
    assert not (tmp_path / "out").exists()


def test_select_only_and_from(notebooks: Path) -> None:
    listed = list_notebooks(notebooks)

    assert [p.name for p in select_notebooks(listed, only=["02", "0"])] == ["00_record.ipynb", "02_last.ipynb"]
    assert [p.name for p in select_notebooks(listed, start="01_maybe_fail")] == ["01_maybe_fail.ipynb", "02_last.ipynb"]


@pytest.mark.parametrize(
    ("only", "start", "message"),
    [
        (["07"], None, "No notebook for step 07"),
        (None, "9", "No notebook for step 09"),
        (["x1"], None, "Invalid step 'x1'"),
        (["01"], "02", "either --only or --from"),
    ],
)
def test_select_rejects_bad_steps(notebooks: Path, only, start, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        select_notebooks(list_notebooks(notebooks), only=only, start=start)


def test_list_notebooks_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        list_notebooks(tmp_path / "absent")


def test_parse_override_forms() -> None:
    assert parse_override("service_port=8011") == ("service_port", 8011)
    assert parse_override("confirm=") == ("confirm", "")
    assert parse_override("smoke_extra_dirs=[x, y]") == ("smoke_extra_dirs", ["x", "y"])
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        parse_override("service_port")


def test_load_params_reports_bad_value(tmp_path: Path) -> None:
    params_file = tmp_path / "p.yaml"
    params_file.write_text("service_port: seventy\n")

    with pytest.raises(ParameterError, match=r"service_port.*'seventy'"):
        load_params(params_file)


def test_load_params_rejects_non_mapping(tmp_path: Path) -> None:
    params_file = tmp_path / "p.yaml"
    params_file.write_text("- a\n- b\n")

    with pytest.raises(ParameterError, match="must be a mapping"):
        load_params(params_file)
