"""A short notice that renders as a highlighted box in notebooks."""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass
class Notice:
    """A titled message for a notebook cell output."""

    title: str
    message: str

    def _repr_html_(self) -> str:
        return (
            "<div style='border-left:4px solid #1f77b4;padding:6px 12px;background:#f3f7fb'>"
            f"<b>{html.escape(self.title)}</b><br>{html.escape(self.message)}</div>"
        )

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"


@dataclass
class TextReport:
    """Preformatted text, such as a plan or a role table, for a notebook cell output."""

    title: str
    text: str

    def _repr_html_(self) -> str:
        return f"<h4>{html.escape(self.title)}</h4><pre>{html.escape(self.text)}</pre>"

    def __str__(self) -> str:
        return f"{self.title}\n{self.text}"
