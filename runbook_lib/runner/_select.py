"""Find the ordered notebooks and pick the ones a run executes."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UsageError

NOTEBOOK_NAME = re.compile(r"^(\d{2})_[\w-]+\.ipynb$")


def list_notebooks(folder: Path) -> list[Path]:
    """Return the runbook notebooks in ``folder`` (``NN_name.ipynb``), in run order."""
    if not folder.is_dir():
        raise UsageError(f"Notebook folder {folder} not found. Run from a checkout of the runbook repository.")

    notebooks = sorted(path for path in folder.iterdir() if NOTEBOOK_NAME.match(path.name))
    if not notebooks:
        raise UsageError(f"No notebooks named NN_name.ipynb in {folder}.")
    return notebooks


def step_number(path: Path) -> str:
    """Return the two-digit step number of a notebook path, for example ``"03"``."""
    match = NOTEBOOK_NAME.match(path.name)
    if match is None:
        raise UsageError(f"Notebook {path.name} is not named NN_name.ipynb.")
    return match.group(1)


def select_notebooks(notebooks: list[Path], only: list[str] | None = None, start: str | None = None) -> list[Path]:
    """Pick the notebooks to run.

    Args:
        notebooks (`list[Path]`): every notebook, in run order.
        only (`list[str]`, *optional*): step numbers to run, such as ``["03", "05"]``.
        start (`str`, *optional*): the step number to start from, such as ``"03"``.

    Raises:
        UsageError: a step number matches no notebook, or both options are given.

    Example:
        >>> [p.name for p in select_notebooks(list_notebooks(Path("notebooks")), start="05")]
        ['05_smoke_test.ipynb', '06_teardown.ipynb']
    """
    if only and start:
        raise UsageError("Pass either --only or --from, not both.")

    steps = [step_number(path) for path in notebooks]
    known = ", ".join(steps)

    if only:
        wanted = [normalise_step(step) for step in only]
        unknown = [step for step in wanted if step not in steps]
        if unknown:
            raise UsageError(f"No notebook for step {', '.join(unknown)} in --only. Known steps: {known}.")
        return [path for path, step in zip(notebooks, steps) if step in wanted]

    if start:
        first = normalise_step(start)
        if first not in steps:
            raise UsageError(f"No notebook for step {first} in --from. Known steps: {known}.")
        return notebooks[steps.index(first):]

    return list(notebooks)


def normalise_step(text: str) -> str:
    """Turn ``"3"``, ``"03"`` or ``"03_models"`` into ``"03"``."""
    head = text.strip().split("_", 1)[0]
    if not head.isdigit():
        raise UsageError(f"Invalid step {text!r}: expected a step number such as 03.")
    return f"{int(head):02d}"
