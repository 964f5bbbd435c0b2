"""Service settings: one class, read from ``DOCLING_API_*`` environment variables and CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]


class Settings(BaseSettings):
    """Every setting of the conversion service.

    Each field ``name`` is read from the environment variable ``DOCLING_API_NAME``
    (for example ``DOCLING_API_MODELS_DIR``). Values passed to the constructor,
    which is what the ``docling-api`` flags do, win over the environment.
    """

    model_config = SettingsConfigDict(env_prefix="DOCLING_API_", extra="forbid", frozen=True, populate_by_name=True)

    models_dir: Path = Field(
        description="Model share folder: either a folder with a 'current' file naming a set under "
        "'sets/', or a folder in docling's artifacts layout itself.",
    )
    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 in containers).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on.")
    workers: int = Field(1, ge=1, le=32, description="Number of conversion worker processes.")
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest accepted upload, in bytes.")
    max_pages: int = Field(500, ge=1, description="Largest number of pages converted per request.")
    request_timeout_s: float = Field(
        300.0, gt=0, description="Seconds one conversion may run before its worker is replaced (504)."
    )
    max_request_timeout_s: float = Field(
        1800.0, gt=0, description="Largest 'timeout' a client may ask for in one request, in seconds."
    )
    max_queue: int = Field(
        16, ge=0, le=10_000,
        description="Conversions that may wait for a busy worker; further ones get 429 with Retry-After.",
    )
    min_free_memory_bytes: int = Field(
        0, ge=0,
        description="Refuse new conversions with 503 while free memory (container limit included) is below "
        "this many bytes; 0 turns the check off.",
    )
    max_image_pixels: int = Field(
        100_000_000, ge=1,
        description="Largest image (or image embedded in a PDF, or rendered PDF page) in pixels; larger ones "
        "get 413 before they are decoded.",
    )
    max_jobs_per_worker: int = Field(
        500, ge=0, description="Replace a worker after this many conversions; 0 never."
    )
    max_worker_rss_bytes: int = Field(
        0, ge=0, description="Replace a worker after a conversion that leaves it above this resident memory; 0 never."
    )
    shutdown_grace_s: float = Field(
        25.0, ge=0,
        description="Seconds in-flight conversions may still run after SIGTERM; then they are stopped with 503.",
    )
    max_tasks: int = Field(
        32, ge=1, le=10_000,
        description="Asynchronous tasks (v1 API) that may hold a document or an unfetched result at once; "
        "further submissions get 429 with Retry-After.",
    )
    task_result_ttl_s: float = Field(
        3600.0, gt=0,
        description="Seconds a finished task's status and unfetched result are kept before they are deleted.",
    )
    api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("api_key", "DOCLING_API_KEY"),
        description="API key clients send in X-Api-Key; read from DOCLING_API_KEY. Empty: no key required.",
    )
    api_key_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("api_key_file", "DOCLING_API_KEY_FILE"),
        description="File holding the API key (one key per line, for rotation); read again when it changes.",
    )
    worker_start_timeout_s: float = Field(
        900.0, gt=0, description="Seconds a worker may take to load the models and run the warm-up conversion."
    )
    ocr_lang: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["eng", "nld"],
        description="Default Tesseract languages, comma-separated in the environment (eng,nld).",
    )
    tesseract_cmd: str = Field("tesseract", description="Tesseract executable used by docling's OCR stage.")
    converter_cache_size: int = Field(
        4, ge=1, le=64, description="Docling converters (one per option set) each worker keeps loaded."
    )
    num_threads: int | None = Field(
        None, ge=1, le=256, description="Torch threads per worker, or empty for docling's default."
    )
    temp_dir: Path | None = Field(None, description="Parent folder for upload spools, or empty for the system default.")
    log_level: LogLevel = Field("info", description="Lowest level of the records the service logs.")

    @field_validator("ocr_lang", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    def public_limits(self) -> dict[str, object]:
        """Return the limits that clients may see in ``GET /``."""
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_pages": self.max_pages,
            "request_timeout_s": self.request_timeout_s,
            "max_request_timeout_s": self.max_request_timeout_s,
            "max_queue": self.max_queue,
            "max_image_pixels": self.max_image_pixels,
            "workers": self.workers,
            "default_ocr_lang": list(self.ocr_lang),
        }
