"""Write ``summary.json`` and the HTML reports of a run."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._execute import RunSummary

logger = logging.getLogger("runbook_lib.runner")


def write_reports(summary: "RunSummary", out_dir: Path) -> None:
    """Write ``summary.json``, one HTML page per executed notebook and ``report.html``."""
    (out_dir / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2), encoding="utf-8")

    for outcome in summary.notebooks:
        if outcome.output and Path(outcome.output).exists():
            export_html(Path(outcome.output))

    (out_dir / "report.html").write_text(render_index(summary), encoding="utf-8")


def export_html(notebook: Path) -> Path:
    """Convert an executed notebook to a standalone HTML page next to it."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def render_index(summary: "RunSummary") -> str:
    """Render the run's overview page: one row per notebook, linked to its HTML page."""
    rows = []
    for outcome in summary.notebooks:
        name = html.escape(outcome.name)
        link = f'<a href="{html.escape(Path(outcome.name).with_suffix(".html").name)}">{name}</a>'
        detail = ""
        if outcome.failure:
            detail = html.escape(f"cell {outcome.failure.cell_index}: {outcome.failure.ename}: {outcome.failure.evalue}")
        rows.append(
            f"<tr class='{outcome.status.replace(' ', '-')}'><td>{link if outcome.output else name}</td>"
            f"<td>{outcome.status}</td><td>{outcome.duration_s:.1f}</td><td>{detail}</td></tr>"
        )

    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Runbook run {html.escape(summary.started_at)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
tr.success td:nth-child(2) {{ color: #176b2c; }}
tr.failed td:nth-child(2) {{ color: #b00020; font-weight: bold; }}
tr.not-run td:nth-child(2) {{ color: #777; }}
</style></head><body>
<h1>Runbook run: {html.escape(summary.status)}</h1>
<p>Target <code>{html.escape(summary.target)}</code>, started {html.escape(summary.started_at)},
{summary.duration_s:.1f} s in all.</p>
<table><tr><th>Notebook</th><th>Status</th><th>Seconds</th><th>Error</th></tr>
{''.join(rows)}
</table></body></html>
"""
