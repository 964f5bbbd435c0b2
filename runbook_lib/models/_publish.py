"""Publishing: copy a verified set from staging to ``DEST/sets/<set id>/``, manifest last."""

from __future__ import annotations

import errno
import logging
import os
import platform
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .. import __version__
from ..errors import DiskFullError, PublishError
from ._progress import format_bytes
from ._share import MANIFEST_FILE, Manifest, ManifestFile, ManifestRepository, set_dir, write_manifest
from ._staging import StagedFile, StagingResult

logger = logging.getLogger("runbook_lib.models")

_PARTIAL = ".partial-"


def tool_versions() -> dict[str, str]:
    """Return the versions of the tools that made a set, for its manifest."""
    versions = {"docling-aks-runbook": __version__, "python": platform.python_version()}
    for name in ("huggingface_hub", "hf_xet"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_manifest(
    set_id: str,
    staged: StagingResult,
    *,
    endpoint: str,
    duration_s: float,
) -> Manifest:
    """Describe a staged set: per repository the revision, commit and each file's hashes and transport."""
    repositories: dict[str, ManifestRepository] = {}
    for item in staged.files:
        spec = item.planned.spec
        repository = repositories.get(spec.folder)
        if repository is None:
            repository = ManifestRepository(
                repo=spec.repo,
                revision=spec.revision,
                commit=item.planned.commit,
                folder=spec.folder,
                include=list(spec.include),
                exclude=list(spec.exclude),
                files=[],
            )
            repositories[spec.folder] = repository

        remote = item.planned.remote
        repository.files.append(
            ManifestFile(
                path=remote.path,
                size=remote.size,
                sha256=item.digest.sha256,
                xet_hash=remote.xet_hash,
                git_sha1=None if remote.is_lfs or remote.xet_hash is not None else remote.blob_id,
                transport=item.transport,  # type: ignore[arg-type]
            )
        )

    downloaded = staged.bytes_downloaded
    return Manifest(
        set_id=set_id,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        tools=tool_versions(),
        endpoint=endpoint,
        repositories=list(repositories.values()),
        bytes_downloaded=downloaded,
        duration_s=round(duration_s, 3),
        throughput_bytes_per_s=round(downloaded / duration_s, 1) if duration_s > 0 else 0.0,
    )


def publish_set(dest: Path, staged: StagingResult, manifest: Manifest, *, link: bool, workers: int = 4) -> Path:
    """Place every staged file in ``DEST/sets/<set id>/``, remove leftovers, then write the manifest.

    Each file is written under a temporary name and renamed, so a file never appears
    half-written under its final name. The manifest is written last, so a set folder
    without it is never taken for a published set. A set being repaired keeps its old
    manifest meanwhile: the same set id always lists the same files and hashes.

    Args:
        dest (`Path`): the share folder.
        staged (`StagingResult`): the verified files.
        manifest (`Manifest`): the manifest to write once all files are in place.
        link (`bool`): hard-link instead of copying when staging and share are on one file
            system; only safe when staging is deleted afterwards.
        workers (`int`): files copied at once.

    Raises:
        DiskFullError: the share has too little free space.
        PublishError: a file could not be written to the share.
    """
    root = set_dir(dest, manifest.set_id)
    root.mkdir(parents=True, exist_ok=True)

    for leftover in root.rglob(f"*{_PARTIAL}*"):
        leftover.unlink(missing_ok=True)
    _check_free_space(root, staged)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="publish") as pool:
        list(pool.map(lambda item: _place(item, root / item.planned.name, link), staged.files))

    expected = {item.planned.name for item in staged.files}
    for path in sorted(root.rglob("*"), reverse=True):
        name = path.relative_to(root).as_posix()
        if path.is_file() and name not in expected:
            logger.warning("Removing %s from the set folder: it is not part of set %s", path, manifest.set_id)
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()

    write_manifest(dest, manifest)
    return root


def _place(item: StagedFile, target: Path, link: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}{_PARTIAL}{uuid.uuid4().hex[:8]}")
    try:
        if link:
            try:
                os.link(item.path, tmp)
            except OSError:
                shutil.copyfile(item.path, tmp)
        else:
            shutil.copyfile(item.path, tmp)

        size = tmp.stat().st_size
        if size != item.planned.remote.size:
            raise PublishError(
                f"Copy of {item.planned.name} on the share has {size} bytes, expected {item.planned.remote.size}. "
                "Check the share's health and run the download again."
            )
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"No space left on the share while writing {target}. Free space on the share or grow its "
                "quota, then run the download again; nothing was published."
            ) from None
        raise PublishError(f"Could not write {target} to the share: {exc}. Nothing was published.") from None
    finally:
        tmp.unlink(missing_ok=True)


def _check_free_space(root: Path, staged: StagingResult) -> None:
    needed = 0
    for item in staged.files:
        target = root / item.planned.name
        existing = target.stat().st_size if target.is_file() else 0
        needed += max(item.planned.remote.size - existing, 0)

    free = shutil.disk_usage(root).free
    if needed > free:
        raise DiskFullError(
            f"The share at {root} has {format_bytes(free)} free but the set needs {format_bytes(needed)} more. "
            "Grow the share's quota or remove old sets under sets/, then run the download again."
        )
