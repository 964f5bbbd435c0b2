"""Errors of the docling-serve-compatible API, on top of the service's ``ApiError`` hierarchy.

docling's ``DoclingServiceClient`` reads a failed response's ``detail`` string, and
recognises some texts exactly ("Task not found.", "Task result not found...").
:func:`error_body` therefore adds ``detail`` to the service's usual ``error`` object.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError, InvalidOption

# Texts docling's client matches to raise TaskNotFoundError and ResultNotReadyError or ResultExpiredError.
TASK_NOT_FOUND = "Task not found."
RESULT_NOT_FOUND_PREFIX = "Task result not found."


class UnsupportedOption(InvalidOption):
    """A docling-serve option (or option value) that this service cannot honour."""

    code = "unsupported_option"


class TooManyFiles(ApiError):
    """More than one file in one request; this service converts one document per request."""

    status_code = 422
    code = "too_many_files"


class TaskNotFound(ApiError):
    """No task with this id: it never existed here, or it expired."""

    status_code = 404
    code = "task_not_found"


class ResultNotFound(ApiError):
    """The task exists but has no stored result: it still runs, or its result was fetched or expired."""

    status_code = 404
    code = "result_not_found"


class TooManyTasks(ApiError):
    """The task store contains ``max_tasks`` tasks with a document or a result; sent with Retry-After."""

    status_code = 429
    code = "too_many_tasks"


def error_body(error: ApiError, request_id: str | None) -> dict[str, Any]:
    """Return the JSON body of a failed v1 request: docling-serve's ``detail`` plus the service's ``error`` object.

    Example:
        >>> error_body(TaskNotFound(TASK_NOT_FOUND), "req-1")["detail"]
        'Task not found.'
    """
    return {"detail": error.message, **error.to_body(request_id)}
