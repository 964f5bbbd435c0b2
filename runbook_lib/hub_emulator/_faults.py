"""Fault injection for the Hub emulator: rules that make matching requests fail on purpose."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import EmulatorError

FAULT_KINDS = ("status", "drop", "truncate", "corrupt", "delay")

# X-Error-Code values the Hub sends with its 4xx answers; huggingface_hub maps them to exceptions.
_DEFAULT_ERROR_CODES = {401: "RepoNotFound", 403: "GatedRepo", 404: "EntryNotFound"}


@dataclass
class Fault:
    """One fault rule.

    Kinds:
        ``status``: answer with ``status`` (for example a 503 burst, 401 or 404) and ``error_code``.
        ``drop``: close the connection without an answer.
        ``truncate``: announce the full ``Content-Length``, send ``fraction`` of the body, close.
        ``corrupt``: serve other bytes for a file whose hashes stay advertised. ``path`` matches
        ``<repo id>/<file path>``; HTTP bodies get flipped bytes and Xet files point at a
        same-size decoy in the CAS, so only a content hash check notices.
        ``delay``: wait ``delay_s`` seconds before answering.

    Args:
        kind (`str`): one of ``status``, ``drop``, ``truncate``, ``corrupt``, ``delay``.
        path (`str`): fnmatch pattern on the unquoted URL path (for ``corrupt``, on
            ``<repo id>/<file path>``).
        method (`str`, *optional*): only requests with this method (``GET``, ``HEAD``).
        times (`int`, *optional*): how many matching requests fail; None for all of them.
        status (`int`): status code of a ``status`` fault.
        error_code (`str`, *optional*): ``X-Error-Code`` header of a ``status`` fault.
        delay_s (`float`): wait of a ``delay`` fault, in seconds.
        fraction (`float`): share of the body a ``truncate`` fault sends, between 0 and 1.

    Example:
        >>> Fault("status", path="/api/models/*", status=503, times=2).kind
        'status'
    """

    kind: str
    path: str = "*"
    method: str | None = None
    times: int | None = 1
    status: int = 503
    error_code: str | None = None
    delay_s: float = 1.0
    fraction: float = 0.5
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise EmulatorError(f"Invalid fault kind {self.kind!r}: expected one of {', '.join(FAULT_KINDS)}.")
        if self.times is not None and self.times < 1:
            raise EmulatorError(f"Invalid fault times {self.times!r}: expected a positive count or null.")
        if not 0 <= self.fraction < 1:
            raise EmulatorError(f"Invalid truncate fraction {self.fraction!r}: expected 0 <= fraction < 1.")
        if self.kind == "status" and not 400 <= self.status <= 599:
            raise EmulatorError(f"Invalid fault status {self.status!r}: expected a 4xx or 5xx code.")
        if self.method is not None:
            self.method = self.method.upper()
        if self.error_code is None and self.kind == "status":
            self.error_code = _DEFAULT_ERROR_CODES.get(self.status)

    @property
    def exhausted(self) -> bool:
        """Whether the rule has fired as often as ``times`` allows."""
        return self.times is not None and self.fired >= self.times


class FaultPlan:
    """The thread-safe list of fault rules of one emulator instance."""

    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        """Add a rule; earlier rules win when several match."""
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """Return the first live rule of one of ``kinds`` matching the request, counting it as fired."""
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or rule.exhausted:
                    continue
                if rule.method is not None and rule.method != method:
                    continue
                if not fnmatch.fnmatchcase(path, rule.path):
                    continue
                rule.fired += 1
                return rule
        return None

    def corrupts(self, repo_id: str, path: str) -> bool:
        """Whether a live ``corrupt`` rule covers a repository file, without counting it."""
        target = f"{repo_id}/{path}"
        with self._lock:
            return any(
                rule.kind == "corrupt" and not rule.exhausted and fnmatch.fnmatchcase(target, rule.path)
                for rule in self._rules
            )


def load_faults(path: Path) -> list[Fault]:
    """Read fault rules from a YAML list of mappings with :class:`Fault`'s field names.

    Raises:
        EmulatorError: the file is missing, not valid YAML or has invalid rules.

    Example:
        A file with ``- {kind: status, path: "/api/models/*", status: 503, times: 2}``
        makes the first two API requests fail with 503.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EmulatorError(f"Fault file {path} not found.") from None
    except yaml.YAMLError as exc:
        raise EmulatorError(f"Fault file {path} is not valid YAML: {exc}") from None

    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise EmulatorError(f"Fault file {path} must be a YAML list of mappings.")

    faults = []
    for item in data:
        try:
            faults.append(Fault(**_only_fields(item)))
        except TypeError as exc:
            raise EmulatorError(f"Invalid fault {item!r} in {path}: {exc}") from None
    return faults


def _only_fields(item: dict[str, Any]) -> dict[str, Any]:
    allowed = {"kind", "path", "method", "times", "status", "error_code", "delay_s", "fraction"}
    unknown = set(item) - allowed
    if unknown:
        raise EmulatorError(f"Unknown fault fields {sorted(unknown)}: expected some of {sorted(allowed)}.")
    return item
