"""The ``docling-api`` command: parse flags (each also read from ``DOCLING_API_*``) and run uvicorn."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

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
    ("--max-request-timeout", "max_request_timeout_s", float, "Largest per-request 'timeout' (default 1800)."),
    ("--max-queue", "max_queue", int, "Conversions that may wait for a busy worker before 429 (default 16)."),
    ("--min-free-memory-bytes", "min_free_memory_bytes", int, "Refuse conversions with 503 below this free memory (default 0, off)."),
    ("--max-image-pixels", "max_image_pixels", int, "Largest image or rendered page in pixels (default 100000000)."),
    ("--max-jobs-per-worker", "max_jobs_per_worker", int, "Replace a worker after this many conversions (default 500, 0 never)."),
    ("--max-worker-rss-bytes", "max_worker_rss_bytes", int, "Replace a worker above this resident memory (default 0, never)."),
    ("--shutdown-grace", "shutdown_grace_s", float, "Seconds in-flight conversions may finish after SIGTERM (default 25)."),
    ("--api-key-file", "api_key_file", Path, "File with the API key clients send in X-Api-Key (default: none)."),
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
        parser.add_argument(flag, dest=field, type=kind, default=None, help=f"{help_text} Env: {env_name(field)}.")
    parser.epilog = (
        "The API key itself is read from the DOCLING_API_KEY environment variable or from --api-key-file, "
        "never from a flag, so it does not show in the process list."
    )
    return parser


def env_name(field: str) -> str:
    """Return the environment variable of a settings field.

    Example:
        >>> env_name("max_queue"), env_name("api_key_file")
        ('DOCLING_API_MAX_QUEUE', 'DOCLING_API_KEY_FILE')
    """
    if field == "api_key_file":
        return "DOCLING_API_KEY_FILE"
    return f"DOCLING_API_{field.upper()}"


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
            received = "" if error["type"] == "missing" or field == "api_key" else f" (got {value!r})"
            if field == "api_key":
                problems.append(f"DOCLING_API_KEY: {error['msg']}")
                continue
            problems.append(f"{flag} / {env_name(field)}: {error['msg']}{received}")
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

    busy = port_in_use_error(settings.host, settings.port)
    if busy is not None:
        print(f"docling-api: error: {busy}", file=sys.stderr)
        return 2

    import uvicorn

    from .app import create_app
    from .auth import ApiKeyError
    from .logs import configure_logging, logging_config

    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except ApiKeyError as exc:
        print(f"docling-api: error: {exc}", file=sys.stderr)
        return 2

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=logging_config(settings.log_level),
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # uvicorn waits this long for open requests. The service stops its conversions at
        # shutdown_grace_s, which leaves time to send their 503 responses.
        timeout_graceful_shutdown=settings.shutdown_grace_s + SHUTDOWN_ANSWER_S,
    )
    _graceful_server(config).run()
    return 0


def port_in_use_error(host: str, port: int) -> str | None:
    """Return a message when ``host:port`` cannot be bound, before any worker starts; None when it is free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return (
                f"cannot listen on {host}:{port}: {exc.strerror}. Stop what listens there, "
                "or pick another port with --port (DOCLING_API_PORT)."
            )
    return None


# Seconds after the grace period for the responses of stopped conversions to go out.
SHUTDOWN_ANSWER_S = 5.0


def _graceful_server(config):  # noqa: ANN001, ANN202 - uvicorn.Config in, uvicorn.Server out
    """Return uvicorn's server, which on SIGTERM or SIGINT also starts the service's drain.

    uvicorn itself stops accepting connections and waits for open requests. The drain
    (``ServiceState.begin_shutdown``) fails ``/ready`` and stops the conversions still
    running when the grace period ends.
    """
    import uvicorn

    class GracefulServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            first = not self.should_exit
            super().handle_exit(sig, frame)
            if first and sig in (signal.SIGTERM, signal.SIGINT):
                _begin_shutdown(config.app)

    return GracefulServer(config)


def _begin_shutdown(app) -> None:  # noqa: ANN001 - the FastAPI application
    import asyncio

    state = app.state.service
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    # The handler runs between two bytecodes of the loop's own thread: hand over through the wake-up pipe.
    loop.call_soon_threadsafe(state.begin_shutdown)


if __name__ == "__main__":
    sys.exit(main())
