"""Generate the sample PDFs in this folder, byte for byte the same on every run.

Run from the repository root::

    .venv/bin/python testdata/generate.py            # rewrite testdata/*.pdf
    .venv/bin/python testdata/generate.py --out DIR  # write them to DIR instead

The text PDFs use the standard Helvetica fonts, which PDF readers supply, so
no font is embedded. The scanned PDF is rendered with DejaVu Sans from the
Debian package fonts-dejavu-core. Output is reproducible for the same versions
of reportlab, Pillow, zlib and that font, because reportlab runs in invariant
mode (fixed dates and document ID) and the scan noise comes from a seeded
random generator.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

from reportlab import rl_config

# Invariant mode must be on before reportlab.lib.pdfencrypt is imported,
# because that module picks its random source at import time.
rl_config.invariant = 1

from PIL import Image, ImageDraw, ImageFont  # noqa: E402
from reportlab.lib import colors  # noqa: E402
from reportlab.lib.enums import TA_JUSTIFY  # noqa: E402
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.lib.pdfencrypt import StandardEncryption  # noqa: E402
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # noqa: E402
from reportlab.lib.units import cm  # noqa: E402
from reportlab.lib.utils import ImageReader  # noqa: E402
from reportlab.pdfgen import canvas  # noqa: E402
from reportlab.platypus import (  # noqa: E402
    BaseDocTemplate,
    Frame,
    FrameBreak,
    KeepTogether,
    PageTemplate,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

import _texts  # noqa: E402

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
SCAN_DPI = 300
SCAN_SEED = 20250
ENCRYPTED_USER_PASSWORD = "lindeveld-2026"
ENCRYPTED_OWNER_PASSWORD = "owner-lindeveld-2026"

OUTPUT_NAMES = (
    "dutch_pdf.pdf",
    "english_two_column.pdf",
    "scanned_nl_en.pdf",
    "encrypted.pdf",
    "corrupt.pdf",
)


def _styles() -> dict[str, ParagraphStyle]:
    sample = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=sample["Title"], fontSize=24, leading=30),
        "subtitle": ParagraphStyle(
            "subtitle", parent=sample["Heading2"], alignment=1, spaceAfter=18
        ),
        "heading": ParagraphStyle(
            "heading", parent=sample["Heading2"], spaceBefore=14, spaceAfter=6
        ),
        "body": ParagraphStyle(
            "body", parent=sample["BodyText"], fontSize=10.5, leading=15, alignment=TA_JUSTIFY
        ),
        "caption": ParagraphStyle(
            "caption", parent=sample["BodyText"], fontName="Helvetica-Oblique", fontSize=9.5
        ),
        "column_body": ParagraphStyle(
            "column_body", parent=sample["BodyText"], fontSize=9.5, leading=13, alignment=TA_JUSTIFY
        ),
        "column_heading": ParagraphStyle(
            "column_heading", parent=sample["Heading3"], spaceBefore=8, spaceAfter=4
        ),
        "byline": ParagraphStyle(
            "byline", parent=sample["BodyText"], fontName="Helvetica-Oblique", alignment=1
        ),
    }


def _data_table(rows: list[list[str]], col_widths: list[float], font_size: float) -> Table:
    table = Table(rows, colWidths=col_widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), font_size),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#D9E2F3")),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _dutch_header_footer(page_canvas: canvas.Canvas, doc: SimpleDocTemplate) -> None:
    page_canvas.saveState()
    page_canvas.setFont("Helvetica", 8.5)
    page_canvas.drawString(2.5 * cm, A4[1] - 1.5 * cm, "Gemeente Lindeveld - Jaarverslag 2025")
    page_canvas.drawRightString(A4[0] - 2.5 * cm, 1.5 * cm, f"Pagina {doc.page}")
    page_canvas.restoreState()


def build_dutch_report(path: Path) -> None:
    """Write the Dutch municipal annual report: headings, paragraphs and one table.

    Args:
        path (Path): Output file.

    Raises:
        RuntimeError: If the layout came out shorter than three pages.
    """
    styles = _styles()
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=2.5 * cm,
        rightMargin=2.5 * cm,
        topMargin=2.5 * cm,
        bottomMargin=2.5 * cm,
        title="Jaarverslag 2025 Gemeente Lindeveld",
        author="Gemeente Lindeveld",
        lang="nl-NL",
        invariant=1,
    )

    story = [
        Paragraph(_texts.DUTCH_TITLE, styles["title"]),
        Paragraph(_texts.DUTCH_SUBTITLE, styles["subtitle"]),
        Paragraph(_texts.DUTCH_INTRO, styles["body"]),
    ]
    for heading, paragraphs in _texts.DUTCH_SECTIONS:
        story.append(Paragraph(heading, styles["heading"]))
        for text in paragraphs:
            if text == "TABLE":
                table = _data_table(_texts.DUTCH_TABLE, [6.4 * cm, 3.2 * cm, 3.2 * cm, 2.8 * cm], 9.5)
                caption = Paragraph(_texts.DUTCH_TABLE_CAPTION, styles["caption"])
                story.append(KeepTogether([Spacer(1, 6), caption, Spacer(1, 4), table, Spacer(1, 10)]))
            else:
                story.append(Paragraph(text, styles["body"]))

    doc.build(story, onFirstPage=_dutch_header_footer, onLaterPages=_dutch_header_footer)
    if doc.page < 3:
        raise RuntimeError(f"{path.name} has {doc.page} pages, expected at least 3: add text to _texts.py")


def build_english_two_column(path: Path) -> None:
    """Write the English two-column article with a table in its first column.

    The first page has a full-width title band above the two columns.

    Args:
        path (Path): Output file.
    """
    styles = _styles()
    page_width, page_height = A4
    margin = 2 * cm
    gutter = 0.8 * cm
    column_width = (page_width - 2 * margin - gutter) / 2
    band_height = 3.2 * cm
    column_height = page_height - 2 * margin - band_height

    doc = BaseDocTemplate(
        str(path),
        pagesize=A4,
        title=_texts.ENGLISH_TITLE,
        author="Laura Mendes",
        lang="en-GB",
        invariant=1,
    )
    title_band = Frame(margin, page_height - margin - band_height, page_width - 2 * margin, band_height, id="band")
    first_columns = [
        Frame(margin, margin, column_width, column_height, id="left1"),
        Frame(margin + column_width + gutter, margin, column_width, column_height, id="right1"),
    ]
    later_height = page_height - 2 * margin
    later_columns = [
        Frame(margin, margin, column_width, later_height, id="left"),
        Frame(margin + column_width + gutter, margin, column_width, later_height, id="right"),
    ]
    doc.addPageTemplates(
        [
            PageTemplate(id="first", frames=[title_band, *first_columns], autoNextPageTemplate="later"),
            PageTemplate(id="later", frames=later_columns),
        ]
    )

    story = [
        Paragraph(_texts.ENGLISH_TITLE, styles["title"]),
        Paragraph(_texts.ENGLISH_BYLINE, styles["byline"]),
        FrameBreak(),
    ]
    for heading, paragraphs in _texts.ENGLISH_SECTIONS:
        if heading:
            story.append(Paragraph(heading, styles["column_heading"]))
        for text in paragraphs:
            if text == "TABLE":
                table = _data_table(_texts.ENGLISH_TABLE, [3.4 * cm, 1.8 * cm, 2.0 * cm], 9)
                caption = Paragraph(_texts.ENGLISH_TABLE_CAPTION, styles["caption"])
                story.append(KeepTogether([Spacer(1, 4), caption, Spacer(1, 4), table, Spacer(1, 8)]))
            else:
                story.append(Paragraph(text, styles["column_body"]))

    doc.build(story)


def build_encrypted(path: Path) -> None:
    """Write a one-page memo encrypted with RC4 128-bit and a user password.

    Args:
        path (Path): Output file.
    """
    encryption = StandardEncryption(
        ENCRYPTED_USER_PASSWORD, ENCRYPTED_OWNER_PASSWORD, canModify=0, strength=128
    )
    memo = canvas.Canvas(str(path), pagesize=A4, encrypt=encryption, invariant=1)
    memo.setTitle(_texts.MEMO_TITLE)

    memo.setFont("Helvetica-Bold", 18)
    y = A4[1] - 3 * cm
    memo.drawString(2.5 * cm, y, _texts.MEMO_TITLE)
    memo.setFont("Helvetica", 11)
    y -= 1.2 * cm
    for line in _texts.MEMO_LINES:
        memo.drawString(2.5 * cm, y, line)
        y -= 0.7 * cm

    memo.showPage()
    memo.save()


def _render_scan(lines: list[tuple[str, str]], rng: random.Random) -> Image.Image:
    """Render text lines as a slightly skewed, speckled black-and-white A4 scan."""
    width = round(A4[0] / 72 * SCAN_DPI)
    height = round(A4[1] / 72 * SCAN_DPI)
    font_px = round(12 / 72 * SCAN_DPI)
    fonts = {
        "regular": ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), font_px),
        "bold": ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), font_px),
    }
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)

    x = round(2.5 / 2.54 * SCAN_DPI)
    y = round(3 / 2.54 * SCAN_DPI)
    line_height = round(font_px * 1.45)
    for weight, text in lines:
        draw.text((x, y), text, font=fonts[weight], fill=0)
        y += line_height

    # A real scanner feeds paper a little crooked and picks up dust.
    page = page.rotate(rng.uniform(-0.6, 0.6), resample=Image.Resampling.BILINEAR, fillcolor=255)
    draw = ImageDraw.Draw(page)
    for _ in range(300):
        dot_x = rng.randrange(width)
        dot_y = rng.randrange(height)
        size = rng.choice((1, 1, 2))
        draw.rectangle((dot_x, dot_y, dot_x + size, dot_y + size), fill=0)

    # Thresholding leaves only black and white pixels, so Flate shrinks each page to about 75 KB.
    return page.point(lambda value: 0 if value < 150 else 255)


def build_scanned(path: Path) -> None:
    """Write a two-page scan without a text layer: a Dutch letter, then an English one.

    Args:
        path (Path): Output file.

    Raises:
        FileNotFoundError: If the DejaVu fonts are missing (install fonts-dejavu-core).
    """
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        if not (FONT_DIR / name).is_file():
            raise FileNotFoundError(
                f"font {FONT_DIR / name} not found: install the Debian package fonts-dejavu-core (make setup)"
            )

    rng = random.Random(SCAN_SEED)
    scan = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    scan.setTitle("Scanned letters")
    for lines in (_texts.SCANNED_DUTCH_PAGE, _texts.SCANNED_ENGLISH_PAGE):
        image = _render_scan(lines, rng)
        scan.drawImage(ImageReader(image), 0, 0, width=A4[0], height=A4[1])
        scan.showPage()
    scan.save()


def build_corrupt(path: Path) -> None:
    """Write a PDF cut off inside its first page object, followed by a broken xref table.

    reportlab writes the fonts first, then the page objects, the catalog and the
    content streams. Cutting inside the first page object leaves no complete
    page and no catalog, so even a parser that rebuilds the xref table by
    scanning for objects finds nothing to open.

    Args:
        path (Path): Output file.

    Raises:
        RuntimeError: If the cut left a page object or the catalog in place.
    """
    buffer = io.BytesIO()
    source = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    for page_number in (1, 2):
        source.setFont("Helvetica", 12)
        source.drawString(2.5 * cm, A4[1] - 3 * cm, f"This page {page_number} will be cut off.")
        source.showPage()
    source.save()
    valid = buffer.getvalue()

    page_start = valid.index(b"/Type /Page\n")
    page_start = valid.rindex(b" 0 obj", 0, page_start)
    page_end = valid.index(b"endobj", page_start)
    kept = valid[: (page_start + page_end) // 2]
    if b"/Type /Page" in kept or b"/Catalog" in kept:
        raise RuntimeError("the cut kept a page object or the catalog: move the cut earlier")
    broken_tail = (
        b"\nxref\n0 9\n0000000000 65535 f \n00000000zz 00000 n \n"
        b"trailer\n<< /Size 9 /Root 7 0 R >>\nstartxref\n99999999\n%%EOF\n"
    )
    path.write_bytes(kept + broken_tail)


def generate(out_dir: Path) -> list[Path]:
    """Write every sample PDF into a folder, creating it if needed.

    Args:
        out_dir (Path): Destination folder.

    Returns:
        list[Path]: The written files, in the order of OUTPUT_NAMES.

    Example:
        >>> generate(Path("/tmp/testdata"))[0].name
        'dutch_pdf.pdf'
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    builders = {
        "dutch_pdf.pdf": build_dutch_report,
        "english_two_column.pdf": build_english_two_column,
        "scanned_nl_en.pdf": build_scanned,
        "encrypted.pdf": build_encrypted,
        "corrupt.pdf": build_corrupt,
    }
    written = []
    for name in OUTPUT_NAMES:
        builders[name](out_dir / name)
        written.append(out_dir / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the sample PDFs used by the tests and the README.")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write the PDFs to (default: the folder of this script)",
    )
    args = parser.parse_args(argv)

    for path in generate(args.out):
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
