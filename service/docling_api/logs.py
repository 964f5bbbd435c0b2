"""Structured logs: one JSON object per line on stderr, with the request id of the current request.

Records never carry document contents, passwords or upload file paths beyond
the private spool folder name.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
import sys
import time
import uuid
from typing import Any

from pythonjsonlogger.json import JsonFormatter

logger = logging.getLogger("docling_api")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# A client's X-Request-Id is echoed into logs and headers only when it is this plain.
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def choose_request_id(header_value: str | None) -> str:
    """Return the client's request id when it is safe to log, otherwise a new random one.

    Example:
        >>> choose_request_id("job-42")
        'job-42'
        >>> len(choose_request_id("bad id\\n"))
        32
    """
    if header_value and _REQUEST_ID_PATTERN.match(header_value):
        return header_value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Add ``request_id`` (or None) to every record from the context variable, and drop uvicorn's colour copy."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        # uvicorn adds an ANSI-coloured copy of its message for terminals.
        record.__dict__.pop("color_message", None)
        return True


class UtcJsonFormatter(JsonFormatter):
    """JSON formatter with an ISO 8601 UTC timestamp in ``time``."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{seconds}.{int(record.msecs):03d}Z"


def logging_config(level: str = "info", worker: int | None = None) -> dict[str, Any]:
    """Return a ``logging.config.dictConfig`` mapping for the service, uvicorn and docling loggers.

    Args:
        level (`str`): lowest level for the ``docling_api`` logger.
        worker (`int`, *optional*): worker index added to every record of a worker process.
    """
    static_fields = {"service": "docling-api"}
    if worker is not None:
        static_fields["worker"] = worker

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {
                "()": UtcJsonFormatter,
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                "static_fields": static_fields,
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": sys.stderr,
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "docling_api": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            "uvicorn": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "uvicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            # The service writes its own access record with the request id and timings.
            "uvicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        },
        # Docling and its libraries log at WARNING and above only, through the same JSON handler.
        "root": {"level": "WARNING", "handlers": ["stderr"]},
    }


def configure_logging(level: str = "info", worker: int | None = None) -> None:
    """Apply :func:`logging_config` to this process, Python warnings included."""
    logging.config.dictConfig(logging_config(level, worker))
    logging.captureWarnings(True)
