"""docling-serve options on the v1 API: the mapping onto the service's options, and every rejection.

The unit tests call the option parser directly; the request tests send forms to the
shared service, which rejects them before any conversion runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from docling_api.errors import InvalidOption, UnknownOption
from docling_api.settings import Settings
from docling_api.v1._log_redaction import ApiKeyQueryFilter
from docling_api.v1._options import check_document_version, parse_v1_options

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA_DIR = REPO_ROOT / "testdata"
INSTALLED = ["eng", "nld", "osd"]

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(models_dir=tmp_path_factory.mktemp("models"), max_request_timeout_s=600)


# Mapping onto the service's options.


def test_defaults_map_to_service_defaults(settings):
    options = parse_v1_options({}, settings, INSTALLED)

    assert options.convert.to_formats == ("md",)
    assert options.convert.do_ocr is True
    assert options.convert.ocr_lang == ("eng", "nld")
    assert options.convert.page_range is None
    assert options.from_formats is None
    assert options.timeout_s is None


def test_client_form_maps_options(settings):
    # The fields DoclingServiceClient sends for options(do_ocr=False) with page_range and JSON output.
    fields = {
        "to_formats": ["md", "json"],
        "do_ocr": ["false"],
        "do_table_structure": ["false"],
        "table_mode": ["fast"],
        "page_range": ["2", str(sys.maxsize)],
        "target_type": ["inbody"],
        "ocr_lang": ["nl", "en-GB"],
        "from_formats": ["pdf", "docx"],
        "document_timeout": ["120"],
    }

    options = parse_v1_options(fields, settings, INSTALLED)

    assert options.convert.to_formats == ("md", "json")
    assert options.convert.do_ocr is False
    assert options.convert.do_table_structure is False
    assert options.convert.table_mode == "fast"
    assert options.convert.page_range == (2, sys.maxsize)
    assert options.convert.ocr_lang == ("nld", "eng")
    assert options.from_formats == frozenset({"pdf", "docx"})
    assert options.timeout_s == 120.0


@pytest.mark.parametrize(
    "fields",
    [
        {"include_images": ["true"]},
        {"include_images": ["false"]},
        {"images_scale": ["1.0"]},
        {"image_export_mode": ["placeholder"]},
        {"pdf_backend": ["docling_parse"]},
        {"ocr_preset": ["tesseract_cli"]},
        {"pipeline": ["standard"]},
        {"do_picture_description": ["false"]},
        {"md_page_break_placeholder": [""]},
    ],
    ids=lambda fields: next(iter(fields)),
)
def test_values_without_effect_accepted(settings, fields):
    parse_v1_options(fields, settings, INSTALLED)


@pytest.mark.parametrize(
    ("fields", "option"),
    [
        ({"pipeline": ["vlm"]}, "pipeline"),
        ({"to_formats": ["md", "doctags"]}, "to_formats"),
        ({"image_export_mode": ["embedded"]}, "image_export_mode"),
        ({"include_page_images": ["true"]}, "include_page_images"),
        ({"pdf_backend": ["pypdfium2"]}, "pdf_backend"),
        ({"ocr_preset": ["easyocr"]}, "ocr_preset"),
        ({"ocr_engine": ["rapidocr"]}, "ocr_engine"),
        ({"ocr_custom_config": ['{"kind": "tesseract", "lang": ["eng"]}']}, "ocr_custom_config"),
        ({"table_cell_matching": ["false"]}, "table_cell_matching"),
        ({"abort_on_error": ["true"]}, "abort_on_error"),
        ({"do_formula_enrichment": ["true"]}, "do_formula_enrichment"),
        ({"do_code_enrichment": ["true"]}, "do_code_enrichment"),
        ({"do_picture_classification": ["true"]}, "do_picture_classification"),
        ({"do_picture_description": ["true"]}, "do_picture_description"),
        ({"do_chart_extraction": ["true"]}, "do_chart_extraction"),
        ({"vlm_pipeline_preset": ["granite_docling"]}, "vlm_pipeline_preset"),
        ({"chunking_preset": ["hybrid"]}, "chunking_preset"),
        ({"md_page_break_placeholder": ["<!-- page -->"]}, "md_page_break_placeholder"),
        ({"md_compact_tables": ["true"]}, "md_compact_tables"),
        ({"do_pdf_heading_hierarchy": ["true"]}, "do_pdf_heading_hierarchy"),
        ({"target_type": ["zip"]}, "target_type"),
        ({"target_type": ["s3"]}, "target_type"),
        ({"callbacks": ["http://127.0.0.1:9/done"]}, "callbacks"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_unsupported_option_rejected_by_name(settings, fields, option):
    with pytest.raises(InvalidOption) as raised:
        parse_v1_options(fields, settings, INSTALLED)

    assert raised.value.code == "unsupported_option"
    assert raised.value.details["option"] == option
    assert repr(option) in raised.value.message
    assert "not supported" in raised.value.message


def test_unknown_option_rejected(settings):
    with pytest.raises(UnknownOption) as raised:
        parse_v1_options({"do_chunking": ["true"]}, settings, INSTALLED)

    assert raised.value.details["option"] == "do_chunking"


@pytest.mark.parametrize(
    ("fields", "option"),
    [
        ({"do_ocr": ["maybe"]}, "do_ocr"),
        ({"table_mode": ["slow"]}, "table_mode"),
        ({"page_range": ["3", "2"]}, "page_range"),
        ({"ocr_lang": ["xx"]}, "ocr_lang"),
        ({"ocr_lang": ["fr"]}, "ocr_lang"),
        ({"document_timeout": ["601"]}, "document_timeout"),
        ({"document_timeout": ["0"]}, "document_timeout"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_invalid_value_rejected_by_name(settings, fields, option):
    with pytest.raises(InvalidOption) as raised:
        parse_v1_options(fields, settings, INSTALLED)

    assert raised.value.code == "invalid_option"
    assert raised.value.details["option"] == option


def test_document_version_header():
    assert check_document_version(None) is None
    assert check_document_version("1.9.0") == "1.9.0"
    for value in ("latest", "1.2.0", "0.9.0"):
        with pytest.raises(InvalidOption):
            check_document_version(value)


def test_api_key_redacted_in_log_text():
    text = ApiKeyQueryFilter.redact('127.0.0.1:5 - "WebSocket /v1/status/ws/abc?api_key=s3cret&tenant_id=x" [accepted]')

    assert "s3cret" not in text
    assert "api_key=***&tenant_id=x" in text


# Requests to the shared service.


def post_form(service, path: str, files, data=None, headers=None):
    return service.client.post(path, files=files, data=data or {}, headers=headers)


@pytest.mark.parametrize("path", ["/v1/convert/file", "/v1/convert/file/async"])
def test_endpoint_rejects_unsupported_option(service, path):
    with (TESTDATA_DIR / "dutch_pdf.pdf").open("rb") as document:
        response = post_form(service, path, {"files": ("dutch_pdf.pdf", document)}, {"pipeline": "vlm"})

    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "unsupported_option"
    assert body["error"]["option"] == "pipeline"
    assert "'pipeline'" in body["detail"]
    assert not [folder for folder in service.spool_dir.iterdir() if "-v1-" in folder.name]


def test_endpoint_rejects_two_files(service):
    content = (TESTDATA_DIR / "dutch_pdf.pdf").read_bytes()
    files = [("files", ("a.pdf", content)), ("files", ("b.pdf", content))]

    response = post_form(service, "/v1/convert/file", files)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_files"
    assert "one file per request" in response.json()["detail"]


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        ({"file": ("a.pdf", b"%PDF-1.4")}, 400, "missing_file"),
        ({"files": ("empty.pdf", b"")}, 400, "empty_upload"),
    ],
    ids=["wrong-field", "empty"],
)
def test_endpoint_rejects_bad_upload(service, files, status, code):
    response = post_form(service, "/v1/convert/file", files)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "'files'" in response.json()["detail"]


def test_endpoint_rejects_bad_document_version(service):
    with (TESTDATA_DIR / "dutch_pdf.pdf").open("rb") as document:
        response = post_form(
            service,
            "/v1/convert/file",
            {"files": ("dutch_pdf.pdf", document)},
            headers={"Accept-Docling-Document-Version": "1.0.0"},
        )

    assert response.status_code == 422
    assert response.json()["error"]["option"] == "Accept-Docling-Document-Version"


def test_endpoint_rejects_negative_poll_wait(service):
    response = service.client.get("/v1/status/poll/some-task", params={"wait": "-1"})

    assert response.status_code == 422
    assert response.json()["error"]["option"] == "wait"


def test_unsupported_format_is_failed_document(service):
    response = post_form(service, "/v1/convert/file", {"files": ("noise.pdf", bytes(range(256)) * 64)})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failure"
    assert "neither a known document format" in body["errors"][0]["error_message"]


def test_from_formats_excludes_document(service):
    with (TESTDATA_DIR / "dutch_pdf.pdf").open("rb") as document:
        response = post_form(
            service, "/v1/convert/file", {"files": ("dutch_pdf.pdf", document)}, {"from_formats": "docx"}
        )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failure"
    assert "not in from_formats" in body["errors"][0]["error_message"]


def test_openapi_documents_v1_routes(service):
    response = service.client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    cancel = paths["/v1/tasks/{task_id}"]["delete"]
    assert "Cancel" in cancel["summary"]
    assert "worker" in cancel["description"]
    form = paths["/v1/convert/file/async"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["files"]
    assert {"to_formats", "do_ocr", "page_range"} <= set(form["properties"])
    assert "get" in paths["/v1/status/poll/{task_id}"]
    assert "get" in paths["/v1/result/{task_id}"]
    assert "get" in paths["/version"]
