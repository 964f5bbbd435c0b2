"""The emulator's repository store: git-like metadata in JSON, large files in a local Xet CAS.

Layout under the store root::

    cas/                          local Xet CAS written by hf_xet (endpoint ``local://<root>/cas``)
    replicas/<id>/                per-client copies of the CAS (see ``make_cas_replica``)
    repos/<owner>/<name>/
      repo.json                   access, branches, tags and commits with their file listings
      blobs/<git blob sha1>       contents of the small files, served over plain HTTP

A file goes to the Xet CAS when its name matches an LFS pattern or it is at least
``xet_min_size`` bytes, as ``.gitattributes`` decides on the Hub. Its tree entry then
carries ``lfs`` (sha256, size, pointer size) and ``xetHash``, and its ``oid`` is the git
blob sha1 of the LFS pointer file, as on the Hub.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from ..errors import EmulatorError

# File name patterns that the Hub's default .gitattributes stores with LFS (and so with Xet).
DEFAULT_XET_PATTERNS = (
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.onnx",
    "*.h5",
    "*.msgpack",
    "*.model",
    "*.pkl",
    "*.npz",
    "*.tar.gz",
    "*.zip",
)
# The Hub rejects plain git files above 10 MiB, so larger files always go through LFS.
DEFAULT_XET_MIN_SIZE = 10 * 1024 * 1024

_REPO_FILE = "repo.json"


def git_blob_sha1(data: bytes) -> str:
    """Return the git blob object id of ``data``: sha1 over ``blob <size>\\0`` and the bytes."""
    digest = hashlib.sha1(f"blob {len(data)}\0".encode())
    digest.update(data)
    return digest.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """Return the git LFS pointer file that git stores in place of a large file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class TreeFile:
    """One file of a commit, as the tree listing describes it."""

    path: str
    size: int
    oid: str
    sha256: str | None = None
    pointer_size: int | None = None
    xet_hash: str | None = None

    @property
    def is_xet(self) -> bool:
        """Whether the file is stored in the Xet CAS rather than as a plain blob."""
        return self.xet_hash is not None

    def to_json(self) -> dict[str, Any]:
        """Return the entry in the Hub's tree listing format."""
        entry: dict[str, Any] = {"type": "file", "oid": self.oid, "size": self.size, "path": self.path}
        if self.sha256 is not None:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        if self.xet_hash is not None:
            entry["xetHash"] = self.xet_hash
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "TreeFile":
        """Read an entry written by :meth:`to_json`."""
        lfs = entry.get("lfs") or {}
        return cls(
            path=entry["path"],
            size=entry["size"],
            oid=entry["oid"],
            sha256=lfs.get("oid"),
            pointer_size=lfs.get("pointerSize"),
            xet_hash=entry.get("xetHash"),
        )


@dataclass
class Commit:
    """A commit: its id, parent, creation time and the files it contains."""

    sha: str
    parent: str | None
    message: str
    created_at: str
    files: list[TreeFile] = field(default_factory=list)

    def file(self, path: str) -> TreeFile | None:
        """Return the file at ``path``, or None."""
        for entry in self.files:
            if entry.path == path:
                return entry
        return None


@dataclass
class Repository:
    """A model repository with its access mode, refs and commits."""

    repo_id: str
    access: str = "public"
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        """Return the commit id a branch, tag or commit id names, or None."""
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        if revision in self.commits:
            return revision
        return None


class RepositoryStore:
    """Repositories on disk that :class:`HubEmulator` serves.

    Args:
        root (`Path`): the store folder; created when missing.

    Example:
        >>> store = RepositoryStore(Path("/tmp/hub"))  # doctest: +SKIP
        >>> commit = store.add_commit("acme/tiny-model", Path("/tmp/tiny-model"), tags=["v1.0"])  # doctest: +SKIP
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.cas_dir = self.root / "cas"
        self.replicas_dir = self.root / "replicas"
        self.repos_dir = self.root / "repos"
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[float, Repository]] = {}

        self.root.mkdir(parents=True, exist_ok=True)
        self.cas_dir.mkdir(exist_ok=True)
        self.repos_dir.mkdir(exist_ok=True)

    @property
    def cas_endpoint(self) -> str:
        """The hf_xet endpoint of the store's CAS."""
        return f"local://{self.cas_dir}"

    # Repositories and commits.

    def repo_ids(self) -> list[str]:
        """Return the ids of all repositories in the store."""
        return sorted(
            f"{path.parent.parent.name}/{path.parent.name}" for path in self.repos_dir.glob(f"*/*/{_REPO_FILE}")
        )

    def get(self, repo_id: str) -> Repository | None:
        """Return a repository, or None when the store has no such repository."""
        path = self._repo_path(repo_id) / _REPO_FILE
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None

        with self._lock:
            cached = self._cache.get(repo_id)
            if cached is not None and cached[0] == mtime:
                return cached[1]

        repo = _read_repository(path)
        with self._lock:
            self._cache[repo_id] = (mtime, repo)
        return repo

    def add_commit(
        self,
        repo_id: str,
        source: Path,
        *,
        branch: str = "main",
        tags: tuple[str, ...] | list[str] = (),
        message: str = "Upload files",
        access: str | None = None,
        extra_files: dict[str, bytes] | None = None,
        xet_patterns: tuple[str, ...] = DEFAULT_XET_PATTERNS,
        xet_min_size: int = DEFAULT_XET_MIN_SIZE,
    ) -> str:
        """Commit every file under ``source`` to a branch and return the commit id.

        Large files are uploaded to the store's Xet CAS with hf_xet, small files are
        copied as blobs. The commit replaces the branch's whole file listing. When the
        listing equals the branch head's, no commit is made and the head's id is returned.

        Args:
            repo_id (`str`): ``owner/name``; the repository is created when missing.
            source (`Path`): folder whose files, with their relative paths, form the commit.
            branch (`str`): branch to move to the new commit.
            tags (`list[str]`): tags to point at the new commit.
            message (`str`): commit message; it also makes otherwise identical commits differ.
            access (`str`, *optional*): ``"public"``, ``"private"`` or ``"gated"``; unchanged when omitted.
            extra_files (`dict[str, bytes]`, *optional*): more small files, by repository path.
            xet_patterns (`tuple[str, ...]`): file name patterns stored in the Xet CAS.
            xet_min_size (`int`): size in bytes from which any file goes to the Xet CAS.

        Raises:
            EmulatorError: the repository id or the source folder is invalid.
        """
        _check_repo_id(repo_id)
        source = Path(source)
        if not source.is_dir():
            raise EmulatorError(f"Source folder {source} not found. Pass a folder with the files to commit.")
        if access is not None and access not in ("public", "private", "gated"):
            raise EmulatorError(f"Invalid access mode {access!r}: expected public, private or gated.")

        paths = sorted(p for p in source.rglob("*") if p.is_file())
        repo_path = self._repo_path(repo_id)
        blobs = repo_path / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)

        large = [p for p in paths if _is_xet_file(p, xet_patterns, xet_min_size)]
        uploaded = self._upload_to_cas(large)

        files: list[TreeFile] = []
        for path in paths:
            relative = path.relative_to(source).as_posix()
            if path in uploaded:
                xet_hash, sha256, size = uploaded[path]
                pointer = lfs_pointer(sha256, size)
                files.append(TreeFile(relative, size, git_blob_sha1(pointer), sha256, len(pointer), xet_hash))
            else:
                data = path.read_bytes()
                oid = git_blob_sha1(data)
                (blobs / oid).write_bytes(data)
                files.append(TreeFile(relative, len(data), oid))

        for relative, data in sorted((extra_files or {}).items()):
            oid = git_blob_sha1(data)
            (blobs / oid).write_bytes(data)
            files = [f for f in files if f.path != relative] + [TreeFile(relative, len(data), oid)]
        files.sort(key=lambda f: f.path)

        with self._lock:
            repo = self.get(repo_id) or Repository(repo_id)
            parent = repo.branches.get(branch)
            if parent is not None and repo.commits[parent].files == files:
                for tag in tags:
                    repo.tags[tag] = parent
                if access is not None:
                    repo.access = access
                self._save(repo)
                return parent

            created_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            body = json.dumps(
                {"parent": parent, "message": message, "files": [f.to_json() for f in files]}, sort_keys=True
            )
            sha = hashlib.sha1(body.encode()).hexdigest()

            repo.commits[sha] = Commit(sha, parent, message, created_at, files)
            repo.branches[branch] = sha
            for tag in tags:
                repo.tags[tag] = sha
            if access is not None:
                repo.access = access
            self._save(repo)
        return sha

    def set_tag(self, repo_id: str, tag: str, commit: str) -> None:
        """Point ``tag`` at an existing commit."""
        repo = self._require(repo_id)
        if commit not in repo.commits:
            raise EmulatorError(f"Commit {commit} not found in {repo_id}.")
        repo.tags[tag] = commit
        self._save(repo)

    def set_access(self, repo_id: str, access: str) -> None:
        """Make a repository public, private or gated."""
        if access not in ("public", "private", "gated"):
            raise EmulatorError(f"Invalid access mode {access!r}: expected public, private or gated.")
        repo = self._require(repo_id)
        repo.access = access
        self._save(repo)

    def blob_path(self, repo_id: str, oid: str) -> Path:
        """Return the path of a small file's contents."""
        return self._repo_path(repo_id) / "blobs" / oid

    # Xet CAS.

    def upload_bytes(self, data: bytes) -> str:
        """Store ``data`` in the CAS and return its Xet hash."""
        import hf_xet

        session = hf_xet.XetSession()
        with session.new_upload_commit(endpoint=self.cas_endpoint) as commit:
            handle = commit.start_upload_bytes(data, sha256=hf_xet.SKIP_SHA256)
        return handle.result().xet_info.hash

    def make_cas_replica(self) -> Path:
        """Create a private copy of the CAS for one client and return its folder.

        hf_xet 1.8 opens a ``local://`` CAS with an exclusive lock on its redb database and
        keeps it until the process exits, so two processes cannot read one CAS folder.
        A replica hard-links the immutable xorb and shard files and copies only the
        database files, so it costs little disk space.
        """
        replica = self.replicas_dir / uuid.uuid4().hex
        for source in self.cas_dir.rglob("*"):
            target = replica / source.relative_to(self.cas_dir)
            if source.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue

            target.parent.mkdir(parents=True, exist_ok=True)
            if source.suffix == ".redb":
                shutil.copy2(source, target)
                continue
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
        replica.mkdir(parents=True, exist_ok=True)
        return replica

    def remove_replicas(self) -> None:
        """Delete every CAS replica."""
        shutil.rmtree(self.replicas_dir, ignore_errors=True)

    # Internals.

    def _upload_to_cas(self, paths: list[Path]) -> dict[Path, tuple[str, str, int]]:
        if not paths:
            return {}

        import hf_xet

        session = hf_xet.XetSession()
        with session.new_upload_commit(endpoint=self.cas_endpoint) as commit:
            handles = [(path, commit.start_upload_file(str(path), sha256=hf_xet.COMPUTE_SHA256)) for path in paths]

        results = {}
        for path, handle in handles:
            info = handle.result().xet_info
            results[path] = (info.hash, info.sha256, info.file_size)
        return results

    def _repo_path(self, repo_id: str) -> Path:
        _check_repo_id(repo_id)
        owner, name = repo_id.split("/")
        return self.repos_dir / owner / name

    def _require(self, repo_id: str) -> Repository:
        repo = self.get(repo_id)
        if repo is None:
            raise EmulatorError(f"Repository {repo_id} not found in the store at {self.root}.")
        return repo

    def _save(self, repo: Repository) -> None:
        path = self._repo_path(repo.repo_id) / _REPO_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "repo_id": repo.repo_id,
            "access": repo.access,
            "branches": repo.branches,
            "tags": repo.tags,
            "commits": {
                sha: {
                    "parent": c.parent,
                    "message": c.message,
                    "created_at": c.created_at,
                    "files": [f.to_json() for f in c.files],
                }
                for sha, c in repo.commits.items()
            },
        }
        tmp = path.with_name(f".{_REPO_FILE}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        self._cache.pop(repo.repo_id, None)


def iter_tree(commit: Commit, prefix: str = "", recursive: bool = False) -> Iterator[dict[str, Any]]:
    """Yield the Hub's tree listing entries of a commit under ``prefix``, folders first.

    Args:
        commit (`Commit`): the commit to list.
        prefix (`str`): folder path inside the repository; empty for the root.
        recursive (`bool`): list every file and folder below ``prefix`` instead of one level.
    """
    prefix = prefix.strip("/")
    folders: set[str] = set()
    files: list[TreeFile] = []

    for entry in commit.files:
        parts = PurePosixPath(entry.path).parts
        base = PurePosixPath(prefix).parts if prefix else ()
        if parts[: len(base)] != base or len(parts) == len(base):
            continue

        rest = parts[len(base) :]
        if recursive:
            for depth in range(1, len(rest)):
                folders.add("/".join(base + rest[:depth]))
            files.append(entry)
        elif len(rest) == 1:
            files.append(entry)
        else:
            folders.add("/".join(base + rest[:1]))

    for folder in sorted(folders):
        yield {"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(), "size": 0, "path": folder}
    for entry in sorted(files, key=lambda f: f.path):
        yield entry.to_json()


def _is_xet_file(path: Path, patterns: tuple[str, ...], min_size: int) -> bool:
    if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
        return True
    return path.stat().st_size >= min_size


def _check_repo_id(repo_id: str) -> None:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(p in (".", "..") for p in parts):
        raise EmulatorError(f"Invalid repository id {repo_id!r}: expected owner/name.")


def _read_repository(path: Path) -> Repository:
    data = json.loads(path.read_text(encoding="utf-8"))
    commits = {
        sha: Commit(
            sha=sha,
            parent=c.get("parent"),
            message=c.get("message", ""),
            created_at=c["created_at"],
            files=[TreeFile.from_json(f) for f in c["files"]],
        )
        for sha, c in data["commits"].items()
    }
    return Repository(
        repo_id=data["repo_id"],
        access=data.get("access", "public"),
        branches=data.get("branches", {}),
        tags=data.get("tags", {}),
        commits=commits,
    )
