"""Reference run: the same DoclingServiceClient calls against docling-serve and against this service.

docling-serve (the pip package) serves the same demo models on loopback, with its
models loaded on first use, and the requests turn OCR and table structure off as
docling-serve needs with these models. A difference in status, document or task
protocol fails the comparison. The one documented difference: a document without
any text, converted with OCR off, is ``partial_success`` here and ``success`` there.
Skipped when docling-serve is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from docling.datamodel.base_models import ConversionStatus
from docling.datamodel.service import ConvertDocumentsOptions, InBodyTarget
from docling.service_client import DoclingServiceClient, StatusWatcherKind

from conftest import free_loopback_port

pytest.importorskip("docling_serve", reason="docling-serve is not installed")

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA_DIR = REPO_ROOT / "testdata"
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus" / "docling"
TESTDATA_FILES = ("dutch_pdf.pdf", "english_two_column.pdf", "corrupt.pdf", "encrypted.pdf", "scanned_nl_en.pdf")
CORPUS_FILES = tuple(sorted(path.name for path in CORPUS_DIR.glob("*.pdf"))) if CORPUS_DIR.is_dir() else ()
SUCCESSFUL = (ConversionStatus.SUCCESS, ConversionStatus.PARTIAL_SUCCESS)

with warnings.catch_warnings():
    # docling's own option validators read their deprecated fields.
    warnings.simplefilter("ignore", DeprecationWarning)
    CLIENT_OPTIONS = ConvertDocumentsOptions(do_ocr=False, do_table_structure=False)

pytestmark = [
    pytest.mark.reference,
    pytest.mark.timeout(900),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(scope="module")
def docling_serve_url(demo_models_dir, tmp_path_factory) -> Iterator[str]:
    """docling-serve on a free loopback port with the demo models and one local worker."""
    run_dir = tmp_path_factory.mktemp("docling-serve")
    port = free_loopback_port()
    environment = {
        **os.environ,
        "DOCLING_SERVE_ARTIFACTS_PATH": str(demo_models_dir),
        "DOCLING_SERVE_LOAD_MODELS_AT_BOOT": "false",
        "DOCLING_SERVE_ENABLE_UI": "false",
        "DOCLING_SERVE_ENG_LOC_NUM_WORKERS": "1",
        "DOCLING_SERVE_SCRATCH_PATH": str(run_dir / "scratch"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    log_path = run_dir / "docling-serve.log"
    command = [sys.executable, "-m", "docling_serve", "run", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=environment)

    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for_health(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docling-serve exited with code {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"docling-serve did not answer /health within 180 s:\n{log_path.read_text()[-4000:]}")


def clients(service, docling_serve_url: str, watcher: StatusWatcherKind = StatusWatcherKind.WEBSOCKET):
    ours = DoclingServiceClient(service.url, options=CLIENT_OPTIONS, status_watcher=watcher, poll_server_wait=2.0)
    theirs = DoclingServiceClient(docling_serve_url, options=CLIENT_OPTIONS, status_watcher=watcher, poll_server_wait=2.0)
    return ours, theirs


def assert_same_result(ours, theirs) -> None:
    """Compare two ConversionResults, allowing the one documented difference."""
    text_found = bool(theirs.document.export_to_text().strip())
    if theirs.status == ConversionStatus.SUCCESS and not text_found:
        # The service reports a conversion that found no text as partial, with the reason.
        assert ours.status == ConversionStatus.PARTIAL_SUCCESS
        assert any("No text was found" in error.error_message for error in ours.errors)
    else:
        assert ours.status == theirs.status

    if theirs.status in SUCCESSFUL:
        assert ours.document.export_to_dict() == theirs.document.export_to_dict()
        assert ours.document.export_to_markdown() == theirs.document.export_to_markdown()
    else:
        assert ours.errors
        assert theirs.errors


def test_health_and_versions_match(service, docling_serve_url):
    ours, theirs = clients(service, docling_serve_url)
    with ours, theirs:
        assert ours.health() == theirs.health()
        our_versions = ours.version()
        their_versions = theirs.version()

    for package in ("docling", "docling-core", "docling-ibm-models", "docling-parse", "python"):
        assert our_versions[package] == their_versions[package]


@pytest.mark.parametrize(
    "path",
    [TESTDATA_DIR / name for name in TESTDATA_FILES] + [CORPUS_DIR / name for name in CORPUS_FILES],
    ids=lambda path: path.name,
)
def test_convert_matches_docling_serve(service, docling_serve_url, path):
    ours, theirs = clients(service, docling_serve_url)
    with ours, theirs:
        our_result = ours.convert(path, raises_on_error=False)
        their_result = theirs.convert(path, raises_on_error=False)

    assert our_result.input.file.name == their_result.input.file.name == path.name
    assert_same_result(our_result, their_result)


@pytest.mark.parametrize("watcher", [StatusWatcherKind.POLLING, StatusWatcherKind.WEBSOCKET])
def test_convert_all_matches_docling_serve(service, docling_serve_url, watcher):
    paths = [TESTDATA_DIR / name for name in ("dutch_pdf.pdf", "corrupt.pdf", "english_two_column.pdf")]
    ours, theirs = clients(service, docling_serve_url, watcher)
    with ours, theirs:
        our_results = list(ours.convert_all(paths))
        their_results = list(theirs.convert_all(paths))

    assert [result.input.file.name for result in our_results] == [path.name for path in paths]
    assert len(our_results) == len(their_results)
    for our_result, their_result in zip(our_results, their_results):
        assert_same_result(our_result, their_result)


def test_task_protocol_matches_docling_serve(service, docling_serve_url):
    ours, theirs = clients(service, docling_serve_url)
    with ours, theirs:
        our_job = ours.submit(TESTDATA_DIR / "dutch_pdf.pdf", target=InBodyTarget())
        their_job = theirs.submit(TESTDATA_DIR / "dutch_pdf.pdf", target=InBodyTarget())
        assert our_job.status == their_job.status == "pending"

        our_final = [update.task_status for update in our_job.watch()][-1]
        their_final = [update.task_status for update in their_job.watch()][-1]
        assert our_final == their_final == "success"

        assert_same_result(our_job.result(), their_job.result())
