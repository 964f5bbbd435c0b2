"""Admission control in front of the worker pool: bounded queue, free-memory floor and shutdown.

A conversion is admitted while fewer than the workers plus ``max_queue`` conversions
are queued or running. Otherwise the client gets 429 with a ``Retry-After`` estimated from
recent conversion times. With ``min_free_memory_bytes`` set, conversions are refused with
503 while free memory (the container's limit included) is below it. After SIGTERM the
service drains: conversions already admitted may finish until the grace period ends, then
the remaining ones are stopped with 503 ``shutting_down``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .errors import LowMemory, QueueFull, ShuttingDown
from .memory import available_memory_bytes
from .metrics import Metrics

if TYPE_CHECKING:
    from .pool import WorkerPool

logger = logging.getLogger("docling_api.admission")

# Retry-After bounds, in seconds.
_MIN_RETRY_AFTER_S = 1
_MAX_RETRY_AFTER_S = 300
# Conversion time assumed before the first conversion finished.
_INITIAL_CONVERSION_S = 5.0
# Weight of the newest conversion in the moving average.
_SMOOTHING = 0.2
# Retry-After sent with low_memory and shutting_down.
_LOW_MEMORY_RETRY_AFTER_S = 10
_SHUTDOWN_RETRY_AFTER_S = 5


class Admission:
    """Decide whether a conversion may enter the queue, and run the shutdown deadline.

    Args:
        max_queue (`int`): conversions that may wait for a busy worker.
        min_free_memory_bytes (`int`): refuse below this much free memory; 0 turns the check off.
        metrics (`Metrics`): where rejections are counted.

    Example:
        >>> admission = Admission(max_queue=4, min_free_memory_bytes=0, metrics=Metrics())
        >>> with admission.admitted(pool):  # doctest: +SKIP
        ...     reply, queue_s = await pool.run(job, timeout_s)
    """

    def __init__(self, max_queue: int, min_free_memory_bytes: int, metrics: Metrics) -> None:
        self.max_queue = max_queue
        self.min_free_memory_bytes = min_free_memory_bytes
        self.metrics = metrics
        self.draining = False
        # Conversions admitted and not finished: queued or running.
        self.in_system = 0
        self._stopping: asyncio.Event | None = None
        self._mean_conversion_s = _INITIAL_CONVERSION_S
        self._deadline_handle: asyncio.TimerHandle | None = None

    # Admission.

    @contextmanager
    def admitted(self, pool: WorkerPool) -> Iterator[None]:
        """Admit one conversion for the duration of the ``with`` block, or raise as :meth:`check` does.

        Example:
            >>> with admission.admitted(pool):  # doctest: +SKIP
            ...     reply, queue_s = await pool.run(job, timeout_s)
        """
        self.check(pool)
        self.in_system += 1
        try:
            yield
        finally:
            self.in_system -= 1

    def check(self, pool: WorkerPool) -> None:
        """Raise unless one more conversion may enter now.

        It may when fewer conversions are admitted than the workers (loaded or loading)
        plus ``max_queue``, free memory is above the floor, and the service is not stopping.
        :meth:`admitted` uses it; request handlers also call it before reading an upload,
        to refuse early.

        Raises:
            ShuttingDown: the service is stopping (503).
            LowMemory: free memory is below the floor (503).
            QueueFull: every worker is busy and ``max_queue`` conversions wait (429).
        """
        self.check_memory()

        capacity = self._capacity(pool)
        if self.in_system >= capacity + self.max_queue:
            waiting = self.in_system - min(self.in_system, capacity)
            retry_after = self.retry_after_s(pool)
            self._reject("queue_full")
            raise QueueFull(
                f"All conversion workers ({capacity}) are busy and {waiting} conversions are already waiting, "
                f"the limit of this service (max_queue {self.max_queue}). Retry after {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
                queue_depth=waiting,
                max_queue=self.max_queue,
                retry_after_s=retry_after,
            )

    def check_memory(self) -> None:
        """Raise while the service is stopping or free memory is below the floor; cheap, needs no worker.

        Raises:
            ShuttingDown: the service is stopping (503).
            LowMemory: free memory is below ``min_free_memory_bytes`` (503).
        """
        if self.stopping.is_set():
            self._reject("shutting_down")
            raise ShuttingDown(
                "The service is shutting down and takes no new conversions. Retry in a few seconds; "
                "another instance will take the request.",
                headers={"Retry-After": str(_SHUTDOWN_RETRY_AFTER_S)},
            )

        if self.min_free_memory_bytes:
            free = available_memory_bytes()
            if free < self.min_free_memory_bytes:
                self._reject("low_memory")
                logger.warning(
                    "Refused a conversion: free memory below the floor",
                    extra={"free_bytes": free, "min_free_memory_bytes": self.min_free_memory_bytes},
                )
                raise LowMemory(
                    f"The service is low on memory ({free // 2**20} MiB free, it needs "
                    f"{self.min_free_memory_bytes // 2**20} MiB to start a conversion). "
                    f"Retry in {_LOW_MEMORY_RETRY_AFTER_S} s.",
                    headers={"Retry-After": str(_LOW_MEMORY_RETRY_AFTER_S)},
                    free_memory_bytes=free,
                    min_free_memory_bytes=self.min_free_memory_bytes,
                )

    def retry_after_s(self, pool: WorkerPool) -> int:
        """Estimate the seconds until a queue place frees up: the queue's wait at the recent conversion time."""
        capacity = self._capacity(pool)
        waiting = max(0, self.in_system - capacity) + 1
        estimate = self._mean_conversion_s * waiting / max(1, capacity)
        return int(min(_MAX_RETRY_AFTER_S, max(_MIN_RETRY_AFTER_S, math.ceil(estimate))))

    @staticmethod
    def _capacity(pool: WorkerPool) -> int:
        # A worker being replaced still counts: its conversions wait for the successor.
        return pool.ready_count + pool.starting_count

    def record_conversion(self, seconds: float) -> None:
        """Feed one finished conversion's duration into the Retry-After estimate."""
        self._mean_conversion_s += _SMOOTHING * (seconds - self._mean_conversion_s)

    def _reject(self, reason: str) -> None:
        self.metrics.rejections.labels(reason=reason).inc()

    # Shutdown.

    @property
    def stopping(self) -> asyncio.Event:
        """Set when in-flight conversions must stop (the shutdown grace period ended)."""
        if self._stopping is None:
            self._stopping = asyncio.Event()
        return self._stopping

    def begin_drain(self, grace_s: float) -> None:
        """Start draining: ``/ready`` fails, and after ``grace_s`` in-flight conversions are stopped.

        Call it in the event loop's thread (a signal handler of the main thread is fine).
        """
        if self.draining:
            return
        self.draining = True
        loop = asyncio.get_running_loop()
        logger.info("Draining: in-flight conversions may finish", extra={"grace_s": grace_s})
        self._deadline_handle = loop.call_later(grace_s, self.stop_now)

    def stop_now(self) -> None:
        """Stop every conversion still queued or running; each fails with 503 ``shutting_down``."""
        self.draining = True
        if not self.stopping.is_set():
            if self.in_system:
                logger.warning(
                    "Shutdown grace period over: stopping the conversions still in flight",
                    extra={"conversions": self.in_system},
                )
            self.stopping.set()
        if self._deadline_handle is not None:
            self._deadline_handle.cancel()
            self._deadline_handle = None

    def shutdown_error(self, filename: str) -> ShuttingDown:
        """Return the error for a conversion stopped by the shutdown."""
        return ShuttingDown(
            f"The service shut down before {filename} was converted, so the conversion was stopped. "
            "Retry the request; another instance will take it.",
            headers={"Retry-After": str(_SHUTDOWN_RETRY_AFTER_S)},
            filename=filename,
        )
