"""Worker crashes and recycling: a converter that dies fails only its own request, and the service carries on.

The worker's test hook ``DOCLING_API_TEST_CRASH_ON`` makes it kill itself with a chosen
signal when it receives a given document (matched by SHA-256). That imitates a
segfault or abort inside native converter code, or the out-of-memory killer.
"""

from __future__ import annotations

import hashlib
import threading

import psutil
import pytest

import hostile_documents as docs
from test_service_api import metric_value

pytestmark = pytest.mark.timeout(600)

CRASH_SIGNALS = ("SIGSEGV", "SIGABRT", "SIGKILL")
CRASH_DOCUMENTS = {name: docs.text_pdf(1, line=f"This page makes the worker die with {name}.") for name in CRASH_SIGNALS}
GOOD_DOCUMENT = docs.text_pdf(2)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture(scope="module")
def crash_service(start_service, demo_models_dir):
    hook = ",".join(f"{sha256(content)}:{name}" for name, content in CRASH_DOCUMENTS.items())
    return start_service(demo_models_dir, workers=1, env={"DOCLING_API_TEST_CRASH_ON": hook})


def post(service, filename: str, content: bytes):
    return service.client.post("/convert", files={"file": (filename, content)}, data={"do_ocr": "false"})


def worker_pids(service) -> list[int]:
    return [worker["pid"] for worker in service.client.get("/").json()["workers"]]


def assert_process_gone(pid: int) -> None:
    """The process has exited and was reaped, or is at most a zombie that uses no CPU."""
    try:
        process = psutil.Process(pid)
        assert process.status() == psutil.STATUS_ZOMBIE, f"process {pid} is still {process.status()}"
    except psutil.NoSuchProcess:
        pass


@pytest.mark.parametrize("signal_name", CRASH_SIGNALS)
def test_crash_fails_only_its_request(crash_service, signal_name):
    service = crash_service
    service.wait_until("/ready", 200, timeout_s=300)
    [old_pid] = worker_pids(service)
    restarts = metric_value(service.client.get("/metrics").text, "docling_api_worker_restarts_total", {"reason": "crash"})

    crashed = post(service, f"crash_{signal_name}.pdf", CRASH_DOCUMENTS[signal_name])
    # The next request arrives while the replacement worker loads its models: it waits, then converts.
    after = post(service, "good.pdf", GOOD_DOCUMENT)

    assert crashed.status_code == 500, crashed.text
    error = crashed.json()["error"]
    assert error["code"] == "converter_crashed"
    assert f"crash_{signal_name}.pdf" in error["message"]
    assert "converter crashed" in error["message"]
    assert f"killed by {signal_name}" in error["message"]
    assert error["filename"] == f"crash_{signal_name}.pdf"
    assert "Traceback" not in crashed.text

    assert after.status_code == 200, after.text
    assert "Page 2:" in after.json()["markdown"]

    assert service.process.poll() is None
    assert_process_gone(old_pid)
    assert old_pid not in worker_pids(service)
    metrics = service.client.get("/metrics").text
    assert metric_value(metrics, "docling_api_worker_restarts_total", {"reason": "crash"}) == restarts + 1


def test_oom_kill_message_names_memory(crash_service):
    service = crash_service

    response = post(service, "crash_SIGKILL.pdf", CRASH_DOCUMENTS["SIGKILL"])

    assert response.status_code == 500
    assert "out-of-memory" in response.json()["error"]["message"]


def test_requests_waiting_behind_a_crash_are_served(crash_service):
    service = crash_service
    service.wait_until("/ready", 200, timeout_s=300)
    results: dict[str, object] = {}
    crash_sent = threading.Event()

    def send(name: str, content: bytes) -> None:
        if name == "good":
            crash_sent.wait(timeout=60)
        else:
            crash_sent.set()
        results[name] = post(service, f"{name}.pdf", content)

    threads = [
        threading.Thread(target=send, args=("crash", CRASH_DOCUMENTS["SIGABRT"])),
        threading.Thread(target=send, args=("good", GOOD_DOCUMENT)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert results["crash"].status_code == 500
    assert results["good"].status_code == 200, results["good"].text


def test_no_temporary_files_after_crashes(crash_service):
    service = crash_service
    service.wait_until("/ready", 200, timeout_s=300)

    entries = list(service.spool_dir.iterdir())

    # Only the live worker's private folder remains, and the crashed workers' folders are gone.
    assert len(entries) == 1, entries
    assert "-worker-0-" in entries[0].name
    assert [path for path in entries[0].rglob("*") if path.suffix == ".pdf"] == []


@pytest.fixture(scope="module")
def recycling_service(start_service, demo_models_dir):
    # Any worker is above 1 byte, so every conversion is followed by a replacement.
    return start_service(demo_models_dir, workers=1, env={"DOCLING_API_MAX_WORKER_RSS_BYTES": "1"})


def test_worker_recycled_above_memory_threshold(recycling_service):
    service = recycling_service
    [old_pid] = worker_pids(service)

    first = post(service, "first.pdf", GOOD_DOCUMENT)
    second = post(service, "second.pdf", GOOD_DOCUMENT)

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    service.wait_until("/ready", 200, timeout_s=300)
    metrics = service.client.get("/metrics").text
    assert metric_value(metrics, "docling_api_worker_restarts_total", {"reason": "max_rss"}) == 2
    assert metric_value(metrics, "docling_api_worker_rss_bytes", {"worker": "0"}) > 1
    [worker] = service.client.get("/").json()["workers"]
    assert worker["generation"] == 2
    assert_process_gone(old_pid)
