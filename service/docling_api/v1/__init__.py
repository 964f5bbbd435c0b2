"""docling-serve-compatible API (``/v1/...`` and ``/version``), so docling's ``DoclingServiceClient`` works unchanged.

Covers the file-conversion subset of docling-serve's v1 API: synchronous and
asynchronous file conversion, task status by polling and by websocket, results,
and a cancel endpoint that docling-serve lacks. Requests and responses use the
models of ``docling.datamodel.service``.
"""

from ._router import build_router

__all__ = ["build_router"]
