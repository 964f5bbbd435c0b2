"""Results each notebook records for the next one, as JSON files in the run folder.

A notebook never relies on kernel state left by another: step ``03`` records
the model set id, step ``04`` the service URL, and so on, each in
``<run_dir>/<step>.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import RunbookError
from .paths import resolve


def record_result(run_dir: str | Path, step: str, result: dict[str, Any]) -> Path:
    """Write one step's result as ``<run_dir>/<step>.json`` and return the path.

    The file is replaced atomically, so a reader never sees half a record.

    Example:
        >>> record_result(".runbook/run", "04_rollout", {"service_url": "http://127.0.0.1:8000"})
        PosixPath('.../.runbook/run/04_rollout.json')
    """
    folder = resolve(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"step": step, "recorded_at": datetime.now(timezone.utc).isoformat(), **result}

    path = folder / f"{step}.json"
    handle, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{step}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as tmp:
        json.dump(record, tmp, indent=2, sort_keys=True, default=str)
    os.replace(tmp_name, path)
    return path


def read_result(run_dir: str | Path, step: str) -> dict[str, Any]:
    """Read the result an earlier step recorded.

    Raises:
        RunbookError: the step has not recorded a result in this run folder yet.
    """
    path = resolve(run_dir) / f"{step}.json"

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunbookError(
            f"No result from step {step} in {path.parent}. Run notebook {step} first, with the same run_dir."
        ) from None
