"""The offline demo path: demo models -> emulator store -> download of the default set -> service resolution."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_XET_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from runbook_lib.hub_emulator import DEMO_REPOSITORIES, HubEmulator, build_demo_store  # noqa: E402
from runbook_lib.models import download_model_set, verify_model_set  # noqa: E402


@pytest.mark.timeout(600)
def test_default_set_from_demo_store(demo_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from docling_api.model_set import resolve_model_set

    monkeypatch.delenv("HF_TOKEN", raising=False)
    commits = build_demo_store(demo_models_dir, tmp_path / "store")
    share = tmp_path / "share"

    with HubEmulator(tmp_path / "store") as hub:
        result = download_model_set(None, share, staging=tmp_path / "staging", endpoint=hub.endpoint, progress="none")
        rerun = download_model_set(None, share, staging=tmp_path / "staging", endpoint=hub.endpoint, progress="none")

    demo_files = [
        path
        for _, folder, _ in DEMO_REPOSITORIES
        for path in sorted((demo_models_dir / folder).rglob("*"))
        if path.is_file()
    ]
    assert len(demo_files) >= 7
    for path in demo_files:
        published = result.path / path.relative_to(demo_models_dir)
        assert published.read_bytes() == path.read_bytes(), path.relative_to(demo_models_dir)

    transports = {entry.path: entry.transport for _, entry in result.manifest.iter_files()}
    assert transports["model_artifacts/tableformer/accurate/tableformer_accurate.safetensors"] == "xet"
    assert transports["model.safetensors"] == "xet"
    assert transports["config.json"] == "http"
    assert {repo.commit for repo in result.manifest.repositories} == set(commits.values())
    assert rerun.already_published and rerun.bytes_downloaded == 0
    assert verify_model_set(share).ok

    resolved = resolve_model_set(share)
    assert resolved.artifacts_path == result.path
    assert resolved.set_id == result.set_id
    assert resolved.complete
    assert [r["revision"] for r in resolved.describe()["repositories"]] == ["main", "v2.3.0"]
