"""``POST /convert``: receive the upload, check it, run it on a worker and shape the response."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import JSONResponse

from .detection import detect_format
from .errors import ConversionTimeout, ConverterCrashed, InvalidOption, NotReady, error_from_code
from .logs import request_id_var
from .options import parse_convert_options
from .pool import PoolUnavailable, WorkerExited
from .uploads import receive_upload

if TYPE_CHECKING:
    from .app import ServiceState

logger = logging.getLogger("docling_api.convert")


async def handle_convert(request: Request, state: ServiceState) -> JSONResponse:
    """Convert the uploaded document and return the JSON response.

    Raises:
        ApiError: every client-visible failure, turned into a JSON error by the app's handler.
    """
    started = time.perf_counter()
    settings = state.settings

    ready, reason = state.readiness()
    if not ready:
        raise NotReady(f"The service is not ready to convert: {reason}")

    query = _query_options(request)
    upload = await receive_upload(request, settings.max_upload_bytes, settings.temp_dir)
    try:
        options = parse_convert_options(
            {**query, **upload.fields}, settings.ocr_lang, state.installed_ocr_lang
        )
        detected = await asyncio.to_thread(detect_format, upload.path)
        document_path = upload.path.rename(upload.folder / f"{_safe_stem(upload.filename)}.{detected.extension}")

        job = {
            "path": str(document_path),
            "filename": upload.filename,
            "input_format": detected.input_format,
            "options": options.to_job(),
            "request_id": request_id_var.get(),
        }
        reply, queue_s = await _run_on_worker(state, job, upload.filename)
    finally:
        upload.remove()

    if reply["type"] == "error":
        raise error_from_code(reply["code"], reply["message"], reply.get("details"))

    body = reply["body"]
    conversion_s = body["timings"]["conversion"]
    total_s = time.perf_counter() - started
    body["timings"] = {"queue": round(queue_s, 4), "conversion": conversion_s, "total": round(total_s, 4)}

    state.metrics.pages.inc(body["pages"])
    state.metrics.conversions.labels(status=body["status"], input_format=body["input_format"]).inc()
    state.metrics.conversion_seconds.observe(conversion_s)
    state.metrics.queue_seconds.observe(queue_s)
    logger.info(
        "Converted",
        extra={
            "input_format": body["input_format"],
            "bytes": upload.size,
            "pages": body["pages"],
            "status": body["status"],
            "options": options.to_public(),
            "timings": body["timings"],
        },
    )
    return JSONResponse(body)


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


async def _run_on_worker(state: ServiceState, job: dict, filename: str) -> tuple[dict, float]:
    pool = state.pool
    timeout_s = state.settings.request_timeout_s
    state.metrics.in_flight.inc()
    try:
        return await pool.run(job, timeout_s)
    except PoolUnavailable:
        _, reason = state.readiness()
        raise NotReady(f"The service is not ready to convert: {reason}") from None
    except WorkerExited:
        raise ConverterCrashed(
            f"The converter crashed while converting {filename}, and its worker process was replaced. "
            "Retry once, and report the file with the request id if it crashes again.",
            filename=filename,
        ) from None
    except TimeoutError:
        raise ConversionTimeout(
            f"Converting {filename} took longer than this service's limit of {timeout_s:g} s, so it was stopped. "
            "Send fewer pages with page_range, or turn off do_ocr or do_table_structure.",
            filename=filename,
            timeout_s=timeout_s,
        ) from None
    finally:
        state.metrics.in_flight.dec()
