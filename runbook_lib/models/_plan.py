"""Download plans: a model set resolved to commits, set id and the exact files to fetch."""

from __future__ import annotations

import os
import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from huggingface_hub import constants
from huggingface_hub.utils import filter_repo_objects

from ..errors import DownloadError, ModelSetError
from ._hub import HubClient, RemoteFile, RetryPolicy
from ._model_set import ModelSet, RepositorySpec, compute_set_id, load_model_set
from ._verify import ExpectedFile


@dataclass(frozen=True)
class PlannedFile:
    """One file to place in the set: where it comes from and what it must hash to."""

    spec: RepositorySpec
    commit: str
    remote: RemoteFile

    @property
    def name(self) -> str:
        """The path inside the set folder: ``<folder>/<path in the repository>``."""
        return f"{self.spec.folder}/{self.remote.path}"

    @property
    def expected(self) -> ExpectedFile:
        """Size and Hub hash: sha256 for LFS and Xet files, git blob sha1 for the others.

        A Xet file listed without LFS metadata is checked against its Xet hash instead.
        """
        if self.remote.is_lfs:
            return ExpectedFile(self.remote.size, sha256=self.remote.sha256)
        if self.remote.xet_hash is not None:
            return ExpectedFile(self.remote.size, xet_hash=self.remote.xet_hash)
        return ExpectedFile(self.remote.size, git_sha1=self.remote.blob_id)


@dataclass
class DownloadPlan:
    """A model set resolved against an endpoint.

    Attributes:
        set_id: the id derived from the commits and the filters.
        endpoint: the Hub or mirror URL.
        resolved: each repository with the commit its revision resolved to.
        files: every file of the set, once listed (empty before :func:`list_plan_files`).
    """

    set_id: str
    endpoint: str
    resolved: list[tuple[RepositorySpec, str]]
    files: list[PlannedFile]

    @property
    def total_bytes(self) -> int:
        """The size of all files of the set, in bytes."""
        return sum(f.remote.size for f in self.files)


def as_model_set(model_set: ModelSet | str | Path | None) -> ModelSet:
    """Accept a :class:`ModelSet`, a model set file path, or None for the committed default set."""
    if isinstance(model_set, ModelSet):
        return model_set
    return load_model_set(model_set)


def resolve_endpoint(endpoint: str | None) -> str:
    """Return the endpoint to use: the argument, else ``HF_ENDPOINT``, else huggingface.co."""
    value = endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ModelSetError(f"Invalid Hub endpoint {value!r}: expected an http or https URL such as https://huggingface.co.")
    return value.rstrip("/")


def redact_endpoint(endpoint: str) -> str:
    """Return the endpoint without any user name or password, for logs and manifests."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def resolve_plan(model_set: ModelSet, client: HubClient) -> DownloadPlan:
    """Resolve every revision to a commit and derive the set id, without listing files.

    The repositories are resolved in parallel, one request each, so a set of several
    repositories costs one round trip to the Hub rather than one per repository.
    """
    specs = list(model_set.repositories)
    commits = _parallel(lambda spec: client.resolve_revision(spec.repo, spec.revision), specs)
    resolved = list(zip(specs, commits))
    return DownloadPlan(compute_set_id(resolved), client.endpoint, resolved, [])


def _parallel(function, items: list) -> list:
    """Apply ``function`` to every item in threads and return the results in order; the first error is raised."""
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(len(items), 8), thread_name_prefix="hub") as pool:
        return list(pool.map(function, items))


def list_plan_files(plan: DownloadPlan, client: HubClient) -> DownloadPlan:
    """List each repository's files at its commit and keep those the set's patterns select.

    Raises:
        ModelSetError: an ``include`` list selects no file of its repository.
        DownloadError: the Hub lists a path that would escape the set folder.
    """
    listings = _parallel(lambda pair: client.list_files(pair[0].repo, pair[1]), plan.resolved)

    files: list[PlannedFile] = []
    for (spec, commit), listing in zip(plan.resolved, listings):
        listed = {remote.path: remote for remote in listing}
        selected = list(
            filter_repo_objects(
                items=sorted(listed),
                allow_patterns=list(spec.include) or None,
                ignore_patterns=list(spec.exclude) or None,
            )
        )
        if not selected:
            patterns = f" with include {list(spec.include)} and exclude {list(spec.exclude)}"
            raise ModelSetError(
                f"No file of {spec.repo} at {spec.revision} ({commit}) matches the model set{patterns}. "
                "Fix the patterns; they are fnmatch patterns on paths such as model_artifacts/tableformer/**."
            )
        for path in selected:
            _check_safe_path(spec.repo, path)
            files.append(PlannedFile(spec, commit, listed[path]))
    plan.files = files
    return plan


def _check_safe_path(repo: str, path: str) -> None:
    normalized = posixpath.normpath(path)
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or normalized != path
        or normalized.startswith("../")
        or normalized == ".."
    ):
        raise DownloadError(
            f"The Hub listed an unsafe file path {path!r} in {repo}; refusing to write outside the set folder. "
            "Check the endpoint (HF_ENDPOINT or --endpoint): a Hub mirror should never list such paths."
        )


def default_staging_root() -> Path:
    """Return the default staging folder: ``RUNBOOK_MODEL_STAGING``, else a folder in the temp dir."""
    import tempfile

    configured = os.environ.get("RUNBOOK_MODEL_STAGING")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "runbook-model-staging"
