"""Run one conversion through admission control and the worker pool, for ``POST /convert`` and other APIs.

The public pieces other request handlers (such as the docling-serve-compatible API)
build on, and keep stable:

- :func:`prepare_document`: detect the format of a spooled upload from its bytes and
  give it the file name docling expects;
- :func:`run_conversion`: admission control, the bounded queue, a worker, the time
  limit, and the response fields; it raises the service's ``ApiError`` subclasses;
- :func:`resolve_timeout`: the time limit of one conversion from a client's value;
- :func:`serving_pool`: the worker pool, or 503 ``not_ready``;
- :func:`unless_disconnected`: await a conversion, stopping it when the HTTP client leaves.

Cancelling the asyncio task that awaits :func:`run_conversion` stops the conversion:
a queued job leaves the queue, and a running one has its worker killed and replaced.
``POST /convert`` does that when its client disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse

from .detection import detect_format
from .errors import (
    ClientClosedRequest,
    ConversionTimeout,
    ConverterCrashed,
    InvalidOption,
    NotReady,
    error_from_code,
)
from .logs import request_id_var
from .options import ConvertOptions, parse_convert_options
from .pool import PoolUnavailable, WorkerExited, WorkerPool
from .uploads import receive_upload

if TYPE_CHECKING:
    from .app import ServiceState

logger = logging.getLogger("docling_api.convert")

# Worker error codes that are limits, counted in docling_api_rejections_total.
_LIMIT_CODES = ("too_many_pages", "image_too_large")

TIMEOUT_OPTION = "timeout"


async def handle_convert(request: Request, state: ServiceState) -> JSONResponse:
    """Convert the uploaded document and return the JSON response.

    Refuses early, before reading the upload, when the service is not ready, the
    queue is full or memory is low. Stops the conversion when the client disconnects.

    Raises:
        ApiError: every client-visible failure, turned into a JSON error by the app's handler.
    """
    started = time.perf_counter()
    settings = state.settings

    state.admission.check_memory()
    state.admission.check(serving_pool(state))

    query = _query_options(request)
    upload = await receive_upload(request, settings.max_upload_bytes, settings.temp_dir, state.metrics)
    try:
        values = {**query, **upload.fields}
        timeout_s = _parse_timeout(values.pop(TIMEOUT_OPTION, None), state)
        options = parse_convert_options(values, settings.ocr_lang, state.installed_ocr_lang)
        document_path, input_format = await prepare_document(upload.path, upload.filename)

        conversion = run_conversion(
            state,
            document_path,
            upload.filename,
            input_format,
            options,
            request_id=request_id_var.get(),
            timeout_s=timeout_s,
        )
        body = await unless_disconnected(request, conversion, upload.filename)
    finally:
        upload.remove()

    body["timings"]["total"] = round(time.perf_counter() - started, 4)
    return JSONResponse(body)


async def prepare_document(upload_path: Path, filename: str) -> tuple[Path, str]:
    """Detect a spooled upload's format from its bytes and rename it to a safe name with docling's extension.

    Docling picks its backend from the file extension, so a document must carry the
    extension of its detected format before :func:`run_conversion`.

    Args:
        upload_path (`Path`): the upload in its private spool folder; it is renamed in place.
        filename (`str`): the client's file name, whose stem becomes the document's name.

    Returns:
        `tuple[Path, str]`: the renamed file and docling's input format (``pdf``, ``docx``, ...).

    Raises:
        UnsupportedFormat: the bytes are not a format docling converts (415).

    Example:
        >>> path, input_format = await prepare_document(upload.path, "report.pdf")  # doctest: +SKIP
        >>> path.name, input_format  # doctest: +SKIP
        ('report.pdf', 'pdf')
    """
    detected = await asyncio.to_thread(detect_format, upload_path)
    target = upload_path.with_name(f"{_safe_stem(filename)}.{detected.extension}")
    return upload_path.rename(target), detected.input_format


def resolve_timeout(state: ServiceState, timeout_s: float | None) -> float:
    """Return the time limit of one conversion: the client's value, or the service's default.

    Args:
        state (`ServiceState`): the service, for ``request_timeout_s`` and ``max_request_timeout_s``.
        timeout_s (`float`, *optional*): seconds the client asked for.

    Raises:
        InvalidOption: the value is not above 0 and at most ``max_request_timeout_s`` (422).

    Example:
        >>> resolve_timeout(state, None)  # doctest: +SKIP
        300.0
    """
    settings = state.settings
    if timeout_s is None:
        return settings.request_timeout_s
    if not 0 < timeout_s <= settings.max_request_timeout_s:
        raise InvalidOption(
            f"Invalid value '{timeout_s:g}' for option '{TIMEOUT_OPTION}': use seconds above 0 and at most "
            f"{settings.max_request_timeout_s:g}, this service's limit.",
            option=TIMEOUT_OPTION,
            value=timeout_s,
            allowed=[f"0-{settings.max_request_timeout_s:g}"],
        )
    return float(timeout_s)


def serving_pool(state: ServiceState) -> WorkerPool:
    """Return the worker pool when it takes conversions, including while a worker is being replaced.

    Raises:
        NotReady: no worker has loaded the models yet, or none can start (503).
    """
    pool = state.pool
    if pool is None or not pool.ever_ready or not pool.can_serve():
        _, reason = state.readiness()
        raise NotReady(f"The service is not ready to convert: {reason or 'the workers are stopping.'}")
    return pool


async def run_conversion(
    state: ServiceState,
    document_path: Path,
    filename: str,
    input_format: str,
    options: ConvertOptions,
    *,
    request_id: str | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Convert one prepared document on a worker and return the response fields.

    Goes through admission control (429 when the queue is full, 503 while memory is
    low or the service stops), waits in the queue for a worker, and converts within
    the time limit. The caller owns ``document_path`` and removes it afterwards.
    Cancelling the task that awaits this coroutine stops the conversion: a queued
    job leaves the queue, a running one has its worker killed and replaced.

    Args:
        state (`ServiceState`): the service (``request.app.state.service``).
        document_path (`Path`): the document, named by :func:`prepare_document`.
        filename (`str`): the client's file name, used in messages and the response.
        input_format (`str`): docling's input format, from :func:`prepare_document`.
        options (`ConvertOptions`): the conversion options.
        request_id (`str`, *optional*): logged by the worker with its records.
        timeout_s (`float`, *optional*): time limit in seconds; the service's default when None.

    Returns:
        `dict`: ``status`` (``success`` or ``partial_success``), ``filename``, ``input_format``,
        ``pages``, ``errors``, ``warnings``, one field per requested output format (``markdown``,
        ``json``, ``html``, ``text``) and ``timings`` (``queue``, ``conversion``, ``total``, seconds).

    Raises:
        InvalidOption: ``timeout_s`` is out of range, or an option does not fit the document (422).
        QueueFull: every worker is busy and the queue is full (429, with Retry-After).
        LowMemory, ShuttingDown: the service refuses or stopped the conversion (503, with Retry-After).
        NotReady: no worker is ready (503).
        TooManyPages, ImageTooLarge: the document is over a limit (413).
        CorruptDocument, PasswordRequired, WrongPassword, ConversionFailed: the document cannot be converted (422).
        ConverterCrashed: the worker process died on this document and was replaced (500).
        ConversionTimeout: the time limit passed; the worker was killed and replaced (504).
        asyncio.CancelledError: the awaiting task was cancelled; the conversion was stopped.

    Example:
        >>> path, input_format = await prepare_document(upload.path, upload.filename)  # doctest: +SKIP
        >>> body = await run_conversion(state, path, upload.filename, input_format, ConvertOptions())  # doctest: +SKIP
        >>> body["status"], body["markdown"][:20]  # doctest: +SKIP
        ('success', 'Gemeente Lindeveld -')
    """
    started = time.perf_counter()
    limit_s = resolve_timeout(state, timeout_s)
    pool = serving_pool(state)
    metrics = state.metrics

    job = {
        "path": str(document_path),
        "filename": filename,
        "input_format": input_format,
        "options": options.to_job(),
        "request_id": request_id,
    }

    with state.admission.admitted(pool):
        metrics.in_flight.inc()
        try:
            reply, queue_s = await _run_stoppable(state, pool, job, limit_s, filename)
        except PoolUnavailable:
            _, reason = state.readiness()
            raise NotReady(f"The service is not ready to convert: {reason or 'the workers are stopping.'}") from None
        except WorkerExited as exc:
            raise ConverterCrashed(
                f"The converter crashed while converting {filename}: its worker process {exc.cause}, and was "
                "replaced. Retry once, and report the file with the request id if it crashes again.",
                filename=filename,
                exit_code=exc.exitcode,
            ) from None
        except TimeoutError:
            metrics.timeouts.inc()
            raise ConversionTimeout(
                f"Converting {filename} took longer than the limit of {limit_s:g} s, so it was stopped. "
                f"Send a larger '{TIMEOUT_OPTION}' (at most {state.settings.max_request_timeout_s:g} s), fewer pages "
                "with page_range, or turn off do_ocr or do_table_structure.",
                filename=filename,
                timeout_s=limit_s,
            ) from None
        finally:
            metrics.in_flight.dec()

    if reply["type"] == "error":
        if reply["code"] in _LIMIT_CODES:
            metrics.rejections.labels(reason=reply["code"]).inc()
        raise error_from_code(reply["code"], reply["message"], reply.get("details"))

    body = reply["body"]
    conversion_s = body["timings"]["conversion"]
    body["timings"] = {
        "queue": round(queue_s, 4),
        "conversion": conversion_s,
        "total": round(time.perf_counter() - started, 4),
    }

    state.admission.record_conversion(conversion_s)
    metrics.pages.inc(body["pages"])
    metrics.conversions.labels(status=body["status"], input_format=body["input_format"]).inc()
    metrics.conversion_seconds.observe(conversion_s)
    metrics.queue_seconds.observe(queue_s)
    logger.info(
        "Converted",
        extra={
            "input_format": body["input_format"],
            "bytes": _size(document_path),
            "pages": body["pages"],
            "status": body["status"],
            "options": options.to_public(),
            "timeout_s": limit_s,
            "timings": body["timings"],
        },
    )
    return body


async def _run_stoppable(
    state: ServiceState, pool: WorkerPool, job: dict[str, Any], limit_s: float, filename: str
) -> tuple[dict[str, Any], float]:
    """Run the job, and stop it when the awaiting task is cancelled or the shutdown grace period ends."""
    admission = state.admission
    run = asyncio.ensure_future(pool.run(job, limit_s))
    stop = asyncio.ensure_future(admission.stopping.wait())
    try:
        await asyncio.wait({run, stop}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        state.metrics.cancellations.labels(reason="cancelled").inc()
        await _stop(run, stop)
        raise

    if run.done():
        stop.cancel()
        return run.result()

    state.metrics.cancellations.labels(reason="shutdown").inc()
    await _stop(run, stop)
    raise admission.shutdown_error(filename)


async def _stop(run: asyncio.Future, stop: asyncio.Future) -> None:
    """Cancel the pool job (which kills its worker) and wait until the pool has done so."""
    stop.cancel()
    run.cancel()
    await asyncio.wait({run})
    if not run.cancelled() and run.exception() is not None:
        logger.debug("The stopped job ended with an error", extra={"error": repr(run.exception())})


async def unless_disconnected(request: Request, conversion: Coroutine[Any, Any, Any], filename: str) -> Any:
    """Await a conversion, but cancel it (stopping its worker) when the HTTP client disconnects first.

    Call it only after the request body was read completely: it then watches the
    connection for the disconnect message.

    Args:
        request (`Request`): the request whose client is watched.
        conversion (`Coroutine`): usually a :func:`run_conversion` call.
        filename (`str`): the client's file name, for the log and the error.

    Raises:
        ClientClosedRequest: the client went away first (status 499, which nobody receives).

    Example:
        >>> body = await unless_disconnected(request, run_conversion(state, ...), "report.pdf")  # doctest: +SKIP
    """
    task = asyncio.ensure_future(conversion)
    disconnected = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        await asyncio.wait({task, disconnected}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        disconnected.cancel()
        task.cancel()
        await asyncio.wait({task})
        raise

    if task.done():
        disconnected.cancel()
        return task.result()

    task.cancel()
    await asyncio.wait({task})
    logger.info("The client disconnected; its conversion was stopped", extra={"document": filename})
    raise ClientClosedRequest(f"The client disconnected before {filename} was converted.", filename=filename)


async def _wait_for_disconnect(request: Request) -> None:
    """Return when the client disconnects. Call it only after the whole body was read."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _parse_timeout(raw_values: list[str] | None, state: ServiceState) -> float | None:
    if not raw_values or not raw_values[-1].strip():
        return None
    raw = raw_values[-1].strip()
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if value != value:  # NaN: not a number at all
        raise InvalidOption(
            f"Invalid value {raw!r} for option '{TIMEOUT_OPTION}': use a number of seconds, at most "
            f"{state.settings.max_request_timeout_s:g}.",
            option=TIMEOUT_OPTION,
            value=raw,
            allowed=[f"0-{state.settings.max_request_timeout_s:g}"],
        )
    return value


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _safe_stem(filename: str) -> str:
    """Return a file name stem made of safe characters, which docling uses as the document name."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:100]
    return safe or "document"


def _query_options(request: Request) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        values.setdefault(name, []).append(value)

    if "password" in values:
        raise InvalidOption(
            "Send 'password' as a form field, not in the URL, where proxies and logs would keep it.",
            option="password",
        )
    return values
