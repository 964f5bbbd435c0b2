"""Where the runbook finds its notebooks and resolves relative paths."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """Return the repository root: the folder holding ``notebooks/`` and ``runbook_lib/``.

    Notebooks run with their own folder as working directory in JupyterLab and
    with the repository root under the runner, so relative parameter paths are
    resolved against this root, not against the working directory.
    """
    candidate = PACKAGE_DIR.parent
    if (candidate / "notebooks").is_dir():
        return candidate
    return Path.cwd()


def resolve(path: str | Path) -> Path:
    """Resolve a parameter path: absolute paths stay, relative ones hang off the project root."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    return project_root() / path


def notebooks_dir() -> Path:
    """Return the folder of the ordered runbook notebooks."""
    return project_root() / "notebooks"
