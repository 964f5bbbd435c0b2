"""Hostile input: every real-world PDF of the corpus and generated bad documents get their documented response.

One service (demo models, one worker) takes every case in turn while a thread polls
``/health``. Each case must get its documented status and error code within the
client's time limit, the server must stay alive, and no temporary file may be left
in the service's temp folder, neither while it runs nor after it stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

import hostile_documents as docs
from test_service_api import metric_value

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA_DIR = REPO_ROOT / "testdata"
CORPUS_ROOT = REPO_ROOT.parent / "shared" / "corpus"
EXPECTATIONS = yaml.safe_load((TESTDATA_DIR / "expectations.yaml").read_text(encoding="utf-8"))["files"]

MAX_PAGES = 20
MAX_IMAGE_PIXELS = 100_000_000
REQUEST_TIMEOUT_S = 120
# The client gives up later than the service's own limit, so a hang shows as a failed request.
CLIENT_TIMEOUT_S = REQUEST_TIMEOUT_S + 60

# Codes of the documented error table (docs/service.md) that a document may get.
DOCUMENT_CODES = {
    400: {"empty_upload"},
    413: {"upload_too_large", "too_many_pages", "image_too_large"},
    415: {"unsupported_format"},
    422: {"corrupt_document", "password_required", "wrong_password", "conversion_failed", "invalid_option"},
    500: {"converter_crashed"},
    504: {"conversion_timeout"},
}

pytestmark = pytest.mark.timeout(900)


class HealthPoller:
    """Polls /health from a thread until stopped and records every failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> HealthPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            while not self._stop.is_set():
                try:
                    response = client.get("/health")
                    if response.status_code == 200:
                        self.answers += 1
                    else:
                        self.failures.append(f"/health returned {response.status_code}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"/health failed: {exc!r}")
                self._stop.wait(0.5)


@pytest.fixture(scope="module")
def hostile_service(start_service, demo_models_dir):
    service = start_service(
        demo_models_dir,
        workers=1,
        env={
            "DOCLING_API_MAX_UPLOAD_BYTES": str(4 * 1024 * 1024),
            "DOCLING_API_MAX_PAGES": str(MAX_PAGES),
            "DOCLING_API_MAX_IMAGE_PIXELS": str(MAX_IMAGE_PIXELS),
            "DOCLING_API_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
        },
    )
    poller = HealthPoller(service.url).start()
    yield service, poller
    poller.stop()


def post(service, filename: str, content: bytes, data: dict | None = None) -> httpx.Response:
    return service.client.post(
        "/convert", files={"file": (filename, content)}, data=data or {}, timeout=CLIENT_TIMEOUT_S
    )


def assert_documented(response: httpx.Response, filename: str) -> dict:
    """Check that the response is a success or a documented error that names the file, and return the body."""
    body = response.json()
    if response.status_code == 200:
        assert body["status"] in ("success", "partial_success")
        return body

    assert response.status_code in DOCUMENT_CODES, response.text
    error = body["error"]
    assert error["code"] in DOCUMENT_CODES[response.status_code], response.text
    assert error["message"]
    assert "Traceback" not in response.text
    if error["code"] not in ("empty_upload", "unsupported_format", "upload_too_large", "invalid_option"):
        assert filename in error["message"], response.text
    return body


def assert_no_temporary_files(service) -> None:
    """Nothing but the live workers' private folders may be in the temp folder, and no upload is left in them."""
    leftovers = [entry.name for entry in service.upload_spools()]
    for entry in service.spool_dir.iterdir():
        leftovers += [str(path.relative_to(service.spool_dir)) for path in entry.rglob("*") if path.is_file()
                      and path.suffix.lower() in (".pdf", ".png", ".html", ".md", ".docx", ".tif", ".tiff")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


# Generated cases: file name, content builder, form fields, status, error code (None for a success).
Case = tuple[str, Callable[[], bytes], dict, int, str | None]

ENCRYPTED = TESTDATA_DIR / "encrypted.pdf"
ENCRYPTED_PASSWORD = EXPECTATIONS["encrypted.pdf"]["password"]

GENERATED_CASES: dict[str, Case] = {
    "empty_file": ("empty.pdf", lambda: b"", {}, 400, "empty_upload"),
    "random_bytes": ("noise.pdf", docs.random_bytes, {}, 415, "unsupported_format"),
    "truncated_pdf": ("truncated.pdf", docs.truncated_pdf, {}, 422, "corrupt_document"),
    # PDFium rebuilds a broken cross-reference table by scanning the objects, so the text survives.
    "broken_xref": ("broken_xref.pdf", docs.broken_xref_pdf, {"do_ocr": "false"}, 200, None),
    "encrypted_without_password": ("encrypted.pdf", ENCRYPTED.read_bytes, {}, 422, "password_required"),
    "encrypted_wrong_password": ("encrypted.pdf", ENCRYPTED.read_bytes, {"password": "guess"}, 422, "wrong_password"),
    "encrypted_with_password": (
        "encrypted.pdf", ENCRYPTED.read_bytes, {"password": ENCRYPTED_PASSWORD, "do_ocr": "false"}, 200, None,
    ),
    "too_many_pages": ("many_pages.pdf", lambda: docs.text_pdf(MAX_PAGES + 5), {}, 413, "too_many_pages"),
    "png_image_bomb": ("bomb.png", docs.png_bomb, {}, 413, "image_too_large"),
    "pdf_embedded_image_bomb": ("embedded_bomb.pdf", docs.image_bomb_pdf, {}, 413, "image_too_large"),
    "pdf_huge_page": ("huge_page.pdf", docs.huge_page_pdf, {}, 413, "image_too_large"),
    # The format comes from the bytes, never from the name.
    "html_named_pdf": ("report.pdf", docs.html_document, {}, 200, None),
    "very_long_filename": ("r" * 1000 + ".pdf", lambda: docs.text_pdf(1), {"do_ocr": "false"}, 200, None),
    "filename_with_path_separators": (
        "../../../etc/cron.d/evil.pdf", lambda: docs.text_pdf(1), {"do_ocr": "false"}, 200, None,
    ),
    "filename_with_backslashes": (
        "..\\..\\windows\\evil.pdf", lambda: docs.text_pdf(1), {"do_ocr": "false"}, 200, None,
    ),
    "blank_page_with_ocr": ("blank.pdf", docs.blank_pdf, {}, 200, None),
    "scan_without_ocr": (
        "scanned_nl_en.pdf", (TESTDATA_DIR / "scanned_nl_en.pdf").read_bytes, {"do_ocr": "false"}, 200, None,
    ),
}


@pytest.mark.parametrize("case", list(GENERATED_CASES), ids=str)
def test_generated_case(hostile_service, case):
    service, _ = hostile_service
    filename, build, data, status, code = GENERATED_CASES[case]

    response = post(service, filename, build(), data)

    assert response.status_code == status, response.text
    body = assert_documented(response, filename.replace("\\", "/").rsplit("/", 1)[-1])
    if code is not None:
        assert body["error"]["code"] == code
    assert service.client.get("/health").status_code == 200


def test_page_limit_names_page_count(hostile_service):
    service, _ = hostile_service

    response = post(service, "many_pages.pdf", docs.text_pdf(MAX_PAGES + 5))

    error = response.json()["error"]
    assert response.status_code == 413
    assert f"has {MAX_PAGES + 5} pages" in error["message"]
    assert str(MAX_PAGES) in error["message"]
    assert (error["pages"], error["max_pages"]) == (MAX_PAGES + 5, MAX_PAGES)


def test_page_range_within_limit_converts_long_document(hostile_service):
    service, _ = hostile_service

    response = post(service, "many_pages.pdf", docs.text_pdf(MAX_PAGES + 5), {"page_range": "3-4", "do_ocr": "false"})

    assert response.status_code == 200, response.text
    assert "Page 3:" in response.json()["markdown"]


def test_image_bombs_name_their_size(hostile_service):
    service, _ = hostile_service

    png = post(service, "bomb.png", docs.png_bomb()).json()["error"]
    embedded = post(service, "embedded_bomb.pdf", docs.image_bomb_pdf()).json()["error"]
    page = post(service, "huge_page.pdf", docs.huge_page_pdf()).json()["error"]

    assert "30000 x 30000 pixels" in png["message"]
    assert "bomb.png" in png["message"]
    assert "page 1 embeds an image of 30000 x 30000 pixels" in embedded["message"]
    assert "page 1 renders at 43200 x 43200 pixels" in page["message"]
    for error in (png, embedded, page):
        assert error["max_image_pixels"] == MAX_IMAGE_PIXELS
        assert str(MAX_IMAGE_PIXELS) in error["message"]


def test_filename_keeps_only_last_component(hostile_service):
    service, _ = hostile_service

    unix = post(service, "../../../etc/cron.d/evil.pdf", docs.text_pdf(1), {"do_ocr": "false"}).json()
    windows = post(service, "..\\..\\windows\\evil.pdf", docs.text_pdf(1), {"do_ocr": "false"}).json()
    long_name = post(service, "r" * 1000 + ".pdf", docs.text_pdf(1), {"do_ocr": "false"}).json()

    assert unix["filename"] == "evil.pdf"
    assert windows["filename"] == "evil.pdf"
    assert long_name["filename"] == "r" * 1000 + ".pdf"
    assert "Page 1:" in long_name["markdown"]


def test_misnamed_html_is_converted_as_html(hostile_service):
    service, _ = hostile_service

    body = post(service, "report.pdf", docs.html_document()).json()

    assert body["input_format"] == "html"
    assert "Harbour report" in body["markdown"]


def test_empty_results_are_partial_success(hostile_service):
    service, _ = hostile_service

    blank = post(service, "blank.pdf", docs.blank_pdf()).json()
    scan = post(service, "scanned_nl_en.pdf", (TESTDATA_DIR / "scanned_nl_en.pdf").read_bytes(), {"do_ocr": "false"}).json()

    assert blank["status"] == "partial_success"
    assert any("No text was found in blank.pdf, although OCR was on" in warning for warning in blank["warnings"])
    assert scan["status"] == "partial_success"
    assert any("OCR was off" in warning and "do_ocr=true" in warning for warning in scan["warnings"])


def corpus_pdfs() -> list[Path]:
    if not CORPUS_ROOT.is_dir():
        return []
    return sorted(CORPUS_ROOT.rglob("*.pdf"))


@pytest.mark.skipif(not corpus_pdfs(), reason=f"no corpus PDFs under {CORPUS_ROOT}")
@pytest.mark.parametrize("path", corpus_pdfs(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_corpus_pdf(hostile_service, path):
    service, _ = hostile_service

    # OCR off keeps the suite quick; the scanned files then convert to no text (partial_success).
    response = post(service, path.name, path.read_bytes(), {"do_ocr": "false"})

    body = assert_documented(response, path.name)
    if response.status_code == 200 and body["status"] == "partial_success":
        assert body["warnings"], response.text
    assert service.client.get("/health").status_code == 200


def test_server_alive_and_clean_throughout(hostile_service):
    service, poller = hostile_service

    assert service.process.poll() is None
    assert poller.answers > 0
    assert poller.failures == []
    assert_no_temporary_files(service)
    metrics = service.client.get("/metrics").text
    assert metric_value(metrics, "docling_api_rejections_total", {"reason": "too_many_pages"}) >= 1
    assert metric_value(metrics, "docling_api_rejections_total", {"reason": "image_too_large"}) >= 3
    assert metric_value(metrics, "docling_api_conversions_in_flight") == 0


def test_temp_folder_empty_after_stop(hostile_service):
    service, poller = hostile_service
    poller.stop()

    service.stop()

    assert service.process.returncode is not None
    assert list(service.spool_dir.iterdir()) == []
