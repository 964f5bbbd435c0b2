"""Start, watch and stop the conversion service as a local background process.

The ``local`` target runs ``docling-api`` from the same environment as the
runbook, in its own session so it outlives the notebook kernel that started
it. Its output goes to a log file next to the run's results.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx

from .errors import ServiceError

logger = logging.getLogger("runbook_lib.local_service")


@dataclass
class LocalService:
    """A running local service: its URL and its process."""

    url: str
    pid: int
    models_dir: str
    log_path: str


def docling_api_command() -> list[str]:
    """Return the command that starts ``docling-api`` from this environment."""
    script = Path(sys.executable).parent / "docling-api"
    if script.exists():
        return [str(script)]

    found = shutil.which("docling-api")
    if found is None:
        raise ServiceError("The docling-api command was not found. Install the project with `make setup`.")
    return [found]


def start_local_service(
    models_dir: Path,
    host: str,
    port: int,
    workers: int,
    log_path: Path,
    ready_timeout_s: float,
    on_started: Callable[[LocalService], None] | None = None,
) -> LocalService:
    """Start ``docling-api`` in the background and wait until ``/ready`` returns 200.

    Args:
        models_dir (`Path`): the share folder (or an artifacts folder) the service reads.
        host (`str`), port (`int`): where the service listens.
        workers (`int`): conversion worker processes.
        log_path (`Path`): file that receives the service's output.
        ready_timeout_s (`float`): seconds to wait for ``/ready``.
        on_started (callable, *optional*): called with the service right after the process
            starts, before the wait, so a caller can record its pid even if the wait is interrupted.

    Raises:
        ServiceError: the port is taken, the process exits early, or it is not ready in time.
    """
    if port_in_use(host, port):
        raise ServiceError(
            f"Port {port} on {host} is already in use. Stop what listens there (06_teardown stops an "
            f"earlier local service) or pick another port with -p service_port=PORT."
        )

    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = docling_api_command() + [
        "--models-dir", str(models_dir), "--host", host, "--port", str(port), "--workers", str(workers),
    ]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}

    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=environment, start_new_session=True,
        )
    logger.info("Started docling-api (pid %d) on %s:%d, log %s", process.pid, host, port, log_path)

    url = f"http://{host}:{port}"
    service = LocalService(url=url, pid=process.pid, models_dir=str(models_dir), log_path=str(log_path))

    try:
        if on_started is not None:
            on_started(service)
        wait_until_ready(url, ready_timeout_s, process=process, log_path=log_path)
    except BaseException:
        # Not ready, or interrupted while waiting: stop the process so no service outlives the step.
        stop_process(process.pid)
        raise
    return service


def wait_until_ready(
    url: str,
    timeout_s: float,
    process: subprocess.Popen | None = None,
    log_path: Path | None = None,
    poll_s: float = 1.0,
) -> dict:
    """Poll ``GET /ready`` until it returns 200, and return its JSON body.

    Raises:
        ServiceError: the process exited, or the service was not ready within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    last_reason = "no answer yet"
    next_log = time.monotonic()

    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(
                f"docling-api exited with code {process.returncode} before it was ready. "
                f"Last log lines:\n{tail(log_path)}"
            )

        try:
            response = httpx.get(f"{url}/ready", timeout=5)
            if response.status_code == 200:
                logger.info("Service at %s is ready", url)
                return response.json()
            last_reason = response.text[:300]
        except httpx.HTTPError as exc:
            last_reason = f"{type(exc).__name__}: {exc}"

        if time.monotonic() >= next_log:
            logger.info("Waiting for %s/ready: %s", url, last_reason)
            next_log = time.monotonic() + 10
        time.sleep(poll_s)

    raise ServiceError(
        f"Service at {url} was not ready after {timeout_s:.0f} s; last response: {last_reason}. "
        f"Check the log{f' {log_path}' if log_path else ''} or raise service_ready_timeout_s."
    )


def is_service_alive(url: str, pid: int) -> bool:
    """Return whether process ``pid`` exists and ``url`` answers ``/ready`` with 200."""
    if not process_exists(pid):
        return False

    try:
        return httpx.get(f"{url}/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def stop_process(pid: int, timeout_s: float = 30) -> bool:
    """Stop a service process group with SIGTERM, then SIGKILL after ``timeout_s``.

    Returns:
        `bool`: whether a process was running and has now stopped.
    """
    if not process_exists(pid):
        return False

    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process_exists(pid):
            return True
        time.sleep(0.2)

    logger.warning("Process %d did not stop after SIGTERM within %.0f s; sending SIGKILL", pid, timeout_s)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def process_exists(pid: int) -> bool:
    """Return whether ``pid`` is a live process (zombies count as gone)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True

    status_file = Path(f"/proc/{pid}/status")
    if status_file.exists():
        return "State:\tZ" not in status_file.read_text()
    return True


def port_in_use(host: str, port: int) -> bool:
    """Return whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path | None, lines: int = 20) -> str:
    """Return the last lines of a log file, or a note that there is none."""
    if path is None or not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
