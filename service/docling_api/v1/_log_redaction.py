"""Keep API keys out of uvicorn's websocket log lines.

docling's client puts the API key into the websocket URL (``?api_key=...``), as
docling-serve expects, and uvicorn logs every websocket handshake with its query
string on the ``uvicorn.error`` logger. This filter replaces the key's value there.
"""

from __future__ import annotations

import logging
import re

_API_KEY_QUERY = re.compile(r"(?i)(\bapi_key=)[^&\s\"']*")

# uvicorn logs websocket handshakes on this logger.
UVICORN_LOGGER = "uvicorn.error"


class ApiKeyQueryFilter(logging.Filter):
    """Replace the value of every ``api_key=`` query parameter in a record's message and arguments with ``***``.

    Example:
        >>> ApiKeyQueryFilter().redact("/v1/status/ws/1?api_key=s3cret&x=1")
        '/v1/status/ws/1?api_key=***&x=1'
    """

    @staticmethod
    def redact(text: str) -> str:
        """Return ``text`` with the values of ``api_key=`` replaced."""
        return _API_KEY_QUERY.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def redact_api_key_in_uvicorn_logs() -> None:
    """Add :class:`ApiKeyQueryFilter` to uvicorn's logger once; logging configuration applied later keeps it."""
    uvicorn_logger = logging.getLogger(UVICORN_LOGGER)
    if not any(isinstance(existing, ApiKeyQueryFilter) for existing in uvicorn_logger.filters):
        uvicorn_logger.addFilter(ApiKeyQueryFilter())
