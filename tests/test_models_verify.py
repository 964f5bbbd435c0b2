"""``runbook models verify`` and ``verify_model_set`` on a published set, intact and tampered."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_XET_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from runbook_lib.cli import main  # noqa: E402
from runbook_lib.errors import ShareLayoutError  # noqa: E402
from runbook_lib.hub_emulator import HubEmulator, RepositoryStore, write_synthetic_files  # noqa: E402
from runbook_lib.models import RetryPolicy, download_model_set, parse_model_set, verify_model_set  # noqa: E402

SIZES = {"config.json": 90, "model.safetensors": 600_000, "sub/weights.bin": 300_000}
MODEL_SET = {"repositories": [{"repo": "acme/tiny", "revision": "main"}]}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verify")
    source = write_synthetic_files(root / "source", SIZES, seed=4)
    RepositoryStore(root / "store").add_commit("acme/tiny", source)
    with HubEmulator(root / "store") as hub:
        download_model_set(
            parse_model_set(MODEL_SET), root / "share", staging=root / "staging", endpoint=hub.endpoint,
            progress="none", retry=RetryPolicy(attempts=2, base_delay_s=0.01),
        )
    return root / "share"


@pytest.fixture
def share(published: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "share"
    shutil.copytree(published, copy)
    return copy


def _set_root(share: Path) -> Path:
    return share / "sets" / (share / "current").read_text().strip()


def test_intact_set_passes(share: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = verify_model_set(share)
    code = main(["models", "verify", "--dest", str(share)])
    output = capsys.readouterr().out

    assert report.ok
    assert [c.status for c in report.checks] == ["ok"] * len(SIZES)
    assert report.bytes_hashed == sum(SIZES.values())
    assert code == 0
    assert "acme--tiny/model.safetensors" in output
    assert f"{len(SIZES)} ok" in output


def test_changed_byte_is_a_sha256_mismatch(share: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _set_root(share) / "acme--tiny/model.safetensors"
    data = bytearray(path.read_bytes())
    data[1234] ^= 0x01
    path.write_bytes(bytes(data))

    report = verify_model_set(share)
    code = main(["models", "verify", "--dest", str(share)])
    captured = capsys.readouterr()

    assert not report.ok
    assert [(c.name, c.status) for c in report.problems] == [("acme--tiny/model.safetensors", "sha256 mismatch")]
    assert code == 1
    assert "sha256 mismatch" in captured.out
    assert f"To repair it, move {report.path} aside" in captured.err
    assert f"runbook models download --dest {share}" in captured.err


def test_small_file_change_is_a_mismatch(share: Path) -> None:
    path = _set_root(share) / "acme--tiny/config.json"
    text = path.read_text()
    path.write_text(text.replace("x", "y", 1))

    report = verify_model_set(share)

    assert [(c.name, c.status) for c in report.problems] == [("acme--tiny/config.json", "sha256 mismatch")]


def test_missing_truncated_and_unexpected_files(share: Path) -> None:
    root = _set_root(share)
    (root / "acme--tiny/sub/weights.bin").unlink()
    with open(root / "acme--tiny/config.json", "r+b") as handle:
        handle.truncate(10)
    (root / "acme--tiny/stray.bin").write_bytes(b"extra")

    problems = {c.name: c.status for c in verify_model_set(share).problems}

    assert problems == {
        "acme--tiny/sub/weights.bin": "missing",
        "acme--tiny/config.json": "size mismatch",
        "acme--tiny/stray.bin": "unexpected",
    }


def test_json_report(share: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["models", "verify", "--dest", str(share), "--json"])
    data = json.loads(capsys.readouterr().out)

    assert code == 0
    assert data["ok"] is True
    assert sorted(f["name"] for f in data["files"]) == sorted(f"acme--tiny/{p}" for p in SIZES)


def test_no_current_is_an_access_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()

    with pytest.raises(ShareLayoutError, match="current"):
        verify_model_set(tmp_path / "empty")
    code = main(["models", "verify", "--dest", str(tmp_path / "empty")])

    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_unknown_set_or_missing_manifest(share: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "verify", "--dest", str(share), "--set", "ms-0000000000000000"]) == 2
    assert f"Published sets: {_set_root(share).name}." in capsys.readouterr().err
    (_set_root(share) / "manifest.json").unlink()

    with pytest.raises(ShareLayoutError, match="not published"):
        verify_model_set(share)
    assert main(["models", "verify", "--dest", str(share), "--set", "../etc"]) == 2
    assert "Invalid set id" in capsys.readouterr().err


def test_xet_hash_check(tmp_path: Path) -> None:
    import hf_xet

    from runbook_lib.models._verify import ExpectedFile, check_file

    path = write_synthetic_files(tmp_path, {"weights.bin": 50_000}, seed=6) / "weights.bin"
    real = hf_xet.hash_files([str(path)])[0].hash

    good = check_file(path, "weights.bin", ExpectedFile(50_000, xet_hash=real))
    bad = check_file(path, "weights.bin", ExpectedFile(50_000, xet_hash="0" * 64))

    assert good.ok
    assert bad.status == "xet hash mismatch"
    assert real in bad.detail
