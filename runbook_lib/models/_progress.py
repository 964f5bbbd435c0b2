"""Download progress: a tqdm bar on a terminal, periodic one-line log records otherwise."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

logger = logging.getLogger("runbook_lib.models")

PROGRESS_MODES = ("auto", "bar", "log", "none")


def format_bytes(count: float) -> str:
    """Format a byte count with a decimal unit, such as ``12.3 MB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


class TransferProgress:
    """Thread-safe byte and file counters with a display.

    Args:
        total_bytes (`int`): bytes expected in all.
        total_files (`int`): files expected in all.
        mode (`str`): ``auto`` (a bar when stderr is a terminal, log records otherwise),
            ``bar``, ``log`` or ``none``.
        interval_s (`float`): seconds between log records in ``log`` mode.
        label (`str`): what is counted, such as "Downloaded".
    """

    def __init__(
        self,
        total_bytes: int,
        total_files: int,
        *,
        mode: str = "auto",
        interval_s: float = 10.0,
        label: str = "Downloaded",
    ) -> None:
        if mode not in PROGRESS_MODES:
            raise ValueError(f"Invalid progress mode {mode!r}: expected one of {', '.join(PROGRESS_MODES)}.")
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"

        self.total_bytes = total_bytes
        self.total_files = total_files
        self.mode = mode
        self.label = label
        self.bytes_done = 0
        self.files_done = 0
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._bar: Any = None
        self._thread: threading.Thread | None = None

        if mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total_bytes, unit="B", unit_scale=True, desc=label, dynamic_ncols=True)
            self._bar.set_postfix_str(f"0/{total_files} files")
        elif mode == "log":
            self._thread = threading.Thread(target=self._log_loop, name="download-progress", daemon=True)
            self._thread.start()

    def add_bytes(self, count: int) -> None:
        """Count ``count`` more bytes; a negative count takes back bytes of a failed attempt."""
        with self._lock:
            self.bytes_done += count
            if self._bar is not None:
                self._bar.update(count)

    def file_done(self) -> None:
        """Count one more finished file."""
        with self._lock:
            self.files_done += 1
            if self._bar is not None:
                self._bar.set_postfix_str(f"{self.files_done}/{self.total_files} files")

    def close(self) -> None:
        """Stop the display; in ``log`` mode, write a final record."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._log_line()
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "TransferProgress":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _log_loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._log_line()

    def _log_line(self) -> None:
        with self._lock:
            done, files = self.bytes_done, self.files_done
        elapsed = max(time.monotonic() - self._started, 1e-9)
        percent = 100.0 * done / self.total_bytes if self.total_bytes else 100.0
        logger.info(
            "%s %s of %s (%.0f%%) at %s/s, %d of %d files",
            self.label,
            format_bytes(done),
            format_bytes(self.total_bytes),
            percent,
            format_bytes(done / elapsed),
            files,
            self.total_files,
        )


def file_progress_class(progress: TransferProgress) -> type:
    """Return a tqdm-like class that huggingface_hub's ``http_get`` and ``xet_get`` can report into.

    Each instance counts the bytes of one file attempt into ``progress`` and remembers them,
    so that :meth:`rollback` can take them back when the attempt fails.
    """

    class FileBar:
        instances: list["FileBar"] = []

        def __init__(self, *args: Any, total: int | None = None, initial: int = 0, **kwargs: Any) -> None:
            self.total = total
            self.n = 0
            FileBar.instances.append(self)
            if initial:
                self.update(initial)

        def update(self, count: int | float | None = 1) -> None:
            amount = int(count or 0)
            self.n += amount
            progress.add_bytes(amount)

        def update_transfer(self, count: int | float | None = 1) -> None:
            """Network bytes; only bytes written to disk count, so this is ignored."""

        def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_transfer_postfix_str(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_description(self, *args: Any, **kwargs: Any) -> None:
            pass

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            pass

        def close(self) -> None:
            pass

        def __enter__(self) -> "FileBar":
            return self

        def __exit__(self, *exc_info: Any) -> None:
            pass

        @classmethod
        def rollback(cls) -> None:
            for bar in cls.instances:
                progress.add_bytes(-bar.n)
                bar.n = 0
            cls.instances.clear()

    return FileBar
