"""Runbook parameters: one flat set of names shared by notebooks, files and ``-p``.

The notebooks' ``parameters`` cells, parameter files (YAML) and ``runbook run -p``
overrides all use the names of :class:`RunbookParams`. Defaults are safe:
``target="local"`` never touches a cloud.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ParameterError

Target = Literal["local", "aks", "kubeconfig"]

EXAMPLE_PARAMS_FILE = Path(__file__).resolve().parent.parent / "params" / "example.yaml"


class RunbookParams(BaseModel):
    """Every parameter the runbook's notebooks and commands accept."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # Where the runbook runs and where it records results for the next notebook.
    target: Target = "local"
    run_dir: str = Field(".runbook/run", description="Folder for the JSON results each notebook records.")

    # Model set and its source.
    model_source: Literal["demo", "hub"] = Field(
        "demo",
        description="'demo': the built-in Hub emulator serving tiny generated models; "
        "'hub': the Hugging Face Hub or the mirror in hf_endpoint.",
    )
    model_set: str | None = Field(None, description="Model set YAML file; empty for the committed default set.")
    hf_endpoint: str | None = Field(None, description="Hub mirror URL; empty for huggingface.co.")
    share_dir: str = Field(".runbook/share", description="Local folder standing in for the Azure Files share.")

    # Local conversion service.
    service_host: str = "127.0.0.1"
    service_port: int = Field(8000, ge=1, le=65535)
    service_workers: int = Field(1, ge=1, le=32)
    service_ready_timeout_s: float = Field(600, gt=0)

    # Smoke test.
    smoke_extra_dirs: list[str] = Field(default_factory=list)

    # Destructive steps run dry unless confirmed.
    dry_run: bool = True
    confirm: str = Field("", description="Must equal the name of what a destructive step removes.")


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunbookParams:
    """Load parameters from a YAML file, then apply overrides.

    Args:
        path (`str` or `Path`, *optional*): a YAML mapping of parameter names to values.
            Without it, only defaults and overrides apply.
        overrides (`dict`, *optional*): values that win over the file, such as ``-p`` options.

    Raises:
        ParameterError: the file is missing or not a mapping, or a value is invalid.

    Example:
        >>> load_params(overrides={"target": "local", "service_port": 8011}).service_port
        8011
    """
    values: dict[str, Any] = {}

    if path is not None:
        values.update(read_params_file(path))

    values.update(overrides or {})

    try:
        return RunbookParams(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']} (got {error.get('input')!r})"
            for error in exc.errors()
        )
        source = f" in {path}" if path else ""
        raise ParameterError(f"Invalid runbook parameters{source}: {problems}.") from None


def read_params_file(path: str | Path) -> dict[str, Any]:
    """Read a parameter file as a mapping, without validating the names."""
    path = Path(path)

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError(f"Parameter file {path} not found. Pass an existing YAML file.") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"Parameter file {path} is not valid YAML: {exc}") from None

    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"Parameter file {path} must be a mapping of names to values, got {type(data).__name__}.")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``NAME=VALUE`` override; the value is read as YAML, so types are kept.

    Example:
        >>> parse_override("service_port=8011")
        ('service_port', 8011)
    """
    name, sep, raw = text.partition("=")
    name = name.strip()

    if not sep or not name:
        raise ParameterError(f"Invalid override {text!r}: expected NAME=VALUE, for example -p service_port=8011.")

    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return name, value
