"""Watches and log streams in background threads, delivered to the waiting thread through one queue.

The waits are level-triggered: a watch event only wakes the waiting thread,
which then reads the current state with GET and LIST requests. A missed or
dropped watch therefore costs at most one poll interval, never a wrong result.
Log lines are printed by the waiting thread, so in a notebook they appear in
the cell that waits.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

logger = logging.getLogger("runbook_lib.k8s")

# The API server ends each watch after this many seconds; the thread then watches again from the last version.
WATCH_TIMEOUT_S = 60
# How long a failed watch waits before it watches again.
WATCH_RETRY_S = 5


@dataclass
class Item:
    """One delivery: a watch ``event``, a ``log`` line, the ``log_end`` of a stream, or a ``log_error``."""

    kind: str
    key: str
    value: Any = None


class EventMux:
    """Run watches and log follows in daemon threads and deliver their output to one queue.

    Example:
        >>> with EventMux() as mux:  # doctest: +SKIP
        ...     mux.watch("pods", cluster.core.list_namespaced_pod, "docling", label_selector="job-name=x")
        ...     item = mux.next(timeout=10)
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[Item] = queue.Queue()
        self._watches: list[watch.Watch] = []
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def watch(self, key: str, list_func: Callable, *args: Any, **kwargs: Any) -> None:
        """Watch a list call (such as ``core.list_namespaced_pod``) and deliver an ``event`` item per change."""
        threading.Thread(target=self._run_watch, args=(key, list_func, args, kwargs), name=f"watch-{key}", daemon=True).start()

    def follow_log(self, key: str, read_log: Callable, *args: Any, **kwargs: Any) -> None:
        """Follow a pod log (``core.read_namespaced_pod_log``) and deliver a ``log`` item per line, then ``log_end``."""
        threading.Thread(target=self._run_log, args=(key, read_log, args, kwargs), name=f"log-{key}", daemon=True).start()

    def next(self, timeout: float) -> Item | None:
        """Return the next item, or None when ``timeout`` seconds pass without one."""
        try:
            return self._queue.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stop every watch and log stream."""
        self._closed.set()
        with self._lock:
            watches = list(self._watches)
        for watcher in watches:
            watcher.stop()

    def __enter__(self) -> "EventMux":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _new_watch(self) -> watch.Watch | None:
        with self._lock:
            if self._closed.is_set():
                return None
            watcher = watch.Watch()
            self._watches.append(watcher)
            return watcher

    def _run_watch(self, key: str, list_func: Callable, args: tuple, kwargs: dict) -> None:
        resource_version = None
        while not self._closed.is_set():
            watcher = self._new_watch()
            if watcher is None:
                return
            options = dict(kwargs, timeout_seconds=WATCH_TIMEOUT_S)
            if resource_version:
                options["resource_version"] = resource_version
            try:
                for event in watcher.stream(list_func, *args, **options):
                    self._queue.put(Item("event", key, event["type"]))
                resource_version = watcher.resource_version
            except ApiException as exc:
                resource_version = None
                if exc.status != 410:
                    logger.debug("Watch %s failed with %s %s; watching again in %d s.", key, exc.status, exc.reason, WATCH_RETRY_S)
                    self._closed.wait(WATCH_RETRY_S)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                if self._closed.is_set():
                    return
                logger.debug("Watch %s dropped (%s); watching again in %d s.", key, exc, WATCH_RETRY_S)
                self._closed.wait(WATCH_RETRY_S)
            finally:
                with self._lock:
                    if watcher in self._watches:
                        self._watches.remove(watcher)

    def _run_log(self, key: str, read_log: Callable, args: tuple, kwargs: dict) -> None:
        watcher = self._new_watch()
        if watcher is None:
            return
        try:
            for line in watcher.stream(read_log, *args, **kwargs):
                self._queue.put(Item("log", key, line))
            self._queue.put(Item("log_end", key))
        except ApiException as exc:
            self._queue.put(Item("log_error", key, exc))
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if not self._closed.is_set():
                self._queue.put(Item("log_error", key, exc))
        finally:
            with self._lock:
                if watcher in self._watches:
                    self._watches.remove(watcher)


class Deadline:
    """A monotonic deadline with the remaining time and a bounded wait interval."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.start = time.monotonic()
        self.end = self.start + timeout_s

    def remaining(self) -> float:
        return max(self.end - time.monotonic(), 0.0)

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def elapsed(self) -> float:
        return time.monotonic() - self.start
