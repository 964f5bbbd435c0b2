"""Generated hostile inputs for the conversion service tests: broken, oversized and misnamed documents.

Every builder is deterministic and fast. The bombs are small on disk and huge once
decoded: their compressed streams are zeros, so nothing here ever decodes them.
"""

from __future__ import annotations

import io
import random
import re
import struct
import zlib
from pathlib import Path

TESTDATA_DIR = Path(__file__).resolve().parent.parent / "testdata"


def random_bytes(size: int = 100_000, seed: int = 0) -> bytes:
    """Bytes that are no document format at all."""
    return random.Random(seed).randbytes(size)


def truncated_pdf(source: bytes | None = None) -> bytes:
    """The first 40 % of a real PDF: no cross-reference table, no trailer, pages cut off."""
    source = source or (TESTDATA_DIR / "dutch_pdf.pdf").read_bytes()
    return source[: len(source) * 2 // 5]


def broken_xref_pdf(source: bytes | None = None) -> bytes:
    """A real PDF whose cross-reference offsets and ``startxref`` point to the wrong bytes."""
    source = source or (TESTDATA_DIR / "dutch_pdf.pdf").read_bytes()
    broken = re.sub(rb"(?m)^\d{10} (\d{5}) n", lambda match: b"0000000017 " + match.group(1) + b" n", source)
    broken = re.sub(rb"startxref\s+\d+", b"startxref\n999999", broken)
    assert broken != source, "the source PDF has no classic cross-reference table to break"
    return broken


def text_pdf(pages: int, line: str = "Page {page}: the harbour renovation continues on schedule.") -> bytes:
    """A text PDF with ``pages`` pages of one line each, written with reportlab."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for page in range(1, pages + 1):
        pdf.drawString(60, 780, line.format(page=page))
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def long_text_pdf(pages: int) -> bytes:
    """A text PDF with 40 lines per page: converting a few hundred pages takes minutes with the demo models."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for page in range(1, pages + 1):
        for line in range(40):
            pdf.drawString(60, 780 - line * 18, f"Page {page} line {line}: the harbour renovation continues on schedule.")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def blank_pdf() -> bytes:
    """A one-page PDF with nothing on the page: converts to no text at all."""
    return _pdf([b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"], [])


def huge_page_pdf(side_pt: int = 14400) -> bytes:
    """A one-page PDF whose page is ``side_pt`` points square (14400 is the PDF maximum, 200 inches)."""
    return _pdf([f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {side_pt} {side_pt}] >>".encode()], [])


def image_bomb_pdf(width: int = 30_000, height: int = 30_000) -> bytes:
    """An A4 PDF that draws one embedded 1-bit image of ``width`` x ``height`` pixels (zeros, Flate-compressed)."""
    data = _zero_rows(width, height, bits_per_row=width, filter_byte=False)
    image = (
        f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray "
        f"/BitsPerComponent 1 /Filter /FlateDecode /Length {len(data)} >>\nstream\n"
    ).encode() + data + b"\nendstream"
    content = b"q 500 0 0 700 40 60 cm /Im1 Do Q"
    content_object = f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream"
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>"
    return _pdf([page], [content_object, image])


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A 1-bit grayscale PNG of ``width`` x ``height`` zero pixels: about 100 KB that decode to gigabytes."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = _zero_rows(width, height, bits_per_row=width, filter_byte=True)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def html_document(title: str = "Harbour report") -> bytes:
    """A small HTML document, to be sent under a ``.pdf`` name."""
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
        "<p>The harbour renovation continues on schedule.</p></body></html>"
    ).encode()


def _zero_rows(width: int, height: int, bits_per_row: int, filter_byte: bool) -> bytes:
    row = bytes((bits_per_row + 7) // 8 + (1 if filter_byte else 0))
    compressor = zlib.compressobj(9)
    rows_per_chunk = max(1, 4_000_000 // len(row))
    block = row * rows_per_chunk
    parts = []
    remaining = height
    while remaining > 0:
        count = min(rows_per_chunk, remaining)
        parts.append(compressor.compress(block if count == rows_per_chunk else row * count))
        remaining -= count
    parts.append(compressor.flush())
    return b"".join(parts)


def _pdf(pages: list[bytes], extra_objects: list[bytes]) -> bytes:
    """Write a PDF: catalog (1), page tree (2), the pages (3, ...) and extra objects numbered after them.

    The pages must reference extra objects by their numbers: with one page, the first extra object is 4.
    """
    first_page = 3
    kids = " ".join(f"{first_page + index} 0 R" for index in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        *pages,
        *extra_objects,
    ]

    output = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"

    xref_at = len(output)
    output += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        output += f"{offset:010d} 00000 n \n".encode()
    output += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(output)
