"""Routes of the docling-serve-compatible API: ``/v1/...`` and ``/version``.

The routes speak docling-serve's v1 protocol as docling's ``DoclingServiceClient``
uses it, with the request and response models of ``docling.datamodel.service``.
They share the workers, limits, API key and metrics with ``POST /convert``.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated, Any

from docling.datamodel.service import (
    ConvertDocumentResponse,
    MessageKind,
    TaskFailureResult,
    TaskStatusResponse,
    WebsocketMessage,
)
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from .. import __version__
from ..auth import API_KEY_HEADER, require_api_key
from ..conversion_request import serving_pool, unless_disconnected
from ..errors import ApiError, InvalidOption, Unauthorized
from ..logs import request_id_var
from ._conversion import convert_upload
from ._errors import TASK_NOT_FOUND, error_body
from ._log_redaction import redact_api_key_in_uvicorn_logs
from ._multipart import receive_files_upload
from ._openapi import CONVERT_FILE_OPENAPI, V1_ERROR_RESPONSES
from ._options import DOCUMENT_VERSION_HEADER, check_document_version, parse_v1_options
from ._tasks import TaskStore

if TYPE_CHECKING:
    from ..app import ServiceState

logger = logging.getLogger("docling_api.v1")

# Maximum server-side wait of one poll, in seconds. A client that requests more gets the current status then and polls again.
MAX_POLL_WAIT_S = 60.0
# The websocket re-sends the current status this often while nothing changes, which keeps proxies from closing it.
WS_HEARTBEAT_S = 10.0
# Query parameter docling's client adds to the websocket URL (docling-serve authenticates websockets with it).
WS_API_KEY_PARAM = "api_key"

DocumentVersion = Annotated[
    str | None,
    Header(
        alias=DOCUMENT_VERSION_HEADER,
        description="Newest DoclingDocument schema version the client reads; older documents are projected down.",
    ),
]


class V1Route(APIRoute):
    """A route whose errors carry docling-serve's ``detail`` string next to the service's ``error`` object."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return _error_response(exc)
            except RequestValidationError as exc:
                error = exc.errors()[0]
                name = str(error["loc"][-1]) if error.get("loc") else "request"
                return _error_response(
                    InvalidOption(f"Invalid value for {name!r}: {error['msg']}.", option=name, value=error.get("input"))
                )

        return handle


def build_router(state: ServiceState) -> APIRouter:
    """Build the v1 routes and ``/version`` for one application, with the task store in the router's lifespan.

    Args:
        state (`ServiceState`): the application's service state.

    Example:
        >>> app.include_router(build_router(state))  # doctest: +SKIP
    """
    store = TaskStore(state)
    settings = state.settings
    redact_api_key_in_uvicorn_logs()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.start()
        try:
            yield
        finally:
            await store.close()

    router = APIRouter(route_class=V1Route, lifespan=lifespan)
    # Per route, because require_api_key reads an HTTP request; the websocket checks the key itself.
    api_key = [Depends(require_api_key)]

    @router.get(
        "/version",
        tags=["docling-serve"],
        summary="Versions of the service, docling and its packages",
        dependencies=api_key,
    )
    async def version_info() -> dict[str, str]:
        return _versions()

    @router.post(
        "/v1/convert/file",
        tags=["docling-serve"],
        dependencies=api_key,
        summary="Convert one uploaded file and wait for the result",
        response_model=ConvertDocumentResponse,
        responses=V1_ERROR_RESPONSES,
        openapi_extra=CONVERT_FILE_OPENAPI,
    )
    async def convert_file(request: Request, accept_version: DocumentVersion = None) -> JSONResponse:
        serving_pool(state)
        state.admission.check(state.pool)
        target_version = check_document_version(accept_version)

        folder = store.make_folder()
        try:
            upload = await receive_files_upload(request, settings.max_upload_bytes, folder, state.metrics)
            options = parse_v1_options(upload.fields, settings, state.installed_ocr_lang)
            conversion = convert_upload(state, upload, options, target_version, request_id_var.get())
            payload = await unless_disconnected(request, conversion, upload.filename)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return JSONResponse(payload)

    @router.post(
        "/v1/convert/file/async",
        tags=["docling-serve"],
        dependencies=api_key,
        summary="Submit one uploaded file as a task",
        response_model=TaskStatusResponse,
        responses=V1_ERROR_RESPONSES,
        openapi_extra=CONVERT_FILE_OPENAPI,
    )
    async def convert_file_async(request: Request, accept_version: DocumentVersion = None) -> TaskStatusResponse:
        serving_pool(state)
        if state.admission.stopping.is_set():
            # Raises ShuttingDown (503). A full queue or low memory do not reject a task, which waits instead.
            state.admission.check(state.pool)
        store.check_capacity()
        target_version = check_document_version(accept_version)

        folder = store.make_folder()
        try:
            upload = await receive_files_upload(request, settings.max_upload_bytes, folder, state.metrics)
            options = parse_v1_options(upload.fields, settings, state.installed_ocr_lang)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        task = store.submit(folder, upload, options, target_version, request_id_var.get())
        return store.status_response(task)

    @router.get(
        "/v1/status/poll/{task_id}",
        tags=["docling-serve"],
        dependencies=api_key,
        summary="Status of a task, waiting up to 'wait' seconds for a change",
        response_model=TaskStatusResponse,
        responses=V1_ERROR_RESPONSES,
    )
    async def poll_status(
        task_id: str,
        wait: Annotated[
            float,
            Query(
                ge=0,
                description=f"Seconds to wait for the status to change; at most {MAX_POLL_WAIT_S:g} s are waited.",
            ),
        ] = 0.0,
    ) -> TaskStatusResponse:
        task = store.get(task_id)
        if wait > 0 and not task.terminal:
            await store.wait_for_change(task, min(wait, MAX_POLL_WAIT_S))
            # The task may have expired meanwhile.
            task = store.get(task_id)
        return store.status_response(task)

    @router.get(
        "/v1/result/{task_id}",
        tags=["docling-serve"],
        dependencies=api_key,
        summary="Result of a finished task; each result can be fetched once",
        response_model=ConvertDocumentResponse | TaskFailureResult,
        responses=V1_ERROR_RESPONSES,
    )
    async def task_result(task_id: str) -> Response:
        task = store.get(task_id)
        content = await store.fetch_result(task)
        return Response(content, media_type="application/json")

    @router.delete(
        "/v1/tasks/{task_id}",
        tags=["docling-serve"],
        dependencies=api_key,
        summary="Cancel a task, or delete a finished task's result",
        description=(
            "Stops an unfinished task: a pending task leaves the queue, and a running conversion has its worker "
            "stopped and replaced. The request returns once the worker is stopped. The task then reports "
            "task_status 'failure' with the cancellation in 'failure', until it expires. On a finished task, "
            "deletes its stored result. Repeating the request returns the same status. docling-serve has no "
            "cancel endpoint, so this one is an extension of its API."
        ),
        response_model=TaskStatusResponse,
        responses=V1_ERROR_RESPONSES,
    )
    async def cancel_task(task_id: str) -> TaskStatusResponse:
        task = await store.cancel(store.get(task_id))
        return store.status_response(task)

    @router.websocket("/v1/status/ws/{task_id}")
    async def status_websocket(websocket: WebSocket, task_id: str) -> None:
        await _stream_status(websocket, task_id, store, state)

    return router


async def _stream_status(websocket: WebSocket, task_id: str, store: TaskStore, state: ServiceState) -> None:
    """Send a task's status on a websocket, as docling-serve does, until the task finishes.

    Protocol: one ``connection`` message, then an ``update`` message with the current
    status, and another ``update`` whenever the status changes, or after
    ``WS_HEARTBEAT_S`` without a change. The server closes the socket after a final
    status. Messages from the client (docling's client sends "next" after each
    ``update``) are read and ignored.
    """
    keys = state.api_keys
    if keys.enabled:
        candidates = (websocket.headers.get(API_KEY_HEADER), websocket.query_params.get(WS_API_KEY_PARAM))
        if not any(keys.matches(candidate) for candidate in candidates):
            state.metrics.rejections.labels(reason="unauthorized").inc()
            logger.info("Rejected a websocket without a valid API key", extra={"task_id": task_id})
            await _deny(websocket)
            return

    await websocket.accept()
    task = store.find(task_id)
    if task is None:
        await websocket.send_text(WebsocketMessage(message=MessageKind.ERROR, error=TASK_NOT_FOUND).model_dump_json())
        await websocket.close()
        return

    client_gone = asyncio.ensure_future(_read_until_disconnect(websocket))
    try:
        connection = WebsocketMessage(message=MessageKind.CONNECTION, task=store.status_response(task))
        await websocket.send_text(connection.model_dump_json())
        while True:
            task = store.find(task_id)
            if task is None:
                # The task expired while the client followed it.
                error = WebsocketMessage(message=MessageKind.ERROR, error=TASK_NOT_FOUND)
                await websocket.send_text(error.model_dump_json())
                await websocket.close()
                return

            changed = asyncio.ensure_future(task.changed.wait())
            update = WebsocketMessage(message=MessageKind.UPDATE, task=store.status_response(task))
            await websocket.send_text(update.model_dump_json())
            if task.terminal:
                changed.cancel()
                await websocket.close()
                return

            await asyncio.wait({changed, client_gone}, timeout=WS_HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            if client_gone.done():
                logger.debug("Websocket client went away", extra={"task_id": task_id})
                return
    except WebSocketDisconnect:
        logger.debug("Websocket client went away", extra={"task_id": task_id})
    finally:
        client_gone.cancel()


async def _read_until_disconnect(websocket: WebSocket) -> None:
    """Read and drop the client's messages; return when the client disconnects."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        # RuntimeError: the server closed the socket first, so there is nothing left to read.
        return


async def _deny(websocket: WebSocket) -> None:
    """Reject the websocket handshake with 401 where the server supports it, or close with policy violation."""
    error = Unauthorized(
        f"This service requires an API key. Send it in the {API_KEY_HEADER} header or the "
        f"'{WS_API_KEY_PARAM}' query parameter.",
        header=API_KEY_HEADER,
    )
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(error_body(error, None), status_code=401))
    else:
        await websocket.close(code=1008, reason="API key missing or wrong")


def _error_response(error: ApiError) -> JSONResponse:
    level = logging.ERROR if error.status_code >= 500 else logging.INFO
    logger.log(level, "Request failed", extra={"code": error.code, "status": error.status_code, "error": error.message})

    headers = dict(error.headers or {})
    if error.status_code == 413:
        # The rest of a too large body is not read, so the connection cannot be reused.
        headers["Connection"] = "close"
    return JSONResponse(error_body(error, request_id_var.get()), status_code=error.status_code, headers=headers or None)


def _versions() -> dict[str, str]:
    """Return the package versions, with the keys docling-serve's ``/version`` uses for the shared packages."""
    versions = {"docling-api": __version__}
    for package in ("docling", "docling-core", "docling-ibm-models", "docling-parse"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    implementation = platform.python_implementation().lower()
    major, minor, _ = platform.python_version_tuple()
    versions["python"] = f"{implementation}-{major}{minor} ({platform.python_version()})"
    return versions
