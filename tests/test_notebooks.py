"""The runbook notebooks: hygiene, parameters, and a full offline run with target local."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest

from conftest import free_loopback_port
from runbook_lib.cli import main
from runbook_lib.params import RunbookParams
from runbook_lib.paths import notebooks_dir

NOTEBOOKS = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
INTRO_HEADINGS = ("What it does", "Prerequisites", "What it changes", "Verify by hand", "Roll back")


def test_runbook_has_every_step() -> None:
    names = [path.stem for path in NOTEBOOKS]

    assert names == [
        "00_preflight", "01_provision", "02_identity", "03_models", "04_rollout", "05_smoke_test", "06_teardown",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)

    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.get('id')} of {path.name} has outputs; run nbstripout"
            assert cell.execution_count is None, f"cell {cell.get('id')} of {path.name} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_opens_with_runbook_intro(path: Path) -> None:
    first = nbformat.read(path, as_version=4).cells[0]

    assert first.cell_type == "markdown"
    for heading in INTRO_HEADINGS:
        assert heading in first.source, f"{path.name} intro lacks '{heading}'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_parameters_match_library(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    declared = papermill.inspect_notebook(str(path))
    defaults = RunbookParams()

    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged parameters"
    assert eval(declared["target"]["default"]) == "local"  # noqa: S307
    for name, spec in declared.items():
        assert name in RunbookParams.model_fields, f"{path.name} declares {name}, which RunbookParams lacks"
        assert eval(spec["default"]) == getattr(defaults, name), f"{path.name}: default of {name} differs"  # noqa: S307


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One full offline run of the runbook with target local, on a free port, in a temp folder."""
    root = tmp_path_factory.mktemp("runbook")
    port = free_loopback_port()
    overrides = [
        "-p", f"run_dir={root / 'state'}",
        "-p", f"share_dir={root / 'share'}",
        "-p", f"service_port={port}",
    ]
    code = main(["run", "--target", "local", "--out", str(root / "out"), *overrides])
    return {"root": root, "code": code, "overrides": overrides, "port": port}


@pytest.mark.timeout(1200)
def test_local_run_succeeds(local_run: dict) -> None:
    out = local_run["root"] / "out"
    summary = json.loads((out / "summary.json").read_text())

    assert local_run["code"] == 0
    assert summary["status"] == "success"
    assert [n["status"] for n in summary["notebooks"]] == ["success"] * 7
    assert (out / "report.html").exists()
    for notebook in summary["notebooks"]:
        assert Path(notebook["output"]).with_suffix(".html").exists()


@pytest.mark.timeout(1200)
def test_local_run_records_each_step(local_run: dict) -> None:
    state = local_run["root"] / "state"

    models = json.loads((state / "03_models.json").read_text())
    rollout = json.loads((state / "04_rollout.json").read_text())
    smoke = json.loads((state / "05_smoke_test.json").read_text())

    assert (local_run["root"] / "share" / "current").read_text().strip() == models["set_id"]
    assert rollout["service_url"] == f"http://127.0.0.1:{local_run['port']}"
    assert smoke["passed"] is True
    assert smoke["failures"] == []
    assert json.loads((state / "06_teardown.json").read_text())["dry_run"] is True


@pytest.mark.timeout(1200)
def test_local_run_renders_previews(local_run: dict) -> None:
    notebook = nbformat.read(local_run["root"] / "out" / "05_smoke_test.ipynb", as_version=4)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    html = "".join(output.get("data", {}).get("text/html", "") for output in outputs)

    assert any("image/png" in output.get("data", {}) for output in outputs), "no timing chart"
    assert html.count("data:image/png;base64,") >= 3, "too few page previews"
    assert "dutch_pdf.pdf, page 1" in html
    assert "Jaarverslag 2025" in html


@pytest.mark.timeout(1200)
def test_local_rerun_is_idempotent_and_failure_reported(
    local_run: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = local_run["root"]
    assert main(["run", "--only", "03,04", "--out", str(tmp_path / "again"), *local_run["overrides"]]) == 0
    assert json.loads((root / "state" / "03_models.json").read_text())["already_published"] is True

    expectations = tmp_path / "expectations.yaml"
    expectations.write_text("files:\n  dutch_pdf.pdf:\n    phrases: [Deze zin staat niet in het verslag]\n")
    code = main([
        "run", "--only", "05", "--out", str(tmp_path / "failing"), *local_run["overrides"],
        "-p", f"smoke_expectations={expectations}",
    ])
    err = capsys.readouterr().err

    assert code == 1
    assert "05_smoke_test.ipynb failed" in err
    assert "report.raise_for_failures()" in err
    assert "Deze zin staat niet in het verslag" in err

    assert main([
        "run", "--only", "06", "--out", str(tmp_path / "teardown"), *local_run["overrides"],
        "-p", "dry_run=false", "-p", f"confirm={root / 'share'}",
    ]) == 0
    assert not (root / "share").exists()
