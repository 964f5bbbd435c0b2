"""Previews of smoke test results for notebooks: Markdown, pages with layout boxes, timing charts."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from ._run import FileResult, SmokeReport

# One colour per docling item label; others use the default.
LABEL_COLOURS = {
    "title": "#d62728",
    "section_header": "#ff7f0e",
    "text": "#1f77b4",
    "paragraph": "#1f77b4",
    "list_item": "#2ca02c",
    "table": "#9467bd",
    "picture": "#8c564b",
    "caption": "#e377c2",
    "page_header": "#7f7f7f",
    "page_footer": "#7f7f7f",
    "footnote": "#bcbd22",
    "formula": "#17becf",
    "code": "#17becf",
}
DEFAULT_COLOUR = "#1f77b4"
ITEM_COLLECTIONS = ("texts", "tables", "pictures", "key_value_items", "form_items")


class HtmlPreview:
    """HTML that Jupyter renders in a cell output and nbconvert keeps in reports."""

    def __init__(self, body: str) -> None:
        self.body = body

    def _repr_html_(self) -> str:
        return self.body


def markdown_previews(report: SmokeReport, max_chars: int = 4000) -> HtmlPreview:
    """Show each converted file's Markdown, rendered, in a collapsible section."""
    import marko

    sections = []
    for result in report.results:
        if not result.markdown:
            continue
        text = result.markdown[:max_chars]
        cut = "" if len(result.markdown) <= max_chars else f"<p><em>First {max_chars} of {len(result.markdown)} characters.</em></p>"
        sections.append(
            f"<details><summary><b>{html.escape(result.name)}</b> ({html.escape(result.case)}, "
            f"{result.pages} pages)</summary><div style='border-left:3px solid #ccc;padding-left:1em'>"
            f"{marko.convert(text)}{cut}</div></details>"
        )
    return HtmlPreview("".join(sections) or "<p>No Markdown to show.</p>")


def page_previews(report: SmokeReport, max_pages: int = 2, scale: float = 1.0) -> HtmlPreview:
    """Show PDF pages with docling's layout boxes, side by side with the content extracted from them."""
    blocks = []
    for result in report.results:
        if result.document is None or Path(result.path).suffix.lower() != ".pdf":
            continue

        for page_no, image in render_pages(Path(result.path), max_pages, scale, result.password):
            items = page_items(result.document, page_no)
            boxed = draw_boxes(image, items, page_size(result.document, page_no), scale)
            blocks.append(page_block(result, page_no, boxed, items))

    return HtmlPreview("".join(blocks) or "<p>No PDF pages to show.</p>")


class PngPreview:
    """A PNG image that Jupyter renders in a cell output, whatever matplotlib backend is active."""

    def __init__(self, png: bytes) -> None:
        self.png = png

    def _repr_png_(self) -> bytes:
        return self.png


def timing_chart(report: SmokeReport) -> PngPreview:
    """Plot conversion seconds per file and per page, side by side."""
    from matplotlib.figure import Figure

    converted = [result for result in report.results if result.status_code == 200 and result.pages]
    labels = [f"{result.name}\n({result.case})" if result.case != "default" else result.name for result in converted]
    per_file = [result.seconds for result in converted]
    per_page = [result.seconds / result.pages for result in converted]

    figure = Figure(figsize=(12, 0.6 * max(len(converted), 3) + 1.5))
    left, right = figure.subplots(1, 2)
    left.barh(labels, per_file, color="#1f77b4")
    left.set_xlabel("seconds per file")
    left.set_title("Conversion time per file")
    right.barh(labels, per_page, color="#ff7f0e")
    right.set_xlabel("seconds per page")
    right.set_title("Conversion time per page")
    right.set_yticklabels([])
    for axis in (left, right):
        axis.invert_yaxis()
        axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return PngPreview(buffer.getvalue())


def render_pages(path: Path, max_pages: int, scale: float, password: str | None):
    """Yield ``(page number, PIL image)`` for the first pages of a PDF."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path), password=password)
    try:
        for index in range(min(len(pdf), max_pages)):
            yield index + 1, pdf[index].render(scale=scale).to_pil().convert("RGB")
    finally:
        pdf.close()


def page_items(document: dict[str, Any], page_no: int) -> list[dict[str, Any]]:
    """Return the items docling placed on a page, each with its label, text and box."""
    items = []
    for collection in ITEM_COLLECTIONS:
        for item in document.get(collection) or []:
            for prov in item.get("prov") or []:
                if prov.get("page_no") == page_no and prov.get("bbox"):
                    items.append({"label": item.get("label", ""), "text": item.get("text", ""), "bbox": prov["bbox"]})
    return items


def page_size(document: dict[str, Any], page_no: int) -> tuple[float, float]:
    """Return a page's width and height in PDF points, as docling recorded them."""
    page = (document.get("pages") or {}).get(str(page_no)) or {}
    size = page.get("size") or {}
    return float(size.get("width", 0)), float(size.get("height", 0))


def draw_boxes(image, items: list[dict[str, Any]], size: tuple[float, float], scale: float):
    """Draw each item's box on the page image, coloured by label."""
    from PIL import ImageDraw

    width, height = size
    zoom_x = image.width / width if width else scale
    zoom_y = image.height / height if height else scale
    draw = ImageDraw.Draw(image)

    for item in items:
        box = item["bbox"]
        top, bottom = box["t"], box["b"]
        if box.get("coord_origin", "BOTTOMLEFT") == "BOTTOMLEFT":
            top, bottom = height - top, height - bottom
        rectangle = [box["l"] * zoom_x, min(top, bottom) * zoom_y, box["r"] * zoom_x, max(top, bottom) * zoom_y]
        draw.rectangle(rectangle, outline=LABEL_COLOURS.get(item["label"], DEFAULT_COLOUR), width=2)
    return image


def page_block(result: FileResult, page_no: int, image, items: list[dict[str, Any]]) -> str:
    """Lay out one page image beside the text of its items."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")

    lines = []
    for item in items:
        colour = LABEL_COLOURS.get(item["label"], DEFAULT_COLOUR)
        lines.append(
            f"<div style='border-left:4px solid {colour};padding-left:6px;margin-bottom:4px'>"
            f"<small style='color:{colour}'>{html.escape(item['label'])}</small><br>{html.escape(item['text'][:500])}</div>"
        )

    return (
        f"<h4>{html.escape(result.name)}, page {page_no}</h4>"
        "<div style='display:flex;gap:16px;align-items:flex-start'>"
        f"<img style='max-width:48%;border:1px solid #ccc' src='data:image/png;base64,{encoded}'/>"
        f"<div style='max-width:48%;font-size:12px;max-height:{image.height}px;overflow:auto'>{''.join(lines) or '<em>No items on this page.</em>'}</div>"
        "</div>"
    )

