"""Hub requests with retries, and the Hub's errors turned into messages an operator can act on."""

from __future__ import annotations

import errno
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import httpx
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from ..errors import DiskFullError, DownloadError, HubAuthError, HubError, HubNotFoundError, RunbookError

logger = logging.getLogger("runbook_lib.models")

T = TypeVar("T")

TRANSIENT_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RemoteFile:
    """A file of a repository at a commit, with the hashes the Hub's tree listing gives.

    Attributes:
        path: path inside the repository, with ``/`` separators.
        size: size in bytes.
        blob_id: git object id; the git blob sha1 of the contents for files outside LFS.
        sha256: sha256 of the contents for LFS and Xet files (``lfs.oid``), else None.
        xet_hash: Xet content hash for files stored with Xet, else None.
    """

    path: str
    size: int
    blob_id: str
    sha256: str | None
    xet_hash: str | None

    @property
    def is_lfs(self) -> bool:
        """Whether the Hub stores the file with LFS or Xet, so ``blob_id`` hashes the pointer file."""
        return self.sha256 is not None


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff and jitter for transient failures.

    Attributes:
        attempts: total attempts per request, including the first.
        base_delay_s: wait before the second attempt; it doubles after each failure.
        max_delay_s: the maximum wait between two attempts.
    """

    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Return the wait in seconds after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)

    def run(self, call: Callable[[], T], description: str, on_retry: Callable[[], None] | None = None) -> T:
        """Call ``call`` until it succeeds, retrying transient errors.

        Args:
            call: the request to make.
            description: what the call does, for log records, such as "list files of acme/tiny".
            on_retry: cleanup to run before each new attempt.

        Raises:
            The last error when every attempt failed or the error is not transient.
        """
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except Exception as exc:
                if not is_transient(exc) or attempt == self.attempts:
                    raise
                wait = self.delay(attempt)
                logger.warning(
                    "Retrying %s after %s (attempt %d of %d) in %.1f s",
                    description,
                    describe_error(exc),
                    attempt + 1,
                    self.attempts,
                    wait,
                )
                if on_retry is not None:
                    on_retry()
                time.sleep(wait)
        raise AssertionError("unreachable")


def is_transient(exc: BaseException) -> bool:
    """Return whether a failed request may succeed when repeated: 5xx, 408, 429, dropped connections, short bodies."""
    if isinstance(exc, RunbookError):
        return isinstance(exc, TransientDownloadError)
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return exc.response.status_code in TRANSIENT_STATUS_CODES
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, OSError) and exc.errno is None and "Consistency check failed" in str(exc):
        # huggingface_hub's http_get raises this when the body is shorter or longer than announced.
        return True
    return False


class TransientDownloadError(DownloadError):
    """A download that ended with the wrong size; retried before it is reported."""


def describe_error(exc: BaseException) -> str:
    """Return a one-line description of a request error without its traceback."""
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def translate_error(exc: BaseException, repo: str, revision: str, action: str) -> RunbookError:
    """Map a Hub or file system error to the runbook error an operator can act on.

    Args:
        exc: the error huggingface_hub, httpx or the file system raised.
        repo: the repository involved.
        revision: the revision or commit involved.
        action: the step that failed, such as "resolve revision" or "download model.safetensors".
    """
    if isinstance(exc, RunbookError):
        return exc

    if isinstance(exc, GatedRepoError):
        return HubAuthError(
            f"Repository {repo} is gated and the request was denied while trying to {action}. Accept the "
            "repository's conditions on the Hub with the account whose token you use, then pass that token "
            "with HF_TOKEN or --token-file."
        )

    if isinstance(exc, RevisionNotFoundError):
        return HubNotFoundError(
            f"Revision {revision!r} not found in {repo} while trying to {action}. Check the revision in the "
            "model set: a branch, tag or commit id that exists in the repository."
        )

    if isinstance(exc, RemoteEntryNotFoundError):
        return HubNotFoundError(
            f"File not found in {repo} at {revision} while trying to {action}. The repository changed or the "
            "mirror is incomplete; pin the model set to a commit that has the file."
        )

    if isinstance(exc, RepositoryNotFoundError):
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            return HubAuthError(
                f"Repository {repo} not found or not accessible (HTTP {status}) while trying to {action}. If it "
                "is private or gated, pass a token with read access through HF_TOKEN or --token-file; "
                "otherwise check the repository id in the model set."
            )
        return HubNotFoundError(
            f"Repository {repo} not found while trying to {action}. Check the repository id in the model set "
            "and the endpoint (HF_ENDPOINT or --endpoint)."
        )

    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            return HubAuthError(
                f"The Hub rejected the credentials (HTTP {status}) while trying to {action} for {repo}. "
                "Pass a valid token with read access through HF_TOKEN or --token-file."
            )
        if status == 404:
            return HubNotFoundError(f"The Hub responded 404 while trying to {action} for {repo} at {revision}.")
        return HubError(
            f"The Hub failed with HTTP {status} while trying to {action} for {repo} at {revision}, after retries. "
            "Try again later, or check the endpoint (HF_ENDPOINT or --endpoint)."
        )

    # hf_xet reports a full disk as a RuntimeError that carries the OS error text.
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left on device" in str(exc):
        return DiskFullError(
            f"No space left on device while trying to {action} ({getattr(exc, 'filename', None) or 'unknown path'}). Free space "
            "or point --staging (or --dest) at a larger volume, then run the download again."
        )

    if isinstance(exc, httpx.TransportError):
        return DownloadError(
            f"Could not reach the Hub while trying to {action} for {repo}: {describe_error(exc)}, after retries. "
            "Check the endpoint (HF_ENDPOINT or --endpoint) and the network."
        )

    return DownloadError(f"Failed to {action} for {repo} at {revision}: {describe_error(exc)}.")


class HubClient:
    """Resolves revisions and lists files through huggingface_hub's ``HfApi``, with retries.

    Args:
        endpoint (`str`): the Hub or mirror base URL.
        token (`str`, *optional*): access token; None lets huggingface_hub read ``HF_TOKEN``.
        retry (`RetryPolicy`): retries for transient failures.
    """

    def __init__(self, endpoint: str, token: str | None, retry: RetryPolicy) -> None:
        self.endpoint = endpoint
        self.token = token
        self.retry = retry
        self.api = HfApi(endpoint=endpoint, token=token, library_name="docling-aks-runbook")

    def resolve_revision(self, repo: str, revision: str) -> str:
        """Return the commit id of a branch or tag; a commit id is returned without a request.

        Raises:
            HubAuthError, HubNotFoundError, HubError, DownloadError: see :func:`translate_error`.
        """
        from ._model_set import COMMIT_ID

        if COMMIT_ID.match(revision):
            return revision

        try:
            info = self.retry.run(
                lambda: self.api.repo_info(repo, revision=revision), f"resolve revision {revision} of {repo}"
            )
        except Exception as exc:
            raise translate_error(exc, repo, revision, "resolve the revision") from None

        if not info.sha or not _is_commit_id(info.sha):
            raise HubError(f"The Hub responded without a valid commit id for {repo} at {revision}: {info.sha!r}.")
        return info.sha

    def list_files(self, repo: str, commit: str) -> list[RemoteFile]:
        """Return every file of a repository at a commit, from the recursive tree listing.

        Raises:
            HubAuthError, HubNotFoundError, HubError, DownloadError: see :func:`translate_error`.
        """
        from huggingface_hub.hf_api import RepoFile

        def listing() -> list[RemoteFile]:
            files = []
            for item in self.api.list_repo_tree(repo, revision=commit, recursive=True):
                if not isinstance(item, RepoFile):
                    continue
                files.append(
                    RemoteFile(
                        path=item.path,
                        size=item.size,
                        blob_id=item.blob_id,
                        sha256=item.lfs.sha256 if item.lfs is not None else None,
                        xet_hash=item.xet_hash,
                    )
                )
            return files

        try:
            return self.retry.run(listing, f"list files of {repo} at {commit}")
        except Exception as exc:
            raise translate_error(exc, repo, commit, "list the repository's files") from None


def _is_commit_id(value: str) -> bool:
    from ._model_set import COMMIT_ID

    return bool(COMMIT_ID.match(value))
