"""Checks of the committed sample documents in testdata/ and their expectations."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import yaml

TESTDATA = Path(__file__).resolve().parents[1] / "testdata"
DOCUMENT_SUFFIXES = {".pdf"}
EXPECTATIONS = yaml.safe_load((TESTDATA / "expectations.yaml").read_text(encoding="utf-8"))["files"]
TEXT_LAYER_FILES = sorted(name for name, entry in EXPECTATIONS.items() if entry["text_layer"])


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def _committed_documents() -> set[str]:
    return {path.name for path in TESTDATA.iterdir() if path.suffix.lower() in DOCUMENT_SUFFIXES}


@pytest.mark.timeout(120)
def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(TESTDATA / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )

    generated = {path.name for path in tmp_path.iterdir()}
    assert generated == _committed_documents()
    for name in sorted(generated):
        assert (tmp_path / name).read_bytes() == (TESTDATA / name).read_bytes(), (
            f"regenerated {name} differs from the committed file: if reportlab, Pillow, zlib "
            "or fonts-dejavu-core changed, run `.venv/bin/python testdata/generate.py` and review the diff"
        )


def test_expectations_match_documents() -> None:
    documents = _committed_documents()

    assert documents - EXPECTATIONS.keys() == set(), "documents without an entry in expectations.yaml"
    assert EXPECTATIONS.keys() - documents == set(), "expectations.yaml entries without a document"


@pytest.mark.parametrize("name", TEXT_LAYER_FILES)
def test_text_layer_contains_phrases(name: str) -> None:
    entry = EXPECTATIONS[name]
    pdf = pdfium.PdfDocument(TESTDATA / name, password=entry.get("password"))
    lines = []
    for page in pdf:
        lines += [_collapse_whitespace(line) for line in page.get_textpage().get_text_range().splitlines()]

    assert len(pdf) == entry["pages"]
    assert 4 <= len(entry["phrases"]) <= 8
    for phrase in entry["phrases"]:
        assert any(phrase in line for line in lines), f"{phrase!r} is not within one text line of {name}"


def test_encrypted_opens_only_with_password() -> None:
    path = TESTDATA / "encrypted.pdf"
    password = EXPECTATIONS["encrypted.pdf"]["password"]

    with pytest.raises(pdfium.PdfiumError, match="password"):
        pdfium.PdfDocument(path)
    with pytest.raises(pdfium.PdfiumError, match="password"):
        pdfium.PdfDocument(path, password=password + "-wrong")
    assert len(pdfium.PdfDocument(path, password=password)) == 1


def test_corrupt_fails_to_open() -> None:
    entry = EXPECTATIONS["corrupt.pdf"]

    assert entry["status"] == 422
    assert entry["phrases"] == []
    with pytest.raises(pdfium.PdfiumError):
        pdfium.PdfDocument(TESTDATA / "corrupt.pdf")


@pytest.mark.timeout(300)
def test_scanned_text_only_via_ocr(tmp_path: Path) -> None:
    tesseract = shutil.which("tesseract")
    assert tesseract, "tesseract not found on PATH: run `make setup` to install tesseract-ocr"
    entry = EXPECTATIONS["scanned_nl_en.pdf"]
    languages = "+".join(entry["options"]["ocr_lang"])
    pdf = pdfium.PdfDocument(TESTDATA / "scanned_nl_en.pdf")

    ocr_text = []
    for index, page in enumerate(pdf):
        assert page.get_textpage().get_text_range().strip() == "", f"page {index + 1} has a text layer"
        image_path = tmp_path / f"page{index + 1}.png"
        page.render(scale=300 / 72, grayscale=True).to_pil().save(image_path)
        result = subprocess.run(
            [tesseract, str(image_path), "stdout", "-l", languages],
            check=True,
            capture_output=True,
            text=True,
        )
        ocr_text.append(result.stdout)

    assert len(pdf) == entry["pages"]
    recognised = _collapse_whitespace(" ".join(ocr_text))
    for phrase in entry["phrases"]:
        assert phrase in recognised, f"OCR of scanned_nl_en.pdf lacks {phrase!r}"
