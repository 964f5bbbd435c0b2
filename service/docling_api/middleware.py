"""ASGI middleware: request id, access log record and request metrics for every HTTP request."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import choose_request_id, request_id_var
from .metrics import Metrics

logger = logging.getLogger("docling_api.access")

REQUEST_ID_HEADER = "X-Request-Id"


class RequestContextMiddleware:
    """Set the request id, return it in ``X-Request-Id``, count and time the request, and log one access record.

    The access record contains method, path (without the query string, which may carry
    options), status, bytes announced and seconds, never bodies.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        request_id = choose_request_id(headers.get(REQUEST_ID_HEADER))
        # Each request runs in its own task, so the value does not leak into other requests.
        request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"

            self.metrics.requests.labels(endpoint=endpoint, method=scope["method"], status=str(status)).inc()
            self.metrics.request_seconds.labels(endpoint=endpoint).observe(seconds)
            if endpoint not in ("/health", "/metrics"):
                logger.info(
                    "Request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "content_length": headers.get("content-length"),
                        "duration_s": round(seconds, 4),
                    },
                )
