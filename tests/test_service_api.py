"""Endpoints of the conversion service other than conversions: /, /health, /ready, /metrics, /docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTDATA_DIR = Path(__file__).resolve().parent.parent / "testdata"

pytestmark = pytest.mark.timeout(600)


def metric_value(metrics_text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Return the value of one sample from Prometheus text output, 0.0 when it is absent."""
    for line in metrics_text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$", line)
        if match is None or match.group(1) != name:
            continue
        sample_labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(sample_labels.get(key) == value for key, value in (labels or {}).items()):
            return float(match.group(4))
    return 0.0


def test_root_reports_versions_and_limits(service):
    response = service.client.get("/")

    assert response.status_code == 200
    body = response.json()
    assert body["service"] == "docling-api"
    assert re.match(r"^\d+\.\d+", body["version"])
    assert body["docling_version"].startswith("2.")
    assert body["limits"]["max_upload_bytes"] == 4 * 1024 * 1024
    assert body["limits"]["workers"] == 1
    assert body["limits"]["default_ocr_lang"] == ["eng", "nld"]
    assert body["ocr"]["engine"] == "tesseract_cli"
    assert "nld" in body["ocr"]["installed_lang"]
    assert body["output_formats"] == ["md", "json", "html", "text"]
    assert body["ready"] is True


def test_root_describes_plain_models_folder(service):
    model_set = service.client.get("/").json()["model_set"]

    assert model_set["source"] == "folder"
    assert model_set["set_id"] is None
    assert model_set["complete"] is True
    assert model_set["missing_folders"] == []
    assert model_set["repositories"] == []


def test_health_is_cheap_liveness(service):
    response = service.client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_after_warm_up(service):
    response = service.client.get("/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["workers"] == {"ready": 1, "starting": 0, "total": 1}
    assert any(record.get("message") == "Worker ready" and "warmup_s" in record for record in service.log_records())


def test_request_id_echoed_from_header(service):
    response = service.client.get("/health", headers={"X-Request-Id": "smoke-42"})

    assert response.headers["X-Request-Id"] == "smoke-42"


def test_request_id_generated_for_unsafe_header(service):
    response = service.client.get("/health", headers={"X-Request-Id": "evil id with spaces"})

    generated = response.headers["X-Request-Id"]
    assert generated != "evil id with spaces"
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


def test_logs_are_json_lines_with_request_id(service):
    content = (TESTDATA_DIR / "encrypted.pdf").read_bytes()
    response = service.client.post(
        "/convert",
        files={"file": ("encrypted.pdf", content, "application/pdf")},
        data={"password": "lindeveld-2026", "do_ocr": "false"},
        headers={"X-Request-Id": "log-check-1"},
    )
    assert response.status_code == 200

    records = service.log_records()
    not_json = [record["raw"] for record in records if "raw" in record]
    assert not_json == []

    for_request = [record for record in records if record.get("request_id") == "log-check-1"]
    messages = {record["message"] for record in for_request}
    assert {"Converted", "Request"} <= messages

    log_text = service.log_path.read_text(encoding="utf-8")
    assert "lindeveld-2026" not in log_text
    assert "Supervisory Board" not in log_text


def test_metrics_count_requests_and_pages(service):
    before = service.client.get("/metrics").text
    pages_before = metric_value(before, "docling_api_pages_converted_total")

    content = (TESTDATA_DIR / "dutch_pdf.pdf").read_bytes()
    response = service.client.post("/convert", files={"file": ("dutch_pdf.pdf", content)}, data={"do_ocr": "false"})
    assert response.status_code == 200

    after = service.client.get("/metrics")
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert metric_value(text, "docling_api_pages_converted_total") == pages_before + 3
    assert metric_value(text, "docling_api_requests_total", {"endpoint": "/convert", "status": "200"}) >= 1
    assert metric_value(text, "docling_api_request_duration_seconds_count", {"endpoint": "/convert"}) >= 1
    assert metric_value(text, "docling_api_conversions_in_flight") == 0
    assert metric_value(text, "docling_api_workers_ready") == 1
    assert 'docling_api_worker_restarts_total{reason="crash"} 0.0' in text


def test_openapi_documents_convert(service):
    docs = service.client.get("/docs")
    schema = service.client.get("/openapi.json").json()

    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    convert = schema["paths"]["/convert"]["post"]
    properties = convert["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"file", "to_formats", "do_ocr", "ocr_lang", "table_mode", "do_table_structure", "page_range", "password"} <= set(
        properties
    )
    assert {"413", "415", "422"} <= set(convert["responses"])


def test_unknown_path_returns_json_error(service):
    response = service.client.get("/no-such-endpoint")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_returns_json_error(service):
    response = service.client.get("/convert")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
