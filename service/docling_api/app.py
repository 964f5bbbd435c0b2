"""The FastAPI application: routes, error handlers, request ids, metrics and the worker pool's life cycle."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .admission import Admission
from .auth import ApiKeys, require_api_key
from .conversion_request import handle_convert
from .detection import SUPPORTED_FORMATS
from .errors import ApiError
from .logs import request_id_var
from .metrics import Metrics
from .middleware import RequestContextMiddleware
from .model_set import ModelSet, ModelSetError, resolve_model_set
from .options import OUTPUT_FORMATS
from .pool import WorkerPool
from .schemas import CONVERT_OPENAPI, ERROR_RESPONSES, ConvertResponse
from .settings import Settings
from .uploads import remove_stale_spools
from .worker import EngineConfig
from .v1 import build_router as build_v1_router

logger = logging.getLogger("docling_api")

SERVICE_NAME = "docling-api"


class ServiceState:
    """State shared by the routes: settings, metrics, API keys, admission control, the model set and the worker pool.

    Raises:
        ApiKeyError: the API key file cannot be read or contains no key.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.api_keys = ApiKeys.from_settings(settings)
        self.admission = Admission(settings.max_queue, settings.min_free_memory_bytes, self.metrics)
        self.model_set: ModelSet | None = None
        self.model_error: str | None = None
        self.pool: WorkerPool | None = None
        self.installed_ocr_lang: list[str] | None = None
        self.docling_version = version("docling")

    def resolve_models(self) -> None:
        """Resolve the models folder and start the workers once every model folder exists."""
        try:
            self.model_set = resolve_model_set(self.settings.models_dir)
            self.model_error = None
        except ModelSetError as exc:
            self.model_set = None
            self.model_error = str(exc)
            return

        if self.model_set.complete and self.pool is None:
            self.start_pool(self.model_set)

    def start_pool(self, model_set: ModelSet) -> None:
        """Spawn the workers for a complete model set."""
        engine_config = EngineConfig(
            artifacts_path=model_set.artifacts_path,
            default_ocr_lang=tuple(self.settings.ocr_lang),
            tesseract_cmd=self.settings.tesseract_cmd,
            converter_cache_size=self.settings.converter_cache_size,
            num_threads=self.settings.num_threads,
            max_pages=self.settings.max_pages,
            max_image_pixels=self.settings.max_image_pixels,
        )
        self.pool = WorkerPool(
            size=self.settings.workers,
            engine_config=engine_config,
            log_level=self.settings.log_level,
            start_timeout_s=self.settings.worker_start_timeout_s,
            metrics=self.metrics,
            temp_dir=self.settings.temp_dir,
            max_jobs_per_worker=self.settings.max_jobs_per_worker,
            max_worker_rss_bytes=self.settings.max_worker_rss_bytes,
        )
        self.pool.start()
        logger.info(
            "Starting conversion workers",
            extra={"workers": self.settings.workers, "artifacts_path": str(model_set.artifacts_path),
                   "set_id": model_set.set_id},
        )

    def begin_shutdown(self) -> None:
        """Start the graceful shutdown (on SIGTERM): fail /ready, let in-flight conversions finish within the grace period."""
        self.admission.begin_drain(self.settings.shutdown_grace_s)

    def readiness(self) -> tuple[bool, str | None]:
        """Return whether conversions can run, and the reason when they cannot."""
        if self.admission.draining:
            return False, "The service is shutting down."
        if self.pool is None:
            # The share may be filled after the service started, so a missing model set is checked again.
            self.resolve_models()

        if self.model_error is not None:
            return False, self.model_error
        if self.model_set is not None and not self.model_set.complete:
            return False, self.model_set.missing_reason()
        if self.pool is None:
            return False, "The conversion workers are not started."

        if self.pool.ready_count > 0:
            return True, None
        if self.pool.starting_count > 0:
            return False, (
                f"Loading models from {self.model_set.artifacts_path} and running the warm-up conversion "
                f"(0 of {self.pool.size} workers ready)."
            )
        failures = "; ".join(self.pool.failures()) or "the workers stopped"
        return False, (
            f"No conversion worker could start: {failures}. Check the model set in "
            f"{self.model_set.artifacts_path} and the service log, then restart the service."
        )


def installed_tesseract_languages(tesseract_cmd: str) -> list[str] | None:
    """Return the languages ``tesseract --list-langs`` reports, or None when Tesseract is not installed."""
    if shutil.which(tesseract_cmd) is None:
        return None
    try:
        completed = subprocess.run(
            [tesseract_cmd, "--list-langs"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("Could not list Tesseract languages", extra={"error": str(exc)})
        return None

    lines = completed.stdout.splitlines()
    return sorted(line.strip() for line in lines[1:] if line.strip() and line.strip() != "osd")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the application. The worker pool starts with the application's lifespan.

    Args:
        settings (`Settings`, *optional*): service settings, read from ``DOCLING_API_*`` when omitted.

    Example:
        >>> app = create_app(Settings(models_dir="/models"))  # doctest: +SKIP
    """
    settings = settings or Settings()
    state = ServiceState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        remove_stale_spools(settings.temp_dir)
        state.installed_ocr_lang = await asyncio.to_thread(installed_tesseract_languages, settings.tesseract_cmd)
        state.resolve_models()
        ready, reason = state.readiness()
        logger.info(
            "Service started",
            extra={"host": settings.host, "port": settings.port, "models_dir": str(settings.models_dir),
                   "limits": settings.public_limits(), "models_reason": reason},
        )
        yield
        # Conversions still running at this point (uvicorn's wait ended) are stopped with 503.
        state.admission.stop_now()
        if state.pool is not None:
            await state.pool.close()
        logger.info("Service stopped")

    app = FastAPI(
        title="Docling conversion API",
        version=__version__,
        description="Converts PDF, Office, HTML, Markdown and image documents with docling, "
        "using models from a pre-downloaded model set.",
        lifespan=lifespan,
    )
    app.state.service = state
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics)
    _add_error_handlers(app)

    @app.get(
        "/",
        summary="Service, docling and model set versions, and the configured limits",
        dependencies=[Depends(require_api_key)],
    )
    async def root() -> dict[str, Any]:
        ready, reason = state.readiness()
        return {
            "service": SERVICE_NAME,
            "version": __version__,
            "docling_version": state.docling_version,
            "model_set": state.model_set.describe() if state.model_set else {"error": state.model_error},
            "limits": settings.public_limits(),
            "ocr": {
                "engine": "tesseract_cli",
                "default_lang": list(settings.ocr_lang),
                "installed_lang": state.installed_ocr_lang,
            },
            "input_formats": SUPPORTED_FORMATS,
            "output_formats": list(OUTPUT_FORMATS),
            "ready": ready,
            "workers": state.pool.describe() if state.pool else [],
        }

    @app.get("/health", summary="Liveness: the web process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        summary="Readiness: models loaded and the warm-up conversion done in at least one worker",
        responses={503: {"description": "Not ready. The 'reason' field gives the cause and the step that fills a missing model folder."}},
    )
    async def ready() -> JSONResponse:
        is_ready, reason = state.readiness()
        workers = {
            "ready": state.pool.ready_count if state.pool else 0,
            "starting": state.pool.starting_count if state.pool else 0,
            "total": settings.workers,
        }
        if is_ready:
            return JSONResponse({"status": "ready", "workers": workers})
        return JSONResponse({"status": "not_ready", "reason": reason, "workers": workers}, status_code=503)

    @app.post(
        "/convert",
        summary="Convert one document",
        response_model=ConvertResponse,
        response_model_exclude_none=True,
        responses=ERROR_RESPONSES,
        openapi_extra=CONVERT_OPENAPI,
        dependencies=[Depends(require_api_key)],
    )
    async def convert(request: Request) -> JSONResponse:
        return await handle_convert(request, state)

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # docling-serve-compatible API (/v1/..., /version) for docling's DoclingServiceClient.
    app.include_router(build_v1_router(state))
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        level = logging.ERROR if exc.status_code >= 500 else logging.INFO
        logger.log(level, "Request failed", extra={"code": exc.code, "status": exc.status_code, "error": exc.message})
        headers = dict(exc.headers or {})
        if exc.code == "upload_too_large":
            # The rest of the body was not read, so the connection cannot carry another request.
            headers["Connection"] = "close"
        return JSONResponse(exc.to_body(request_id_var.get()), status_code=exc.status_code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        body = ApiError(str(exc.detail)).to_body(request_id_var.get())
        body["error"]["code"] = codes.get(exc.status_code, "http_error")
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        body = ApiError(f"Invalid request: {exc.errors()}").to_body(request_id_var.get())
        body["error"]["code"] = "invalid_request"
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("Unexpected error", extra={"error_type": type(exc).__name__})
        body = ApiError("Internal error. Report it with the request id. The service keeps serving.").to_body(
            request_id_var.get()
        )
        return JSONResponse(body, status_code=500)
