"""Response models of the API, used for the OpenAPI document at ``/docs``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .options import OUTPUT_FORMATS, TABLE_MODES


class Timings(BaseModel):
    """Seconds spent on a conversion request."""

    queue: float = Field(description="Waiting for a free worker.")
    conversion: float = Field(description="Inside the worker: checks, loading a converter on first use, docling, export.")
    total: float = Field(description="From the first byte of the request to the response.")


class ConversionErrorItem(BaseModel):
    """An error docling recorded while still producing a document."""

    component: str
    module: str
    message: str


class ConvertResponse(BaseModel):
    """The converted document and facts about the conversion."""

    status: Literal["success", "partial_success"]
    filename: str
    input_format: str = Field(description="Docling's input format, detected from the bytes, such as pdf or docx.")
    pages: int
    markdown: str | None = Field(None, description="Present when to_formats includes md (the default).")
    json_: dict[str, Any] | None = Field(
        None, alias="json", description="DoclingDocument as JSON, when to_formats includes json."
    )
    html: str | None = Field(None, description="Present when to_formats includes html.")
    text: str | None = Field(None, description="Present when to_formats includes text.")
    timings: Timings
    errors: list[ConversionErrorItem]
    warnings: list[str]


class ErrorBody(BaseModel):
    """Public description of a failed request."""

    code: str = Field(description="Stable machine-readable code, such as upload_too_large or password_required.")
    message: str = Field(description="What went wrong, with which value, and what to do next.")
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """Body of every 4xx and 5xx response."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Not multipart/form-data, no 'file' field, or an empty file."},
    401: {"model": ErrorResponse, "description": "An API key is configured and X-Api-Key is missing or wrong."},
    413: {
        "model": ErrorResponse,
        "description": "The file is larger than max_upload_bytes, has more pages than max_pages, or holds an "
        "image (or a page) larger than max_image_pixels.",
    },
    415: {"model": ErrorResponse, "description": "The bytes are not a document format docling converts."},
    422: {
        "model": ErrorResponse,
        "description": "Unknown option or value; corrupt PDF; encrypted PDF without or with a wrong password; "
        "too many pages; failed conversion.",
    },
    429: {
        "model": ErrorResponse,
        "description": "Every worker is busy and max_queue conversions already wait. Retry after Retry-After seconds.",
    },
    500: {"model": ErrorResponse, "description": "The converter crashed on this document; the worker was replaced."},
    503: {
        "model": ErrorResponse,
        "description": "No worker has loaded the models yet (see GET /ready), free memory is below "
        "min_free_memory_bytes, or the service is shutting down. The last two come with Retry-After.",
    },
    504: {"model": ErrorResponse, "description": "The conversion ran past its time limit; its worker was replaced."},
}


def _string_list(description: str, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    items: dict[str, Any] = {"type": "string"}
    if allowed:
        items["enum"] = list(allowed)
    return {"type": "array", "items": items, "description": description}


_OPTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "to_formats": _string_list("Output formats; repeat the field or separate with commas. Default: md.", OUTPUT_FORMATS),
    "do_ocr": {
        "type": "boolean",
        "default": True,
        "description": "Run Tesseract where there is no PDF text; whole pages for scans and images.",
    },
    "force_ocr": {
        "type": "boolean",
        "default": False,
        "description": "Run Tesseract on every whole page and ignore the PDF's own text.",
    },
    "ocr_lang": _string_list("Tesseract languages in preference order. Default: the service's ocr_lang setting."),
    "table_mode": {"type": "string", "enum": list(TABLE_MODES), "default": "accurate"},
    "do_table_structure": {"type": "boolean", "default": True, "description": "Run TableFormer on tables."},
    "page_range": {"type": "string", "pattern": r"^\d+(-\d+)?$", "description": "1-based pages, like 2 or 1-3."},
    "password": {"type": "string", "format": "password", "description": "Password of an encrypted PDF."},
    "timeout": {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "Seconds the conversion may run, up to the service's max_request_timeout_s. "
        "Default: request_timeout_s.",
    },
}

CONVERT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "The document."},
                        **_OPTION_SCHEMAS,
                    },
                }
            }
        },
    },
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in _OPTION_SCHEMAS.items()
        if name != "password"
    ],
}
