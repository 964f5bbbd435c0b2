"""A lease file on the share, so that two download runs never write the same share at once.

The lease is ``DEST/lease.json`` with the owner, the set being published and two timestamps.
A run creates it with an exclusive create (``O_CREAT | O_EXCL``, which SMB shares honour),
renews it from a background thread, and deletes it when done. A lease whose last renewal
is older than ``stale_after_s`` belongs to a run that died: another run moves it aside
with a rename, which only one contender can win, and then creates its own.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import LeaseError
from ._share import LEASE_FILE, write_atomic

logger = logging.getLogger("runbook_lib.models")


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _parse_time(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


class ShareLease:
    """The lease of one run on one share.

    Args:
        dest (`Path`): the share folder.
        purpose (`str`): what the run does, stored in the lease for operators.
        stale_after_s (`float`): age of the last renewal after which the lease may be taken over.
        wait_s (`float`): how long :meth:`acquire` waits for a live lease to be released.
        poll_s (`float`): pause between two attempts while waiting.

    Example:
        >>> with ShareLease(Path("/mnt/models"), purpose="publish ms-4d0d4a3b0c1e7f3e"):  # doctest: +SKIP
        ...     publish()
    """

    def __init__(
        self,
        dest: Path,
        *,
        purpose: str,
        stale_after_s: float = 600.0,
        wait_s: float = 600.0,
        poll_s: float = 2.0,
    ) -> None:
        self.path = Path(dest) / LEASE_FILE
        self.purpose = purpose
        self.stale_after_s = stale_after_s
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.acquired_at: str | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # Acquire and release.

    def acquire(self) -> None:
        """Take the lease, waiting up to ``wait_s`` for a live holder and taking over a stale one.

        Raises:
            LeaseError: another run still holds a live lease after ``wait_s`` seconds.
        """
        deadline = time.monotonic() + self.wait_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        announced = False

        while True:
            if self._try_create():
                break

            holder = self._read(self.path)
            if self._is_stale(holder):
                self._take_over(holder)
                continue

            holder = holder or {}
            if time.monotonic() >= deadline:
                raise LeaseError(
                    f"The lease {self.path} is taken by another run: owner {holder.get('owner')}, {holder.get('purpose')}, "
                    f"renewed at {holder.get('renewed_at')}. Wait for it to finish, or delete the file if that run "
                    f"is gone; a lease not renewed for {self.stale_after_s:.0f} s is taken over automatically."
                )
            if not announced:
                logger.info("Waiting for the lease %s held by %s", self.path, holder.get("owner"))
                announced = True
            time.sleep(min(self.poll_s, max(deadline - time.monotonic(), 0.01)))

        logger.info("Took the lease %s as %s", self.path, self.owner)
        self._thread = threading.Thread(target=self._renew_loop, name="share-lease", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop renewing and delete the lease if this run still owns it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

        holder = self._read(self.path)
        if holder is not None and holder.get("owner") == self.owner:
            self.path.unlink(missing_ok=True)
            logger.info("Released the lease %s", self.path)

    def check(self) -> None:
        """Raise if another run took the lease over, so that this run stops before writing.

        Raises:
            LeaseError: the lease file now names another owner.
        """
        holder = self._read(self.path)
        if self._lost.is_set() or holder is None or holder.get("owner") != self.owner:
            owner = holder.get("owner") if holder else "nobody"
            raise LeaseError(
                f"Lost the lease {self.path} to {owner}, probably because this run paused for longer than "
                f"{self.stale_after_s:.0f} s. Nothing more was written; run the download again."
            )

    def __enter__(self) -> "ShareLease":
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    # Internals.

    def _content(self) -> bytes:
        now = _now_iso()
        return json.dumps(
            {
                "owner": self.owner,
                "purpose": self.purpose,
                "acquired_at": self.acquired_at or now,
                "renewed_at": now,
                "stale_after_s": self.stale_after_s,
            }
        ).encode()

    def _try_create(self) -> bool:
        self.acquired_at = _now_iso()
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._content())
        return True

    def _is_stale(self, holder: dict[str, Any] | None) -> bool:
        renewed = _parse_time(holder.get("renewed_at")) if holder is not None else None
        if renewed is None:
            # Unreadable or empty: a creator may be between its exclusive create and its write,
            # so judge by the file's age instead.
            try:
                renewed = self.path.stat().st_mtime
            except FileNotFoundError:
                return False
        return time.time() - renewed > self.stale_after_s

    def _take_over(self, seen: dict[str, Any] | None) -> None:
        aside = self.path.with_name(f"{LEASE_FILE}.stale-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return

        moved = self._read(aside)
        if moved is not None and seen is not None and moved.get("owner") != seen.get("owner"):
            # Another contender replaced the stale lease between our read and our rename:
            # put its live lease back unless a newer one exists already.
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(json.dumps(moved).encode())
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            return

        aside.unlink(missing_ok=True)
        owner = seen.get("owner") if seen else "an unreadable lease"
        logger.warning("Took over the stale lease %s from %s", self.path, owner)

    def _renew_loop(self) -> None:
        interval = max(self.stale_after_s / 4, 0.05)
        while not self._stop.wait(interval):
            holder = self._read(self.path)
            if holder is None or holder.get("owner") != self.owner:
                logger.error("Lost the lease %s to %s", self.path, holder.get("owner") if holder else "nobody")
                self._lost.set()
                return
            try:
                write_atomic(self.path, self._content())
            except OSError as exc:
                logger.warning("Could not renew the lease %s: %s", self.path, exc)

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, OSError):
            return None
        return data if isinstance(data, dict) else None
