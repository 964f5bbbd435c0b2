"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny randomly initialised docling models for seed 0, in docling's artifacts layout.

    Written once per session (about 210 MB, a few seconds). Use it as docling's
    ``artifacts_path`` or as ``docling-api --models-dir``, with OCR off. Treat it as read-only.
    """
    from runbook_lib.models.demo import write_demo_models

    return write_demo_models(tmp_path_factory.mktemp("demo-models"), seed=0)


# Conversion service (docling-api): real servers on free loopback ports, started as subprocesses.

import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import httpx  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA_DIR = REPO_ROOT / "testdata"
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus" / "docling"

# Upload limit of the shared test server: larger than every test document, small enough to exceed cheaply.
SERVICE_TEST_MAX_UPLOAD_BYTES = 4 * 1024 * 1024


def free_loopback_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """A ``docling-api`` subprocess on a loopback port, with an HTTP client, its JSON log file and upload spool folder."""

    def __init__(self, process: subprocess.Popen, url: str, log_path: Path, spool_dir: Path, models: str):
        self.process = process
        self.url = url
        self.log_path = log_path
        self.spool_dir = spool_dir
        self.models = models
        self.client = httpx.Client(base_url=url, timeout=httpx.Timeout(300.0, connect=10.0))

    def wait_until(self, path: str, status: int, timeout_s: float) -> httpx.Response:
        """Poll ``path`` until it returns ``status``; fail with the server log if it does not in time."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"docling-api exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                response = self.client.get(path, timeout=5.0)
                if response.status_code == status:
                    return response
                last = response.text
            except httpx.TransportError as exc:
                last = exc
            time.sleep(0.2)
        pytest.fail(f"{self.url}{path} did not return {status} within {timeout_s} s (last: {last}):\n{self.log_tail()}")

    def log_records(self) -> list[dict]:
        """Return the JSON log records written so far; lines that are not JSON are returned as {'raw': line}."""
        records = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                records.append({"raw": line})
        return records

    def upload_spools(self) -> list[Path]:
        """Return the entries of the temp folder other than the live workers' private folders (``*-worker-*``)."""
        return [entry for entry in self.spool_dir.iterdir() if "-worker-" not in entry.name]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def start_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServiceProcess]]:
    """Factory that starts ``docling-api`` subprocesses and stops them at the end of the session.

    Call it as ``start_service(models_dir, workers=1, env={...}, wait_ready=True)``; settings
    go in ``env`` as ``DOCLING_API_*`` variables, so the environment path is tested as well.
    """
    started: list[ServiceProcess] = []

    def start(
        models_dir: Path,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        models: str = "demo",
        ready_timeout_s: float = 300.0,
    ) -> ServiceProcess:
        port = free_loopback_port()
        run_dir = tmp_path_factory.mktemp("docling-api")
        log_path = run_dir / "service.log"
        spool_dir = run_dir / "spool"
        spool_dir.mkdir()
        environment = {**os.environ, "DOCLING_API_TEMP_DIR": str(spool_dir), **(env or {})}
        command = [
            sys.executable, "-m", "docling_api",
            "--models-dir", str(models_dir),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--workers", str(workers),
        ]
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=environment)

        service = ServiceProcess(process, f"http://127.0.0.1:{port}", log_path, spool_dir, models)
        started.append(service)
        service.wait_until("/health", 200, timeout_s=60)
        if wait_ready:
            service.wait_until("/ready", 200, timeout_s=ready_timeout_s)
        return service

    yield start

    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def service(start_service: Callable[..., ServiceProcess], demo_models_dir: Path) -> ServiceProcess:
    """The shared conversion service: demo models, one worker, a 4 MiB upload limit."""
    return start_service(
        demo_models_dir,
        workers=1,
        env={"DOCLING_API_MAX_UPLOAD_BYTES": str(SERVICE_TEST_MAX_UPLOAD_BYTES)},
    )


@pytest.fixture(scope="session")
def real_models_service(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    """A conversion service on the real docling models in DOCLING_REAL_MODELS_DIR; skips without it."""
    models_dir = os.environ.get("DOCLING_REAL_MODELS_DIR")
    if not models_dir:
        pytest.skip("DOCLING_REAL_MODELS_DIR is not set to a folder of real docling models")
    return start_service(
        Path(models_dir),
        workers=1,
        env={"DOCLING_API_MAX_UPLOAD_BYTES": str(SERVICE_TEST_MAX_UPLOAD_BYTES)},
        models="real",
        ready_timeout_s=900.0,
    )


@pytest.fixture
def conversion_service(service: ServiceProcess) -> ServiceProcess:
    """The service the conversion tests use; test_service_real_models.py overrides it with real models."""
    return service


@pytest.fixture
def fake_arm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh fake Resource Manager on HTTPS loopback; REQUESTS_CA_BUNDLE trusts it for this test only."""
    from fakes.arm_server import FakeArm

    with FakeArm(tmp_path / "fake-arm") as arm:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", arm.ca_bundle)
        yield arm


@pytest.fixture
def arm_params(fake_arm):
    """Runbook parameters for target "aks" that point the Azure layer at ``fake_arm``."""
    from fakes.arm_server import SUBSCRIPTION_ID

    from runbook_lib.params import RunbookParams

    return RunbookParams(
        target="aks",
        subscription_id=SUBSCRIPTION_ID,
        arm_endpoint=fake_arm.base_url,
        environment_name="demo",
        role_visibility_timeout_s=30,
        azure_operation_timeout_s=60,
    )


@pytest.fixture
def kube_apiserver(tmp_path: Path):
    """A fresh fake Kubernetes API server on loopback; ``kubeconfig_path`` is a kubeconfig (context "fake") for it."""
    from fakes.kube_apiserver import FakeKubeApiServer

    with FakeKubeApiServer() as server:
        server.kubeconfig_path = server.write_kubeconfig(tmp_path / "kubeconfig")
        yield server
        assert not server.hook_errors, "fake API server scenario failed:\n" + "\n".join(server.hook_errors)
