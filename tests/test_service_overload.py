"""Overload and runaway conversions: time limits, client disconnects, the bounded queue, low memory and load.

A stopped conversion must really stop: after a 504 or a client disconnect, the worker
process that ran it is gone (checked with psutil), so it uses no more CPU.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

import httpx
import psutil
import pytest

import hostile_documents as docs
from test_service_api import metric_value

pytestmark = pytest.mark.timeout(600)

MAX_QUEUE = 1
MAX_JOBS_PER_WORKER = 4
# Converting this many 40-line pages takes minutes with the demo models: far past every limit used here.
LONG_PAGES = 300
SMALL_DOCUMENT = docs.text_pdf(1)

# Load test: clients, seconds, and the limit on the resident memory of the web process and its workers.
LOAD_CLIENTS = 4
LOAD_SECONDS = 20
# One worker with the demo models peaks near 1.5 GB; a recycled worker and its successor overlap briefly.
LOAD_MEMORY_LIMIT_BYTES = 4 * 1024**3


class RawUpload:
    """A ``POST /convert`` over a plain socket, so a test decides exactly when the client goes away."""

    def __init__(self, url: str, filename: str, content: bytes, fields: dict[str, str] | None = None) -> None:
        host, port = url.removeprefix("http://").split(":")
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in (fields or {}).items()
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/pdf\r\n\r\n".encode() + content + b"\r\n"
        )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        head = (
            f"POST /convert HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
        ).encode()
        self.sock = socket.create_connection((host, int(port)), timeout=300)
        self.sock.sendall(head + body)

    def status(self) -> int:
        """Read the status code of the response."""
        line = self.sock.makefile("rb").readline()
        return int(line.split()[1])

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def long_pdf() -> bytes:
    return docs.long_text_pdf(LONG_PAGES)


@pytest.fixture(scope="module")
def overload_service(start_service, demo_models_dir):
    return start_service(
        demo_models_dir,
        workers=1,
        env={
            "DOCLING_API_MAX_QUEUE": str(MAX_QUEUE),
            "DOCLING_API_MAX_JOBS_PER_WORKER": str(MAX_JOBS_PER_WORKER),
        },
    )


def metrics(service) -> str:
    return service.client.get("/metrics").text


def wait_for_busy_worker(service) -> int:
    """Poll GET / until the worker is converting, and return its process id."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for worker in service.client.get("/").json()["workers"]:
            if worker["state"] == "busy":
                return worker["pid"]
        time.sleep(0.05)
    pytest.fail("no worker became busy")


def wait_for_metric(service, name: str, value: float, labels: dict | None = None, at_least: bool = False) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        current = metric_value(metrics(service), name, labels)
        if current == value or (at_least and current >= value):
            return
        time.sleep(0.05)
    pytest.fail(f"{name}{labels or ''} did not reach {value}")


def assert_stops_using_cpu(pid: int) -> None:
    """Wait until the process has exited (or is a zombie); fail with its CPU times when it keeps running."""
    deadline = time.monotonic() + 60
    cpu = None
    while time.monotonic() < deadline:
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return
            cpu = process.cpu_times()
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)
    pytest.fail(f"worker {pid} is still running (CPU times {cpu})")


def test_timeout_stops_the_worker(overload_service, long_pdf):
    service = overload_service
    service.wait_until("/ready", 200, timeout_s=300)
    before = metrics(service)

    response = service.client.post(
        "/convert", files={"file": ("long.pdf", long_pdf)}, data={"do_ocr": "false", "timeout": "2"}
    )

    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["code"] == "conversion_timeout"
    assert "long.pdf" in error["message"]
    assert "2 s" in error["message"]
    assert error["timeout_s"] == 2
    log = service.log_records()
    [killed] = [record for record in log if record.get("message") == "Conversion timed out; killing its worker"][-1:]
    assert_stops_using_cpu(killed["pid"])

    after = metrics(service)
    assert metric_value(after, "docling_api_conversion_timeouts_total") == metric_value(
        before, "docling_api_conversion_timeouts_total") + 1
    assert metric_value(after, "docling_api_worker_restarts_total", {"reason": "timeout"}) == metric_value(
        before, "docling_api_worker_restarts_total", {"reason": "timeout"}) + 1


def test_timeout_above_maximum_is_refused(overload_service):
    response = overload_service.client.post(
        "/convert", files={"file": ("small.pdf", SMALL_DOCUMENT)}, data={"timeout": "100000"}
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["option"]) == ("invalid_option", "timeout")
    assert "1800" in error["message"]


def test_client_disconnect_stops_the_worker(overload_service, long_pdf):
    service = overload_service
    service.wait_until("/ready", 200, timeout_s=300)
    before = metrics(service)

    upload = RawUpload(service.url, "long.pdf", long_pdf, {"do_ocr": "false"})
    pid = wait_for_busy_worker(service)
    upload.close()

    assert_stops_using_cpu(pid)
    # The request ends with status 499 (client closed request), which nobody receives.
    wait_for_metric(service, "docling_api_requests_total", 1, {"endpoint": "/convert", "status": "499"}, at_least=True)
    after = metrics(service)
    assert metric_value(after, "docling_api_conversions_cancelled_total", {"reason": "cancelled"}) == metric_value(
        before, "docling_api_conversions_cancelled_total", {"reason": "cancelled"}) + 1
    assert metric_value(after, "docling_api_worker_restarts_total", {"reason": "cancelled"}) == metric_value(
        before, "docling_api_worker_restarts_total", {"reason": "cancelled"}) + 1
    assert metric_value(after, "docling_api_conversions_in_flight") == 0

    # The replacement serves the next request.
    response = service.client.post("/convert", files={"file": ("small.pdf", SMALL_DOCUMENT)}, data={"do_ocr": "false"})
    assert response.status_code == 200, response.text


def test_full_queue_gets_429_with_retry_after(overload_service, long_pdf):
    service = overload_service
    service.wait_until("/ready", 200, timeout_s=300)

    running = RawUpload(service.url, "long.pdf", long_pdf, {"do_ocr": "false"})
    wait_for_busy_worker(service)
    queued = RawUpload(service.url, "queued.pdf", SMALL_DOCUMENT, {"do_ocr": "false"})
    wait_for_metric(service, "docling_api_queue_depth", MAX_QUEUE)
    try:
        refused = service.client.post("/convert", files={"file": ("third.pdf", SMALL_DOCUMENT)})
    finally:
        # Stop the long conversion; the queued one then runs on the replacement worker.
        running.close()

    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "queue_full"
    assert (error["queue_depth"], error["max_queue"]) == (MAX_QUEUE, MAX_QUEUE)
    assert int(refused.headers["Retry-After"]) >= 1
    assert int(refused.headers["Retry-After"]) == error["retry_after_s"]
    assert queued.status() == 200
    queued.close()
    assert metric_value(metrics(service), "docling_api_rejections_total", {"reason": "queue_full"}) >= 1


def test_bounded_load(overload_service):
    """Clients send small conversions back to back for a fixed time: only 200 and 429, and memory stays bounded."""
    service = overload_service
    service.wait_until("/ready", 200, timeout_s=300)
    before = metrics(service)
    root_pid = service.process.pid
    statuses: list[int] = []
    retry_after: list[str | None] = []
    failures: list[str] = []
    peak_rss = 0
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=service.url, timeout=300) as http:
            while not stop.is_set():
                try:
                    response = http.post("/convert", files={"file": ("small.pdf", SMALL_DOCUMENT)}, data={"do_ocr": "false"})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                statuses.append(response.status_code)
                if response.status_code == 429:
                    retry_after.append(response.headers.get("Retry-After"))
                    stop.wait(0.2)

    def sample_memory() -> None:
        nonlocal peak_rss
        root = psutil.Process(root_pid)
        while not stop.is_set():
            total = 0
            for process in [root, *root.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            peak_rss = max(peak_rss, total)
            stop.wait(0.2)

    threads = [threading.Thread(target=client) for _ in range(LOAD_CLIENTS)]
    threads.append(threading.Thread(target=sample_memory))
    for thread in threads:
        thread.start()
    stop.wait(LOAD_SECONDS)
    stop.set()
    for thread in threads:
        thread.join(timeout=300)

    assert failures == []
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= 1
    assert statuses.count(429) >= 1
    assert all(value is not None and int(value) >= 1 for value in retry_after)
    assert peak_rss < LOAD_MEMORY_LIMIT_BYTES, f"peak RSS {peak_rss / 2**20:.0f} MiB"

    # Every accepted request was converted and got its response, and nothing is left in flight.
    after = metrics(service)
    converted = metric_value(after, "docling_api_conversions_total", {"status": "success", "input_format": "pdf"})
    converted_before = metric_value(before, "docling_api_conversions_total", {"status": "success", "input_format": "pdf"})
    assert converted - converted_before == statuses.count(200)
    assert metric_value(after, "docling_api_conversions_in_flight") == 0
    assert metric_value(after, "docling_api_queue_depth") == 0
    # Workers were recycled on the way, without a failed request.
    assert metric_value(after, "docling_api_worker_restarts_total", {"reason": "max_jobs"}) >= 1
    assert service.process.poll() is None


@pytest.fixture(scope="module")
def low_memory_service(start_service, tmp_path_factory):
    # An empty models folder starts no worker, which is all this check needs.
    models = tmp_path_factory.mktemp("no-models")
    return start_service(models, env={"DOCLING_API_MIN_FREE_MEMORY_BYTES": str(2**50)}, wait_ready=False)


def test_low_memory_gets_503_with_retry_after(low_memory_service):
    service = low_memory_service

    response = service.client.post("/convert", files={"file": ("small.pdf", SMALL_DOCUMENT)})

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "low_memory"
    assert "MiB free" in error["message"]
    assert error["min_free_memory_bytes"] == 2**50
    assert int(response.headers["Retry-After"]) >= 1
    assert metric_value(metrics(service), "docling_api_rejections_total", {"reason": "low_memory"}) == 1


def test_spool_empty_after_overload(overload_service):
    service = overload_service
    service.wait_until("/ready", 200, timeout_s=300)

    assert service.upload_spools() == []


def test_cancelled_task_stops_its_conversion(demo_models_dir, tmp_path, long_pdf):
    """The contract other APIs build on: cancelling the task awaiting run_conversion stops the conversion."""
    import asyncio

    from prometheus_client import generate_latest

    from docling_api.app import ServiceState
    from docling_api.conversion_request import run_conversion
    from docling_api.options import ConvertOptions
    from docling_api.settings import Settings

    spool = tmp_path / "spool"
    spool.mkdir()
    documents = tmp_path / "documents"
    documents.mkdir()
    long_path = documents / "long.pdf"
    long_path.write_bytes(long_pdf)
    small_path = documents / "small.pdf"
    small_path.write_bytes(SMALL_DOCUMENT)
    options = ConvertOptions(do_ocr=False)

    async def until(condition, what: str) -> None:
        for _ in range(6000):
            if condition():
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"timed out waiting until {what}")

    async def scenario() -> None:
        state = ServiceState(Settings(models_dir=demo_models_dir, workers=1, temp_dir=spool))
        state.resolve_models()
        pool = state.pool
        try:
            await until(lambda: pool.ever_ready, "the worker is ready")
            running = asyncio.create_task(run_conversion(state, long_path, "long.pdf", "pdf", options))
            await until(lambda: pool.busy_count == 1, "the worker is busy")
            [pid] = [worker["pid"] for worker in pool.describe() if worker["state"] == "busy"]
            queued = asyncio.create_task(run_conversion(state, small_path, "small.pdf", "pdf", options))
            await until(lambda: pool.queue_depth == 1, "the second job is queued")

            # A queued job leaves the queue; the running one is not disturbed.
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
            assert pool.queue_depth == 0
            assert state.admission.in_system == 1
            assert not running.done()

            # A running job has its worker killed and replaced.
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            await asyncio.to_thread(assert_stops_using_cpu, pid)
            assert state.admission.in_system == 0
            exported = generate_latest(state.metrics.registry).decode()
            assert metric_value(exported, "docling_api_worker_restarts_total", {"reason": "cancelled"}) == 1

            # The replacement converts the next document.
            body = await run_conversion(state, small_path, "small.pdf", "pdf", options)
            assert body["status"] == "success"
            assert "Page 1:" in body["markdown"]
        finally:
            await pool.close()

    asyncio.run(scenario())

    assert list(spool.iterdir()) == []
