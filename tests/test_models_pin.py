"""``runbook models pin``: branch and tag revisions become commit ids, and downloads follow them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_XET_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from runbook_lib.cli import main  # noqa: E402
from runbook_lib.errors import HubNotFoundError, ModelSetError  # noqa: E402
from runbook_lib.hub_emulator import HubEmulator, RepositoryStore, write_synthetic_files  # noqa: E402
from runbook_lib.models import RetryPolicy, download_model_set, load_model_set, pin_model_set  # noqa: E402

MODEL_SET_TEXT = """\
# Test set: a comment that pinning keeps.
version: 1
repositories:
  # Alpha at its default branch.
  - repo: acme/alpha
    revision: main
  - repo: acme/beta
    revision: "v1"  # the release tag
    include:
      - "*.json"
  - repo: acme/gamma
"""


@pytest.fixture
def store(tmp_path: Path) -> RepositoryStore:
    source = write_synthetic_files(tmp_path / "source", {"config.json": 80, "model.safetensors": 200_000}, seed=5)
    store = RepositoryStore(tmp_path / "store")
    store.add_commit("acme/alpha", source)
    store.add_commit("acme/beta", source, tags=["v1"])
    store.add_commit("acme/gamma", source)
    return store


@pytest.fixture
def hub(store: RepositoryStore):
    with HubEmulator(store.root) as emulator:
        yield emulator


def _heads(store: RepositoryStore) -> dict[str, str]:
    return {
        "acme/alpha": store.get("acme/alpha").branches["main"],
        "acme/beta": store.get("acme/beta").tags["v1"],
        "acme/gamma": store.get("acme/gamma").branches["main"],
    }


def test_pin_rewrites_revisions_and_keeps_comments(hub: HubEmulator, store: RepositoryStore, tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(MODEL_SET_TEXT)

    changes = pin_model_set(path, endpoint=hub.endpoint)

    heads = _heads(store)
    text = path.read_text()
    pinned = load_model_set(path)
    assert [(c.repo, c.revision, c.commit) for c in changes] == [
        ("acme/alpha", "main", heads["acme/alpha"]),
        ("acme/beta", "v1", heads["acme/beta"]),
        ("acme/gamma", "main", heads["acme/gamma"]),
    ]
    assert [spec.revision for spec in pinned.repositories] == list(heads.values())
    assert "# Test set: a comment that pinning keeps." in text
    assert "# Alpha at its default branch." in text
    assert f"revision: {heads['acme/alpha']}  # pinned from main on " in text
    assert f"revision: {heads['acme/beta']}  # the release tag" in text
    assert f"  - repo: acme/gamma\n    revision: {heads['acme/gamma']}  # pinned from main on " in text
    assert pinned.repositories[1].include == ("*.json",)


def test_pin_is_idempotent(hub: HubEmulator, tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(MODEL_SET_TEXT)
    pin_model_set(path, endpoint=hub.endpoint)
    once = path.read_text()

    changes = pin_model_set(path, endpoint=hub.endpoint)

    assert path.read_text() == once
    assert not any(change.changed for change in changes)


def test_pinned_set_ignores_moved_branch(hub: HubEmulator, store: RepositoryStore, tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text("repositories:\n  - repo: acme/alpha\n    revision: main\n")
    pin_model_set(path, endpoint=hub.endpoint)
    old = store.get("acme/alpha").branches["main"]
    store.add_commit("acme/alpha", tmp_path / "source", extra_files={"config.json": b'{"moved": true}'})

    result = download_model_set(
        path, tmp_path / "share", staging=tmp_path / "staging", endpoint=hub.endpoint, progress="none",
        retry=RetryPolicy(attempts=2, base_delay_s=0.01),
    )

    assert result.manifest.repositories[0].commit == old
    assert b"moved" not in (result.path / "acme--alpha" / "config.json").read_bytes()


def test_dry_run_leaves_file_unchanged(hub: HubEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(MODEL_SET_TEXT)

    code = main(["models", "pin", "--model-set", str(path), "--endpoint", hub.endpoint, "--dry-run"])

    assert code == 0
    assert path.read_text() == MODEL_SET_TEXT
    assert "acme/alpha: " in capsys.readouterr().out


def test_flow_style_entry_is_rejected(hub: HubEmulator, tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text("repositories:\n  - {repo: acme/alpha, revision: main}\n")

    with pytest.raises(ModelSetError, match="flow style"):
        pin_model_set(path, endpoint=hub.endpoint)

    assert path.read_text() == "repositories:\n  - {repo: acme/alpha, revision: main}\n"


def test_unknown_tag_fails_without_writing(hub: HubEmulator, tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text("repositories:\n  - repo: acme/alpha\n    revision: main\n  - repo: acme/beta\n    revision: v9\n")
    before = path.read_text()

    with pytest.raises(HubNotFoundError, match="v9"):
        pin_model_set(path, endpoint=hub.endpoint)

    assert path.read_text() == before
