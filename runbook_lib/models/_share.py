"""The published layout on the share: ``current``, ``sets/<set id>/`` and each set's manifest.

::

    DEST/
      current                       text file with the active set id (no symlinks: SMB may refuse them)
      lease.json                    owner and timestamp of the run that is writing, if any
      sets/<set id>/
        <folder>/<path>             docling's artifacts layout, one folder per repository
        manifest.json               written last; a set folder without it is not published

Readers resolve ``current`` to ``sets/<set id>/`` and trust a set only when its manifest is
present. Writers replace ``current`` and manifests atomically (write a temporary file, then
rename), so a reader sees the old or the new content, never a partial one.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ShareLayoutError

CURRENT_FILE = "current"
SETS_DIR = "sets"
MANIFEST_FILE = "manifest.json"
LEASE_FILE = "lease.json"

_SET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ManifestFile(BaseModel):
    """One file of a published set.

    Attributes:
        path: path inside the repository (and inside the repository's folder).
        size: size in bytes.
        sha256: sha256 of the contents, for every file.
        xet_hash: Xet hash from the Hub, for files stored with Xet.
        git_sha1: git blob sha1 from the Hub, for files outside LFS.
        transport: ``xet`` or ``http``, how this run's download fetched the file.
    """

    model_config = ConfigDict(extra="ignore")

    path: str
    size: int
    sha256: str
    xet_hash: str | None = None
    git_sha1: str | None = None
    transport: Literal["xet", "http"]


class ManifestRepository(BaseModel):
    """One repository of a published set, with the requested revision and the resolved commit."""

    model_config = ConfigDict(extra="ignore")

    repo: str
    revision: str
    commit: str
    folder: str
    include: list[str] = []
    exclude: list[str] = []
    files: list[ManifestFile]


class Manifest(BaseModel):
    """``sets/<set id>/manifest.json``: what a published set contains and how it was made."""

    model_config = ConfigDict(extra="ignore")

    set_id: str
    created_at: str
    tools: dict[str, str]
    endpoint: str
    repositories: list[ManifestRepository]
    bytes_downloaded: int
    duration_s: float
    throughput_bytes_per_s: float

    def iter_files(self):
        """Yield ``(repository, file)`` pairs for every file of the set."""
        for repository in self.repositories:
            for entry in repository.files:
                yield repository, entry

    @property
    def total_bytes(self) -> int:
        """The size of all files of the set, in bytes."""
        return sum(entry.size for _, entry in self.iter_files())


def check_set_id(set_id: str) -> str:
    """Return ``set_id`` if it is a valid single path segment.

    Raises:
        ShareLayoutError: the id is empty or contains path separators or odd characters.
    """
    if not _SET_ID.match(set_id or "") or set_id in (".", ".."):
        raise ShareLayoutError(f"Invalid set id {set_id!r}: expected letters, digits, '.', '_' or '-'.")
    return set_id


def set_dir(dest: Path, set_id: str) -> Path:
    """Return the folder of a set on the share."""
    return Path(dest) / SETS_DIR / check_set_id(set_id)


def read_current(dest: Path) -> str | None:
    """Return the active set id from ``DEST/current``, or None when there is no such file.

    Raises:
        ShareLayoutError: the file cannot be read or contains an invalid id.
    """
    path = Path(dest) / CURRENT_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ShareLayoutError(f"Could not read {path}: {exc}. Check that the share is mounted and readable.") from None
    if not text:
        return None
    try:
        return check_set_id(text)
    except ShareLayoutError:
        raise ShareLayoutError(
            f"{path} contains an invalid set id {text!r}. Run 'runbook models download' to publish a set again."
        ) from None


def write_current(dest: Path, set_id: str) -> None:
    """Point ``DEST/current`` at a set, atomically."""
    write_atomic(Path(dest) / CURRENT_FILE, f"{check_set_id(set_id)}\n".encode())


def read_manifest(dest: Path, set_id: str) -> Manifest:
    """Read and validate a published set's manifest.

    Raises:
        ShareLayoutError: the set or its manifest is missing, or the manifest is invalid.
    """
    path = set_dir(dest, set_id) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise ShareLayoutError(
                f"Set {set_id} not found in {Path(dest) / 'sets'}. Published sets: {', '.join(published_sets(dest)) or 'none'}."
            ) from None
        raise ShareLayoutError(
            f"Set {set_id} has no manifest at {path}, so it is not published (a run may have stopped halfway). "
            "Run 'runbook models download' to publish it."
        ) from None
    except (OSError, ValueError) as exc:
        raise ShareLayoutError(f"Could not read the manifest {path}: {exc}.") from None

    try:
        manifest = Manifest(**data)
    except (ValidationError, TypeError) as exc:
        raise ShareLayoutError(f"Manifest {path} is invalid: {exc}".splitlines()[0]) from None
    if manifest.set_id != set_id:
        raise ShareLayoutError(f"Manifest {path} names set {manifest.set_id!r}, not {set_id!r}.")
    return manifest


def published_sets(dest: Path) -> list[str]:
    """Return the ids of the sets under ``DEST/sets/`` that have a manifest, sorted."""
    sets = Path(dest) / "sets"
    if not sets.is_dir():
        return []
    return sorted(folder.name for folder in sets.iterdir() if (folder / MANIFEST_FILE).is_file())


def try_read_manifest(dest: Path, set_id: str) -> Manifest | None:
    """Return a set's manifest, or None when it is missing or invalid."""
    try:
        return read_manifest(dest, set_id)
    except ShareLayoutError:
        return None


def write_manifest(dest: Path, manifest: Manifest) -> Path:
    """Write a set's manifest atomically and return its path."""
    path = set_dir(dest, manifest.set_id) / MANIFEST_FILE
    write_atomic(path, (json.dumps(manifest.model_dump(), indent=2) + "\n").encode())
    return path


def active_set_path(dest: Path) -> Path:
    """Return the folder of the active set: ``DEST/sets/<id from DEST/current>``.

    This is docling's artifacts path for the service.

    Raises:
        ShareLayoutError: there is no ``current`` file, or the set it names has no manifest.

    Example:
        >>> active_set_path(Path("/mnt/models"))  # doctest: +SKIP
        PosixPath('/mnt/models/sets/ms-4d0d4a3b0c1e7f3e')
    """
    set_id = read_current(dest)
    if set_id is None:
        raise ShareLayoutError(
            f"No active model set: {Path(dest) / CURRENT_FILE} is missing or empty. "
            "Run 'runbook models download --dest DIR' first."
        )
    read_manifest(dest, set_id)
    return set_dir(dest, set_id)


def write_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write a file through a temporary file in the same folder, then rename it over the target.

    The rename makes the write atomic for readers and against a killed process. The Linux
    SMB client writes a file's data to the server when the file is closed, so the share
    needs no fsync. On a local ext4 folder an fsync would also force out every other dirty
    file of the run (data=ordered journaling), which costs seconds for large model sets.

    Args:
        path (`Path`): the file to replace.
        data (`bytes`): its new contents.
        fsync (`bool`): flush the data to the device before the rename, for crash safety
            on local disks.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def manifest_to_json(manifest: Manifest) -> dict[str, Any]:
    """Return the manifest as the JSON mapping written to the share."""
    return manifest.model_dump()
