"""Static checks of service/Dockerfile, which cannot be built here (no Docker engine)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO_ROOT / "service" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / "service" / "Dockerfile.dockerignore"


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def arguments_of(instructions, keyword: str) -> list[str]:
    return [arguments for name, arguments in instructions if name == keyword]


def test_slim_python_311_base(instructions):
    bases = arguments_of(instructions, "FROM")

    assert len(bases) == 1
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", bases[0])


def test_runs_as_uid_1000(instructions):
    users = arguments_of(instructions, "USER")

    assert users, "no USER instruction: the container would run as root"
    assert users[-1].split(":")[0] in ("1000", "docling")
    assert any("--uid 1000" in run for run in arguments_of(instructions, "RUN"))
    # USER comes after the last RUN, so nothing runs as root at container start.
    last_user = max(i for i, (name, _) in enumerate(instructions) if name == "USER")
    last_run = max(i for i, (name, _) in enumerate(instructions) if name == "RUN")
    assert last_user > last_run


def test_cpu_only_torch(instructions):
    runs = " ".join(arguments_of(instructions, "RUN"))

    assert "--index-url https://download.pytorch.org/whl/cpu" in runs
    torch_install = runs.index("download.pytorch.org/whl/cpu")
    project_install = runs.index("pip install .")
    assert torch_install < project_install


def test_tesseract_with_dutch_and_english(instructions):
    runs = " ".join(arguments_of(instructions, "RUN"))

    for package in ("tesseract-ocr", "tesseract-ocr-eng", "tesseract-ocr-nld"):
        assert re.search(rf"\b{re.escape(package)}\b", runs)


def test_no_models_copied(instructions):
    for arguments in arguments_of(instructions, "COPY") + arguments_of(instructions, "ADD"):
        assert "model" not in arguments.lower()
        assert "artifacts" not in arguments.lower()
    assert arguments_of(instructions, "ADD") == []


def test_models_mount_and_command(instructions):
    command = arguments_of(instructions, "CMD")

    assert len(command) == 1
    assert shlex.split(command[0].strip("[]").replace(",", " ")) == ["docling-api", "--models-dir", "/models"]


def test_healthcheck_calls_health(instructions):
    checks = arguments_of(instructions, "HEALTHCHECK")

    assert len(checks) == 1
    assert "/health" in checks[0]
    assert "CMD" in checks[0]


def test_exposes_service_port(instructions):
    exposed = arguments_of(instructions, "EXPOSE")
    environment = " ".join(arguments_of(instructions, "ENV"))

    assert exposed == ["8000"]
    assert "DOCLING_API_PORT=8000" in environment
    assert "DOCLING_API_HOST=0.0.0.0" in environment
    assert "HF_HUB_OFFLINE=1" in environment


def test_dockerignore_excludes_everything_else():
    lines = [line for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]

    assert lines[0] == "*"
    assert "!testdata/" not in lines
    assert {"!pyproject.toml", "!runbook_lib/", "!service/docling_api/"} <= set(lines)


def test_copied_paths_exist(instructions):
    for arguments in arguments_of(instructions, "COPY"):
        sources = arguments.split()[:-1]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY source {source} is not in the repository"
