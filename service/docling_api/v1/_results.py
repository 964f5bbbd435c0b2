"""Results of the docling-serve-compatible API, built with docling's own response models.

docling-serve separates two kinds of failure, and so does this module:

- a document that cannot be converted (unsupported format, damaged or encrypted PDF,
  over a page limit) is a *document* failure: the task succeeds and its result is a
  ``ConvertDocumentResponse`` with ``status: failure`` and the reason in ``errors``;
- a conversion that could not run to its end (time limit, crashed converter, cancelled,
  service stopping) is a *task* failure: ``task_status: failure`` with a
  ``PublicFailureInfo``, and ``GET /v1/result`` returns a ``TaskFailureResult``.
"""

from __future__ import annotations

from typing import Any

from docling.datamodel.base_models import (
    ConversionStatus,
    DoclingComponentType,
    ErrorItem,
    FailureCategory,
)
from docling.datamodel.service import (
    ConvertDocumentResponse,
    ExportDocumentResponse,
    FailurePhase,
    PublicFailureInfo,
    TaskFailureResult,
)
from docling.utils.profiling import ProfilingItem, ProfilingScope

from ..errors import (
    ApiError,
    ConversionTimeout,
    ConverterCrashed,
    DocumentError,
    ImageTooLarge,
    InvalidOption,
    LowMemory,
    NotReady,
    PasswordRequired,
    QueueFull,
    ShuttingDown,
    TooManyPages,
    UnsupportedFormat,
)

MODULE_NAME = "docling_api"

# Worker response fields and the ExportDocumentResponse fields they fill.
_CONTENT_FIELDS = {"markdown": "md_content", "html": "html_content", "text": "text_content"}

# Errors that concern the document itself, reported as a failed document in a successful task.
DOCUMENT_ERRORS = (DocumentError, UnsupportedFormat, InvalidOption)


def success_payload(body: dict[str, Any], target_version: str | None) -> dict[str, Any]:
    """Return the ``ConvertDocumentResponse`` JSON for a worker's response fields.

    The DoclingDocument JSON from the worker is inserted as it is, or projected down to
    ``target_version`` (the client's ``Accept-Docling-Document-Version``) when that is older.

    Args:
        body (`dict`): :func:`docling_api.conversion_request.run_conversion`'s result.
        target_version (`str`, *optional*): the DoclingDocument schema version the client reads.

    Example:
        >>> payload = success_payload(body, None)  # doctest: +SKIP
        >>> payload["status"], payload["document"]["md_content"][:8]  # doctest: +SKIP
        ('success', 'Gemeente')
    """
    content = {field: body[key] for key, field in _CONTENT_FIELDS.items() if key in body}
    errors = [_worker_error(error) for error in body.get("errors", [])]
    errors += [_warning(message) for message in body.get("warnings", [])]

    timings = body.get("timings", {})
    response = ConvertDocumentResponse(
        document=ExportDocumentResponse(filename=body["filename"], **content),
        status=ConversionStatus(body["status"]),
        errors=errors,
        processing_time=timings.get("total", 0.0),
        timings={name: _timing(timings[name]) for name in ("queue", "conversion") if name in timings},
    )
    payload = response.model_dump(mode="json")

    # Inserted after the dump: validating a large DoclingDocument again would cost seconds.
    if "json" in body:
        payload["document"]["json_content"] = project_document(body["json"], target_version)
    return payload


def document_failure_payload(error: ApiError, filename: str) -> dict[str, Any]:
    """Return the ``ConvertDocumentResponse`` JSON of a document that could not be converted.

    Example:
        >>> document_failure_payload(CorruptDocument("x.pdf is damaged."), "x.pdf")["status"]  # doctest: +SKIP
        'failure'
    """
    category = FailureCategory.POLICY if isinstance(error, (TooManyPages, ImageTooLarge)) else FailureCategory.BACKEND_FAILURE
    message = error.message
    if isinstance(error, PasswordRequired):
        # The worker's message names POST /convert's password field, which docling-serve's API lacks.
        message = (
            f"{filename} is an encrypted PDF and needs a password, which docling-serve's API cannot send. "
            "Convert it with POST /convert and its 'password' form field."
        )
    item = ErrorItem(
        component_type=DoclingComponentType.USER_INPUT,
        module_name=MODULE_NAME,
        error_message=message,
        category=category,
    )
    response = ConvertDocumentResponse(
        document=ExportDocumentResponse(filename=filename),
        status=ConversionStatus.FAILURE,
        errors=[item],
        processing_time=0.0,
    )
    return response.model_dump(mode="json")


def task_failure(error: ApiError) -> PublicFailureInfo:
    """Return the public description of a task that could not run to its end.

    Example:
        >>> task_failure(ConversionTimeout("Converting x.pdf took longer than 300 s.")).category.value  # doctest: +SKIP
        'timeout'
    """
    if isinstance(error, ConversionTimeout):
        category, retryable = FailureCategory.TIMEOUT, True
    elif isinstance(error, (QueueFull, LowMemory, ShuttingDown, NotReady)):
        category, retryable = FailureCategory.CAPACITY, True
    elif isinstance(error, ConverterCrashed):
        category, retryable = FailureCategory.INTERNAL, True
    else:
        category, retryable = FailureCategory.INTERNAL, False

    return PublicFailureInfo(
        category=category,
        message=error.message,
        retryable=retryable,
        phase=FailurePhase.EXECUTION,
        details={"code": error.code},
    )


def cancelled_failure(task_id: str) -> PublicFailureInfo:
    """Return the public description of a task stopped by its cancel request."""
    return PublicFailureInfo(
        category=FailureCategory.UNKNOWN,
        message=f"Task {task_id} was cancelled with DELETE /v1/tasks/{task_id} before it finished.",
        retryable=False,
        phase=FailurePhase.EXECUTION,
        details={"code": "cancelled"},
    )


def task_failure_payload(failure: PublicFailureInfo) -> dict[str, Any]:
    """Return the ``TaskFailureResult`` JSON that ``GET /v1/result`` sends for a failed task."""
    return TaskFailureResult(failure=failure).model_dump(mode="json")


def project_document(document: dict[str, Any], target_version: str | None) -> dict[str, Any]:
    """Return the DoclingDocument JSON readable by a client of ``target_version``.

    Documents are only ever projected down: for a newer or equal ``target_version``, or
    none, the JSON is returned as it is.

    Raises:
        ValueError: docling-core has no projection to ``target_version``.
    """
    if not target_version or _version_tuple(target_version) >= _version_tuple(document.get("version", "0.0.0")):
        return document

    from docling_core.compat import project_to
    from docling_core.types.doc.document import DoclingDocument

    projected = project_to(DoclingDocument.model_validate(document), target_version)
    # As docling-serve does: drop fields the current model adds back as defaults but the older schema lacks.
    return projected.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _worker_error(error: dict[str, Any]) -> ErrorItem:
    try:
        component = DoclingComponentType(error.get("component"))
    except ValueError:
        component = DoclingComponentType.PIPELINE
    return ErrorItem(component_type=component, module_name=error.get("module", ""), error_message=error["message"])


def _warning(message: str) -> ErrorItem:
    # docling-serve's response has no warnings field; the service's hints travel as errors of a usable document.
    return ErrorItem(
        component_type=DoclingComponentType.USER_INPUT,
        module_name=MODULE_NAME,
        error_message=message,
        category=FailureCategory.UNKNOWN,
    )


def _timing(seconds: float) -> ProfilingItem:
    return ProfilingItem(scope=ProfilingScope.DOCUMENT, count=1, times=[seconds])
