"""Unit tests of the service's pure parts: settings, options, format detection, model sets, word recall."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from docling_api.detection import detect_format
from docling_api.errors import InvalidOption, UnknownOption, UnsupportedFormat
from docling_api.model_set import REQUIRED_MODEL_FOLDERS, ModelSetError, resolve_model_set
from docling_api.options import parse_convert_options
from docling_api.settings import Settings
from docling_api.warmup import warmup_pdf_bytes
from runbook_lib.recall import word_recall, words

TESTDATA_DIR = Path(__file__).resolve().parent.parent / "testdata"


# Word recall.


def test_recall_counts_multiplicity():
    assert word_recall("de de de kat", "de kat") == 0.5


def test_recall_ignores_case_markup_and_comments():
    expected = "## Het Jaarverslag\n\n<!-- image -->\n\n| Jaar | 2025 |"
    actual = "het jaarverslag jaar 2025"

    assert word_recall(expected, actual) == 1.0
    assert "image" not in words(expected)


def test_recall_of_empty_expected_is_one():
    assert word_recall("<!-- only a comment -->", "") == 1.0


def test_recall_splits_on_underscores_and_keeps_other_scripts():
    assert words("snake_case שלום 42") == {"snake": 1, "case": 1, "שלום": 1, "42": 1}


def test_recall_zero_when_nothing_matches():
    assert word_recall("alpha beta", "gamma") == 0.0


# Settings.


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCLING_API_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("DOCLING_API_WORKERS", "3")
    monkeypatch.setenv("DOCLING_API_OCR_LANG", "nld, eng")
    monkeypatch.setenv("DOCLING_API_LOG_LEVEL", "DEBUG")

    settings = Settings()

    assert settings.models_dir == tmp_path
    assert settings.workers == 3
    assert settings.ocr_lang == ["nld", "eng"]
    assert settings.log_level == "debug"


def test_settings_arguments_override_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCLING_API_PORT", "9000")

    assert Settings(models_dir=tmp_path, port=9100).port == 9100


def test_cli_flags_override_environment(monkeypatch, tmp_path):
    from docling_api.cli import load_settings

    monkeypatch.setenv("DOCLING_API_MODELS_DIR", "/from/env")
    monkeypatch.setenv("DOCLING_API_MAX_PAGES", "7")

    settings = load_settings(["--models-dir", str(tmp_path), "--request-timeout", "12.5"])

    assert settings.models_dir == tmp_path
    assert settings.max_pages == 7
    assert settings.request_timeout_s == 12.5


# Options.


def test_options_defaults():
    options = parse_convert_options({}, ["eng", "nld"])

    assert options.to_formats == ("md",)
    assert options.do_ocr is True
    assert options.force_ocr is False
    assert options.ocr_lang == ("eng", "nld")
    assert options.table_mode == "accurate"
    assert options.do_table_structure is True
    assert options.page_range is None
    assert options.password is None


def test_options_lists_and_booleans():
    options = parse_convert_options(
        {"to_formats": ["md,json", "HTML", "md"], "do_ocr": ["off"], "ocr_lang": ["nld"], "page_range": ["2-4"]},
        ["eng"],
        installed_ocr_lang=["eng", "nld"],
    )

    assert options.to_formats == ("md", "json", "html")
    assert options.do_ocr is False
    assert options.ocr_lang == ("nld",)
    assert options.page_range == (2, 4)


def test_force_ocr_turns_ocr_on():
    options = parse_convert_options({"do_ocr": ["false"], "force_ocr": ["true"]}, ["eng"])

    assert options.do_ocr is True
    assert options.force_ocr is True


def test_password_hidden_from_public_options():
    options = parse_convert_options({"password": ["s3cret"]}, ["eng"])

    assert options.password == "s3cret"
    assert "s3cret" not in repr(options)
    assert options.to_public()["password"] == "***"


@pytest.mark.parametrize(
    ("values", "option"),
    [
        ({"to_formats": ["docx"]}, "to_formats"),
        ({"table_mode": ["medium"]}, "table_mode"),
        ({"do_ocr": ["perhaps"]}, "do_ocr"),
        ({"page_range": ["0"]}, "page_range"),
        ({"page_range": ["5-2"]}, "page_range"),
        ({"page_range": ["1-x"]}, "page_range"),
        ({"ocr_lang": ["deu"]}, "ocr_lang"),
    ],
)
def test_options_invalid_values(values, option):
    with pytest.raises(InvalidOption) as caught:
        parse_convert_options(values, ["eng"], installed_ocr_lang=["eng", "nld"])

    assert caught.value.details["option"] == option
    assert f"'{option}'" in caught.value.message
    assert caught.value.details["allowed"]


def test_options_unknown_name():
    with pytest.raises(UnknownOption) as caught:
        parse_convert_options({"format": ["md"]}, ["eng"])

    assert "'format'" in caught.value.message
    assert "to_formats" in caught.value.message


# Format detection.


def write(tmp_path: Path, content: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "input_format", "extension"),
    [
        (b"%PDF-1.7\n%...", "pdf", "pdf"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image", "png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 32, "image", "jpg"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "html", "html"),
        (b"<!-- header --><html><p>x</p></html>", "html", "html"),
        (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"></html>', "html", "html"),
        (b"\\documentclass{article}\n\\begin{document}x\\end{document}", "latex", "tex"),
        (b"WEBVTT\n\n00:00.000 --> 00:01.000\nHallo", "vtt", "vtt"),
        (b"a,b,c\n1,2,3\n4,5,6\n", "csv", "csv"),
        (b"# Titel\n\nTekst met, komma's, in een zin.\n", "md", "md"),
        (b"Just one line of plain text.", "md", "md"),
        ("Één regel met UTF-8 tekens: ë ï ü".encode(), "md", "md"),
    ],
)
def test_detect_from_bytes(tmp_path, content, input_format, extension):
    detected = detect_format(write(tmp_path, content, "misleading.docx"))

    assert detected.input_format == input_format
    assert detected.extension == extension


@pytest.mark.parametrize(
    ("members", "input_format"),
    [
        ({"[Content_Types].xml": b"", "word/document.xml": b"<w/>"}, "docx"),
        ({"[Content_Types].xml": b"", "xl/workbook.xml": b"<x/>"}, "xlsx"),
        ({"[Content_Types].xml": b"", "ppt/presentation.xml": b"<p/>"}, "pptx"),
        ({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b""}, "odt"),
        ({"mimetype": b"application/epub+zip", "META-INF/container.xml": b""}, "epub"),
    ],
)
def test_detect_zip_formats(tmp_path, members, input_format):
    assert detect_format(write(tmp_path, zip_bytes(members))).input_format == input_format


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        (bytes(range(256)) * 4, "neither a known document format nor UTF-8 text"),
        (gzip.compress(b"x" * 100), "application/gzip"),
        (zip_bytes({"a.txt": b"x"}), "ZIP archive but not"),
        (b"PK\x03\x04 truncated zip", "cannot be read"),
        (b'<?xml version="1.0"?><catalog/>', "XML"),
        ("tekst\x00met\x00nullen".encode(), "neither a known document format"),
    ],
)
def test_detect_rejects(tmp_path, content, message_part):
    with pytest.raises(UnsupportedFormat) as caught:
        detect_format(write(tmp_path, content))

    assert message_part in caught.value.message


# Model sets.


def make_artifacts(folder: Path) -> None:
    for required in REQUIRED_MODEL_FOLDERS:
        (folder / required).mkdir(parents=True, exist_ok=True)


def test_plain_folder_is_artifacts_path(tmp_path):
    make_artifacts(tmp_path)

    model_set = resolve_model_set(tmp_path)

    assert model_set.artifacts_path == tmp_path
    assert model_set.set_id is None
    assert model_set.complete
    assert model_set.missing_reason() is None


def test_missing_folders_reason_names_folder_and_fix(tmp_path):
    (tmp_path / "docling-project--docling-layout-heron").mkdir()

    model_set = resolve_model_set(tmp_path)
    reason = model_set.missing_reason()

    assert model_set.missing_folders == list(REQUIRED_MODEL_FOLDERS[1:])
    assert str(tmp_path / REQUIRED_MODEL_FOLDERS[1]) in reason
    assert "runbook models download --dest DIR" in reason
    assert "runbook models demo --dest DIR" in reason


def test_share_resolves_current_set(tmp_path):
    set_dir = tmp_path / "sets" / "set-7"
    make_artifacts(set_dir)
    manifest = {"set_id": "set-7", "created_at": "2026-01-02T03:04:05Z",
                "repositories": [{"repo": "docling-project/docling-models", "revision": "v2.3.0",
                                  "commit": "c" * 40, "folder": "docling-project--docling-models", "files": []}]}
    (set_dir / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "current").write_text("set-7\n")

    model_set = resolve_model_set(tmp_path)
    described = model_set.describe()

    assert model_set.artifacts_path == set_dir
    assert described["set_id"] == "set-7"
    assert described["source"] == "share"
    assert described["repositories"] == [
        {"repo": "docling-project/docling-models", "revision": "v2.3.0", "commit": "c" * 40,
         "folder": "docling-project--docling-models"}
    ]


def test_set_folder_reports_its_manifest(tmp_path):
    set_dir = tmp_path / "sets" / "set-9"
    make_artifacts(set_dir)
    (set_dir / "manifest.json").write_text(json.dumps({"set_id": "set-9", "repositories": []}))
    (tmp_path / "current").write_text("another-set")

    model_set = resolve_model_set(set_dir)

    assert model_set.artifacts_path == set_dir
    assert model_set.set_id == "set-9"
    assert model_set.describe()["source"] == "set"
    assert model_set.complete


def test_set_folder_with_invalid_manifest(tmp_path):
    make_artifacts(tmp_path)
    (tmp_path / "manifest.json").write_text("{")

    with pytest.raises(ModelSetError) as caught:
        resolve_model_set(tmp_path)

    assert "is not valid JSON" in str(caught.value)


@pytest.mark.parametrize(
    ("current", "manifest", "message_part"),
    [
        ("set-1", None, "does not exist"),
        ("", None, "must contain one model set id"),
        ("../x", None, "must contain one model set id"),
        ("set-1", "{not json", "is not valid JSON"),
        ("set-1", "[1, 2]", "must contain a JSON object"),
    ],
)
def test_share_errors(tmp_path, current, manifest, message_part):
    (tmp_path / "current").write_text(current)
    if manifest is not None:
        (tmp_path / "sets" / current).mkdir(parents=True)
        (tmp_path / "sets" / current / "manifest.json").write_text(manifest)

    with pytest.raises(ModelSetError) as caught:
        resolve_model_set(tmp_path)

    assert message_part in str(caught.value)


# Warm-up document.


def test_warmup_pdf_opens_with_its_text():
    document = pdfium.PdfDocument(warmup_pdf_bytes("Hello warm-up"))

    assert len(document) == 1
    assert "Hello warm-up" in document[0].get_textpage().get_text_range()
    document.close()


def test_detect_testdata_pdf():
    assert detect_format(TESTDATA_DIR / "dutch_pdf.pdf").input_format == "pdf"
