"""Entry point of a conversion worker process (started with the ``spawn`` method).

Protocol over the worker's end of a ``multiprocessing.Pipe``:

- the worker sends ``{"type": "ready", "pid", "load_s"}`` once its models are loaded
  and the warm-up conversion ran, or ``{"type": "failed", "message"}`` and exits;
- the pool sends a job dict (see :meth:`ConversionEngine.convert`) and the worker
  replies ``{"type": "result", "job_id", "body"}`` or
  ``{"type": "error", "job_id", "code", "message", "details"}``;
- ``None`` from the pool, or a closed pipe, ends the worker.

This module imports docling only inside :func:`worker_main`, after the offline
environment variables are set.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# Set in every worker before docling, transformers or huggingface_hub load, so nothing is downloaded.
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    # Progress bars would break the one-JSON-object-per-line log on stderr.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}


@dataclass(frozen=True)
class EngineConfig:
    """Settings a worker builds its converters from.

    Attributes:
        artifacts_path (`Path`): docling's ``artifacts_path``.
        default_ocr_lang (`tuple[str, ...]`): Tesseract languages of the warm-up converter.
        tesseract_cmd (`str`): Tesseract executable.
        converter_cache_size (`int`): converters kept loaded, least recently used dropped first.
        num_threads (`int`, *optional*): torch threads; None for docling's default.
        max_pages (`int`): most pages converted per request.
    """

    artifacts_path: Path
    default_ocr_lang: tuple[str, ...]
    tesseract_cmd: str = "tesseract"
    converter_cache_size: int = 4
    num_threads: int | None = None
    max_pages: int = 500


def worker_main(conn: Connection, index: int, engine_config: EngineConfig, log_level: str) -> None:
    """Load the models, run the warm-up conversion, then convert jobs from ``conn``.

    The loop ends when the pool sends None or closes its end of the pipe.

    Args:
        conn (`Connection`): the worker's end of the pool's pipe.
        index (`int`): worker slot number, for logs.
        engine_config (`EngineConfig`): what the converters need.
        log_level (`str`): level of the ``docling_api`` logger.
    """
    os.environ.update(OFFLINE_ENVIRONMENT)

    from .logs import configure_logging, request_id_var

    configure_logging(log_level, worker=index)
    logger = logging.getLogger("docling_api.worker")

    started = time.perf_counter()
    try:
        from .conversion import ConversionEngine

        engine = ConversionEngine(engine_config)
        with tempfile.TemporaryDirectory(prefix="docling-api-warmup-") as folder:
            warmup_s = engine.warm_up(Path(folder))
    except Exception as exc:  # noqa: BLE001 - any start-up failure is reported to the pool as it is
        logger.exception("Worker failed to start")
        conn.send({"type": "failed", "message": f"{type(exc).__name__}: {exc}"})
        conn.close()
        return

    load_s = time.perf_counter() - started
    logger.info("Worker ready", extra={"pid": os.getpid(), "load_s": round(load_s, 3), "warmup_s": round(warmup_s, 3)})
    conn.send({"type": "ready", "pid": os.getpid(), "load_s": load_s})

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            break
        if job is None:
            break

        token = request_id_var.set(job.get("request_id"))
        try:
            reply = _run_job(engine, job, logger)
        finally:
            request_id_var.reset(token)

        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            break

    logger.info("Worker stopped", extra={"pid": os.getpid()})


def _run_job(engine: Any, job: dict[str, Any], logger: logging.Logger) -> dict[str, Any]:
    from .errors import ApiError

    try:
        body = engine.convert(job)
    except ApiError as exc:
        return {
            "type": "error",
            "job_id": job["job_id"],
            "code": exc.code,
            "message": exc.message,
            "details": exc.details,
        }
    except Exception as exc:  # noqa: BLE001 - the request fails, the worker keeps serving
        logger.error(
            "Conversion raised an unexpected error",
            extra={"error_type": type(exc).__name__, "traceback": traceback.format_exc()},
        )
        return {
            "type": "error",
            "job_id": job["job_id"],
            "code": "internal_error",
            "message": f"Converting {job['filename']} failed with an internal error. "
            "Report it with the request id; the service keeps serving.",
            "details": {"filename": job["filename"]},
        }
    return {"type": "result", "job_id": job["job_id"], "body": body}
