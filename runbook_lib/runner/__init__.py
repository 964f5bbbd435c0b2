"""Run the runbook's notebooks in order with papermill and report the outcome."""

from ._execute import NotebookOutcome, RunSummary, run_runbook
from ._select import list_notebooks, select_notebooks

__all__ = ["NotebookOutcome", "RunSummary", "list_notebooks", "run_runbook", "select_notebooks"]
