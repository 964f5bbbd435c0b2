"""docling's own DoclingServiceClient, unchanged, against the service's docling-serve-compatible API.

The client runs against the shared service (demo models, one worker) on loopback:
conversions of testdata/ and docling's test PDFs, convert_all with both status
watchers, task states, fetch-once results, cancellation and rejected options.
"""

from __future__ import annotations

import re
import warnings
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from docling.datamodel.base_models import ConversionStatus
from docling.datamodel.service import (
    ConvertDocumentResponse,
    ConvertDocumentsOptions,
    InBodyTarget,
    TaskStatusResponse,
)
from docling.service_client import (
    ConversionError,
    DoclingServiceClient,
    ResultExpiredError,
    ServiceError,
    StatusWatcherKind,
    TaskExecutionError,
    TaskNotFoundError,
)
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from docling_api import __version__ as docling_api_version
from runbook_lib.recall import word_recall

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA_DIR = REPO_ROOT / "testdata"
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus" / "docling"
EXPECTATIONS = yaml.safe_load((TESTDATA_DIR / "expectations.yaml").read_text(encoding="utf-8"))["files"]

# Text PDFs of docling's test set that have a reference Markdown file.
CORPUS_TEXT_PDFS = (
    "multi_page",
    "normal_4pages",
    "redp5110_sampled",
    "code_and_formula",
    "picture_classification",
    "right_to_left_01",
)
MIN_WORD_RECALL = 0.9
STATUS_ORDER = {"pending": 0, "started": 1, "success": 2, "failure": 2}
# OCR is left out because the demo models are tested without it, and table structure to keep the run short.
with warnings.catch_warnings():
    # docling's own option validators read their deprecated fields.
    warnings.simplefilter("ignore", DeprecationWarning)
    CLIENT_OPTIONS = ConvertDocumentsOptions(do_ocr=False, do_table_structure=False)
# Pages of the generated document that keeps a worker busy while a test cancels it.
LONG_DOCUMENT_PAGES = 300

pytestmark = [
    pytest.mark.timeout(600),
    # docling's own option validators read their deprecated fields.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def collapse_whitespace(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def make_client(service, watcher: StatusWatcherKind = StatusWatcherKind.WEBSOCKET, **kwargs) -> DoclingServiceClient:
    return DoclingServiceClient(service.url, options=CLIENT_OPTIONS, status_watcher=watcher, job_timeout=300.0, **kwargs)


def new_log_records(service, start: int) -> list[dict]:
    return service.log_records()[start:]


def metric_value(service, name: str, **labels: str) -> float:
    """Return the value of one sample of the service's /metrics, found by name and labels."""
    text = service.client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"{name} with labels {labels} is not in /metrics")


@pytest.fixture(scope="module")
def client(service):
    with make_client(service) as docling_client:
        yield docling_client


@pytest.fixture(scope="module")
def long_pdf(tmp_path_factory) -> Path:
    """A text PDF long enough that its conversion is still running when the test cancels it."""
    path = tmp_path_factory.mktemp("v1-long") / "long_report.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for page in range(1, LONG_DOCUMENT_PAGES + 1):
        for line in range(40):
            pdf.drawString(60, 780 - line * 18, f"Page {page}, line {line}: the municipal budget was discussed at length.")
        pdf.showPage()
    pdf.save()
    return path


# Health, version and synchronous conversions.


def test_health_and_version(client):
    assert client.health().status == "ok"

    versions = client.version()
    assert versions["docling-api"] == docling_api_version
    assert versions["docling"] == version("docling")
    assert versions["docling-core"] == version("docling-core")
    assert versions["python"].startswith("cpython-")


@pytest.mark.parametrize("name", ["dutch_pdf.pdf", "english_two_column.pdf"])
def test_convert_testdata(client, name):
    spec = EXPECTATIONS[name]

    result = client.convert(TESTDATA_DIR / name)

    assert result.status == ConversionStatus.SUCCESS
    assert result.input.file.name == name
    assert result.document.num_pages() == spec["pages"]
    markdown = collapse_whitespace(result.document.export_to_markdown())
    for phrase in spec["phrases"]:
        assert phrase in markdown


@pytest.mark.parametrize("stem", CORPUS_TEXT_PDFS)
def test_convert_corpus_word_recall(client, stem):
    pdf = CORPUS_DIR / f"{stem}.pdf"
    expected = pdf.with_suffix(".expected.md")
    if not pdf.exists() or not expected.exists():
        pytest.skip(f"{pdf} or its expected Markdown is not available")

    result = client.convert(pdf)

    assert result.status == ConversionStatus.SUCCESS
    recall = word_recall(expected.read_text(encoding="utf-8"), result.document.export_to_markdown())
    print(f"{pdf.name}: word recall {recall:.3f}")
    assert recall >= MIN_WORD_RECALL


def test_convert_corrupt_pdf_fails_with_reason(client):
    with pytest.raises(ConversionError) as raised:
        client.convert(TESTDATA_DIR / "corrupt.pdf")

    assert "corrupt.pdf is a damaged or truncated PDF" in str(raised.value)


def test_convert_encrypted_pdf_names_password(client):
    result = client.convert(TESTDATA_DIR / "encrypted.pdf", raises_on_error=False)

    assert result.status == ConversionStatus.FAILURE
    message = result.errors[0].error_message
    assert "encrypted.pdf is an encrypted PDF" in message
    assert "POST /convert" in message


def test_convert_scan_without_ocr_is_partial(client):
    result = client.convert(TESTDATA_DIR / "scanned_nl_en.pdf", raises_on_error=False)

    assert result.status == ConversionStatus.PARTIAL_SUCCESS
    messages = [error.error_message for error in result.errors]
    assert any("No text was found in scanned_nl_en.pdf" in message for message in messages)
    assert any("OCR was off" in message for message in messages)


def test_sync_endpoint_all_formats(service):
    fields = {"to_formats": ["md", "json", "html", "text"], "do_ocr": "false", "do_table_structure": "false"}
    with (TESTDATA_DIR / "english_two_column.pdf").open("rb") as document:
        response = service.client.post("/v1/convert/file", files={"files": ("english_two_column.pdf", document)}, data=fields)

    assert response.status_code == 200, response.text
    body = ConvertDocumentResponse.model_validate(response.json())
    assert body.status == ConversionStatus.SUCCESS
    assert body.document.filename == "english_two_column.pdf"
    assert "Cooling the City" in body.document.md_content
    assert "Cooling the City" in body.document.text_content
    assert "<html" in body.document.html_content
    assert body.document.json_content.name == "english_two_column"
    assert body.processing_time > 0


def test_sync_endpoint_projects_older_document_version(service):
    headers = {"Accept-Docling-Document-Version": "1.9.0"}
    fields = {"to_formats": "json", "do_ocr": "false", "do_table_structure": "false"}
    with (TESTDATA_DIR / "dutch_pdf.pdf").open("rb") as document:
        response = service.client.post(
            "/v1/convert/file", files={"files": ("dutch_pdf.pdf", document)}, data=fields, headers=headers
        )

    assert response.status_code == 200, response.text
    assert response.json()["document"]["json_content"]["version"] == "1.9.0"


# Batches with both status watchers.


@pytest.mark.parametrize("watcher", [StatusWatcherKind.POLLING, StatusWatcherKind.WEBSOCKET])
def test_convert_all_with_watcher(service, watcher):
    names = ["dutch_pdf.pdf", "corrupt.pdf", "english_two_column.pdf", "encrypted.pdf"]
    start = len(service.log_records())

    with make_client(service, watcher, poll_server_wait=2.0) as docling_client:
        results = list(docling_client.convert_all([TESTDATA_DIR / name for name in names]))

    assert [result.input.file.name for result in results] == names
    assert [result.status for result in results] == [
        ConversionStatus.SUCCESS,
        ConversionStatus.FAILURE,
        ConversionStatus.SUCCESS,
        ConversionStatus.FAILURE,
    ]
    assert "Jaarverslag 2025" in results[0].document.export_to_markdown()
    assert "Cooling the City" in results[2].document.export_to_markdown()

    records = new_log_records(service, start)
    polls = [record for record in records if str(record.get("path", "")).startswith("/v1/status/poll/")]
    sockets = [record for record in records if "WebSocket /v1/status/ws/" in str(record.get("message", ""))]
    if watcher == StatusWatcherKind.POLLING:
        assert polls
        assert not sockets
    else:
        assert len(sockets) >= len(names)
        assert not polls


# Task states and results.


@pytest.mark.parametrize("watcher", [StatusWatcherKind.POLLING, StatusWatcherKind.WEBSOCKET])
def test_task_status_transitions(service, watcher):
    with make_client(service, watcher, poll_server_wait=2.0) as docling_client:
        job = docling_client.submit(TESTDATA_DIR / "dutch_pdf.pdf", target=InBodyTarget())
        assert job.status == "pending"
        assert job.queue_position is not None

        statuses = [update.task_status for update in job.watch()]
        result = job.result()

    assert statuses[-1] == "success"
    ranks = [STATUS_ORDER[status] for status in statuses]
    assert ranks == sorted(ranks)
    assert result.status == ConversionStatus.SUCCESS
    assert "Jaarverslag 2025" in result.document.export_to_markdown()


def test_poll_waits_server_side_until_done(service):
    with make_client(service, StatusWatcherKind.POLLING) as docling_client:
        job = docling_client.submit(TESTDATA_DIR / "english_two_column.pdf", target=InBodyTarget())
        status = job.poll(wait=0.0)
        while status.task_status not in ("success", "failure"):
            status = job.poll(wait=30.0)
        result = job.result()

    assert status.task_status == "success"
    assert status.task_meta.num_succeeded == 1
    assert status.task_position is None
    assert result.status == ConversionStatus.SUCCESS


def test_result_is_fetched_only_once(client):
    job = client.submit(TESTDATA_DIR / "dutch_pdf.pdf", target=InBodyTarget())

    first = job.result()
    with pytest.raises(ResultExpiredError):
        job.result()

    assert first.status == ConversionStatus.SUCCESS


def test_unknown_task_is_not_found(client, service):
    with pytest.raises(TaskNotFoundError):
        client._poll_task_status("no-such-task", 0.0)

    response = service.client.get("/v1/result/no-such-task")
    assert response.status_code == 404
    assert response.json()["detail"] == "Task not found."


# Cancellation.


def test_cancel_pending_and_running_tasks(client, service, long_pdf):
    restarts_before = metric_value(service, "docling_api_worker_restarts_total", reason="cancelled")
    running = client.submit(long_pdf, target=InBodyTarget())
    waiting = client.submit(TESTDATA_DIR / "dutch_pdf.pdf", target=InBodyTarget())

    status = running.poll(wait=0.0)
    while status.task_status == "pending":
        status = running.poll(wait=10.0)
    assert status.task_status == "started"
    queued = waiting.poll(wait=0.0)
    assert queued.task_status == "pending"
    assert queued.task_position == 1

    cancelled_waiting = service.client.delete(f"/v1/tasks/{waiting.task_id}")
    cancelled_running = service.client.delete(f"/v1/tasks/{running.task_id}")

    for response in (cancelled_waiting, cancelled_running):
        assert response.status_code == 200, response.text
        body = TaskStatusResponse.model_validate(response.json())
        assert body.task_status == "failure"
        assert body.failure.details["code"] == "cancelled"
        assert "cancelled" in body.error_message

    with pytest.raises(TaskExecutionError) as raised:
        waiting.result()
    assert "cancelled" in str(raised.value)

    repeated = service.client.delete(f"/v1/tasks/{running.task_id}")
    assert repeated.status_code == 200
    assert repeated.json()["task_status"] == "failure"
    assert metric_value(service, "docling_api_worker_restarts_total", reason="cancelled") == restarts_before + 1
    assert not [folder for folder in service.spool_dir.iterdir() if "-v1-" in folder.name]

    # The replaced worker converts again.
    assert client.convert(TESTDATA_DIR / "dutch_pdf.pdf").status == ConversionStatus.SUCCESS


def test_cancel_finished_task_deletes_result(client, service):
    job = client.submit(TESTDATA_DIR / "dutch_pdf.pdf", target=InBodyTarget())
    status = job.poll(wait=0.0)
    while status.task_status not in ("success", "failure"):
        status = job.poll(wait=30.0)

    response = service.client.delete(f"/v1/tasks/{job.task_id}")

    assert response.status_code == 200
    assert response.json()["task_status"] == "success"
    with pytest.raises(ResultExpiredError):
        job.result()


def test_cancel_unknown_task(service):
    response = service.client.delete("/v1/tasks/no-such-task")

    assert response.status_code == 404
    assert response.json()["detail"] == "Task not found."


# Options the service cannot honour.


def test_client_option_rejected_with_name(service):
    options = ConvertDocumentsOptions(do_ocr=False, do_picture_description=True)
    with DoclingServiceClient(service.url, options=options) as docling_client:
        with pytest.raises(ServiceError) as raised:
            docling_client.convert(TESTDATA_DIR / "dutch_pdf.pdf")

    assert raised.value.status_code == 422
    assert "do_picture_description" in raised.value.detail


def test_presigned_target_rejected_for_fallback(service):
    with (TESTDATA_DIR / "dutch_pdf.pdf").open("rb") as document:
        response = service.client.post(
            "/v1/convert/file/async",
            files={"files": ("dutch_pdf.pdf", document)},
            data={"target_type": "presigned_url"},
        )

    assert response.status_code == 422
    # docling's client switches to target_type=inbody on this phrase.
    assert "artifact storage to be configured" in response.json()["detail"]
    assert response.json()["error"]["option"] == "target_type"


def test_v1_metrics_are_shared(client, service):
    before = metric_value(service, "docling_api_tasks_finished_total", outcome="success")

    client.convert(TESTDATA_DIR / "dutch_pdf.pdf")

    assert metric_value(service, "docling_api_tasks_finished_total", outcome="success") == before + 1
    requests = metric_value(
        service, "docling_api_requests_total", endpoint="/v1/convert/file/async", method="POST", status="200"
    )
    assert requests >= 1
    assert metric_value(service, "docling_api_conversions_total", status="success", input_format="pdf") >= 1


def test_http_client_gets_status_models(service):
    with (TESTDATA_DIR / "dutch_pdf.pdf").open("rb") as document:
        response = httpx.post(
            f"{service.url}/v1/convert/file/async",
            files={"files": ("dutch_pdf.pdf", document)},
            data={"do_ocr": "false"},
            timeout=60,
        )

    assert response.status_code == 200
    submitted = TaskStatusResponse.model_validate(response.json())
    assert submitted.task_status == "pending"
    assert submitted.task_type == "convert"

    status = submitted
    while status.task_status not in ("success", "failure"):
        poll = service.client.get(f"/v1/status/poll/{submitted.task_id}", params={"wait": 30})
        status = TaskStatusResponse.model_validate(poll.json())
    result = service.client.get(f"/v1/result/{submitted.task_id}")
    assert result.status_code == 200
    assert result.json()["status"] == "success"
