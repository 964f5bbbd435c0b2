"""Memory readings for admission control and worker recycling: free memory (container-aware) and RSS.

In a Kubernetes pod the memory that matters is the container's cgroup limit, not
the node's free memory that ``/proc/meminfo`` reports, so :func:`available_memory_bytes`
takes the smaller of the two.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_memory_bytes(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Return the bytes this process tree can still allocate: the node's, capped by the cgroup limit.

    Args:
        cgroup_root (`Path`): mount point of the cgroup file system.

    Example:
        >>> available_memory_bytes() > 0
        True
    """
    available = psutil.virtual_memory().available
    headroom = _cgroup_headroom(cgroup_root)
    return min(available, headroom) if headroom is not None else available


def _cgroup_headroom(root: Path) -> int | None:
    """Return the cgroup's limit minus its usage, or None without a limit."""
    # cgroup v2: memory.max is "max" without a limit. Page cache counts in memory.current but is
    # reclaimable, so inactive_file is added back, as the kubelet does for its eviction signal.
    v2_limit = _read_int(root / "memory.max")
    if v2_limit is not None:
        usage = _read_int(root / "memory.current") or 0
        return max(0, v2_limit - usage + _stat_value(root / "memory.stat", "inactive_file"))

    # cgroup v1: an unlimited group reports a huge number instead of "max".
    v1_limit = _read_int(root / "memory" / "memory.limit_in_bytes")
    if v1_limit is not None and v1_limit < 1 << 60:
        usage = _read_int(root / "memory" / "memory.usage_in_bytes") or 0
        return max(0, v1_limit - usage + _stat_value(root / "memory" / "memory.stat", "total_inactive_file"))
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat_value(path: Path, key: str) -> int:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except OSError:
        return 0
    for line in lines:
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def process_rss_bytes(pid: int | None = None) -> int:
    """Return the resident memory of one process (this one by default), or 0 when it is gone.

    Example:
        >>> process_rss_bytes() > 0
        True
    """
    try:
        return psutil.Process(pid or os.getpid()).memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def tree_rss_bytes(pid: int | None = None) -> int:
    """Return the resident memory of a process and all its descendants (the web process and its workers).

    Example:
        >>> tree_rss_bytes() >= process_rss_bytes()
        True
    """
    try:
        root = psutil.Process(pid or os.getpid())
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0

    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total
