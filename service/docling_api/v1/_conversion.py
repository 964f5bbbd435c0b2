"""Convert one uploaded document for the v1 API, through the same admission, queue and workers as ``POST /convert``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..conversion_request import prepare_document, run_conversion
from ..errors import UnsupportedFormat
from ._multipart import FilesUpload
from ._options import V1Options
from ._results import DOCUMENT_ERRORS, document_failure_payload, success_payload

if TYPE_CHECKING:
    from ..app import ServiceState


async def convert_upload(
    state: ServiceState,
    upload: FilesUpload,
    options: V1Options,
    target_version: str | None,
    request_id: str | None,
) -> dict[str, Any]:
    """Convert the upload and return docling's ``ConvertDocumentResponse`` as JSON.

    A document that cannot be converted returns a response with ``status: failure``
    and the reason in ``errors``, as docling-serve does. The upload file is renamed
    in its folder; the caller removes the folder.

    Args:
        state (`ServiceState`): the service.
        upload (`FilesUpload`): the spooled document.
        options (`V1Options`): the mapped options.
        target_version (`str`, *optional*): the client's ``Accept-Docling-Document-Version``.
        request_id (`str`, *optional*): logged with the conversion.

    Raises:
        ApiError: the conversion could not run to its end: ``QueueFull`` (429), ``NotReady``,
            ``LowMemory`` or ``ShuttingDown`` (503), ``ConverterCrashed`` (500) or ``ConversionTimeout`` (504).
        asyncio.CancelledError: the awaiting task was cancelled; the conversion was stopped.

    Example:
        >>> payload = await convert_upload(state, upload, options, None, "req-1")  # doctest: +SKIP
        >>> payload["status"]  # doctest: +SKIP
        'success'
    """
    filename = upload.filename
    try:
        document_path, input_format = await prepare_document(upload.path, filename)
    except UnsupportedFormat as exc:
        return document_failure_payload(exc, filename)

    if options.from_formats is not None and input_format not in options.from_formats:
        allowed = ", ".join(sorted(options.from_formats))
        error = UnsupportedFormat(
            f"{filename} is a {input_format} document, which is not in from_formats ({allowed}). "
            f"Add '{input_format}' to from_formats, or leave the option out to accept every format."
        )
        return document_failure_payload(error, filename)

    try:
        body = await run_conversion(
            state,
            document_path,
            filename,
            input_format,
            options.convert,
            request_id=request_id,
            timeout_s=options.timeout_s,
        )
    except DOCUMENT_ERRORS as exc:
        return document_failure_payload(exc, filename)

    # Projecting the document to an older schema, and the model dump, take a while for long documents.
    return await asyncio.to_thread(success_payload, body, target_version)
