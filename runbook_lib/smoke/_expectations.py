"""Read ``testdata/expectations.yaml``: what each sample file must convert to."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

# "phrases": each phrase occurs as written; "words": each word of each phrase occurs, in any order.
MATCH_MODES = ("phrases", "words")


@dataclass
class Expectation:
    """What one file must produce: the status with its options, and phrases in the Markdown."""

    name: str
    status: int = 200
    phrases: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    password: str | None = None
    status_without_password: int | None = None
    description: str = ""
    match: str = "phrases"


def load_expectations(path: Path) -> dict[str, Expectation]:
    """Load the expectations file, keyed by file name.

    Raises:
        UsageError: the file is missing, is not valid YAML, or an entry has an unknown field.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UsageError(f"Expectations file {path} not found.") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"Expectations file {path} is not valid YAML: {exc}") from None

    entries = data.get("files")
    if not isinstance(entries, dict):
        raise UsageError(f"Expectations file {path} needs a top-level mapping named files.")

    known = {
        "description", "pages", "text_layer", "options", "password", "status", "status_without_password", "phrases", "match",
    }
    expectations = {}
    for name, entry in entries.items():
        unknown = sorted(set(entry or {}) - known)
        if unknown:
            raise UsageError(f"Expectations for {name} in {path} have unknown fields: {', '.join(unknown)}.")

        entry = entry or {}
        match = entry.get("match", "phrases")
        if match not in MATCH_MODES:
            raise UsageError(f"Expectations for {name} in {path} have match {match!r}; use one of {', '.join(MATCH_MODES)}.")

        expectations[name] = Expectation(
            name=name,
            status=int(entry.get("status", 200)),
            phrases=[str(phrase) for phrase in entry.get("phrases") or []],
            options=dict(entry.get("options") or {}),
            password=entry.get("password"),
            status_without_password=entry.get("status_without_password"),
            description=entry.get("description", ""),
            match=match,
        )
    return expectations
