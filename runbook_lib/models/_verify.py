"""Verification: every byte of a model set checked against the hashes the Hub published.

huggingface_hub checks only sizes, so each file is hashed here: sha256 against ``lfs.oid``
for LFS and Xet files, git blob sha1 against ``oid`` for the others. A published set is
checked against its manifest, which contains the sha256 of every file.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ShareLayoutError
from ._hashing import FileDigest, digest_file
from ._progress import format_bytes
from ._share import MANIFEST_FILE, read_current, read_manifest, set_dir

STATUS_OK = "ok"
STATUS_MISSING = "missing"
STATUS_UNEXPECTED = "unexpected"
STATUS_SIZE = "size mismatch"
STATUS_SHA256 = "sha256 mismatch"
STATUS_GIT_SHA1 = "git sha1 mismatch"
STATUS_XET_HASH = "xet hash mismatch"
STATUS_UNREADABLE = "unreadable"


@dataclass(frozen=True)
class ExpectedFile:
    """The expected size of one file and at least one of its content hashes."""

    size: int
    sha256: str | None = None
    git_sha1: str | None = None
    xet_hash: str | None = None


@dataclass
class FileCheck:
    """The outcome of checking one file.

    Attributes:
        name: path relative to the set folder, ``<folder>/<path>``.
        status: ``ok``, ``missing``, ``unexpected``, ``size mismatch``, ``sha256 mismatch``,
            ``git sha1 mismatch`` or ``unreadable``.
        size: size on disk in bytes, 0 when missing.
        detail: expected and actual values for a mismatch.
        digest: the hashes computed, when the file was read.
    """

    name: str
    status: str
    size: int = 0
    detail: str = ""
    digest: FileDigest | None = None

    @property
    def ok(self) -> bool:
        """Whether the file matches."""
        return self.status == STATUS_OK


@dataclass
class VerifyReport:
    """The outcome of verifying a set: one check per expected or unexpected file."""

    set_id: str
    path: Path
    checks: list[FileCheck] = field(default_factory=list)
    bytes_hashed: int = 0
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every file matches and no unexpected file is present."""
        return all(check.ok for check in self.checks)

    @property
    def problems(self) -> list[FileCheck]:
        """The checks that failed."""
        return [check for check in self.checks if not check.ok]

    @property
    def throughput_bytes_per_s(self) -> float:
        """Bytes hashed per second."""
        return self.bytes_hashed / self.duration_s if self.duration_s > 0 else 0.0

    def summary(self) -> str:
        """Return a one-line summary with the counts per status and the hashing rate."""
        counts: dict[str, int] = {}
        for check in self.checks:
            counts[check.status] = counts.get(check.status, 0) + 1
        parts = ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "no files"
        return (
            f"Set {self.set_id}: {parts}; hashed {format_bytes(self.bytes_hashed)} in {self.duration_s:.2f} s "
            f"({format_bytes(self.throughput_bytes_per_s)}/s)."
        )

    def format_table(self) -> str:
        """Return a plain-text table of every file with its status, size and details."""
        width = max([len("STATUS")] + [len(check.status) for check in self.checks])
        lines = [f"{'STATUS':<{width}}  {'SIZE':>10}  FILE"]
        for check in sorted(self.checks, key=lambda c: (c.ok, c.name)):
            line = f"{check.status:<{width}}  {format_bytes(check.size):>10}  {check.name}"
            if check.detail:
                line += f"  ({check.detail})"
            lines.append(line)
        lines.append(self.summary())
        return "\n".join(lines)


def check_file(path: Path, name: str, expected: ExpectedFile) -> FileCheck:
    """Hash one file and compare it with what it must be.

    Args:
        path (`Path`): the file on disk.
        name (`str`): the name to report.
        expected (`ExpectedFile`): size and hashes it must match.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return FileCheck(name, STATUS_MISSING)
    except OSError as exc:
        return FileCheck(name, STATUS_UNREADABLE, detail=str(exc))

    if size != expected.size:
        return FileCheck(name, STATUS_SIZE, size, f"expected {expected.size} bytes, found {size}")

    try:
        digest = digest_file(path, git_sha1=expected.git_sha1 is not None)
    except OSError as exc:
        return FileCheck(name, STATUS_UNREADABLE, size, str(exc))

    if expected.sha256 is not None and digest.sha256 != expected.sha256:
        detail = f"expected {expected.sha256}, found {digest.sha256}"
        return FileCheck(name, STATUS_SHA256, size, detail, digest)
    if expected.git_sha1 is not None and digest.git_sha1 != expected.git_sha1:
        detail = f"expected {expected.git_sha1}, found {digest.git_sha1}"
        return FileCheck(name, STATUS_GIT_SHA1, size, detail, digest)
    if expected.sha256 is None and expected.git_sha1 is None and expected.xet_hash is not None:
        actual = _xet_hash(path)
        if actual != expected.xet_hash:
            return FileCheck(name, STATUS_XET_HASH, size, f"expected {expected.xet_hash}, found {actual}", digest)
    return FileCheck(name, STATUS_OK, size, digest=digest)


def _xet_hash(path: Path) -> str:
    import hf_xet

    return hf_xet.hash_files([str(path)])[0].hash


def check_files(root: Path, expected: dict[str, ExpectedFile], *, workers: int | None = None) -> list[FileCheck]:
    """Check many files under ``root`` in parallel threads, largest first.

    Args:
        root (`Path`): the folder the names are relative to.
        expected (`dict[str, ExpectedFile]`): what each file must be, by relative name.
        workers (`int`, *optional*): parallel hashing threads; the number of CPUs by default.
    """
    names = sorted(expected, key=lambda name: -expected[name].size)
    workers = workers or min(8, os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
        return list(pool.map(lambda name: check_file(root / name, name, expected[name]), names))


def find_unexpected(root: Path, expected: set[str], ignore: set[str] = frozenset()) -> list[FileCheck]:
    """Return a check for every file under ``root`` that is neither expected nor ignored."""
    checks = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(root).as_posix()
        if name not in expected and name not in ignore:
            checks.append(FileCheck(name, STATUS_UNEXPECTED, path.stat().st_size, "not in the manifest"))
    return checks


def verify_model_set(dest: str | Path, set_id: str | None = None, *, workers: int | None = None) -> VerifyReport:
    """Re-check a published set on the share against its manifest: sizes, hashes, missing and extra files.

    Args:
        dest (`str` or `Path`): the share folder.
        set_id (`str`, *optional*): the set to check; the active set from ``DEST/current`` by default.
        workers (`int`, *optional*): parallel hashing threads.

    Raises:
        ShareLayoutError: there is no active set, or the set has no valid manifest.

    Example:
        >>> report = verify_model_set(Path("/mnt/models"))  # doctest: +SKIP
        >>> report.ok, report.summary()  # doctest: +SKIP
        (True, 'Set ms-4d0d4a3b0c1e7f3e: 8 ok; hashed 160.2 MB in 0.21 s (763.0 MB/s).')
    """
    dest = Path(dest)
    if not dest.is_dir():
        raise ShareLayoutError(f"Share folder {dest} not found. Pass the folder the models were downloaded to.")
    if set_id is None:
        set_id = read_current(dest)
        if set_id is None:
            raise ShareLayoutError(
                f"No active model set in {dest}: the 'current' file is missing. Pass --set ID or download a set first."
            )

    started = time.monotonic()
    manifest = read_manifest(dest, set_id)
    root = set_dir(dest, set_id)

    expected = {
        f"{repository.folder}/{entry.path}": ExpectedFile(entry.size, entry.sha256, entry.git_sha1)
        for repository, entry in manifest.iter_files()
    }
    checks = check_files(root, expected, workers=workers)
    checks += find_unexpected(root, set(expected), ignore={MANIFEST_FILE})

    hashed = sum(check.size for check in checks if check.digest is not None)
    return VerifyReport(set_id, root, checks, hashed, time.monotonic() - started)
