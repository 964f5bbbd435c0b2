"""A table of named checks that renders in notebooks and fails loudly when one failed."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RunbookError


@dataclass
class Check:
    """One check: what was checked, whether it passed, what was found, and how to fix it."""

    name: str
    ok: bool
    detail: str
    hint: str = ""


@dataclass
class CheckReport:
    """The checks of one step, in the order they ran."""

    title: str
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str, hint: str = "") -> Check:
        """Append a check and return it."""
        check = Check(name, ok, detail, "" if ok else hint)
        self.checks.append(check)
        return check

    @property
    def failed(self) -> list[Check]:
        """The checks that did not pass."""
        return [check for check in self.checks if not check.ok]

    def table(self):
        """Return the checks as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(
            [{"check": c.name, "result": "ok" if c.ok else "FAILED", "detail": c.detail, "fix": c.hint} for c in self.checks]
        )

    def _repr_html_(self) -> str:
        return f"<h4>{self.title}</h4>" + self.table().to_html(index=False)

    def raise_for_failures(self) -> None:
        """Raise when any check failed, listing each with its fix."""
        if not self.failed:
            return
        lines = [f"- {c.name}: {c.detail}. {c.hint}".rstrip() for c in self.failed]
        raise RunbookError(f"{len(self.failed)} of {len(self.checks)} checks failed in {self.title}:\n" + "\n".join(lines))
