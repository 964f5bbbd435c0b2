"""Model set files: the committed default, validation messages, set ids and the share layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook_lib.errors import DownloadError, ModelSetError, ShareLayoutError
from runbook_lib.models import (
    RepositorySpec,
    active_set_path,
    compute_set_id,
    default_model_set_path,
    load_model_set,
    parse_model_set,
    read_current,
)
from runbook_lib.models._plan import _check_safe_path, redact_endpoint, resolve_endpoint

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def test_default_set_is_the_standard_pipeline() -> None:
    model_set = load_model_set()
    heron, tableformer = model_set.repositories

    assert default_model_set_path().is_file()
    assert (heron.repo, heron.revision, heron.folder) == (
        "docling-project/docling-layout-heron", "main", "docling-project--docling-layout-heron"
    )
    assert (tableformer.repo, tableformer.revision, tableformer.folder) == (
        "docling-project/docling-models", "v2.3.0", "docling-project--docling-models"
    )
    assert tableformer.include == ("model_artifacts/tableformer/**",)


def test_default_set_lists_optional_repositories_in_comments() -> None:
    text = default_model_set_path().read_text()

    assert "# - repo: docling-project/DocumentFigureClassifier-v2.5" in text
    assert "# - repo: RapidAI/RapidOCR" in text


def test_folder_defaults_to_docling_name() -> None:
    spec = RepositorySpec(repo="acme/tiny-model")

    assert spec.folder == "acme--tiny-model"
    assert spec.revision == "main"
    assert not spec.is_pinned
    assert RepositorySpec(repo="acme/x", revision=COMMIT_A).is_pinned


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "repositories: missing"),
        ({"repositories": []}, "repositories"),
        ({"repositories": [{"repo": "no-slash"}]}, "repositories[0] (no-slash).repo: expected a Hub repository id"),
        ({"repositories": [{"repo": "a/b", "revison": "main"}]}, "repositories[0] (a/b).revison: unknown field"),
        ({"repositories": [{"repo": "a/b", "folder": "../x"}]}, "invalid folder '../x'"),
        ({"repositories": [{"repo": "a/b"}, {"repo": "c/d", "folder": "a--b"}]}, "folder 'a--b' is used by more"),
        ({"repositories": [{"repo": "a/b", "include": [""]}]}, "patterns must not be empty"),
        ({"version": 2, "repositories": [{"repo": "a/b"}]}, "only version 1"),
    ],
)
def test_invalid_model_sets(data: dict, message: str) -> None:
    with pytest.raises(ModelSetError) as error:
        parse_model_set(data)

    assert message in str(error.value)


def test_file_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("repositories: [\n")
    (tmp_path / "list.yaml").write_text("- repo: a/b\n")

    with pytest.raises(ModelSetError, match="not found"):
        load_model_set(tmp_path / "absent.yaml")
    with pytest.raises(ModelSetError, match="not valid YAML"):
        load_model_set(tmp_path / "bad.yaml")
    with pytest.raises(ModelSetError, match="must be a mapping"):
        load_model_set(tmp_path / "list.yaml")


def test_single_pattern_string_is_a_list() -> None:
    model_set = parse_model_set({"repositories": [{"repo": "a/b", "include": "*.json"}]})

    assert model_set.repositories[0].include == ("*.json",)


def test_set_id_is_deterministic() -> None:
    a = RepositorySpec(repo="acme/a", revision="main", include=("x/**", "y/*"))
    a_reordered = RepositorySpec(repo="acme/a", revision="v1", include=("y/*", "x/**"))
    b = RepositorySpec(repo="acme/b")

    first = compute_set_id([(a, COMMIT_A), (b, COMMIT_B)])

    assert first == compute_set_id([(b, COMMIT_B), (a_reordered, COMMIT_A)])
    assert first.startswith("ms-") and len(first) == 19
    assert first != compute_set_id([(a, COMMIT_B), (b, COMMIT_B)])
    assert first != compute_set_id([(RepositorySpec(repo="acme/a", include=("x/**",)), COMMIT_A), (b, COMMIT_B)])


@pytest.mark.parametrize("path", ["../escape", "/abs/path", "a/../../b", "a\\b", "a//b", ""])
def test_unsafe_hub_paths_are_rejected(path: str) -> None:
    with pytest.raises(DownloadError, match="unsafe file path"):
        _check_safe_path("acme/x", path)


def test_endpoint_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.internal:8080/")

    assert resolve_endpoint(None) == "http://mirror.internal:8080"
    assert resolve_endpoint("https://hub.example/") == "https://hub.example"
    assert redact_endpoint("https://user:secret@hub.example:8443/x") == "https://hub.example:8443/x"
    with pytest.raises(ModelSetError, match="Invalid Hub endpoint"):
        resolve_endpoint("ftp://hub")


def test_share_without_current(tmp_path: Path) -> None:
    assert read_current(tmp_path) is None
    with pytest.raises(ShareLayoutError, match="No active model set"):
        active_set_path(tmp_path)

    (tmp_path / "current").write_text("../../etc\n")
    with pytest.raises(ShareLayoutError, match="invalid set id"):
        read_current(tmp_path)
