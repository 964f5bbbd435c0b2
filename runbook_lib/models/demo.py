"""Tiny randomly initialised docling models in docling's artifacts layout, for offline use.

``write_demo_models(dest, seed)`` writes the two model repositories docling's standard PDF
pipeline reads from an artifacts path, with the real file names and configuration formats
but random weights::

    dest/
      demo_models.json                                  seed, generator version, file hashes
      docling-project--docling-layout-heron/            RT-DETRv2 layout model, about 350 KB
        config.json  model.safetensors  preprocessor_config.json
      docling-project--docling-models/model_artifacts/tableformer/
        accurate/  tm_config.json  tableformer_accurate.safetensors   about 105 MB
        fast/      tm_config.json  tableformer_fast.safetensors       about 105 MB

The layout model's scores stay far below docling's detection threshold, so the layout stage
detects nothing and docling turns every text cell of a programmatic PDF into a text cluster.
The text is kept, but tables, pictures and headings are not recognised, and TableFormer never
runs during a conversion. The TableFormer weights still predict a table when called directly.

The same seed writes byte-identical files with the same versions of torch, transformers,
safetensors and docling-ibm-models, which ``demo_models.json`` records.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ..errors import DemoModelsError, DiskFullError
from ._demo_layout import LAYOUT_FILES, LAYOUT_REPO_FOLDER, write_layout_model
from ._demo_tableformer import (
    CONFIG_FILE,
    MODELS_REPO_FOLDER,
    TABLEFORMER_FOLDER,
    WEIGHTS_FILES,
    write_tableformer_model,
)

logger = logging.getLogger("runbook_lib.models")

# Bump when the generator writes different bytes for the same seed and library versions.
GENERATOR_VERSION = 1
MARKER_FILE = "demo_models.json"
MAX_SEED = 2**32 - 1

REPO_FOLDERS = (LAYOUT_REPO_FOLDER, MODELS_REPO_FOLDER)

# Bookkeeping inside dest. The staging folder sits in dest so that the final renames stay
# on one file system, and the lock file stays behind after a run.
_STAGING_FOLDER = ".demo-models-staging"
_LOCK_FILE = ".demo-models.lock"
_MARKER_STATE_WRITING = "writing"
_MARKER_STATE_COMPLETE = "complete"
_LIBRARIES = ("torch", "transformers", "safetensors", "docling-ibm-models")

# The staged copy plus the marker, rounded up. The old model folders are deleted only after staging.
_REQUIRED_MB = 250


def demo_model_files() -> list[str]:
    """List the model files ``write_demo_models`` writes, as POSIX paths relative to dest.

    The list leaves out ``demo_models.json`` and the generator's hidden bookkeeping files.

    Example:
        >>> "docling-project--docling-layout-heron/model.safetensors" in demo_model_files()
        True
    """
    files = [f"{LAYOUT_REPO_FOLDER}/{name}" for name in LAYOUT_FILES]
    for mode, weights_name in sorted(WEIGHTS_FILES.items()):
        mode_folder = f"{MODELS_REPO_FOLDER}/{TABLEFORMER_FOLDER}/{mode}"
        files += [f"{mode_folder}/{CONFIG_FILE}", f"{mode_folder}/{weights_name}"]
    return sorted(files)


def write_demo_models(dest: Path, seed: int = 0) -> Path:
    """Write tiny randomly initialised layout and TableFormer models into ``dest``.

    ``dest`` then works as docling's ``artifacts_path`` and as ``docling-api --models-dir``
    with OCR off. When ``dest`` already contains a complete set for this seed and generator
    version, the call returns at once without rewriting. Otherwise it builds the set in a
    staging folder inside ``dest``, moves the two model folders into place, and writes
    ``demo_models.json`` last, so a killed run never leaves a set that looks complete.
    Concurrent calls on one ``dest`` take turns through a file lock.

    Args:
        dest (Path): Folder to write into. It is created if missing. Other files in it are
            kept, but the two model folders are replaced when they were written by an
            earlier call with another seed or generator version.
        seed (int): Random seed from 0 to 2**32 - 1. The same seed writes byte-identical
            model files with the same library versions.

    Returns:
        Path: ``dest`` as an absolute path.

    Raises:
        DemoModelsError: If ``seed`` is not an integer in range, ``dest`` is a file, ``dest``
            contains a model folder that this generator did not write (such as real models),
            or a file could not be written.
        DiskFullError: If the file system ran out of space.

    Example:
        >>> write_demo_models(Path("/tmp/demo-models"), seed=0)
        PosixPath('/tmp/demo-models')
    """
    from filelock import FileLock, Timeout

    _check_seed(seed)
    dest = Path(dest).absolute()
    _create_dest(dest)

    lock = FileLock(str(dest / _LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("Waiting for another process that writes demo models to %s", dest)
        lock.acquire()

    try:
        marker = _read_marker(dest)
        if marker is not None and _is_complete(dest, marker, seed):
            logger.info("Demo models for seed %d are already in %s", seed, dest)
            return dest

        _check_no_foreign_models(dest, marker)
        _write_all(dest, seed)
        return dest
    finally:
        lock.release()


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise DemoModelsError(
            f"Invalid demo model seed {seed!r}: use an integer from 0 to {MAX_SEED}, for example --seed 0."
        )


def _create_dest(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise DemoModelsError(f"Demo models destination {dest} is a file, not a folder. Pass a folder path with --dest.")

    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoModelsError(
            f"Could not create the demo models folder {dest}: {exc.strerror}. "
            "Pass a --dest folder you can write to."
        ) from exc


def _read_marker(dest: Path) -> dict[str, Any] | None:
    """Return the parsed marker, ``{}`` for a marker that cannot be parsed, or None if there is none."""
    path = dest / MARKER_FILE
    if not path.exists():
        return None

    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("Ignoring the unreadable demo models marker %s: %s", path, exc)
        return {}
    return marker if isinstance(marker, dict) else {}


def _is_complete(dest: Path, marker: dict[str, Any], seed: int) -> bool:
    """Check the marker's seed, version and state, and each file's presence and size (not its hash)."""
    if marker.get("state") != _MARKER_STATE_COMPLETE:
        return False
    if marker.get("generator_version") != GENERATOR_VERSION or marker.get("seed") != seed:
        return False

    files = marker.get("files")
    if not isinstance(files, dict) or sorted(files) != demo_model_files():
        return False

    for relative_path, entry in files.items():
        path = dest / relative_path
        if not isinstance(entry, dict) or not path.is_file() or path.stat().st_size != entry.get("size"):
            return False
    return True


def _check_no_foreign_models(dest: Path, marker: dict[str, Any] | None) -> None:
    """Raise if ``dest`` has model folders but no marker, because they may be real models."""
    if marker is not None:
        return

    for folder in REPO_FOLDERS:
        if (dest / folder).exists():
            raise DemoModelsError(
                f"{dest / folder} already exists and was not written by the demo model generator "
                f"({MARKER_FILE} is missing), so it may contain real models. Pass an empty --dest folder, "
                f"or delete {dest / folder} if you do not need it."
            )


def _write_all(dest: Path, seed: int) -> None:
    """Build the model folders in staging, move them into ``dest`` and write the marker last."""
    from safetensors import SafetensorError

    staging = dest / _STAGING_FOLDER
    started = time.monotonic()
    logger.info("Writing demo models for seed %d to %s", seed, dest)

    try:
        _remove(staging)
        staging.mkdir()

        _build_models(staging, seed)
        files = _describe_files(staging)

        _write_marker(dest, seed, _MARKER_STATE_WRITING, files={})
        for folder in REPO_FOLDERS:
            _remove(dest / folder)
            os.replace(staging / folder, dest / folder)
        _write_marker(dest, seed, _MARKER_STATE_COMPLETE, files=files)
    except (OSError, SafetensorError) as exc:
        # safetensors writes from Rust and reports I/O errors as text such as "os error 28".
        out_of_space = getattr(exc, "errno", None) == errno.ENOSPC or f"os error {errno.ENOSPC})" in str(exc)
        if out_of_space:
            raise DiskFullError(
                f"The file system ran out of space while writing demo models to {dest}. "
                f"Free about {_REQUIRED_MB} MB there, or pass another --dest."
            ) from exc
        raise DemoModelsError(
            f"Could not write demo models to {dest}: {exc}. Check that the folder is writable, then run again."
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    total_bytes = sum(entry["size"] for entry in files.values())
    logger.info(
        "Wrote %d demo model files (%.1f MB) for seed %d to %s in %.1f s",
        len(files),
        total_bytes / 1e6,
        seed,
        dest,
        time.monotonic() - started,
    )


def _remove(path: Path) -> None:
    """Delete a file or folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _build_models(root: Path, seed: int) -> None:
    write_layout_model(root / LAYOUT_REPO_FOLDER, _component_seed(seed, "layout"))

    for mode in sorted(WEIGHTS_FILES):
        folder = root / MODELS_REPO_FOLDER / TABLEFORMER_FOLDER / mode
        write_tableformer_model(folder, mode, _component_seed(seed, f"tableformer-{mode}"))

    # safetensors writes its files with mode 0600. Shares and containers read them as other users.
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _component_seed(seed: int, component: str) -> int:
    """Derive one model's torch seed from the set's seed, so the models do not share weights."""
    digest = hashlib.sha256(f"{seed}/{component}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _describe_files(root: Path) -> dict[str, dict[str, Any]]:
    files = {}
    for relative_path in demo_model_files():
        path = root / relative_path
        files[relative_path] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_marker(dest: Path, seed: int, state: str, files: dict[str, dict[str, Any]]) -> None:
    """Replace ``demo_models.json`` in one rename. Its bytes depend only on its arguments and library versions."""
    marker = {
        "generator": "runbook_lib.models.demo",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "state": state,
        "libraries": {name: importlib.metadata.version(name) for name in _LIBRARIES},
        "files": files,
    }
    temporary = dest / f".{MARKER_FILE}.tmp"
    temporary.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.chmod(0o644)
    os.replace(temporary, dest / MARKER_FILE)
