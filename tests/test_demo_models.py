"""Tests for the demo model generator: docling loads and runs what it writes, byte for byte the same."""

from __future__ import annotations

import collections
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runbook_lib.cli import main as runbook_main
from runbook_lib.errors import DemoModelsError
from runbook_lib.models._demo_layout import HERON_LABELS, LAYOUT_REPO_FOLDER, write_layout_model
from runbook_lib.models._demo_tableformer import MODELS_REPO_FOLDER, TABLEFORMER_FOLDER, WEIGHTS_FILES
from runbook_lib.models.demo import GENERATOR_VERSION, MARKER_FILE, demo_model_files, write_demo_models

pytestmark = pytest.mark.timeout(300)

REPO_ROOT = Path(__file__).resolve().parents[1]

# Real documents from the docling project, kept beside the repository and never copied into it.
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus" / "docling"

SENTENCES = (
    "Tiny random models keep the text layer of a programmatic PDF.",
    "The layout stage finds no regions, so every text cell becomes a text cluster.",
    "Quarterly revenue grew by 42 percent in 2025.",
)
TABLE_ROWS = (("Region", "Units", "Price"), ("North", "120", "3.50"), ("South", "95", "4.25"))

WEIGHT_FILES = [
    f"{LAYOUT_REPO_FOLDER}/model.safetensors",
    *(f"{MODELS_REPO_FOLDER}/{TABLEFORMER_FOLDER}/{mode}/{name}" for mode, name in WEIGHTS_FILES.items()),
]


@pytest.fixture(scope="module", autouse=True)
def offline_hub():
    """Keep huggingface_hub offline while this module converts documents.

    huggingface_hub reads HF_HUB_OFFLINE once at import, so the fixture sets its constant too.
    """
    import huggingface_hub.constants

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield


@pytest.fixture(scope="module")
def sentences_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-page PDF with a text layer: a heading, the known sentences and a small ruled table."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    path = tmp_path_factory.mktemp("pdf") / "sentences.pdf"
    styles = getSampleStyleSheet()
    table = Table([list(row) for row in TABLE_ROWS])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))

    story = [Paragraph("Demo model check", styles["Heading1"])]
    story += [Paragraph(sentence, styles["BodyText"]) for sentence in SENTENCES]
    story += [Spacer(1, 12), table]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)
    return path


@pytest.fixture(scope="module")
def text_converter(demo_models_dir: Path):
    """docling's DocumentConverter on the demo models, with OCR and table structure off."""
    return _converter(demo_models_dir, do_table_structure=False)


def _converter(artifacts_path: Path, do_table_structure: bool, mode=None):
    from docling.datamodel.base_models import InputFormat
    from docling.datamodel.pipeline_options import PdfPipelineOptions
    from docling.document_converter import DocumentConverter, PdfFormatOption

    options = PdfPipelineOptions(artifacts_path=artifacts_path, do_ocr=False, do_table_structure=do_table_structure)
    if mode is not None:
        options.table_structure_options.mode = mode
    return DocumentConverter(format_options={InputFormat.PDF: PdfFormatOption(pipeline_options=options)})


def _word_counts(text: str) -> collections.Counter:
    """Count lower-cased runs of letters and digits, leaving out HTML comments."""
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    return collections.Counter(re.findall(r"[^\W_]+", text.lower()))


def _recall(expected: str, output: str) -> float:
    """Share of the expected word occurrences that the output also contains, counting multiplicity."""
    expected_counts = _word_counts(expected)
    output_counts = _word_counts(output)
    found = sum(min(count, output_counts[word]) for word, count in expected_counts.items())
    return found / sum(expected_counts.values())


def _digests(root: Path) -> dict[str, str]:
    """sha256 of every file under root except the generator's hidden lock file."""
    digests = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != ".demo-models.lock":
            digests[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture(scope="module")
def seed0_digests(demo_models_dir: Path) -> dict[str, str]:
    return _digests(demo_models_dir)


# What the generator writes.


def test_writes_expected_files(demo_models_dir: Path):
    written = sorted(path for path in _digests(demo_models_dir) if path != MARKER_FILE)

    assert written == demo_model_files()


def test_weights_files_have_expected_sizes(demo_models_dir: Path):
    layout_size = (demo_models_dir / WEIGHT_FILES[0]).stat().st_size

    assert 200_000 < layout_size < 1_000_000
    for relative_path in WEIGHT_FILES[1:]:
        assert 60_000_000 < (demo_models_dir / relative_path).stat().st_size < 150_000_000, relative_path


def test_files_are_readable_by_everyone(demo_models_dir: Path):
    for relative_path in demo_model_files():
        mode = (demo_models_dir / relative_path).stat().st_mode & 0o777
        assert mode == 0o644, f"{relative_path} has mode {oct(mode)}"


def test_marker_records_seed_and_hashes(demo_models_dir: Path, seed0_digests: dict[str, str]):
    marker = json.loads((demo_models_dir / MARKER_FILE).read_text())

    assert marker["seed"] == 0
    assert marker["state"] == "complete"
    assert marker["generator_version"] == GENERATOR_VERSION
    assert {path: entry["sha256"] for path, entry in marker["files"].items()} == {
        path: digest for path, digest in seed0_digests.items() if path != MARKER_FILE
    }


def test_layout_model_loads_every_weight(demo_models_dir: Path):
    from transformers import AutoModelForObjectDetection

    model, info = AutoModelForObjectDetection.from_pretrained(
        str(demo_models_dir / LAYOUT_REPO_FOLDER), output_loading_info=True
    )

    assert type(model).__name__ == "RTDetrV2ForObjectDetection"
    assert not info["missing_keys"]
    assert not info["unexpected_keys"]
    assert not info["mismatched_keys"]


def test_layout_labels_are_docling_labels_in_heron_order(demo_models_dir: Path):
    from docling_core.types.doc import DocItemLabel

    config = json.loads((demo_models_dir / LAYOUT_REPO_FOLDER / "config.json").read_text())
    id2label = {int(index): name for index, name in config["id2label"].items()}

    assert [id2label[index] for index in range(len(id2label))] == list(HERON_LABELS)
    assert id2label[3] == "list_item"
    assert id2label[7] == "section_header"
    for name in id2label.values():
        assert DocItemLabel[name.upper()].value == name


@pytest.mark.parametrize("layout_seed", [0, 1, 2**64 - 1])
def test_layout_scores_below_docling_threshold(tmp_path: Path, sentences_pdf: Path, layout_seed: int):
    import numpy
    import pypdfium2
    import torch
    from docling.models.inference_engines.object_detection.base import BaseObjectDetectionEngineOptions
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModelForObjectDetection

    folder = tmp_path / LAYOUT_REPO_FOLDER
    write_layout_model(folder, layout_seed)
    model = AutoModelForObjectDetection.from_pretrained(str(folder)).eval()
    processor = AutoImageProcessor.from_pretrained(str(folder))

    document = pypdfium2.PdfDocument(sentences_pdf)
    page_image = document[0].render(scale=1).to_pil().convert("RGB")
    document.close()
    noise = numpy.random.default_rng(0).integers(0, 256, size=(842, 595, 3), dtype=numpy.uint8)
    images = [page_image, Image.fromarray(noise)]

    with torch.inference_mode():
        logits = model(**processor(images=images, return_tensors="pt")).logits

    threshold = BaseObjectDetectionEngineOptions.model_fields["score_threshold"].default
    assert float(logits.sigmoid().max()) < threshold


# docling converts with the demo models.


def test_converter_keeps_pdf_text(text_converter, sentences_pdf: Path):
    from docling.datamodel.base_models import ConversionStatus

    result = text_converter.convert(sentences_pdf)
    markdown = " ".join(result.document.export_to_markdown().split())

    assert result.status == ConversionStatus.SUCCESS
    for sentence in SENTENCES:
        assert sentence in markdown
    for row in TABLE_ROWS:
        for cell in row:
            assert cell in markdown


def test_converter_word_recall_on_real_pdf(text_converter):
    pdf = CORPUS_DIR / "multi_page.pdf"
    expected = CORPUS_DIR / "multi_page.expected.md"
    if not (pdf.exists() and expected.exists()):
        pytest.skip(f"docling's test documents are not in {CORPUS_DIR}")

    markdown = text_converter.convert(pdf).document.export_to_markdown()

    assert _recall(expected.read_text(encoding="utf-8"), markdown) >= 0.9


@pytest.mark.parametrize("mode_name", ["fast", "accurate"])
def test_table_structure_loads_tiny_tableformer(demo_models_dir: Path, sentences_pdf: Path, mode_name: str):
    import numpy
    from docling.datamodel.base_models import ConversionStatus
    from docling.datamodel.pipeline_options import TableFormerMode
    from PIL import Image, ImageDraw

    converter = _converter(demo_models_dir, do_table_structure=True, mode=TableFormerMode(mode_name))
    result = converter.convert(sentences_pdf)
    assert result.status == ConversionStatus.SUCCESS

    pipeline = next(iter(converter.initialized_pipelines.values()))
    table_model = pipeline.table_model
    expected_folder = demo_models_dir / MODELS_REPO_FOLDER / TABLEFORMER_FOLDER / mode_name
    assert Path(table_model.tm_config["model"]["save_dir"]) == expected_folder

    # The random layout model finds no tables, so run the loaded TableFormer on a drawn table
    # the way docling's table stage does: page image, text tokens and the table's box.
    image = Image.new("RGB", (600, 240), "white")
    draw = ImageDraw.Draw(image)
    tokens = []
    for row_index, row in enumerate(TABLE_ROWS):
        for column_index, text in enumerate(row):
            left, top = 40 + 180 * column_index, 40 + 50 * row_index
            draw.rectangle((left, top, left + 180, top + 50), outline="black")
            draw.text((left + 10, top + 18), text, fill="black")
            token_box = {"l": left + 10, "t": top + 18, "r": left + 10 + 8 * len(text), "b": top + 30}
            tokens.append({"id": len(tokens), "text": text, "bbox": token_box})
    page = {"width": 600, "height": 240, "image": numpy.asarray(image), "tokens": tokens}

    outputs = table_model.tf_predictor.multi_table_predict(page, [[30.0, 30.0, 590.0, 200.0]], do_matching=True)

    assert len(outputs) == 1
    assert isinstance(outputs[0]["tf_responses"], list)
    assert outputs[0]["predict_details"]["prediction"]["rs_seq"]


# Determinism and the fast path.


def test_same_seed_writes_identical_bytes(tmp_path: Path, seed0_digests: dict[str, str]):
    write_demo_models(tmp_path / "again", seed=0)

    assert _digests(tmp_path / "again") == seed0_digests


def test_seed_change_rewrites_weights(tmp_path: Path, seed0_digests: dict[str, str]):
    dest = tmp_path / "models"

    write_demo_models(dest, seed=1)
    seed1_digests = _digests(dest)
    for relative_path in WEIGHT_FILES:
        assert seed1_digests[relative_path] != seed0_digests[relative_path], relative_path
    assert json.loads((dest / MARKER_FILE).read_text())["seed"] == 1

    write_demo_models(dest, seed=0)
    assert _digests(dest) == seed0_digests


def test_complete_set_is_not_rewritten(demo_models_dir: Path):
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in demo_models_dir.rglob("*")}

    returned = write_demo_models(demo_models_dir, seed=0)

    after = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in demo_models_dir.rglob("*")}
    assert returned == demo_models_dir
    assert after == before


def test_interrupted_write_is_redone(tmp_path: Path, demo_models_dir: Path, seed0_digests: dict[str, str]):
    # What a run killed while moving folders into place leaves: a "writing" marker, a
    # truncated weights file and a staging folder.
    dest = tmp_path / "models"
    shutil.copytree(demo_models_dir / LAYOUT_REPO_FOLDER, dest / LAYOUT_REPO_FOLDER)
    (dest / LAYOUT_REPO_FOLDER / "model.safetensors").write_bytes(b"truncated")
    (dest / ".demo-models-staging" / MODELS_REPO_FOLDER).mkdir(parents=True)
    marker = json.loads((demo_models_dir / MARKER_FILE).read_text())
    (dest / MARKER_FILE).write_text(json.dumps({**marker, "state": "writing", "files": {}}))

    write_demo_models(dest, seed=0)

    assert _digests(dest) == seed0_digests
    assert not (dest / ".demo-models-staging").exists()


def test_missing_file_triggers_rewrite(tmp_path: Path, demo_models_dir: Path, seed0_digests: dict[str, str]):
    dest = tmp_path / "models"
    shutil.copytree(demo_models_dir, dest)
    (dest / WEIGHT_FILES[1]).unlink()

    write_demo_models(dest, seed=0)

    assert _digests(dest) == seed0_digests


def test_concurrent_writer_waits_for_lock(tmp_path: Path, demo_models_dir: Path, seed0_digests: dict[str, str]):
    import logging
    import threading

    from filelock import FileLock

    dest = tmp_path / "models"
    shutil.copytree(demo_models_dir, dest)
    waiting = threading.Event()

    class WaitingHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Waiting for another process"):
                waiting.set()

    handler = WaitingHandler()
    models_logger = logging.getLogger("runbook_lib.models")
    saved_level = models_logger.level
    models_logger.setLevel(logging.INFO)
    models_logger.addHandler(handler)
    results = []
    writer = threading.Thread(target=lambda: results.append(write_demo_models(dest, seed=0)))
    try:
        with FileLock(str(dest / ".demo-models.lock")):
            writer.start()
            assert waiting.wait(timeout=60)
            assert results == []
        writer.join(timeout=60)
    finally:
        models_logger.removeHandler(handler)
        models_logger.setLevel(saved_level)

    assert results == [dest]
    assert _digests(dest) == seed0_digests


# Bad input.


@pytest.mark.parametrize("seed", [-1, 2**32, "3", True, 1.5])
def test_invalid_seed_rejected(tmp_path: Path, seed):
    with pytest.raises(DemoModelsError, match=re.escape(f"Invalid demo model seed {seed!r}")):
        write_demo_models(tmp_path / "models", seed=seed)

    assert not (tmp_path / "models").exists()


def test_dest_file_rejected(tmp_path: Path):
    dest = tmp_path / "models"
    dest.write_text("not a folder")

    with pytest.raises(DemoModelsError, match="is a file, not a folder"):
        write_demo_models(dest)

    assert dest.read_text() == "not a folder"


def test_foreign_model_folder_kept(tmp_path: Path):
    dest = tmp_path / "models"
    real_config = dest / LAYOUT_REPO_FOLDER / "config.json"
    real_config.parent.mkdir(parents=True)
    real_config.write_text('{"model_type": "rt_detr_v2"}')

    with pytest.raises(DemoModelsError, match="was not written by the demo model generator"):
        write_demo_models(dest)

    assert real_config.read_text() == '{"model_type": "rt_detr_v2"}'
    assert not (dest / MARKER_FILE).exists()


# The runbook CLI.


@pytest.fixture
def runbook_logger_restored():
    """Undo what ``runbook_lib.cli.main`` does to the "runbook_lib" logger, for the tests after this one."""
    import logging

    runbook_logger = logging.getLogger("runbook_lib")
    saved = (list(runbook_logger.handlers), runbook_logger.level, runbook_logger.propagate)
    yield
    runbook_logger.handlers[:], runbook_logger.level, runbook_logger.propagate = saved


def test_cli_demo_prints_models_dir(
    demo_models_dir: Path, capsys: pytest.CaptureFixture[str], runbook_logger_restored: None
):
    exit_code = runbook_main(["models", "demo", "--dest", str(demo_models_dir), "--seed", "0"])

    assert exit_code == 0
    assert f"docling-api --models-dir {demo_models_dir}" in capsys.readouterr().out


def test_cli_demo_rejects_negative_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], runbook_logger_restored: None
):
    exit_code = runbook_main(["models", "demo", "--dest", str(tmp_path / "models"), "--seed", "-1"])

    assert exit_code == 2
    assert "Invalid demo model seed -1" in capsys.readouterr().err


def test_cli_demo_reports_full_disk(tmp_path: Path):
    """Run ``runbook models demo`` in a subprocess whose destination is a 2 MB tmpfs.

    The subprocess runs in new user and mount namespaces, so mounting needs no privileges
    where the kernel allows unprivileged user namespaces, and the mount ends with it.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs util-linux unshare to mount a small tmpfs")
    namespace = [unshare, "--user", "--map-root-user", "--mount"]
    if subprocess.run([*namespace, "true"], capture_output=True).returncode != 0:
        pytest.skip("this kernel or container does not allow user and mount namespaces")

    mount_point = tmp_path / "small"
    mount_point.mkdir()
    script = (
        'mount -t tmpfs -o size=2m tmpfs "$1" || exit 90\n'
        '"$2" -m runbook_lib.cli models demo --dest "$1/models"\n'
        'echo "exit code $?"\n'
        'ls -A "$1/models"\n'
    )
    completed = subprocess.run(
        [*namespace, "sh", "-c", script, "sh", str(mount_point), sys.executable],
        capture_output=True,
        text=True,
        timeout=240,
    )
    if completed.returncode == 90:
        pytest.skip(f"could not mount a tmpfs in a mount namespace: {completed.stderr.strip()}")

    assert "exit code 2" in completed.stdout
    assert "ran out of space while writing demo models" in completed.stderr
    assert completed.stdout.split("exit code 2", 1)[1].split() == [".demo-models.lock"]
