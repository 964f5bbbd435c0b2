"""The ``docling-api`` command: parse flags (each also read from ``DOCLING_API_*``) and run uvicorn."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from . import __version__
from .model_set import ModelSetError, resolve_model_set
from .settings import Settings

# Flag name, settings field, type, help. The environment variable is DOCLING_API_<FIELD upper-cased>.
FLAGS: tuple[tuple[str, str, type, str], ...] = (
    ("--models-dir", "models_dir", Path, "Model share folder or docling artifacts folder (required)."),
    ("--host", "host", str, "Address to listen on (default 127.0.0.1, and 0.0.0.0 in containers)."),
    ("--port", "port", int, "TCP port to listen on (default 8000)."),
    ("--workers", "workers", int, "Conversion worker processes, each with its own models (default 1)."),
    ("--max-upload-bytes", "max_upload_bytes", int, "Largest accepted upload in bytes (default 52428800)."),
    ("--max-pages", "max_pages", int, "Most pages converted per request (default 500)."),
    ("--request-timeout", "request_timeout_s", float, "Seconds one conversion may run (default 300)."),
    ("--worker-start-timeout", "worker_start_timeout_s", float, "Seconds a worker may take to load (default 900)."),
    ("--ocr-lang", "ocr_lang", str, "Default Tesseract languages, comma-separated (default eng,nld)."),
    ("--tesseract-cmd", "tesseract_cmd", str, "Tesseract executable (default tesseract)."),
    ("--converter-cache-size", "converter_cache_size", int, "Converters per worker kept loaded (default 4)."),
    ("--num-threads", "num_threads", int, "Torch threads per worker (default: docling's)."),
    ("--temp-dir", "temp_dir", Path, "Parent folder for upload spools (default: system temp folder)."),
    ("--log-level", "log_level", str, "debug, info, warning or error (default info)."),
)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser. Every flag defaults to None, so unset flags fall back to the environment."""
    parser = argparse.ArgumentParser(
        prog="docling-api",
        description="Serve the Docling conversion API from a pre-downloaded model set. "
        "Every flag can also be set with its environment variable.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for flag, field, kind, help_text in FLAGS:
        parser.add_argument(flag, dest=field, type=kind, default=None, help=f"{help_text} Env: DOCLING_API_{field.upper()}.")
    return parser


def load_settings(argv: list[str] | None = None) -> Settings:
    """Return settings from flags over environment variables.

    Raises:
        SystemExit: a value is missing or invalid (exit code 2, message on stderr).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    flag_values = {field: value for field, value in vars(args).items() if value is not None}

    try:
        return Settings(**flag_values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            flag = "--" + field.removesuffix("_s").replace("_", "-")
            value = error.get("input")
            received = "" if error["type"] == "missing" else f" (got {value!r})"
            problems.append(f"{flag} / DOCLING_API_{field.upper()}: {error['msg']}{received}")
        parser.error("invalid settings: " + "; ".join(problems))
        raise  # unreachable, because parser.error exits


def main(argv: list[str] | None = None) -> int:
    """Run the service until interrupted and return the exit code."""
    settings = load_settings(argv)

    # A share whose 'current' names a broken set is an operator error: stop with the message.
    # A models folder without the model folders (yet) starts and keeps /ready at 503 instead.
    try:
        resolve_model_set(settings.models_dir)
    except ModelSetError as exc:
        print(f"docling-api: error: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from .app import create_app
    from .logs import configure_logging, logging_config

    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=logging_config(settings.log_level),
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=30,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
