"""Conversions through the real service: testdata/, docling's own test PDFs, options and input formats.

The tests run on the demo models; test_service_real_models.py runs them again
on real models when DOCLING_REAL_MODELS_DIR names a folder of them.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import yaml

from runbook_lib.recall import word_recall

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA_DIR = REPO_ROOT / "testdata"
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus" / "docling"
EXPECTATIONS = yaml.safe_load((TESTDATA_DIR / "expectations.yaml").read_text(encoding="utf-8"))["files"]

# Text PDFs of docling's test set; the scanned ocr_test*.pdf and the encrypted file are tested separately.
CORPUS_TEXT_PDFS = (
    "multi_page",
    "normal_4pages",
    "redp5110_sampled",
    "code_and_formula",
    "picture_classification",
    "right_to_left_01",
    "bookmark_sample",
)
MIN_WORD_RECALL = 0.9

pytestmark = pytest.mark.timeout(900)


def convert(service, path_or_name: str | Path, content: bytes | None = None, data=None, params=None):
    """POST one file to /convert and return the response."""
    if content is None:
        path = Path(path_or_name)
        content = path.read_bytes()
        name = path.name
    else:
        name = str(path_or_name)
    return service.client.post("/convert", files={"file": (name, content)}, data=data or {}, params=params)


def collapse_whitespace(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def form_fields(options: dict) -> dict[str, str]:
    """Turn an expectations.yaml options mapping into form fields (lists comma-separated)."""
    fields = {}
    for name, value in options.items():
        if isinstance(value, list):
            fields[name] = ",".join(value)
        elif isinstance(value, bool):
            fields[name] = "true" if value else "false"
        else:
            fields[name] = str(value)
    return fields


def report_timings(name: str, body: dict) -> None:
    timings = body["timings"]
    print(f"{name}: {body['pages']} pages, conversion {timings['conversion']:.2f} s, total {timings['total']:.2f} s")


# testdata/ documents with their expected phrases.


@pytest.mark.parametrize(
    "name", [name for name, spec in EXPECTATIONS.items() if spec["status"] == 200], ids=str
)
def test_testdata_phrases(conversion_service, name):
    spec = EXPECTATIONS[name]
    fields = form_fields(spec.get("options", {}))
    if "password" in spec:
        fields["password"] = spec["password"]

    response = convert(conversion_service, TESTDATA_DIR / name, data=fields)

    assert response.status_code == 200, response.text
    body = response.json()
    report_timings(name, body)
    assert body["status"] == "success"
    assert body["filename"] == name
    assert body["input_format"] == "pdf"
    assert body["pages"] == spec["pages"]
    assert body["errors"] == []

    markdown = collapse_whitespace(body["markdown"])
    scanned_on_demo_models = not spec["text_layer"] and conversion_service.models == "demo"
    for phrase in spec["phrases"]:
        if scanned_on_demo_models:
            # The demo layout model finds no regions, so every OCR word becomes its own text
            # block and the line order is lost. The OCR must still read every word of the phrase.
            assert word_recall(phrase, markdown) == 1.0, f"words of {phrase!r} missing from OCR output"
        else:
            assert phrase in markdown


def test_encrypted_testdata_without_password(conversion_service):
    spec = EXPECTATIONS["encrypted.pdf"]

    response = convert(conversion_service, TESTDATA_DIR / "encrypted.pdf")

    assert response.status_code == spec["status_without_password"]
    error = response.json()["error"]
    assert error["code"] == "password_required"
    assert "password" in error["message"]
    assert "encrypted.pdf" in error["message"]


def test_documented_curl_call(conversion_service):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")

    command = ["curl", "-s", "-X", "POST", f"{conversion_service.url}/convert", "-F", "file=@./testdata/dutch_pdf.pdf"]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True)

    body = json.loads(completed.stdout)
    assert body["status"] == "success"
    assert body["filename"] == "dutch_pdf.pdf"
    assert body["pages"] == 3
    assert "Jaarverslag 2025" in body["markdown"]
    assert set(body["timings"]) == {"queue", "conversion", "total"}
    assert body["timings"]["total"] >= body["timings"]["conversion"]


# docling's own test PDFs, when the corpus folder exists.


@pytest.mark.parametrize("stem", CORPUS_TEXT_PDFS)
def test_corpus_word_recall(conversion_service, stem):
    pdf = CORPUS_DIR / f"{stem}.pdf"
    if not pdf.exists():
        pytest.skip(f"{pdf} is not available")

    response = convert(conversion_service, pdf, data={"do_ocr": "false"})

    assert response.status_code == 200, response.text
    body = response.json()
    report_timings(pdf.name, body)
    assert body["status"] in ("success", "partial_success")
    assert body["pages"] >= 1

    expected = pdf.with_suffix(".expected.md")
    if expected.exists():
        recall = word_recall(expected.read_text(encoding="utf-8"), body["markdown"])
        print(f"{pdf.name}: word recall {recall:.3f}")
        assert recall >= MIN_WORD_RECALL
    else:
        # No reference Markdown for this file: it must still yield the text PDFium extracts.
        document = pdfium.PdfDocument(str(pdf))
        reference = " ".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
        document.close()
        assert word_recall(reference, body["markdown"]) >= MIN_WORD_RECALL


def test_corpus_password_file(conversion_service):
    pdf = CORPUS_DIR / "password_1234_2206.01062_pg3.pdf"
    if not pdf.exists():
        pytest.skip(f"{pdf} is not available")

    with_password = convert(conversion_service, pdf, data={"password": "1234", "do_ocr": "false"})
    without_password = convert(conversion_service, pdf, data={"do_ocr": "false"})

    assert with_password.status_code == 200, with_password.text
    assert "DocLayNet" in with_password.json()["markdown"]
    assert without_password.status_code == 422
    assert without_password.json()["error"]["code"] == "password_required"
    assert "password" in without_password.json()["error"]["message"]


# Output formats and options.


def test_all_output_formats_at_once(conversion_service):
    response = convert(
        conversion_service, TESTDATA_DIR / "english_two_column.pdf", data={"to_formats": "md,json,html,text", "do_ocr": "false"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert "Cooling the City" in body["markdown"]
    assert body["json"]["schema_name"] == "DoclingDocument"
    assert "<html" in body["html"]
    assert "Cooling the City" in body["html"]
    assert "Cooling the City" in body["text"]


def test_repeated_to_formats_fields(conversion_service):
    content = (TESTDATA_DIR / "english_two_column.pdf").read_bytes()
    response = conversion_service.client.post(
        "/convert",
        files=[("file", ("two.pdf", content)), ("to_formats", (None, "text")), ("to_formats", (None, "html"))],
        data={"do_ocr": "false"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert {"text", "html"} <= set(body)
    assert "markdown" not in body


def test_options_from_query_string(conversion_service):
    response = convert(
        conversion_service,
        TESTDATA_DIR / "english_two_column.pdf",
        params={"to_formats": "html", "do_ocr": "false", "table_mode": "fast"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert "html" in body
    assert "markdown" not in body


def test_form_field_overrides_query(conversion_service):
    response = convert(
        conversion_service,
        TESTDATA_DIR / "english_two_column.pdf",
        params={"to_formats": "html"},
        data={"to_formats": "text", "do_ocr": "false"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert "text" in body
    assert "html" not in body


def test_page_range_limits_pages(conversion_service):
    pdf = TESTDATA_DIR / "dutch_pdf.pdf"
    document = pdfium.PdfDocument(str(pdf))
    page_texts = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    document.close()
    assert "Voorwoord" in page_texts[0]
    assert all("Voorwoord" not in text for text in page_texts[1:])

    response = convert(conversion_service, pdf, data={"page_range": "2-3", "to_formats": "md,json", "do_ocr": "false"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pages"] == 2
    assert set(body["json"]["pages"]) == {"2", "3"}
    assert "Voorwoord" not in body["markdown"]


def test_single_page_range(conversion_service):
    response = convert(conversion_service, TESTDATA_DIR / "dutch_pdf.pdf", data={"page_range": "1", "do_ocr": "false"})

    assert response.status_code == 200, response.text
    assert response.json()["pages"] == 1
    assert "Voorwoord" in response.json()["markdown"]


def test_table_structure_off_and_fast_mode(conversion_service):
    for fields in ({"do_table_structure": "false"}, {"table_mode": "fast"}):
        response = convert(conversion_service, TESTDATA_DIR / "dutch_pdf.pdf", data={**fields, "do_ocr": "false"})

        assert response.status_code == 200, response.text
        assert "Tabel 1. Lasten per programma" in response.json()["markdown"]


def test_scan_without_ocr_warns(conversion_service):
    response = convert(conversion_service, TESTDATA_DIR / "scanned_nl_en.pdf", data={"do_ocr": "false"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["markdown"].strip() == ""
    assert any("do_ocr=true" in warning for warning in body["warnings"])


def test_password_for_plain_pdf_is_ignored(conversion_service):
    response = convert(conversion_service, TESTDATA_DIR / "english_two_column.pdf", data={"password": "x", "do_ocr": "false"})

    assert response.status_code == 200, response.text
    assert any("not encrypted" in warning for warning in response.json()["warnings"])


# Other input formats, detected from the bytes: every upload below has a misleading file name.


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Kwartaalrapport waterbeheer", level=1)
    document.add_paragraph("De waterstand in de polder bleef het hele kwartaal binnen de marges.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_pptx() -> bytes:
    import pptx

    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = "Roadmap for the harbour renovation"
    slide.placeholders[1].text = "Dredging starts in the second quarter"
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def make_xlsx() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Programma", "Begroting"])
    sheet.append(["Sportvoorzieningen", 1250])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def make_csv() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["station", "temperature"])
    writer.writerow(["Lindeveld-Noord", "21.5"])
    writer.writerow(["Lindeveld-Zuid", "23.0"])
    return buffer.getvalue().encode()


def make_png() -> bytes:
    document = pdfium.PdfDocument(str(TESTDATA_DIR / "scanned_nl_en.pdf"))
    page = document[1]
    image = page.render(scale=150 / 72).to_pil()
    document.close()
    buffer = io.BytesIO()
    image.convert("L").save(buffer, format="PNG")
    return buffer.getvalue()


FORMAT_CASES = {
    "docx": (make_docx, "report.bin", "Kwartaalrapport waterbeheer"),
    "pptx": (make_pptx, "slides.pdf", "harbour renovation"),
    "xlsx": (make_xlsx, "sheet.txt", "Sportvoorzieningen"),
    "html": (
        lambda: b"<!DOCTYPE html><html><body><h1>Gemeenteraad</h1><p>Vergadering over de begroting.</p></body></html>",
        "page.docx",
        "Vergadering over de begroting",
    ),
    "md": (lambda: "# Notulen\n\nDe raad stemde **unaniem** in.\n".encode(), "notes.html", "unaniem"),
    "csv": (make_csv, "data.md", "Lindeveld-Noord"),
}


@pytest.mark.parametrize("input_format", sorted(FORMAT_CASES))
def test_office_and_text_formats(conversion_service, input_format):
    build, misleading_name, phrase = FORMAT_CASES[input_format]

    response = convert(conversion_service, misleading_name, content=build(), data={"do_ocr": "false"})

    assert response.status_code == 200, response.text
    body = response.json()
    report_timings(f"{input_format} as {misleading_name}", body)
    assert body["input_format"] == input_format
    assert phrase in body["markdown"]


def test_image_upload_with_ocr(conversion_service):
    response = convert(conversion_service, "scan.pdf", content=make_png(), data={"ocr_lang": "eng"})

    assert response.status_code == 200, response.text
    body = response.json()
    report_timings("png as scan.pdf", body)
    assert body["input_format"] == "image"
    assert word_recall("Northbridge Water Company", body["markdown"]) == 1.0


def test_zip_of_other_files_is_rejected(conversion_service):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not an office document")

    response = convert(conversion_service, "archive.docx", content=buffer.getvalue())

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_format"
    assert "ZIP" in response.json()["error"]["message"]
