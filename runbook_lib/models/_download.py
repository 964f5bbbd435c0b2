"""``download_model_set``: resolve, download into staging, verify, publish, switch ``current``."""

from __future__ import annotations

import errno
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from ..errors import DiskFullError, UsageError
from ._hub import HubClient, RetryPolicy
from ._lease import ShareLease
from ._model_set import ModelSet
from ._plan import (
    DownloadPlan,
    as_model_set,
    default_staging_root,
    list_plan_files,
    redact_endpoint,
    resolve_endpoint,
    resolve_plan,
)
from ._progress import format_bytes
from ._publish import build_manifest, publish_set
from ._share import MANIFEST_FILE, Manifest, read_current, set_dir, try_read_manifest, write_current
from ._staging import Stage
from ._verify import verify_model_set

logger = logging.getLogger("runbook_lib.models")


@dataclass
class PublishResult:
    """The outcome of one download run.

    Attributes:
        set_id: the published set.
        path: ``DEST/sets/<set id>``, docling's artifacts path.
        manifest: the set's manifest.
        already_published: True when the set was on the share already and nothing was downloaded.
        previous_set_id: the set ``current`` named before the run, if any.
        bytes_downloaded: bytes fetched in this run.
        files_downloaded: files fetched in this run.
        files_reused: files a killed earlier run had left verified in staging.
        duration_s: wall time of the run, in seconds.
    """

    set_id: str
    path: Path
    manifest: Manifest
    already_published: bool
    previous_set_id: str | None
    bytes_downloaded: int
    files_downloaded: int
    files_reused: int
    duration_s: float

    @property
    def throughput_bytes_per_s(self) -> float:
        """Bytes downloaded per second of wall time."""
        return self.bytes_downloaded / self.duration_s if self.duration_s > 0 else 0.0


def plan_model_set(
    model_set: ModelSet | str | Path | None = None,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    retry: RetryPolicy | None = None,
) -> DownloadPlan:
    """Resolve a model set and list its files without downloading anything (a dry run).

    Args:
        model_set: a :class:`ModelSet`, a model set file, or None for the committed default set.
        endpoint (`str`, *optional*): Hub or mirror URL; ``HF_ENDPOINT`` or huggingface.co by default.
        token (`str`, *optional*): access token; ``HF_TOKEN`` by default.
        retry (`RetryPolicy`, *optional*): retries for transient failures.

    Raises:
        ModelSetError, HubAuthError, HubNotFoundError, HubError, DownloadError.

    Example:
        >>> plan = plan_model_set(endpoint="http://127.0.0.1:8080")  # doctest: +SKIP
        >>> plan.set_id, len(plan.files), plan.total_bytes  # doctest: +SKIP
        ('ms-4d0d4a3b0c1e7f3e', 9, 216534123)
    """
    client = HubClient(resolve_endpoint(endpoint), token, retry or RetryPolicy())
    return list_plan_files(resolve_plan(as_model_set(model_set), client), client)


def download_model_set(
    model_set: ModelSet | str | Path | None,
    dest: str | Path,
    *,
    staging: str | Path | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    progress: str = "auto",
    log_interval_s: float = 10.0,
    max_workers: int = 8,
    retry: RetryPolicy | None = None,
    lease_wait_s: float = 600.0,
    lease_stale_after_s: float = 600.0,
    keep_staging: bool = False,
) -> PublishResult:
    """Download a model set over Xet, verify every file and publish it atomically to ``dest``.

    An already published and intact set costs one revision lookup per branch or tag and
    no download. Otherwise the run takes the share's lease, downloads into ``staging``
    (reusing files a killed run verified), checks every file's hash, copies the set to
    ``DEST/sets/<set id>/``, writes its manifest last and then points ``DEST/current`` at it.

    Args:
        model_set: a :class:`ModelSet`, a model set file, or None for the committed default set.
        dest (`str` or `Path`): the share folder (the Azure Files mount in the Job).
        staging (`str` or `Path`, *optional*): local folder for downloads, never on the share;
            ``RUNBOOK_MODEL_STAGING`` or a folder in the temp dir by default.
        endpoint (`str`, *optional*): Hub or mirror URL; ``HF_ENDPOINT`` or huggingface.co by default.
        token (`str`, *optional*): access token for private or gated repositories; ``HF_TOKEN``
            (or the file in ``HF_TOKEN_PATH``) by default.
        progress (`str`): ``auto``, ``bar``, ``log`` or ``none`` (see :class:`TransferProgress`).
        log_interval_s (`float`): seconds between progress log records when not on a terminal.
        max_workers (`int`): files transferred at once.
        retry (`RetryPolicy`, *optional*): retries with backoff for 5xx responses and dropped connections.
        lease_wait_s (`float`): how long to wait for another run's lease on the share.
        lease_stale_after_s (`float`): age after which another run's lease counts as abandoned.
        keep_staging (`bool`): keep the staged files after publishing (copied, not linked).

    Returns:
        PublishResult: the set id, its path and manifest, and what the run transferred.

    Raises:
        ModelSetError: the model set is invalid or its patterns select no file.
        HubAuthError: a repository needs a token, or the token lacks access (401, 403).
        HubNotFoundError: a repository, revision or file does not exist (404).
        VerificationError: a downloaded file does not match the Hub's hashes; nothing is published.
        DiskFullError: staging or the share has too little space.
        LeaseError: another run holds the share's lease for longer than ``lease_wait_s``.
        HubError, DownloadError, PublishError: other failures, after retries.

    Example:
        >>> result = download_model_set(None, Path("/mnt/models"), endpoint=hub.endpoint)  # doctest: +SKIP
        >>> result.set_id, result.path.name, result.already_published  # doctest: +SKIP
        ('ms-4d0d4a3b0c1e7f3e', 'ms-4d0d4a3b0c1e7f3e', False)
    """
    started = time.monotonic()
    model_set = as_model_set(model_set)
    dest = Path(dest)
    staging_root = Path(staging) if staging is not None else default_staging_root()
    _check_staging(staging_root, dest)
    if max_workers < 1:
        raise UsageError(f"Invalid max_workers {max_workers}: expected at least 1.")

    client = HubClient(resolve_endpoint(endpoint), token, retry or RetryPolicy())
    plan = resolve_plan(model_set, client)
    set_id = plan.set_id
    logger.info(
        "Model set %s resolves to set %s: %s",
        model_set.name,
        set_id,
        ", ".join(f"{spec.repo}@{spec.revision}={commit[:12]}" for spec, commit in plan.resolved),
    )

    previous = read_current(dest)
    manifest = _intact_manifest(dest, set_id)
    if manifest is not None and previous == set_id:
        return _unchanged(dest, manifest, previous, started)

    dest.mkdir(parents=True, exist_ok=True)
    with ShareLease(dest, purpose=f"publish {set_id}", stale_after_s=lease_stale_after_s, wait_s=lease_wait_s) as lease:
        previous = read_current(dest)
        manifest = _intact_manifest(dest, set_id)
        if manifest is not None and previous == set_id:
            return _unchanged(dest, manifest, previous, started)
        if manifest is not None and _activate_published(dest, set_id, lease):
            return _unchanged(dest, manifest, previous, started)

        plan = list_plan_files(plan, client)
        stage_root = staging_root / set_id
        stage_root.parent.mkdir(parents=True, exist_ok=True)
        stage = Stage(stage_root, endpoint=client.endpoint, token=token, retry=client.retry, max_workers=max_workers)
        with FileLock(str(staging_root / f".{set_id}.lock")):
            try:
                staged = stage.fill(plan.files, progress=progress, log_interval_s=log_interval_s)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                raise DiskFullError(
                    f"No space left in the staging folder {stage_root} ({exc.filename or exc}). Free space or "
                    "pass --staging on a larger volume (in the Job, raise the emptyDir size limit)."
                ) from None

            duration = time.monotonic() - started
            manifest = build_manifest(set_id, staged, endpoint=redact_endpoint(client.endpoint), duration_s=duration)
            lease.check()
            path = publish_set(dest, staged, manifest, link=not keep_staging)
            lease.check()
            write_current(dest, set_id)
            if not keep_staging:
                stage.remove()

    duration = time.monotonic() - started
    result = PublishResult(
        set_id=set_id,
        path=path,
        manifest=manifest,
        already_published=False,
        previous_set_id=previous,
        bytes_downloaded=staged.bytes_downloaded,
        files_downloaded=staged.files_downloaded,
        files_reused=staged.files_reused,
        duration_s=duration,
    )
    logger.info(
        "Published set %s to %s: %d files, %s downloaded in %.1f s (%s/s), %d reused; current was %s",
        set_id,
        path,
        len(staged.files),
        format_bytes(result.bytes_downloaded),
        duration,
        format_bytes(result.throughput_bytes_per_s),
        result.files_reused,
        previous or "unset",
    )
    return result


def _check_staging(staging_root: Path, dest: Path) -> None:
    staging = staging_root.resolve()
    share = dest.resolve()
    if staging == share or share in staging.parents:
        raise UsageError(
            f"The staging folder {staging_root} is inside the share {dest}. Stage on a local disk (an emptyDir "
            "in the Job): the Hub cache's lock and temporary files misbehave on SMB shares."
        )


def _intact_manifest(dest: Path, set_id: str) -> Manifest | None:
    """Return a published set's manifest when every listed file is present with its size."""
    manifest = try_read_manifest(dest, set_id)
    if manifest is None:
        return None

    root = set_dir(dest, set_id)
    for repository, entry in manifest.iter_files():
        path = root / repository.folder / entry.path
        try:
            if path.stat().st_size != entry.size:
                logger.warning("Published file %s has the wrong size; the set will be repaired", path)
                return None
        except FileNotFoundError:
            logger.warning("Published file %s is missing; the set will be repaired", path)
            return None
    return manifest


def _activate_published(dest: Path, set_id: str, lease: ShareLease) -> bool:
    """Point ``current`` at a set that is on the share already, if a full hash check passes."""
    report = verify_model_set(dest, set_id)
    if not report.ok:
        logger.warning("Set %s on the share failed verification (%s); publishing it again", set_id, report.summary())
        (set_dir(dest, set_id) / MANIFEST_FILE).unlink(missing_ok=True)
        return False

    lease.check()
    write_current(dest, set_id)
    logger.info("Set %s was on the share already and passed verification; current now names it", set_id)
    return True


def _unchanged(dest: Path, manifest: Manifest, previous: str | None, started: float) -> PublishResult:
    duration = time.monotonic() - started
    logger.info("Set %s is already published in %s; nothing to download", manifest.set_id, dest)
    return PublishResult(
        set_id=manifest.set_id,
        path=set_dir(dest, manifest.set_id),
        manifest=manifest,
        already_published=True,
        previous_set_id=previous,
        bytes_downloaded=0,
        files_downloaded=0,
        files_reused=0,
        duration_s=duration,
    )
