"""The v1 API with an API key, a short result lifetime and a one-task store.

A service of its own (demo models, one worker) runs with DOCLING_API_KEY set,
DOCLING_API_TASK_RESULT_TTL_S=5 and DOCLING_API_MAX_TASKS=1, and is stopped when
the module ends.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import httpx
import pytest
from docling.datamodel.base_models import ConversionStatus
from docling.datamodel.service import ConvertDocumentsOptions
from docling.service_client import DoclingServiceClient, ServiceError, StatusWatcherKind
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA_DIR = REPO_ROOT / "testdata"
API_KEY = "v1-test-key-4f1c9b"
RESULT_TTL_S = 5

with warnings.catch_warnings():
    # docling's own option validators read their deprecated fields.
    warnings.simplefilter("ignore", DeprecationWarning)
    CLIENT_OPTIONS = ConvertDocumentsOptions(do_ocr=False, do_table_structure=False)

pytestmark = [pytest.mark.timeout(600), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def keyed_service(start_service, demo_models_dir):
    service = start_service(
        demo_models_dir,
        env={
            "DOCLING_API_KEY": API_KEY,
            "DOCLING_API_TASK_RESULT_TTL_S": str(RESULT_TTL_S),
            "DOCLING_API_MAX_TASKS": "1",
        },
    )
    yield service
    service.stop()


def keyed_headers(key: str = API_KEY) -> dict[str, str]:
    return {"X-Api-Key": key}


def submit(service, name: str = "dutch_pdf.pdf") -> httpx.Response:
    with (TESTDATA_DIR / name).open("rb") as document:
        return service.client.post(
            "/v1/convert/file/async",
            files={"files": (name, document)},
            data={"do_ocr": "false", "do_table_structure": "false"},
            headers=keyed_headers(),
        )


def metric_value(service, name: str) -> float:
    text = service.client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} is not in /metrics")


def test_client_with_key_converts_over_websocket(keyed_service):
    with DoclingServiceClient(
        keyed_service.url, api_key=API_KEY, options=CLIENT_OPTIONS, status_watcher=StatusWatcherKind.WEBSOCKET
    ) as client:
        result = client.convert(TESTDATA_DIR / "dutch_pdf.pdf")
        versions = client.version()

    assert result.status == ConversionStatus.SUCCESS
    assert "Jaarverslag 2025" in result.document.export_to_markdown()
    assert versions["docling"]

    log = keyed_service.log_path.read_text(encoding="utf-8")
    # The client sends the key in the websocket URL as well; the log keeps it out.
    assert "WebSocket /v1/status/ws/" in log
    assert "api_key=***" in log
    assert API_KEY not in log


@pytest.mark.parametrize("key", ["", "wrong-key"], ids=["missing", "wrong"])
def test_client_without_valid_key_rejected(keyed_service, key):
    with DoclingServiceClient(keyed_service.url, api_key=key, options=CLIENT_OPTIONS) as client:
        with pytest.raises(ServiceError) as raised:
            client.convert(TESTDATA_DIR / "dutch_pdf.pdf")

    assert raised.value.status_code == 401
    assert "X-Api-Key" in raised.value.detail


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/version"),
        ("GET", "/v1/status/poll/some-task"),
        ("GET", "/v1/result/some-task"),
        ("DELETE", "/v1/tasks/some-task"),
        ("POST", "/v1/convert/file"),
    ],
)
def test_routes_require_key(keyed_service, method, path):
    response = keyed_service.client.request(method, path)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "X-Api-Key" in response.json()["detail"]


def test_health_open_without_key(keyed_service):
    with DoclingServiceClient(keyed_service.url) as client:
        assert client.health().status == "ok"


def test_websocket_without_key_rejected(keyed_service):
    url = keyed_service.url.replace("http://", "ws://") + "/v1/status/ws/some-task"

    with pytest.raises(InvalidStatus) as raised:
        with connect(url, open_timeout=10):
            pass

    assert raised.value.response.status_code == 401


def test_websocket_key_in_query_accepted(keyed_service):
    url = keyed_service.url.replace("http://", "ws://") + f"/v1/status/ws/no-such-task?api_key={API_KEY}"

    with connect(url, open_timeout=10) as websocket:
        message = websocket.recv(timeout=30)

    assert '"message":"error"' in message
    assert "Task not found." in message


def test_task_store_full_then_result_expires(keyed_service):
    """Runs last in this module: it leaves one unfetched result until it expires."""
    expired_before = metric_value(keyed_service, "docling_api_task_results_expired_total")
    first = submit(keyed_service)
    assert first.status_code == 200, first.text
    task_id = first.json()["task_id"]

    status = first.json()
    while status["task_status"] not in ("success", "failure"):
        status = keyed_service.client.get(
            f"/v1/status/poll/{task_id}", params={"wait": 30}, headers=keyed_headers()
        ).json()
    assert status["task_status"] == "success"

    # The unfetched result fills the one-task store.
    second = submit(keyed_service)
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "too_many_tasks"
    assert int(second.headers["Retry-After"]) > 0

    deadline = time.monotonic() + 120
    poll = keyed_service.client.get(f"/v1/status/poll/{task_id}", headers=keyed_headers())
    while poll.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        poll = keyed_service.client.get(f"/v1/status/poll/{task_id}", headers=keyed_headers())

    assert poll.status_code == 404
    assert poll.json()["detail"] == "Task not found."
    result = keyed_service.client.get(f"/v1/result/{task_id}", headers=keyed_headers())
    assert result.status_code == 404
    assert metric_value(keyed_service, "docling_api_task_results_expired_total") == expired_before + 1
    assert not [folder for folder in keyed_service.spool_dir.iterdir() if "-v1-" in folder.name]

    # With the expired task gone, the store takes a task again.
    third = submit(keyed_service)
    assert third.status_code == 200, third.text
