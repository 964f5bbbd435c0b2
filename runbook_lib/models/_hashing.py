"""Content hashes of downloaded files: sha256 and git blob sha1, read once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

# 4 MiB reads keep the syscall count low; hashlib releases the GIL on buffers this large,
# so several files hash in parallel threads.
_BUFFER_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileDigest:
    """Size and hashes of a local file.

    Attributes:
        size: size in bytes.
        sha256: hex sha256 of the contents.
        git_sha1: hex git blob sha1 (``sha1("blob <size>\\0" + contents)``), when requested.
    """

    size: int
    sha256: str
    git_sha1: str | None = None


def digest_file(path: Path, *, git_sha1: bool = False) -> FileDigest:
    """Hash a file with sha256 and, if asked, the git blob sha1, in one read.

    Args:
        path (`Path`): the file to hash.
        git_sha1 (`bool`): also compute the git blob sha1, which the Hub lists as ``oid`` for
            files outside LFS.

    Raises:
        OSError: the file cannot be read.

    Example:
        >>> digest_file(Path("config.json"), git_sha1=True).git_sha1  # doctest: +SKIP
        'c1e5b7...'
    """
    sha256 = hashlib.sha256()
    sha1 = None

    with open(path, "rb", buffering=0) as handle:
        size = _file_size(handle)
        if git_sha1:
            sha1 = hashlib.sha1(f"blob {size}\0".encode())

        buffer = bytearray(_BUFFER_SIZE)
        view = memoryview(buffer)
        read = 0
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            chunk = view[:count]
            sha256.update(chunk)
            if sha1 is not None:
                sha1.update(chunk)
            read += count

    if read != size:
        raise OSError(f"File {path} changed size while it was hashed ({size} then {read} bytes).")
    return FileDigest(size=read, sha256=sha256.hexdigest(), git_sha1=sha1.hexdigest() if sha1 else None)


def _file_size(handle) -> int:
    import os

    return os.fstat(handle.fileno()).st_size
