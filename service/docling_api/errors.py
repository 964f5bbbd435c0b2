"""Errors the API returns to clients, as ``{"error": {"code", "message", ...}}``.

``ApiError`` carries only what a client may see. Internal details (tracebacks,
paths of temporary files) go to the log, never into these objects.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error with an HTTP status, a stable machine-readable code and a public message.

    Args:
        message (`str`): what went wrong, with which value, and what to do next.
        details: extra public fields for the error object, such as ``option`` or ``allowed``.
    """

    status_code = 500
    code = "internal_error"
    # Extra response headers, such as Retry-After; set per instance with ``headers=``.
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if headers is not None:
            self.headers = headers

    def to_body(self, request_id: str | None = None) -> dict[str, Any]:
        """Return the JSON response body."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, **self.details}
        if request_id:
            error["request_id"] = request_id
        return {"error": error}


class BadRequest(ApiError):
    status_code = 400
    code = "bad_request"


class EmptyUpload(BadRequest):
    code = "empty_upload"


class MissingFile(BadRequest):
    code = "missing_file"


class InvalidMultipart(BadRequest):
    code = "invalid_multipart"


class UploadTooLarge(ApiError):
    status_code = 413
    code = "upload_too_large"


class UnsupportedFormat(ApiError):
    status_code = 415
    code = "unsupported_format"


class InvalidOption(ApiError):
    status_code = 422
    code = "invalid_option"


class UnknownOption(ApiError):
    status_code = 422
    code = "unknown_option"


class DocumentError(ApiError):
    """The upload is a supported format but cannot be converted as sent."""

    status_code = 422
    code = "invalid_document"


class CorruptDocument(DocumentError):
    code = "corrupt_document"


class PasswordRequired(DocumentError):
    code = "password_required"


class WrongPassword(DocumentError):
    code = "wrong_password"


class TooManyPages(DocumentError):
    """More pages than ``max_pages``: a size limit, like the upload size, hence 413."""

    status_code = 413
    code = "too_many_pages"


class ImageTooLarge(DocumentError):
    """An image, or an image embedded in a PDF, or a PDF page, decodes to more than ``max_image_pixels``."""

    status_code = 413
    code = "image_too_large"


class ConversionFailed(DocumentError):
    code = "conversion_failed"


class NotReady(ApiError):
    status_code = 503
    code = "not_ready"


class ConverterCrashed(ApiError):
    status_code = 500
    code = "converter_crashed"


class ConversionTimeout(ApiError):
    status_code = 504
    code = "conversion_timeout"


class Unauthorized(ApiError):
    """The API key is missing or wrong."""

    status_code = 401
    code = "unauthorized"


class QueueFull(ApiError):
    """Every worker is busy and the admission queue is full; sent with Retry-After."""

    status_code = 429
    code = "queue_full"


class LowMemory(ApiError):
    """Free memory is below ``min_free_memory_bytes``; sent with Retry-After."""

    status_code = 503
    code = "low_memory"


class ClientClosedRequest(ApiError):
    """The client disconnected before the answer; its conversion was stopped. Nobody reads the response."""

    status_code = 499
    code = "client_closed_request"


class ShuttingDown(ApiError):
    """The service stopped before the conversion finished; sent with Retry-After so the client retries elsewhere."""

    status_code = 503
    code = "shutting_down"


# Codes a worker may return for a job. The web process rebuilds the matching ApiError.
ERRORS_BY_CODE: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        CorruptDocument,
        PasswordRequired,
        WrongPassword,
        TooManyPages,
        ImageTooLarge,
        ConversionFailed,
        UnsupportedFormat,
        InvalidOption,
        ApiError,
    )
}


def error_from_code(code: str, message: str, details: dict[str, Any] | None = None) -> ApiError:
    """Rebuild the ApiError a worker reported by its code. Unknown codes become a 500."""
    cls = ERRORS_BY_CODE.get(code, ApiError)
    return cls(message, **(details or {}))
