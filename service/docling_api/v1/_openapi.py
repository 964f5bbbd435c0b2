"""OpenAPI descriptions of the v1 routes: the multipart request body and the error responses."""

from __future__ import annotations

from typing import Any

from docling.datamodel.service import ConvertDocumentsOptions
from pydantic import BaseModel, Field

from ..schemas import ErrorBody
from ._multipart import FILES_FIELD
from ._options import MAPPED_OPTIONS, TARGET_TYPE_FIELD


class V1ErrorResponse(BaseModel):
    """Body of every 4xx and 5xx response of the v1 routes."""

    detail: str = Field(description="The message, where docling-serve and docling's client expect it.")
    error: ErrorBody


V1_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": V1ErrorResponse, "description": "Not multipart/form-data, no 'files' field, or an empty file."},
    401: {"model": V1ErrorResponse, "description": "The X-Api-Key header is missing or wrong."},
    404: {
        "model": V1ErrorResponse,
        "description": "'Task not found.' (unknown or expired task), or 'Task result not found.' (unfinished task, "
        "or its result was already fetched).",
    },
    413: {"model": V1ErrorResponse, "description": "The file is larger than max_upload_bytes."},
    422: {
        "model": V1ErrorResponse,
        "description": "An unknown or invalid option, or one this service cannot honour (code unsupported_option, "
        "with the option's name), or more than one file.",
    },
    429: {"model": V1ErrorResponse, "description": "The conversion queue or the task store is full; see Retry-After."},
    500: {"model": V1ErrorResponse, "description": "The converter crashed on this document; its worker was replaced."},
    503: {"model": V1ErrorResponse, "description": "Not ready, low on memory, or shutting down; see Retry-After."},
    504: {"model": V1ErrorResponse, "description": "The conversion ran past its time limit and was stopped."},
}


def _inline_refs(schema: Any, definitions: dict[str, Any]) -> Any:
    """Replace ``$ref``s into the model's ``$defs`` with the definitions themselves."""
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inline_refs(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {key: _inline_refs(value, definitions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline_refs(item, definitions) for item in schema]
    return schema


def _option_properties() -> dict[str, Any]:
    model_schema = ConvertDocumentsOptions.model_json_schema()
    definitions = model_schema.get("$defs", {})
    properties = model_schema["properties"]
    return {name: _inline_refs(properties[name], definitions) for name in MAPPED_OPTIONS}


CONVERT_FILE_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "docling-serve's form: one file in 'files' and docling's ConvertDocumentsOptions as form fields. "
            "The options listed here are honoured. Every other ConvertDocumentsOptions field is accepted only with "
            "its docling default, and rejected with 422 unsupported_option otherwise, as are 'callbacks' and "
            "target types other than 'inbody'. to_formats supports md, json, html and text."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILES_FIELD],
                    "properties": {
                        FILES_FIELD: {"type": "string", "format": "binary", "description": "The document (one file)."},
                        **_option_properties(),
                        TARGET_TYPE_FIELD: {"type": "string", "enum": ["inbody"], "default": "inbody"},
                    },
                }
            }
        },
    }
}
