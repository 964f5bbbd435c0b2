"""Detect the input format of an upload from its bytes, never from its file name.

Binary formats are recognised by their signature (``filetype``, which docling
uses too), ZIP-based office formats by their members, and text formats by
their content: HTML, LaTeX, WebVTT, JATS or USPTO XML, CSV, and finally
Markdown, which includes plain UTF-8 text.
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import filetype

from .errors import UnsupportedFormat

SNIFF_BYTES = 64 * 1024

SUPPORTED_FORMATS = (
    "PDF, DOCX, XLSX, PPTX, ODT, ODS, ODP, EPUB, HTML, Markdown or plain UTF-8 text, CSV, LaTeX, "
    "WebVTT, JATS or USPTO XML, and PNG, JPEG, TIFF, GIF, BMP or WebP images"
)

IMAGE_MIMES = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/tiff": "tiff",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/webp": "webp",
}

ZIP_MEMBER_FORMATS = (
    ("word/document.xml", "docx"),
    ("xl/workbook.xml", "xlsx"),
    ("ppt/presentation.xml", "pptx"),
)

ZIP_MIMETYPE_FORMATS = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/epub+zip": "epub",
}

# Docling's InputFormat value and the file extension docling expects for each format.
FORMAT_EXTENSIONS = {
    "pdf": "pdf",
    "docx": "docx",
    "xlsx": "xlsx",
    "pptx": "pptx",
    "odt": "odt",
    "ods": "ods",
    "odp": "odp",
    "epub": "epub",
    "html": "html",
    "md": "md",
    "csv": "csv",
    "latex": "tex",
    "vtt": "vtt",
    "xml_jats": "nxml",
    "xml_uspto": "xml",
}

_HTML_START = re.compile(r"(<script.*?>.*?</script>\s*)?(<!doctype\s+html|<html|<head|<body)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_LATEX = re.compile(r"^[ \t]*\\document(?:class|style)\b", re.MULTILINE)
_DOCTYPE = re.compile(r"<!DOCTYPE [^>]+>", re.IGNORECASE)
_USPTO_DOCTYPES = ("us-patent-application-v4", "us-patent-grant-v4", "us-grant-025", "patent-application-publication")


@dataclass(frozen=True)
class DetectedFormat:
    """An upload's format.

    Attributes:
        input_format (`str`): docling's ``InputFormat`` value, such as ``pdf`` or ``docx``.
        extension (`str`): the file extension the spooled upload gets, so docling agrees.
        mime (`str`): the detected MIME type.
    """

    input_format: str
    extension: str
    mime: str


def detect_format(path: Path) -> DetectedFormat:
    """Detect the format of a spooled upload from its content.

    Args:
        path (`Path`): the uploaded bytes on disk.

    Raises:
        UnsupportedFormat: the bytes are not a document format docling converts.

    Example:
        >>> detect_format(Path("testdata/dutch_pdf.pdf")).input_format  # doctest: +SKIP
        'pdf'
    """
    with path.open("rb") as stream:
        head = stream.read(SNIFF_BYTES)

    kind = filetype.guess(head)
    mime = kind.mime if kind is not None else None

    if head.lstrip()[:5] == b"%PDF-" or b"%PDF-" in head[:1024] or mime == "application/pdf":
        return _detected("pdf", "application/pdf")
    if mime in IMAGE_MIMES:
        return DetectedFormat(input_format="image", extension=IMAGE_MIMES[mime], mime=mime)
    if mime == "application/zip" or head.startswith(b"PK\x03\x04"):
        return _detect_zip(path)
    if mime is not None:
        raise UnsupportedFormat(
            f"The upload is {mime}, which this service does not convert. Send one of: {SUPPORTED_FORMATS}.",
            detected_mime=mime,
        )

    text = _decode_text(head)
    if text is None:
        raise UnsupportedFormat(
            f"The upload is neither a known document format nor UTF-8 text. Send one of: {SUPPORTED_FORMATS}.",
            detected_mime="application/octet-stream",
        )
    return _detect_text(text)


def _detected(input_format: str, mime: str) -> DetectedFormat:
    return DetectedFormat(input_format=input_format, extension=FORMAT_EXTENSIONS[input_format], mime=mime)


def _detect_zip(path: Path) -> DetectedFormat:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            for member, input_format in ZIP_MEMBER_FORMATS:
                if member in names:
                    return _detected(input_format, "application/zip")

            if "mimetype" in names and archive.getinfo("mimetype").file_size <= 256:
                declared = archive.read("mimetype").decode("ascii", errors="replace").strip()
                input_format = ZIP_MIMETYPE_FORMATS.get(declared)
                if input_format is not None:
                    return _detected(input_format, declared)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UnsupportedFormat(
            f"The upload starts like a ZIP archive but cannot be read as one. Send one of: {SUPPORTED_FORMATS}.",
            detected_mime="application/zip",
        ) from None

    raise UnsupportedFormat(
        "The upload is a ZIP archive but not a DOCX, XLSX, PPTX, OpenDocument or EPUB file. "
        f"Send one of: {SUPPORTED_FORMATS}.",
        detected_mime="application/zip",
    )


def _decode_text(head: bytes) -> str | None:
    """Decode the start of an upload as UTF-8 text, or return None for binary data."""
    if b"\x00" in head:
        return None

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # final=False tolerates a character cut in half at the end of the sniffed bytes.
        text = decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return None

    text = text.lstrip("\ufeff")
    controls = sum(1 for char in text if ord(char) < 32 and char not in "\t\n\r\f")
    if controls > max(2, len(text) // 100):
        return None
    return text


def _detect_text(text: str) -> DetectedFormat:
    lowered = _COMMENT.sub("", text.lower()).lstrip()

    if lowered.startswith("<?xml"):
        return _detect_xml(text, lowered)
    if _HTML_START.match(lowered):
        return _detected("html", "text/html")
    if _LATEX.search(text):
        return _detected("latex", "text/x-tex")
    if text.lstrip().startswith("WEBVTT"):
        return _detected("vtt", "text/vtt")
    if text.startswith(("PATN\r\n", "PATN\n")):
        return _detected("xml_uspto", "text/plain")
    if _looks_like_csv(text):
        return _detected("csv", "text/csv")
    return _detected("md", "text/markdown")


def _detect_xml(text: str, lowered: str) -> DetectedFormat:
    if "xhtml" in lowered[:1000] or "<html" in lowered[:2000]:
        return _detected("html", "application/xhtml+xml")

    doctype = _DOCTYPE.search(text)
    if doctype is not None:
        declaration = doctype.group()
        if "JATS-journalpublishing" in declaration or "JATS-archive" in declaration:
            return _detected("xml_jats", "application/xml")
        if any(name in declaration.lower() for name in _USPTO_DOCTYPES):
            return _detected("xml_uspto", "application/xml")

    raise UnsupportedFormat(
        "The upload is XML but not XHTML, JATS or USPTO patent XML, which are the XML formats "
        f"this service converts. Send one of: {SUPPORTED_FORMATS}.",
        detected_mime="application/xml",
    )


def _looks_like_csv(text: str) -> bool:
    """Return True for at least two lines that split into the same number (2 or more) of fields."""
    lines = [line for line in text.splitlines() if line.strip()][:20]
    if len(lines) < 2:
        return False

    # Markdown tables, lists and headings are Markdown even when they contain commas.
    if any(line.lstrip().startswith(("#", "|", "- ", "* ", ">", "```")) for line in lines):
        return False

    sample = "\n".join(lines)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return False

    widths = {len(row) for row in csv.reader(lines, dialect)}
    return len(widths) == 1 and widths.pop() >= 2
