"""Graceful shutdown on SIGTERM: in-flight conversions finish within the grace period, the rest get 503.

One service with two workers converts a medium document (done within the grace
period) and a long one (not) when it receives SIGTERM.
"""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

import hostile_documents as docs
from test_service_overload import RawUpload, assert_stops_using_cpu

pytestmark = pytest.mark.timeout(600)

SHUTDOWN_GRACE_S = 20
# With the demo models a 40-line page takes about 0.1 s: the medium document ends within the grace
# period even on a loaded machine, the long one runs far past it.
MEDIUM_PAGES = 30
LONG_PAGES = 400


@pytest.fixture(scope="module")
def draining_service(start_service, demo_models_dir):
    return start_service(demo_models_dir, workers=2, env={"DOCLING_API_SHUTDOWN_GRACE_S": str(SHUTDOWN_GRACE_S)})


def busy_pids(service, count: int) -> list[int]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        pids = [worker["pid"] for worker in service.client.get("/").json()["workers"] if worker["state"] == "busy"]
        if len(pids) == count:
            return pids
        time.sleep(0.05)
    pytest.fail(f"{count} workers did not become busy")


def read_response(upload: RawUpload) -> tuple[int, dict[str, str], dict]:
    """Read a whole HTTP/1.1 response with a Content-Length from the upload's socket."""
    stream = upload.sock.makefile("rb")
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline().strip()):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = json.loads(stream.read(int(headers["content-length"])))
    return status, headers, body


def test_sigterm_finishes_or_stops_in_flight_conversions(draining_service):
    service = draining_service
    long = RawUpload(service.url, "long.pdf", docs.long_text_pdf(LONG_PAGES), {"do_ocr": "false"})
    busy_pids(service, 1)
    medium = RawUpload(service.url, "medium.pdf", docs.long_text_pdf(MEDIUM_PAGES), {"do_ocr": "false"})
    pids = busy_pids(service, 2)

    service.process.send_signal(signal.SIGTERM)

    medium_status, _, medium_body = read_response(medium)
    long_status, long_headers, long_body = read_response(long)
    service.process.wait(timeout=SHUTDOWN_GRACE_S + 60)

    # The medium conversion finished within the grace period.
    assert medium_status == 200, medium_body
    assert medium_body["pages"] == MEDIUM_PAGES
    # The long one was stopped when the grace period ended, with a clear error the client can retry.
    assert long_status == 503, long_body
    assert long_body["error"]["code"] == "shutting_down"
    assert "long.pdf" in long_body["error"]["message"]
    assert int(long_headers["retry-after"]) >= 1

    # The server stopped accepting connections, exited, and left no worker and no temporary file.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{service.url}/health", timeout=5)
    for pid in pids:
        assert_stops_using_cpu(pid)
    assert list(service.spool_dir.iterdir()) == []
    messages = [record.get("message") for record in service.log_records()]
    assert "Draining: in-flight conversions may finish" in messages
    assert "Shutdown grace period over: stopping the conversions still in flight" in messages
