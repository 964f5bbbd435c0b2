"""A pool of long-lived conversion worker processes, fed by the asyncio web layer.

Each worker is a ``spawn`` process that owns docling converters (see
:mod:`docling_api.worker`). The pool hands one job at a time to an idle worker
over a pipe and waits for the reply without blocking the event loop. A worker
that exits during a job fails that job only, and the pool starts a replacement.
A job that runs past its timeout gets its worker terminated and replaced too.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from .metrics import Metrics
from .worker import worker_main

logger = logging.getLogger("docling_api.pool")

STARTING = "starting"
IDLE = "idle"
BUSY = "busy"
FAILED = "failed"
STOPPED = "stopped"

# How often a request waiting for a free worker re-checks that some worker can still serve it.
_ACQUIRE_RECHECK_S = 1.0
_TERMINATE_GRACE_S = 5.0


class WorkerExited(Exception):
    """The worker process ended before it replied."""


class PoolUnavailable(Exception):
    """No worker is loaded or loading, so the job cannot run."""


@dataclass
class Worker:
    """One worker slot and its current process."""

    index: int
    process: BaseProcess
    conn: Connection
    state: str = STARTING
    pid: int | None = None
    generation: int = 0
    failure: str | None = None
    started_at: float = field(default_factory=time.monotonic)


class WorkerPool:
    """Start, feed, replace and stop conversion worker processes.

    Args:
        size (`int`): number of worker processes.
        engine_config (`EngineConfig`): passed to every worker.
        log_level (`str`): log level of the workers.
        start_timeout_s (`float`): seconds a worker may take to load models and warm up.
        metrics (`Metrics`): where restarts and ready workers are counted.

    Example:
        >>> pool = WorkerPool(2, engine_config, "info", 600, Metrics())  # doctest: +SKIP
        >>> await pool.start()  # doctest: +SKIP
        >>> reply, queue_s = await pool.run(job, timeout_s=300)  # doctest: +SKIP
    """

    def __init__(self, size: int, engine_config: Any, log_level: str, start_timeout_s: float, metrics: Metrics):
        self.size = size
        self.engine_config = engine_config
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self.metrics = metrics

        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, Worker] = {}
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        self._tasks: set[asyncio.Task] = set()
        self._job_ids = itertools.count(1)
        self._closing = False

    # Life cycle.

    def start(self) -> None:
        """Spawn every worker. Each one loads its models in the background."""
        for index in range(self.size):
            self._spawn(index, generation=0)

    async def close(self) -> None:
        """Ask idle workers to stop, and terminate the others and any that do not exit."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()

        for worker in self._workers.values():
            if worker.state == IDLE:
                try:
                    worker.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass

        for worker in self._workers.values():
            # Idle workers exit on None. A loading or busy worker would make shutdown wait, so it is terminated.
            if worker.state == IDLE:
                await asyncio.to_thread(worker.process.join, _TERMINATE_GRACE_S)
            if worker.process.is_alive():
                await self._terminate(worker)
            worker.state = STOPPED
            worker.conn.close()
        self.metrics.workers_ready.set(0)

    # State for /ready and GET /.

    @property
    def ready_count(self) -> int:
        """Workers with models loaded, idle or busy."""
        return sum(1 for worker in self._workers.values() if worker.state in (IDLE, BUSY))

    @property
    def starting_count(self) -> int:
        """Workers still loading models or warming up."""
        return sum(1 for worker in self._workers.values() if worker.state == STARTING)

    def failures(self) -> list[str]:
        """Start-up failure messages of the slots that gave up."""
        return [worker.failure for worker in self._workers.values() if worker.state == FAILED and worker.failure]

    def describe(self) -> list[dict[str, Any]]:
        """Return each slot's state, process id and generation (replacements so far)."""
        return [
            {"index": worker.index, "state": worker.state, "pid": worker.pid, "generation": worker.generation}
            for worker in sorted(self._workers.values(), key=lambda worker: worker.index)
        ]

    # Jobs.

    async def run(self, job: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any], float]:
        """Run one job on a free worker and return the worker's reply and the seconds spent waiting for it.

        Args:
            job (`dict`): the job fields; ``job_id`` is added here.
            timeout_s (`float`): seconds the worker may take once it has the job.

        Raises:
            PoolUnavailable: no worker is loaded or loading.
            WorkerExited: the worker process ended during the job; it is being replaced.
            TimeoutError: the job ran past ``timeout_s``; its worker was terminated and is being replaced.
        """
        job = {**job, "job_id": next(self._job_ids)}

        queued = time.perf_counter()
        worker = await self._acquire()
        queue_s = time.perf_counter() - queued

        worker.state = BUSY
        try:
            worker.conn.send(job)
            reply = await self._receive(worker, job["job_id"], timeout_s)
        except WorkerExited as exc:
            # Reap the process so that its exit code (such as -9 for SIGKILL) is known for the log.
            await asyncio.to_thread(worker.process.join, _TERMINATE_GRACE_S)
            exitcode = worker.process.exitcode
            logger.error(
                "Worker exited during a conversion",
                extra={"worker": worker.index, "pid": worker.pid, "exitcode": exitcode, "error": str(exc)},
            )
            self._replace(worker, reason="crash")
            raise
        except TimeoutError:
            # Before OSError: TimeoutError is a subclass of it.
            logger.error(
                "Conversion timed out; terminating its worker",
                extra={"worker": worker.index, "pid": worker.pid, "timeout_s": timeout_s},
            )
            await self._terminate(worker)
            self._replace(worker, reason="timeout")
            raise
        except (BrokenPipeError, OSError):
            self._replace(worker, reason="crash")
            raise WorkerExited(f"worker {worker.index} closed its pipe") from None
        except asyncio.CancelledError:
            # The request went away. The worker finishes the job in the background and then serves again.
            self._track(asyncio.create_task(self._drain(worker, job["job_id"], timeout_s)))
            raise

        self._release(worker)
        return reply, queue_s

    async def _acquire(self) -> Worker:
        while True:
            if self.ready_count == 0 and self.starting_count == 0:
                raise PoolUnavailable("no conversion worker is loaded or loading")

            try:
                worker = await asyncio.wait_for(self._idle.get(), timeout=_ACQUIRE_RECHECK_S)
            except TimeoutError:
                continue

            if worker.state == IDLE and worker.process.is_alive():
                return worker
            if worker.state == IDLE:
                logger.error("Idle worker exited", extra={"worker": worker.index, "pid": worker.pid})
                self._replace(worker, reason="crash")

    def _release(self, worker: Worker) -> None:
        if self._closing or worker.state != BUSY:
            return
        worker.state = IDLE
        self._idle.put_nowait(worker)

    async def _drain(self, worker: Worker, job_id: int, timeout_s: float) -> None:
        try:
            await self._receive(worker, job_id, timeout_s)
        except WorkerExited:
            self._replace(worker, reason="crash")
            return
        except TimeoutError:
            await self._terminate(worker)
            self._replace(worker, reason="timeout")
            return
        self._release(worker)

    async def _receive(self, worker: Worker, job_id: int, timeout_s: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s

        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            await asyncio.wait_for(self._readable(worker), timeout=remaining)

            if not worker.conn.poll():
                raise WorkerExited(f"worker {worker.index} exited")
            try:
                message = await asyncio.to_thread(worker.conn.recv)
            except (EOFError, OSError):
                raise WorkerExited(f"worker {worker.index} closed its pipe") from None

            if message.get("job_id") == job_id:
                return message
            logger.warning("Discarded a stale worker reply", extra={"worker": worker.index})

    async def _readable(self, worker: Worker) -> None:
        """Wait until the worker's pipe has data or its process has exited."""
        loop = asyncio.get_running_loop()
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        descriptors = (worker.conn.fileno(), worker.process.sentinel)
        for descriptor in descriptors:
            loop.add_reader(descriptor, wake)
        try:
            await ready
        finally:
            for descriptor in descriptors:
                loop.remove_reader(descriptor)
                # uvloop switches watched descriptors to non-blocking mode, which breaks
                # Connection.recv() on a message longer than one read.
                os.set_blocking(descriptor, True)

    # Spawning and replacing.

    def _spawn(self, index: int, generation: int) -> Worker:
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(child_conn, index, self.engine_config, self.log_level),
            name=f"docling-api-worker-{index}",
            daemon=True,
        )
        process.start()
        child_conn.close()

        worker = Worker(index=index, process=process, conn=parent_conn, pid=process.pid, generation=generation)
        self._workers[index] = worker
        logger.info("Worker starting", extra={"worker": index, "pid": process.pid, "generation": generation})
        self._track(asyncio.create_task(self._await_ready(worker)))
        return worker

    async def _await_ready(self, worker: Worker) -> None:
        try:
            await asyncio.wait_for(self._readable(worker), timeout=self.start_timeout_s)
            message = await asyncio.to_thread(worker.conn.recv) if worker.conn.poll() else None
        except TimeoutError:
            message = {"type": "failed", "message": f"no ready message within {self.start_timeout_s:g} s"}
            await self._terminate(worker)
        except (EOFError, OSError):
            message = None

        if message is None:
            message = {"type": "failed", "message": f"the process exited with code {worker.process.exitcode}"}

        if message.get("type") != "ready":
            worker.state = FAILED
            worker.failure = f"worker {worker.index}: {message.get('message')}"
            logger.error("Worker failed to start", extra={"worker": worker.index, "reason": message.get("message")})
            return

        worker.state = IDLE
        self.metrics.workers_ready.set(self.ready_count)
        logger.info(
            "Worker ready",
            extra={"worker": worker.index, "pid": worker.pid, "load_s": round(message.get("load_s", 0.0), 3)},
        )
        self._idle.put_nowait(worker)

    def _replace(self, worker: Worker, reason: str) -> None:
        if worker.state == STOPPED:
            return
        worker.state = STOPPED
        worker.conn.close()
        self.metrics.workers_ready.set(self.ready_count)

        if self._closing:
            return
        self.metrics.worker_restarts.labels(reason=reason).inc()
        logger.warning("Replacing worker", extra={"worker": worker.index, "reason": reason, "old_pid": worker.pid})
        self._spawn(worker.index, generation=worker.generation + 1)

    async def _terminate(self, worker: Worker) -> None:
        if not worker.process.is_alive():
            return
        worker.process.terminate()
        await asyncio.to_thread(worker.process.join, _TERMINATE_GRACE_S)
        if worker.process.is_alive():
            worker.process.kill()
            await asyncio.to_thread(worker.process.join, _TERMINATE_GRACE_S)

    def _track(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
