"""Entry point of a conversion worker process (started with the ``spawn`` method).

Protocol over the worker's end of a ``multiprocessing.Pipe``:

- the worker sends ``{"type": "ready", "pid", "load_s"}`` once its models are loaded
  and the warm-up conversion ran, or ``{"type": "failed", "message"}`` and exits;
- the pool sends a job dict (see :meth:`ConversionEngine.convert`) and the worker
  replies ``{"type": "result", "job_id", "body", "rss_bytes"}`` or
  ``{"type": "error", "job_id", "code", "message", "details", "rss_bytes"}``;
- ``None`` from the pool, or a closed pipe, ends the worker.

A worker ignores SIGINT and SIGTERM, so a signal sent to the whole process group
(Ctrl-C, or an init that forwards SIGTERM) leaves in-flight conversions to the
web process's graceful shutdown. It dies with its parent (``PR_SET_PDEATHSIG``),
and keeps its temporary files in the private folder the pool gave it.

Test hook: ``DOCLING_API_TEST_CRASH_ON`` makes a worker kill itself when it
receives a given document, so tests can crash a worker on purpose. Its value is a
comma-separated list of ``<sha256 of the document>[:<signal name>]`` (the signal
defaults to SIGABRT, the effect of ``os.abort()``). It is read only from the
worker's environment at start; no request can turn it on. Leave it unset in
production; a worker logs a warning when it is set.

This module imports docling only inside :func:`worker_main`, after the offline
environment variables are set.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import signal
import tempfile
import time
import traceback
import warnings
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

CRASH_HOOK_VARIABLE = "DOCLING_API_TEST_CRASH_ON"

_PR_SET_PDEATHSIG = 1


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
        max_image_pixels (`int`): largest image, embedded image or rendered page, in pixels.
    """

    artifacts_path: Path
    default_ocr_lang: tuple[str, ...]
    tesseract_cmd: str = "tesseract"
    converter_cache_size: int = 4
    num_threads: int | None = None
    max_pages: int = 500
    max_image_pixels: int = 100_000_000


def worker_main(conn: Connection, index: int, engine_config: EngineConfig, log_level: str, temp_dir: str) -> None:
    """Load the models, run the warm-up conversion, then convert jobs from ``conn``.

    The loop ends when the pool sends None or closes its end of the pipe.

    Args:
        conn (`Connection`): the worker's end of the pool's pipe.
        index (`int`): worker slot number, for logs.
        engine_config (`EngineConfig`): what the converters need.
        log_level (`str`): level of the ``docling_api`` logger.
        temp_dir (`str`): private temporary folder; the pool removes it after this process exits.
    """
    _detach_from_signals()
    os.environ.update(OFFLINE_ENVIRONMENT)
    # Docling, PIL and the Tesseract subprocesses all write their temporary files here.
    os.environ["TMPDIR"] = temp_dir
    tempfile.tempdir = temp_dir

    from .logs import configure_logging, request_id_var

    configure_logging(log_level, worker=index)
    logger = logging.getLogger("docling_api.worker")
    _limit_image_decoding(engine_config.max_image_pixels)
    crash_hook = _crash_hook_from_environment(logger)

    started = time.perf_counter()
    try:
        from .conversion import ConversionEngine

        engine = ConversionEngine(engine_config)
        with tempfile.TemporaryDirectory(prefix="warmup-") as folder:
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
            if crash_hook:
                _crash_if_hooked(crash_hook, job, logger)
            reply = _run_job(engine, job, logger)
            reply["rss_bytes"] = _rss_bytes()
        finally:
            request_id_var.reset(token)

        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            break

    logger.info("Worker stopped", extra={"pid": os.getpid()})


def _run_job(engine: Any, job: dict[str, Any], logger: logging.Logger) -> dict[str, Any]:
    from PIL import Image

    from .errors import ApiError, ImageTooLarge

    try:
        try:
            body = engine.convert(job)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # An image inside a document (a DOCX or PPTX picture, say) that PIL refused to decode.
            raise ImageTooLarge(
                f"{job['filename']} contains an image too large to decode safely ({exc}). "
                "Reduce the image's resolution and retry.",
                filename=job["filename"],
            ) from None
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


def _detach_from_signals() -> None:
    """Ignore SIGINT and SIGTERM, and die with the parent process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    # The parent may have died before prctl took effect.
    if os.getppid() == 1:
        os._exit(1)


def _limit_image_decoding(max_image_pixels: int) -> None:
    """Make PIL refuse images above ``max_image_pixels`` instead of only warning below twice that."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_image_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def _rss_bytes() -> int:
    """Return this process's resident memory, from /proc (no psutil import in the hot path)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _crash_hook_from_environment(logger: logging.Logger) -> dict[str, signal.Signals]:
    """Parse the test hook ``DOCLING_API_TEST_CRASH_ON`` into document hashes and the signal each one raises."""
    raw = os.environ.get(CRASH_HOOK_VARIABLE, "").strip()
    if not raw:
        return {}

    hook: dict[str, signal.Signals] = {}
    for item in raw.split(","):
        digest, _, name = item.strip().partition(":")
        try:
            hook[digest.lower()] = signal.Signals[name.strip().upper() or "SIGABRT"]
        except KeyError:
            logger.error("Ignoring an unknown signal name in the crash test hook", extra={"signal": name})
    logger.warning(
        "Crash test hook enabled: this worker kills itself on the listed documents. Unset it outside tests.",
        extra={"variable": CRASH_HOOK_VARIABLE, "documents": len(hook)},
    )
    return hook


def _crash_if_hooked(hook: dict[str, signal.Signals], job: dict[str, Any], logger: logging.Logger) -> None:
    digest = hashlib.sha256(Path(job["path"]).read_bytes()).hexdigest()
    chosen = hook.get(digest)
    if chosen is None:
        return

    logger.warning("Crash test hook: killing this worker", extra={"signal": chosen.name})
    for handler in logging.getLogger().handlers + logging.getLogger("docling_api").handlers:
        handler.flush()
    if chosen == signal.SIGABRT:
        os.abort()
    if chosen not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(chosen, signal.SIG_DFL)
    os.kill(os.getpid(), chosen)
    time.sleep(10)  # the signal arrives first
    os._exit(70)
