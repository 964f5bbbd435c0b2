"""Bad input to POST /convert: each case gets its 4xx JSON error, and the service keeps serving."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTDATA_DIR = Path(__file__).resolve().parent.parent / "testdata"

pytestmark = pytest.mark.timeout(600)


def post_file(service, name: str, content: bytes, data=None, params=None):
    return service.client.post("/convert", files={"file": (name, content)}, data=data or {}, params=params)


def assert_error(response, status: int, code: str, *message_parts: str) -> dict:
    """Check status, error code and that the message names the problem; return the error object."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    for part in message_parts:
        assert part in error["message"]
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in response.text
    return error


def assert_still_serving(service) -> None:
    assert service.client.get("/health").status_code == 200
    assert service.client.get("/ready").status_code == 200


def test_empty_upload(service):
    response = post_file(service, "empty.pdf", b"")

    assert_error(response, 400, "empty_upload", "empty.pdf", "empty")
    assert_still_serving(service)


def test_random_bytes(service):
    content = bytes(range(256)) * 20

    response = post_file(service, "report.pdf", content)

    error = assert_error(response, 415, "unsupported_format", "PDF, DOCX")
    assert error["detected_mime"] == "application/octet-stream"
    assert_still_serving(service)


def test_known_but_unsupported_binary(service):
    # A gzip stream: filetype recognises it, docling does not convert it.
    import gzip

    response = post_file(service, "report.pdf", gzip.compress(b"hello world" * 100))

    error = assert_error(response, 415, "unsupported_format", "application/gzip")
    assert error["detected_mime"] == "application/gzip"
    assert_still_serving(service)


def test_plain_xml_is_rejected(service):
    response = post_file(service, "data.xml", b'<?xml version="1.0"?>\n<inventory><item>bolt</item></inventory>\n')

    assert_error(response, 415, "unsupported_format", "XML")
    assert_still_serving(service)


def test_corrupt_pdf(service):
    content = (TESTDATA_DIR / "corrupt.pdf").read_bytes()

    response = post_file(service, "corrupt.pdf", content)

    assert_error(response, 422, "corrupt_document", "corrupt.pdf", "damaged or truncated")
    assert_still_serving(service)


def test_truncated_pdf(service):
    content = (TESTDATA_DIR / "dutch_pdf.pdf").read_bytes()[:1500]

    response = post_file(service, "cut.pdf", content)

    assert_error(response, 422, "corrupt_document", "cut.pdf")
    assert_still_serving(service)


def test_encrypted_pdf_without_password(service):
    content = (TESTDATA_DIR / "encrypted.pdf").read_bytes()

    response = post_file(service, "encrypted.pdf", content)

    assert_error(response, 422, "password_required", "encrypted.pdf", "password is needed")
    assert_still_serving(service)


def test_encrypted_pdf_with_wrong_password(service):
    content = (TESTDATA_DIR / "encrypted.pdf").read_bytes()

    response = post_file(service, "encrypted.pdf", content, data={"password": "not-the-password"})

    error = assert_error(response, 422, "wrong_password", "encrypted.pdf", "password sent is wrong")
    assert "not-the-password" not in str(error)
    assert "not-the-password" not in service.log_path.read_text(encoding="utf-8")
    assert_still_serving(service)


def test_password_in_query_string(service):
    content = (TESTDATA_DIR / "encrypted.pdf").read_bytes()

    response = post_file(service, "encrypted.pdf", content, params={"password": "lindeveld-2026"})

    assert_error(response, 422, "invalid_option", "'password'", "form field")
    assert_still_serving(service)


def test_upload_over_limit_with_content_length(service):
    limit = service.client.get("/").json()["limits"]["max_upload_bytes"]
    content = os.urandom(limit + 1024 * 1024)

    response = post_file(service, "big.pdf", content)

    error = assert_error(response, 413, "upload_too_large", str(limit))
    assert error["max_upload_bytes"] == limit
    assert_still_serving(service)


def test_upload_over_limit_while_streaming(service):
    limit = service.client.get("/").json()["limits"]["max_upload_bytes"]
    boundary = "limit-test-boundary"
    chunk = b"%PDF-1.7\n" + b"0" * (64 * 1024)
    chunks_needed = limit // len(chunk) + 8

    def body():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="stream.pdf"\r\n'.encode()
        yield b"Content-Type: application/pdf\r\n\r\n"
        for _ in range(chunks_needed):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    # A generator body goes out with chunked transfer encoding: no Content-Length to check up front.
    response = service.client.post(
        "/convert", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )

    assert_error(response, 413, "upload_too_large", "stream.pdf", str(limit))
    assert_still_serving(service)


@pytest.mark.parametrize(
    ("option", "value", "allowed_text"),
    [
        ("to_formats", "pdf", "md, json, html, text"),
        ("table_mode", "slow", "fast, accurate"),
        ("do_ocr", "maybe", "true, false"),
        ("do_table_structure", "2", "true, false"),
        ("page_range", "3-1", "1-3"),
        ("page_range", "first", "1-3"),
        ("ocr_lang", "klingon", "eng, nld"),
    ],
)
def test_invalid_option_value(service, option, value, allowed_text):
    content = (TESTDATA_DIR / "english_two_column.pdf").read_bytes()

    response = post_file(service, "doc.pdf", content, data={option: value})

    error = assert_error(response, 422, "invalid_option", f"'{option}'", allowed_text)
    assert error["option"] == option
    assert_still_serving(service)


def test_invalid_option_in_query(service):
    content = (TESTDATA_DIR / "english_two_column.pdf").read_bytes()

    response = post_file(service, "doc.pdf", content, params={"table_mode": "medium"})

    assert_error(response, 422, "invalid_option", "'table_mode'", "fast, accurate")
    assert_still_serving(service)


def test_page_range_past_last_page(service):
    content = (TESTDATA_DIR / "english_two_column.pdf").read_bytes()

    response = post_file(service, "doc.pdf", content, data={"page_range": "4-5"})

    error = assert_error(response, 422, "invalid_option", "'page_range'", "1 pages", "1-1")
    assert error["value"] == "4-5"
    assert_still_serving(service)


def test_unknown_option_name(service):
    content = (TESTDATA_DIR / "english_two_column.pdf").read_bytes()

    response = post_file(service, "doc.pdf", content, data={"to_format": "md"})

    error = assert_error(response, 422, "unknown_option", "'to_format'", "to_formats")
    assert "to_formats" in error["allowed"]
    assert_still_serving(service)


def test_not_multipart(service):
    response = service.client.post("/convert", json={"file": "abc"})

    assert_error(response, 400, "invalid_multipart", "multipart/form-data", "'file'")
    assert_still_serving(service)


def test_malformed_multipart(service):
    response = service.client.post(
        "/convert",
        content=b"this is not a multipart body at all",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("invalid_multipart", "missing_file")
    assert_still_serving(service)


def test_file_in_wrong_field(service):
    content = (TESTDATA_DIR / "english_two_column.pdf").read_bytes()

    response = service.client.post("/convert", files={"document": ("doc.pdf", content)})

    error = assert_error(response, 400, "missing_file", "'document'", "'file'")
    assert error["field"] == "document"
    assert_still_serving(service)


def test_no_file_field(service):
    response = service.client.post("/convert", files={"to_formats": (None, "md")})

    assert_error(response, 400, "missing_file", "'file'")
    assert_still_serving(service)


def test_two_files(service):
    content = (TESTDATA_DIR / "english_two_column.pdf").read_bytes()

    response = service.client.post("/convert", files=[("file", ("a.pdf", content)), ("file", ("b.pdf", content))])

    assert_error(response, 400, "bad_request", "one file")
    assert_still_serving(service)


def test_spool_folders_removed(service):
    """Every upload in this module was spooled into a private folder; none may remain."""
    assert service.upload_spools() == []
