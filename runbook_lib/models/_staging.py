"""The staging folder: files downloaded, verified and kept across runs until the set is published.

Layout under ``<staging root>/<set id>/``::

    <folder>/<path>        verified files, renamed into place only after their hashes matched
    .tmp/                  files being downloaded; emptied at the start of every run
    .state.json            transport and hashes of each verified file, so that a later run reuses it

A run killed halfway leaves verified files and their state behind. The next run hashes
them again, reuses those that still match and downloads the rest.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import uuid
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from ..errors import DiskFullError, VerificationError
from ._hashing import FileDigest
from ._hub import RetryPolicy, translate_error
from ._plan import PlannedFile
from ._progress import TransferProgress, file_progress_class, format_bytes
from ._share import write_atomic
from ._transfer import fetch_file, xet_enabled
from ._verify import FileCheck, check_file

logger = logging.getLogger("runbook_lib.models")

_STATE_FILE = ".state.json"
_TMP_DIR = ".tmp"


@dataclass
class StagedFile:
    """A verified file in staging."""

    planned: PlannedFile
    path: Path
    digest: FileDigest
    transport: str
    downloaded: bool


@dataclass
class StagingResult:
    """The files of a set in staging, all verified."""

    files: list[StagedFile]

    @property
    def bytes_downloaded(self) -> int:
        """Bytes fetched in this run."""
        return sum(f.planned.remote.size for f in self.files if f.downloaded)

    @property
    def files_downloaded(self) -> int:
        """Files fetched in this run."""
        return sum(1 for f in self.files if f.downloaded)

    @property
    def files_reused(self) -> int:
        """Files a previous run had verified and this run verified again."""
        return sum(1 for f in self.files if not f.downloaded)


class Stage:
    """The staging folder of one set.

    Args:
        root (`Path`): ``<staging root>/<set id>``.
        endpoint (`str`): the Hub or mirror URL.
        token (`str`, *optional*): access token; None lets huggingface_hub read ``HF_TOKEN``.
        retry (`RetryPolicy`): retries for transient failures.
        max_workers (`int`): files transferred at once.
    """

    def __init__(self, root: Path, *, endpoint: str, token: str | None, retry: RetryPolicy, max_workers: int) -> None:
        self.root = root
        self.endpoint = endpoint
        self.token = token
        self.retry = retry
        self.max_workers = max_workers
        self._state_lock = threading.Lock()
        self._state: dict[str, dict[str, str]] = {}

    def fill(self, files: list[PlannedFile], *, progress: str = "auto", log_interval_s: float = 10.0) -> StagingResult:
        """Reuse or download every file and verify its hashes.

        Raises:
            VerificationError: downloaded files do not match the Hub's hashes; they are deleted.
            DiskFullError: the staging folder has too little free space.
            HubAuthError, HubNotFoundError, HubError, DownloadError: a transfer failed after retries.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        tmp_dir = self.root / _TMP_DIR
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir.mkdir()
        self._state = self._read_state()

        reusable = [f for f in files if self._is_candidate(f)]
        missing = [f for f in files if f not in reusable]
        self._check_free_space(missing)

        bytes_needed = sum(f.remote.size for f in missing)
        logger.info(
            "Staging %d files in %s: %d to download (%s), %d to verify from an earlier run",
            len(files),
            self.root,
            len(missing),
            format_bytes(bytes_needed),
            len(reusable),
        )

        # huggingface_hub 1.33 caches "is hf_xet installed" without a lock, and a thread that
        # races the first lookup reads "not installed" and falls back to HTTP. Asking once
        # here, before the worker threads start, fills the cache.
        xet_enabled()

        with TransferProgress(bytes_needed, len(missing), mode=progress, interval_s=log_interval_s) as bar:
            outcomes = self._run_all(reusable, missing, bar)

        bad = [check for check in outcomes if isinstance(check, FileCheck)]
        if bad:
            listing = "; ".join(f"{c.name} ({c.status}: {c.detail})" for c in bad)
            raise VerificationError(
                f"Verification failed for {len(bad)} downloaded file(s): {listing}. The files were deleted from "
                "staging and nothing was published. The mirror or the network served other bytes than the Hub "
                "lists; run the download again, and if it fails again, check the mirror."
            )
        staged = [o for o in outcomes if isinstance(o, StagedFile)]
        order = {f.name: i for i, f in enumerate(files)}
        return StagingResult(sorted(staged, key=lambda s: order[s.planned.name]))

    # Workers.

    def _run_all(
        self, reusable: list[PlannedFile], missing: list[PlannedFile], bar: TransferProgress
    ) -> list[StagedFile | FileCheck]:
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="download") as pool:
            futures: list[Future] = [pool.submit(self._reuse, f, bar) for f in reusable]
            futures += [pool.submit(self._download, f, bar) for f in sorted(missing, key=lambda f: -f.remote.size)]

            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                for future in pending:
                    future.cancel()
                wait(pending)
                raise failed[0].exception()  # type: ignore[misc]
            return [future.result() for future in futures]

    def _reuse(self, planned: PlannedFile, bar: TransferProgress) -> StagedFile | FileCheck:
        path = self.root / planned.name
        check = check_file(path, planned.name, planned.expected)
        if check.ok and check.digest is not None:
            transport = self._state[planned.name]["transport"]
            return StagedFile(planned, path, check.digest, transport, downloaded=False)

        logger.warning("Staged file %s failed verification (%s); downloading it again", planned.name, check.status)
        path.unlink(missing_ok=True)
        self._forget(planned.name)
        bar.total_bytes += planned.remote.size
        bar.total_files += 1
        return self._download(planned, bar)

    def _download(self, planned: PlannedFile, bar: TransferProgress) -> StagedFile | FileCheck:
        remote = planned.remote
        tmp = self.root / _TMP_DIR / uuid.uuid4().hex
        bar_class = file_progress_class(bar)

        def attempt() -> str:
            return fetch_file(
                repo=planned.spec.repo,
                commit=planned.commit,
                remote=remote,
                target=tmp,
                endpoint=self.endpoint,
                token=self.token,
                progress_class=bar_class,
            )

        def reset() -> None:
            bar_class.rollback()
            tmp.unlink(missing_ok=True)

        try:
            transport = self.retry.run(attempt, f"download {planned.name}", on_retry=reset)
        except Exception as exc:
            reset()
            raise translate_error(exc, planned.spec.repo, planned.commit, f"download {remote.path}") from None

        check = check_file(tmp, planned.name, planned.expected)
        if not check.ok or check.digest is None:
            tmp.unlink(missing_ok=True)
            logger.error("Downloaded %s failed verification: %s (%s)", planned.name, check.status, check.detail)
            return check

        target = self.root / planned.name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(target)
        self._remember(planned.name, transport, check.digest)
        bar.file_done()
        logger.debug("Downloaded %s over %s", planned.name, transport)
        return StagedFile(planned, target, check.digest, transport, downloaded=True)

    # State.

    def _is_candidate(self, planned: PlannedFile) -> bool:
        entry = self._state.get(planned.name)
        path = self.root / planned.name
        return entry is not None and path.is_file() and path.stat().st_size == planned.remote.size

    def _read_state(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads((self.root / _STATE_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _remember(self, name: str, transport: str, digest: FileDigest) -> None:
        with self._state_lock:
            self._state[name] = {"transport": transport, "sha256": digest.sha256}
            write_atomic(self.root / _STATE_FILE, json.dumps(self._state, indent=1).encode())

    def _forget(self, name: str) -> None:
        with self._state_lock:
            self._state.pop(name, None)
            write_atomic(self.root / _STATE_FILE, json.dumps(self._state, indent=1).encode())

    def _check_free_space(self, missing: list[PlannedFile]) -> None:
        needed = sum(f.remote.size for f in missing)
        free = shutil.disk_usage(self.root).free
        if needed > free:
            raise DiskFullError(
                f"The staging folder {self.root} has {format_bytes(free)} free but the download needs "
                f"{format_bytes(needed)}. Free space or pass --staging on a larger volume (in the Job, "
                "raise the emptyDir size limit)."
            )

    def remove(self) -> None:
        """Delete the staging folder of the set."""
        shutil.rmtree(self.root, ignore_errors=True)
