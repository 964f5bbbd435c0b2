"""Docling conversion inside a worker process: converters per option set, checks, and output export.

Import this module only in worker processes: it imports docling, torch and
transformers, which must see ``HF_HUB_OFFLINE=1`` before they load.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from docling.datamodel.accelerator_options import AcceleratorDevice, AcceleratorOptions
from docling.datamodel.backend_options import PdfBackendOptions
from docling.datamodel.base_models import ConversionStatus, InputFormat
from docling.datamodel.pipeline_options import (
    OcrMode,
    PdfPipelineOptions,
    TableFormerMode,
    TableStructureOptions,
    TesseractCliOcrOptions,
)
from docling.datamodel.settings import DEFAULT_PAGE_RANGE
from docling.document_converter import DocumentConverter, ImageFormatOption, PdfFormatOption
from docling.exceptions import ConversionError
from pydantic import SecretStr

from .errors import ConversionFailed, CorruptDocument, InvalidOption, TooManyPages
from .options import ConvertOptions
from .pdf_guard import check_image, check_pdf
from .warmup import warmup_pdf_bytes
from .worker import EngineConfig

logger = logging.getLogger("docling_api.worker")


class ConversionEngine:
    """Converts spooled uploads with docling, keeping one converter per option set."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._converters: OrderedDict[tuple, DocumentConverter] = OrderedDict()

    def warm_up(self, folder: Path) -> float:
        """Load the default converter's PDF pipeline, convert a one-page PDF and return the seconds taken.

        Raises:
            RuntimeError: the warm-up conversion did not succeed.
        """
        started = time.perf_counter()
        options = ConvertOptions(ocr_lang=self.config.default_ocr_lang)
        converter = self._converter(options)
        converter.initialize_pipeline(InputFormat.PDF)

        sample = folder / "warmup.pdf"
        sample.write_bytes(warmup_pdf_bytes())
        result = converter.convert(sample, raises_on_error=False)
        sample.unlink()

        if result.status != ConversionStatus.SUCCESS:
            messages = "; ".join(error.error_message for error in result.errors) or "no error message"
            raise RuntimeError(f"Warm-up conversion ended with status {result.status.value}: {messages}")
        return time.perf_counter() - started

    def convert(self, job: dict[str, Any]) -> dict[str, Any]:
        """Convert one upload and return the response fields.

        Args:
            job (`dict`): ``path``, ``filename``, ``input_format`` and ``options`` (see :class:`ConvertOptions`).

        Raises:
            ApiError: a public error for the client (corrupt or encrypted PDF, too many pages, failed conversion).
        """
        path = Path(job["path"])
        filename = job["filename"]
        options = _options_from_job(job["options"])
        input_format = job["input_format"]
        warnings: list[str] = []
        started = time.perf_counter()

        password = None
        full_page_ocr = options.force_ocr
        if input_format == InputFormat.PDF.value:
            facts = check_pdf(
                path,
                options.password,
                filename,
                options.page_range,
                max_pages=self.config.max_pages,
                max_image_pixels=self.config.max_image_pixels,
                # OCR renders pages at 3 times 72 dpi, TableFormer at 2 times.
                render_scale=3.0 if options.do_ocr else 2.0,
                # The text layer only decides whether OCR reads whole pages.
                inspect_text_layer=options.do_ocr and not options.force_ocr,
            )
            self._check_page_range(options, facts.pages, filename)
            if facts.encrypted:
                password = options.password
            elif options.password:
                warnings.append("A password was sent, but the PDF is not encrypted, so the password was ignored.")
            # Docling's default OCR mode reads only layout regions without text cells. A scan has no
            # text cells at all, so whole pages are read, which works whatever the layout model finds.
            full_page_ocr = full_page_ocr or (options.do_ocr and not facts.has_text_layer)
        elif input_format == InputFormat.IMAGE.value:
            check_image(path, filename, self.config.max_image_pixels, self.config.max_pages)
            full_page_ocr = options.do_ocr

        converter = self._converter(options, full_page_ocr, password=password)
        page_range = options.page_range or DEFAULT_PAGE_RANGE
        # Docling compares max_num_pages with the whole document, not the page range. PDFs and
        # images were checked above against the range, so only other formats need docling's check.
        paginated = input_format in (InputFormat.PDF.value, InputFormat.IMAGE.value)
        max_num_pages = sys.maxsize if paginated else self.config.max_pages
        try:
            result = converter.convert(
                path,
                raises_on_error=False,
                max_num_pages=max_num_pages,
                page_range=page_range,
            )
        except ConversionError as exc:
            # Docling raises instead of returning a result when it cannot open the input at all.
            logger.warning("Docling rejected the input", extra={"error": str(exc), "input_format": input_format})
            raise CorruptDocument(
                f"{filename} could not be opened as {input_format.upper()}: the file is damaged, truncated or "
                "not what its content first suggests. Upload the complete, original file.",
                filename=filename,
            ) from None

        body = self._build_response(result, options, filename, input_format, warnings)

        # Worker time: checks, converter loading on first use of these options, conversion and export.
        body["timings"] = {"conversion": round(time.perf_counter() - started, 4)}
        return body

    def _check_page_range(self, options: ConvertOptions, page_count: int, filename: str) -> None:
        first, last = options.page_range or (1, page_count)
        if first > page_count:
            requested = f"{first}" if first == last else f"{first}-{last}"
            raise InvalidOption(
                f"Invalid value '{requested}' for option 'page_range': {filename} has {page_count} pages. "
                f"Use a range within 1-{page_count}.",
                option="page_range",
                value=requested,
                allowed=[f"1-{page_count}"],
            )

        selected = min(last, page_count) - first + 1
        if selected > self.config.max_pages:
            raise TooManyPages(
                f"{filename} would convert {selected} pages, more than this service's limit of "
                f"{self.config.max_pages}. Split the document or send a page_range of at most "
                f"{self.config.max_pages} pages.",
                filename=filename,
                pages=selected,
                max_pages=self.config.max_pages,
            )

    def _build_response(
        self,
        result: Any,
        options: ConvertOptions,
        filename: str,
        input_format: str,
        warnings: list[str],
    ) -> dict[str, Any]:
        errors = [
            {
                "component": str(getattr(error.component_type, "value", error.component_type)),
                "module": error.module_name,
                "message": error.error_message,
            }
            for error in result.errors
        ]

        if result.status not in (ConversionStatus.SUCCESS, ConversionStatus.PARTIAL_SUCCESS):
            logger.warning(
                "Conversion failed",
                extra={"status": result.status.value, "input_format": input_format, "errors": errors},
            )
            first = errors[0]["message"] if errors else f"docling ended with status {result.status.value}"
            raise ConversionFailed(
                f"{filename} could not be converted: {first}. Check that the file opens in a viewer. "
                "If it does, report it with the request id.",
                filename=filename,
                errors=errors,
            )

        document = result.document
        body: dict[str, Any] = {
            "status": result.status.value,
            "filename": filename,
            "input_format": result.input.format.value if result.input.format else input_format,
            "pages": len(result.pages) if result.pages else document.num_pages(),
            "errors": errors,
            "warnings": warnings,
        }

        exports = {
            "md": ("markdown", document.export_to_markdown),
            "json": ("json", document.export_to_dict),
            "html": ("html", document.export_to_html),
            "text": ("text", document.export_to_text),
        }
        for output_format in options.to_formats:
            key, export = exports[output_format]
            body[key] = export()

        if not _has_text(document):
            # An empty result is not a plain success: say so, and whether OCR could have found text.
            body["status"] = ConversionStatus.PARTIAL_SUCCESS.value
            paginated = input_format in (InputFormat.PDF.value, InputFormat.IMAGE.value)
            if not paginated:
                body["warnings"].append(f"No text was found in {filename}: the document has no text content.")
            elif options.do_ocr:
                body["warnings"].append(
                    f"No text was found in {filename}, although OCR was on (languages: "
                    f"{', '.join(options.ocr_lang)}): the pages may be blank, or the text in another language."
                )
            else:
                body["warnings"].append(
                    f"No text was found in {filename} and OCR was off: the document may be scanned. "
                    "Retry with do_ocr=true."
                )
        return body

    def _converter(
        self, options: ConvertOptions, full_page_ocr: bool = False, password: str | None = None
    ) -> DocumentConverter:
        key = (*options.pipeline_key(), full_page_ocr)
        converter = self._converters.get(key)

        if converter is None:
            converter = DocumentConverter(format_options=self._format_options(options, full_page_ocr))
            self._converters[key] = converter
            while len(self._converters) > self.config.converter_cache_size:
                dropped_key, _ = self._converters.popitem(last=False)
                logger.info("Dropped a cached converter", extra={"options": list(dropped_key)})
        self._converters.move_to_end(key)

        if password is None:
            return converter

        # The password lives in the PDF backend options, which are not part of the pipeline,
        # so a per-request converter reuses the loaded pipelines and never caches the password.
        with_password = DocumentConverter(format_options=self._format_options(options, full_page_ocr, password))
        with_password.initialized_pipelines = converter.initialized_pipelines
        return with_password

    def _format_options(self, options: ConvertOptions, full_page_ocr: bool, password: str | None = None) -> dict:
        accelerator = AcceleratorOptions(device=AcceleratorDevice.CPU)
        if self.config.num_threads is not None:
            accelerator = AcceleratorOptions(device=AcceleratorDevice.CPU, num_threads=self.config.num_threads)

        pipeline_options = PdfPipelineOptions(
            artifacts_path=self.config.artifacts_path,
            do_ocr=options.do_ocr,
            ocr_options=TesseractCliOcrOptions(
                lang=list(options.ocr_lang),
                tesseract_cmd=self.config.tesseract_cmd,
                mode=OcrMode.FULL_PAGE if full_page_ocr else OcrMode.DEFAULT,
            ),
            do_table_structure=options.do_table_structure,
            table_structure_options=TableStructureOptions(mode=TableFormerMode(options.table_mode)),
            accelerator_options=accelerator,
        )

        backend_options = PdfBackendOptions(password=SecretStr(password)) if password else None
        return {
            InputFormat.PDF: PdfFormatOption(pipeline_options=pipeline_options, backend_options=backend_options),
            InputFormat.IMAGE: ImageFormatOption(pipeline_options=pipeline_options),
        }


def _has_text(document: Any) -> bool:
    """Return whether any text item or table cell of the document has text (cheaper than an export)."""
    if any(getattr(item, "text", "").strip() for item in document.texts):
        return True
    return any(cell.text.strip() for table in document.tables for cell in table.data.table_cells)


def _options_from_job(values: dict[str, Any]) -> ConvertOptions:
    page_range = values.get("page_range")
    return ConvertOptions(
        to_formats=tuple(values["to_formats"]),
        do_ocr=values["do_ocr"],
        force_ocr=values.get("force_ocr", False),
        ocr_lang=tuple(values["ocr_lang"]),
        table_mode=values["table_mode"],
        do_table_structure=values["do_table_structure"],
        page_range=tuple(page_range) if page_range else None,
        password=values.get("password"),
    )
