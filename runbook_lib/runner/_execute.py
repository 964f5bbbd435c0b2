"""Execute the selected notebooks with papermill, stopping at the first failure."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..params import RunbookParams
from ..paths import project_root
from ._report import write_reports

logger = logging.getLogger("runbook_lib.runner")

# The kernel of the interpreter that runs papermill, so notebooks see the same packages.
KERNEL_NAME = "python3"


@dataclass
class CellFailure:
    """The cell that failed in a notebook, with its source and error."""

    cell_index: int
    source: str
    ename: str
    evalue: str


@dataclass
class NotebookOutcome:
    """How one notebook ended in a run."""

    name: str
    status: str  # "success", "failed" or "not run"
    duration_s: float = 0.0
    output: str | None = None
    failure: CellFailure | None = None


@dataclass
class RunSummary:
    """The outcome of a whole run, written as ``summary.json``."""

    status: str
    target: str
    out_dir: str
    started_at: str
    finished_at: str = ""
    duration_s: float = 0.0
    parameters: dict[str, Any] = field(default_factory=dict)
    notebooks: list[NotebookOutcome] = field(default_factory=list)

    @property
    def failed(self) -> NotebookOutcome | None:
        """The notebook that failed, if any."""
        return next((outcome for outcome in self.notebooks if outcome.status == "failed"), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain JSON-ready data."""
        return asdict(self)


def run_runbook(
    notebooks: list[Path],
    params: RunbookParams,
    out_dir: Path,
    progress: bool | None = None,
) -> RunSummary:
    """Execute ``notebooks`` in order with papermill, each with the parameters it declares.

    Each executed notebook is saved in ``out_dir`` under its own name, next to
    ``summary.json`` and HTML reports. The run stops at the first failing
    notebook; the ones after it are listed as not run.

    Args:
        notebooks (`list[Path]`): notebooks in run order.
        params (`RunbookParams`): validated parameters; each notebook gets the names
            its ``parameters`` cell declares.
        out_dir (`Path`): folder for executed notebooks and reports; created when missing.
        progress (`bool`, *optional*): show papermill's cell progress bar; defaults to
            whether stderr is a terminal.

    Returns:
        `RunSummary`: the outcome, also written to ``out_dir/summary.json``.
    """
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    if progress is None:
        progress = sys.stderr.isatty()

    started = time.monotonic()
    summary = RunSummary(
        status="running",
        target=params.target,
        out_dir=str(out_dir),
        started_at=datetime.now(timezone.utc).isoformat(),
        parameters=params.model_dump(mode="json"),
    )

    for index, notebook in enumerate(notebooks):
        output = out_dir / notebook.name
        declared = papermill.inspect_notebook(str(notebook))
        values = {name: value for name, value in params.model_dump(mode="json").items() if name in declared}

        logger.info("Running %s with target %s", notebook.name, params.target)
        began = time.monotonic()
        outcome = NotebookOutcome(name=notebook.name, status="success", output=str(output))

        try:
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=values,
                kernel_name=KERNEL_NAME,
                cwd=str(project_root()),
                progress_bar=progress,
                log_output=False,
            )
        except papermill.PapermillExecutionError as exc:
            outcome.status = "failed"
            outcome.failure = CellFailure(exc.cell_index, exc.source, exc.ename, exc.evalue)

        outcome.duration_s = round(time.monotonic() - began, 2)
        summary.notebooks.append(outcome)
        logger.info("Finished %s: %s in %.1f s", notebook.name, outcome.status, outcome.duration_s)

        if outcome.status == "failed":
            summary.notebooks.extend(NotebookOutcome(name=rest.name, status="not run") for rest in notebooks[index + 1:])
            break

    summary.status = "failed" if summary.failed else "success"
    summary.finished_at = datetime.now(timezone.utc).isoformat()
    summary.duration_s = round(time.monotonic() - started, 2)
    write_reports(summary, out_dir)
    return summary
