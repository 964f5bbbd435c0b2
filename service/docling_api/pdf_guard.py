"""Check a document with pypdfium2 or PIL before docling: encryption, damage, page count and image sizes.

Docling reports an encrypted PDF without its password as "could not load
document", which does not mention the password, so the worker checks first.
The same pass refuses, before anything is decoded, documents over the page limit
and decompression bombs: images (alone, or embedded in a PDF) and PDF pages whose
decoded or rendered size exceeds ``max_image_pixels``. These checks read only
headers and page dictionaries. They run in the worker process: a crash inside
PDFium then fails one request only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .errors import CorruptDocument, ImageTooLarge, PasswordRequired, TooManyPages, WrongPassword


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
    path: Path,
    password: str | None,
    filename: str,
    page_range: tuple[int, int] | None = None,
    *,
    max_pages: int | None = None,
    max_image_pixels: int | None = None,
    render_scale: float = 3.0,
    inspect_text_layer: bool = True,
) -> PdfFacts:
    """Open a PDF and return its page count, whether it is encrypted and whether it has a text layer.

    With limits given, it also rejects a PDF whose page range selects more than
    ``max_pages`` pages, and then one whose selected pages embed an image, or would
    render at ``render_scale`` into an image, of more than ``max_image_pixels``.

    Args:
        path (`Path`): the spooled PDF.
        password (`str`, *optional*): the password the client sent.
        filename (`str`): the client's file name, for messages.
        page_range (`tuple[int, int]`, *optional*): 1-based pages to inspect for a text layer.
        max_pages (`int`, *optional*): most pages the page range may select.
        max_image_pixels (`int`, *optional*): largest embedded image or rendered page, in pixels.
        render_scale (`float`): the largest scale docling renders pages at (3 for OCR, 72 dpi times 3).
        inspect_text_layer (`bool`): look for a text layer; when False, ``has_text_layer`` is reported True.

    Raises:
        PasswordRequired: the PDF is encrypted and no password was sent.
        WrongPassword: the PDF is encrypted and the password does not open it.
        CorruptDocument: PDFium cannot parse the file, or it has no pages.
        TooManyPages: the page range selects more than ``max_pages`` pages (413).
        ImageTooLarge: an embedded image or a page is over ``max_image_pixels`` (413).

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
        selected = range(first - 1, min(last, pages))
        if max_pages is not None and len(selected) > max_pages:
            raise too_many_pages(filename, len(selected), pages, max_pages)
        if max_image_pixels is not None:
            for index in selected:
                _check_page_pixels(document, index, filename, max_image_pixels, render_scale)

        sample = range(first - 1, min(last, pages, first - 1 + TEXT_LAYER_SAMPLE_PAGES))
        has_text_layer = not inspect_text_layer or any(_page_has_text(document, index) for index in sample)
    finally:
        document.close()

    if pages == 0:
        raise CorruptDocument(
            f"{filename} is a PDF without pages, so there is nothing to convert. Check the file and retry.",
            filename=filename,
        )
    return PdfFacts(pages=pages, encrypted=encrypted, has_text_layer=has_text_layer)


def too_many_pages(filename: str, selected: int, total: int, max_pages: int) -> TooManyPages:
    """Return the 413 error for a document over the page limit, naming its page count.

    Example:
        >>> too_many_pages("big.pdf", 620, 620, 500).message.split(".")[0]
        'big.pdf has 620 pages, more than this service's limit of 500 pages per request'
    """
    counted = f"has {total} pages" if selected == total else f"has {total} pages and the page range selects {selected}"
    return TooManyPages(
        f"{filename} {counted}, more than this service's limit of {max_pages} pages per request. "
        f"Send a page_range of at most {max_pages} pages, or split the document.",
        filename=filename,
        pages=selected,
        total_pages=total,
        max_pages=max_pages,
    )


def check_image(path: Path, filename: str, max_image_pixels: int, max_pages: int | None = None) -> int:
    """Read an image's header and refuse it when it is too large to decode; return its frame count.

    Args:
        path (`Path`): the spooled image.
        filename (`str`): the client's file name, for messages.
        max_image_pixels (`int`): largest frame in pixels.
        max_pages (`int`, *optional*): most frames (pages of a multi-page TIFF).

    Raises:
        ImageTooLarge: a frame is over ``max_image_pixels`` (413).
        TooManyPages: the image has more than ``max_pages`` frames (413).
        CorruptDocument: PIL cannot read the header.

    Example:
        >>> check_image(Path("scan.png"), "scan.png", 100_000_000)  # doctest: +SKIP
        1
    """
    from PIL import Image, UnidentifiedImageError

    # Image.open reads the header only. PIL's own bomb check is paused here, so that the
    # message can give the image's width and height; docling's decoding later keeps it.
    pil_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            if max_pages is not None and frames > max_pages:
                raise too_many_pages(filename, frames, frames, max_pages)
            for frame in range(frames):
                image.seek(frame)
                width, height = image.size
                if width * height > max_image_pixels:
                    raise image_too_large(filename, "the image is", width, height, max_image_pixels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(
            f"{filename} is an image too large to decode safely ({exc}). Reduce its resolution and retry.",
            filename=filename,
            max_image_pixels=max_image_pixels,
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptDocument(
            f"{filename} is a damaged or truncated image that cannot be opened ({exc}). "
            "Upload the complete, original file.",
            filename=filename,
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit
    return frames


def image_too_large(filename: str, what: str, width: int, height: int, max_image_pixels: int) -> ImageTooLarge:
    """Return the 413 error for an image or page over the pixel limit.

    Args:
        filename (`str`): the client's file name.
        what (`str`): the subject and verb, such as "the image is" or "page 2 renders at".
        width (`int`), height (`int`): the size in pixels.
        max_image_pixels (`int`): the limit.

    Example:
        >>> image_too_large("bomb.png", "the image is", 50000, 50000, 100_000_000).message.split(",")[0]
        'bomb.png cannot be converted safely: the image is 50000 x 50000 pixels (2500000000 pixels)'
    """
    pixels = width * height
    return ImageTooLarge(
        f"{filename} cannot be converted safely: {what} {width} x {height} pixels ({pixels} pixels), more than "
        f"this service's limit of {max_image_pixels} pixels. Reduce the image resolution or page size and retry.",
        filename=filename,
        pixels=pixels,
        max_image_pixels=max_image_pixels,
    )


def _check_page_pixels(
    document: pdfium.PdfDocument, index: int, filename: str, max_image_pixels: int, render_scale: float
) -> None:
    page = document[index]
    try:
        width_pt, height_pt = page.get_size()
        width, height = round(width_pt * render_scale), round(height_pt * render_scale)
        if width * height > max_image_pixels:
            raise image_too_large(filename, f"page {index + 1} renders at", width, height, max_image_pixels)

        for image in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
            try:
                image_width, image_height = image.get_px_size()
            except pdfium.PdfiumError:
                continue
            if image_width * image_height > max_image_pixels:
                raise image_too_large(
                    filename, f"page {index + 1} embeds an image of", image_width, image_height, max_image_pixels
                )
    finally:
        page.close()


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
