"""docling-serve's conversion options (docling's ``ConvertDocumentsOptions``) mapped onto this service's options.

The form fields of ``POST /v1/convert/file`` are validated with docling's own
``ConvertDocumentsOptions``. Options this service honours become a
:class:`~docling_api.options.ConvertOptions`. An option sent with a value the service
cannot honour (another pipeline, enrichment models it does not load, images, chunking,
remote targets, callbacks) is rejected with 422 ``unsupported_option`` naming it, never
ignored. A field sent with its docling default is accepted, because it changes nothing.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docling.datamodel.service import ConvertDocumentsOptions
from docling_core.types.doc.common.constants import FIRST_SUPPORTED_MINOR
from pydantic import ValidationError

from ..errors import InvalidOption, UnknownOption
from ..options import OUTPUT_FORMATS, ConvertOptions, parse_convert_options
from ..settings import Settings
from ._errors import UnsupportedOption

TARGET_TYPE_FIELD = "target_type"
CALLBACKS_FIELD = "callbacks"
DOCUMENT_VERSION_HEADER = "Accept-Docling-Document-Version"

# Options whose form value may be repeated; to_formats, from_formats and ocr_lang also split on commas.
_LIST_OPTIONS = ("from_formats", "to_formats", "ocr_lang", "page_range")
_COMMA_LISTS = ("from_formats", "to_formats", "ocr_lang")

# Options this service maps onto its own conversion options.
MAPPED_OPTIONS = (
    "from_formats",
    "to_formats",
    "do_ocr",
    "force_ocr",
    "ocr_lang",
    "table_mode",
    "do_table_structure",
    "page_range",
    "document_timeout",
)

# Options accepted with any value because they change nothing here: images_scale only matters for exported
# images, and picture_description_area_threshold only with picture descriptions, which are both unavailable.
_WITHOUT_EFFECT = ("images_scale", "picture_description_area_threshold")

# Values accepted for options the service does not map, when they differ from docling's default.
_HONOURED_VALUES: dict[str, tuple[Any, ...]] = {
    "image_export_mode": ("placeholder",),
    "ocr_engine": ("auto", "tesseract", "tesseract_cli"),
    "ocr_preset": ("auto", "tesseract", "tesseract_cli"),
    # Every value docling maps onto its threaded docling-parse backend, the one the workers use.
    "pdf_backend": ("docling_parse", "_docling_parse", "dlparse_v1", "dlparse_v2", "dlparse_v4"),
    # With placeholder image references, docling-serve's output is the same with and without picture images.
    "include_images": (True, False),
}

_MODEL_SET_REASON = (
    "the model set this service loads has docling's layout and table structure models only, and no "
    "vision-language, picture, code, formula or chart models"
)
_NO_IMAGES_REASON = "this service exports no page or picture images"
_UNSUPPORTED_REASONS = {
    "image_export_mode": _NO_IMAGES_REASON + ", so image references are always placeholders",
    "include_page_images": _NO_IMAGES_REASON,
    "ocr_engine": "the OCR engine is Tesseract's command line ('tesseract_cli'), which 'auto' selects",
    "ocr_preset": "the OCR engine is Tesseract's command line ('tesseract_cli'), which 'auto' selects",
    "ocr_custom_config": "OCR is configured by the service (Tesseract and its installed languages); use ocr_lang",
    "pdf_backend": "PDFs are parsed with docling-parse ('docling_parse') only",
    "pipeline": "this service runs docling's standard pipeline only",
    "table_cell_matching": "table cells are always matched to the PDF's text cells",
    "abort_on_error": "each request converts one document, and a failed document is reported in the result",
    "do_pdf_heading_hierarchy": "this service does not run docling's PDF heading hierarchy step",
    "pdf_heading_hierarchy_options": "this service does not run docling's PDF heading hierarchy step",
    "md_page_break_placeholder": "Markdown is exported with docling's defaults",
    "md_compact_tables": "Markdown is exported with docling's defaults",
    "chunking_options": "this service converts documents but does not chunk them",
    "chunking_preset": "this service converts documents but does not chunk them",
}


@dataclass(frozen=True)
class V1Options:
    """A v1 request's options, validated and mapped.

    Attributes:
        requested (`ConvertDocumentsOptions`): the options as docling's model, for logs and checks.
        convert (`ConvertOptions`): the service's options for the worker.
        from_formats (`frozenset[str]`, *optional*): docling input formats the client accepts; None for all.
        timeout_s (`float`, *optional*): the conversion's time limit from ``document_timeout``.
    """

    requested: ConvertDocumentsOptions
    convert: ConvertOptions
    from_formats: frozenset[str] | None
    timeout_s: float | None


def parse_v1_options(
    fields: Mapping[str, Sequence[str]],
    settings: Settings,
    installed_ocr_lang: Iterable[str] | None,
) -> V1Options:
    """Validate docling-serve form fields and map them onto the service's options.

    Args:
        fields (`Mapping[str, Sequence[str]]`): the form fields other than the file.
        settings (`Settings`): for the default OCR languages and the largest time limit.
        installed_ocr_lang (`Iterable[str]`, *optional*): installed Tesseract languages.

    Raises:
        UnknownOption: a field that is not one of docling's conversion options (422).
        InvalidOption: a value docling's model or the service rejects (422).
        UnsupportedOption: an option or value this service cannot honour, or a target or callback (422).

    Example:
        >>> options = parse_v1_options({"to_formats": ["md", "json"], "do_ocr": ["false"]}, settings, None)  # doctest: +SKIP
        >>> options.convert.to_formats, options.convert.do_ocr  # doctest: +SKIP
        (('md', 'json'), False)
    """
    _check_target_and_callbacks(fields)
    raw = _raw_option_values(fields)
    requested = _validate(raw)

    for name in raw:
        if name not in MAPPED_OPTIONS and name not in _WITHOUT_EFFECT:
            _check_honoured(name, getattr(requested, name))

    values = _service_values(requested, set(raw), installed_ocr_lang)
    convert = parse_convert_options(values, settings.ocr_lang, installed_ocr_lang)

    from_formats = None
    if "from_formats" in raw:
        from_formats = frozenset(input_format.value for input_format in requested.from_formats)

    timeout_s = None
    if requested.document_timeout is not None:
        timeout_s = _check_timeout(requested.document_timeout, settings.max_request_timeout_s)

    return V1Options(requested=requested, convert=convert, from_formats=from_formats, timeout_s=timeout_s)


def check_document_version(header_value: str | None) -> str | None:
    """Validate the ``Accept-Docling-Document-Version`` header and return the version, or None without one.

    Raises:
        InvalidOption: the value is not ``MAJOR.MINOR.PATCH`` or is older than docling-core can produce (422).

    Example:
        >>> check_document_version("1.10.0")
        '1.10.0'
    """
    if not header_value:
        return None

    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", header_value.strip())
    oldest = f"1.{FIRST_SUPPORTED_MINOR}.0"
    if match is None or (int(match.group(1)), int(match.group(2))) < (1, FIRST_SUPPORTED_MINOR):
        raise InvalidOption(
            f"Invalid value {header_value!r} for header {DOCUMENT_VERSION_HEADER}: send a DoclingDocument schema "
            f"version like '1.10.0', at least {oldest}, or leave the header out for the newest.",
            option=DOCUMENT_VERSION_HEADER,
            value=header_value,
            allowed=[f">={oldest}"],
        )
    return header_value.strip()


def _check_target_and_callbacks(fields: Mapping[str, Sequence[str]]) -> None:
    target_values = [value.strip() for value in fields.get(TARGET_TYPE_FIELD, ()) if value.strip()]
    target = target_values[-1] if target_values else "inbody"
    if target == "presigned_url":
        # docling's client falls back to 'inbody' when the message contains "artifact storage to be configured".
        raise UnsupportedOption(
            "Option 'target_type'='presigned_url' is not supported: presigned URL targets require artifact "
            "storage to be configured, and this service has none. It returns the result in the response "
            "body: send target_type=inbody, the default.",
            option=TARGET_TYPE_FIELD,
            value=target,
            allowed=["inbody"],
        )
    if target != "inbody":
        raise UnsupportedOption(
            f"Option 'target_type'={target!r} is not supported: this service returns the result in the "
            "response body only. Send target_type=inbody, the default.",
            option=TARGET_TYPE_FIELD,
            value=target,
            allowed=["inbody"],
        )

    callbacks = [value for value in fields.get(CALLBACKS_FIELD, ()) if value.strip()]
    if callbacks:
        raise UnsupportedOption(
            "Option 'callbacks' is not supported: this service calls no URLs. Follow a task with "
            "GET /v1/status/poll/{task_id} or the websocket GET /v1/status/ws/{task_id} instead.",
            option=CALLBACKS_FIELD,
        )


def _raw_option_values(fields: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    known = ConvertDocumentsOptions.model_fields
    unknown = sorted(name for name in fields if name not in known and name not in (TARGET_TYPE_FIELD, CALLBACKS_FIELD))
    if unknown:
        raise UnknownOption(
            f"Unknown option {unknown[0]!r}. The options of POST /v1/convert/file are docling's "
            "ConvertDocumentsOptions fields; see /docs for the list and the ones this service supports.",
            option=unknown[0],
            allowed=list(MAPPED_OPTIONS),
        )

    raw: dict[str, Any] = {}
    for name, values in fields.items():
        if name not in known:
            continue
        if name in _LIST_OPTIONS:
            items = [value.strip() for value in values]
            if name in _COMMA_LISTS:
                items = [part.strip() for item in items for part in item.split(",")]
            raw[name] = [item for item in items if item]
        elif values and values[-1].strip():
            raw[name] = values[-1].strip()
    return raw


def _validate(raw: dict[str, Any]) -> ConvertDocumentsOptions:
    try:
        with warnings.catch_warnings():
            # Deprecated fields (ocr_engine, picture_description_api, ...) warn, and the checks below name them.
            warnings.simplefilter("ignore", DeprecationWarning)
            return ConvertDocumentsOptions.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "options"
        value = raw.get(name)
        raise InvalidOption(
            f"Invalid value {value!r} for option {name!r}: {error['msg']}.",
            option=name,
            value=value,
        ) from None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return getattr(value, "value", value)


def _check_honoured(name: str, value: Any) -> None:
    field = ConvertDocumentsOptions.model_fields[name]
    default = field.get_default(call_default_factory=True)
    honoured = _HONOURED_VALUES.get(name, (_jsonable(default),))
    sent = _jsonable(value)
    if sent in honoured:
        return

    reason = _UNSUPPORTED_REASONS.get(name, _MODEL_SET_REASON)
    allowed = [str(item) for item in honoured]
    raise UnsupportedOption(
        f"Option {name!r}={sent!r} is not supported: {reason}. Leave the option out, or send "
        f"{' or '.join(repr(item) for item in honoured)}.",
        option=name,
        value=sent,
        allowed=allowed,
    )


def _service_values(
    requested: ConvertDocumentsOptions, sent: set[str], installed_ocr_lang: Iterable[str] | None
) -> dict[str, list[str]]:
    """Return the sent options as form values of the service's own option parser."""
    values: dict[str, list[str]] = {}

    if "to_formats" in sent:
        formats = [output_format.value for output_format in requested.to_formats]
        for output_format in formats:
            if output_format not in OUTPUT_FORMATS:
                raise UnsupportedOption(
                    f"Option 'to_formats'={output_format!r} is not supported: this service exports "
                    f"{', '.join(OUTPUT_FORMATS)}. Leave {output_format!r} out of to_formats.",
                    option="to_formats",
                    value=output_format,
                    allowed=list(OUTPUT_FORMATS),
                )
        if formats:
            values["to_formats"] = [",".join(formats)]

    for name in ("do_ocr", "force_ocr", "do_table_structure"):
        if name in sent:
            values[name] = ["true" if getattr(requested, name) else "false"]

    if "table_mode" in sent:
        values["table_mode"] = [requested.table_mode.value]

    if "ocr_lang" in sent and requested.ocr_lang:
        installed = set(installed_ocr_lang) if installed_ocr_lang is not None else set()
        values["ocr_lang"] = [",".join(_tesseract_code(tag, installed) for tag in requested.ocr_lang)]

    if "page_range" in sent:
        first, last = requested.page_range
        if first < 1 or last < first:
            raise InvalidOption(
                f"Invalid value [{first}, {last}] for option 'page_range': send the first and the last "
                "1-based page, with the first page not after the last.",
                option="page_range",
                value=[first, last],
            )
        values["page_range"] = [f"{first}-{last}"]

    return values


def _tesseract_code(tag: str, installed: set[str]) -> str:
    """Return the Tesseract language code for a BCP-47 tag such as 'en' or 'nl-NL', or for a Tesseract code."""
    if tag in installed:
        return tag

    # Docling's own resolver, which its Tesseract engine uses for the same tags.
    from docling.models.stages.ocr.tesseract_utils import language_to_tesseract_code
    from docling.utils.ocr_language import OcrLanguageResolver

    try:
        language = OcrLanguageResolver.canonicalize_bcp47(tag, raise_exception=True)
        return language_to_tesseract_code(language)
    except (ValueError, AssertionError, LookupError) as exc:
        raise InvalidOption(
            f"Invalid value {tag!r} for option 'ocr_lang': {exc} Send BCP-47 tags such as 'en' or 'nl', or "
            f"Tesseract codes such as 'eng' or 'nld'.",
            option="ocr_lang",
            value=tag,
            allowed=sorted(installed),
        ) from None


def _check_timeout(timeout_s: float, max_timeout_s: float) -> float:
    if not 0 < timeout_s <= max_timeout_s:
        raise InvalidOption(
            f"Invalid value '{timeout_s:g}' for option 'document_timeout': use seconds above 0 and at most "
            f"{max_timeout_s:g}, this service's limit.",
            option="document_timeout",
            value=timeout_s,
            allowed=[f"0-{max_timeout_s:g}"],
        )
    return float(timeout_s)
