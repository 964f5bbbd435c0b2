"""Open a PDF with pypdfium2 before docling, to report encryption and damage in plain words.

Docling reports an encrypted PDF without its password as "could not load
document", which does not mention the password, so the worker checks first.
This runs in the worker process: a crash inside PDFium then fails one request
only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .errors import CorruptDocument, PasswordRequired, WrongPassword


# Pages inspected for a text layer: enough to tell a scan from a text PDF without reading a long document.
TEXT_LAYER_SAMPLE_PAGES = 20


@dataclass(frozen=True)
class PdfFacts:
    """PDFium's view of a PDF: page count, encryption and text layer.

    Attributes:
        pages (`int`): page count.
        encrypted (`bool`): the PDF needs a password to open.
        has_text_layer (`bool`): at least one inspected page of the page range has text characters.
    """

    pages: int
    encrypted: bool
    has_text_layer: bool


def check_pdf(
    path: Path, password: str | None, filename: str, page_range: tuple[int, int] | None = None
) -> PdfFacts:
    """Open a PDF and return its page count, whether it is encrypted and whether it has a text layer.

    Args:
        path (`Path`): the spooled PDF.
        password (`str`, *optional*): the password the client sent.
        filename (`str`): the client's file name, for messages.
        page_range (`tuple[int, int]`, *optional*): 1-based pages to inspect for a text layer.

    Raises:
        PasswordRequired: the PDF is encrypted and no password was sent.
        WrongPassword: the PDF is encrypted and the password does not open it.
        CorruptDocument: PDFium cannot parse the file, or it has no pages.

    Example:
        >>> check_pdf(Path("testdata/dutch_pdf.pdf"), None, "dutch_pdf.pdf")  # doctest: +SKIP
        PdfFacts(pages=3, encrypted=False, has_text_layer=True)
    """
    encrypted = False
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if exc.err_code != pdfium_c.FPDF_ERR_PASSWORD:
            raise _corrupt(filename, exc) from None

        encrypted = True
        if not password:
            raise PasswordRequired(
                f"{filename} is an encrypted PDF and a password is needed to open it. "
                "Send the password in the 'password' form field and retry.",
                filename=filename,
            ) from None
        document = _open_with_password(path, password, filename)

    try:
        pages = len(document)
        first, last = page_range or (1, pages)
        sample = range(first - 1, min(last, pages, first - 1 + TEXT_LAYER_SAMPLE_PAGES))
        has_text_layer = any(_page_has_text(document, index) for index in sample)
    finally:
        document.close()

    if pages == 0:
        raise CorruptDocument(
            f"{filename} is a PDF without pages, so there is nothing to convert. Check the file and retry.",
            filename=filename,
        )
    return PdfFacts(pages=pages, encrypted=encrypted, has_text_layer=has_text_layer)


def _page_has_text(document: pdfium.PdfDocument, index: int) -> bool:
    page = document[index]
    try:
        text_page = page.get_textpage()
        try:
            return text_page.count_chars() > 0
        finally:
            text_page.close()
    finally:
        page.close()


def _open_with_password(path: Path, password: str, filename: str) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(str(path), password=password)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise WrongPassword(
                f"{filename} is an encrypted PDF and the password sent is wrong. "
                "Send the document's password in the 'password' form field and retry.",
                filename=filename,
            ) from None
        raise _corrupt(filename, exc) from None


def _corrupt(filename: str, exc: pdfium.PdfiumError) -> CorruptDocument:
    reason = str(exc).removeprefix("Failed to load document ").strip("() .")
    return CorruptDocument(
        f"{filename} is a damaged or truncated PDF that cannot be opened ({reason}). "
        "Upload the complete, original file.",
        filename=filename,
    )
