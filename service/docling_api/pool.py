"""A pool of long-lived conversion worker processes, fed by the asyncio web layer.

Each worker is a ``spawn`` process that owns docling converters (see
:mod:`docling_api.worker`). Conversions wait in a first-come, first-served queue
until a worker is idle, then the pool hands the job to it over a pipe and waits for
the reply without blocking the event loop.

Every way a job can end early stops its worker and starts a replacement, so no
conversion keeps running in the background:

- the worker dies (a signal such as SIGSEGV, SIGABRT or SIGKILL from the
  out-of-memory killer): :class:`WorkerExited`, restart reason ``crash``;
- the job runs past its time limit: the worker gets SIGKILL, ``TimeoutError``,
  restart reason ``timeout``;
- the task awaiting :meth:`WorkerPool.run` is cancelled: a queued job leaves the
  queue; a running one gets its worker killed, restart reason ``cancelled``.

A worker is also replaced after ``max_jobs_per_worker`` conversions or when a
conversion leaves it above ``max_worker_rss_bytes`` (reasons ``max_jobs`` and
``max_rss``). Each worker process has a private temporary folder that the pool
removes once the process has exited, whatever the way it ended.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from .metrics import Metrics
from .worker import worker_main

logger = logging.getLogger("docling_api.pool")

STARTING = "starting"
IDLE = "idle"
BUSY = "busy"
FAILED = "failed"
STOPPED = "stopped"

# Seconds a worker asked to stop may take before it gets SIGKILL.
_STOP_GRACE_S = 5.0
# How often idle workers are checked for an exit (an out-of-memory kill can hit an idle worker).
_SUPERVISE_INTERVAL_S = 1.0



class WorkerExited(Exception):
    """The worker process ended before it replied.

    Attributes:
        exitcode (`int`, *optional*): the process's exit code; negative for a signal.
        cause (`str`): the exit in words, such as "was killed by SIGSEGV".
    """

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode
        self.cause = describe_exit(exitcode)


class PoolUnavailable(Exception):
    """No worker is loaded or loading, or the pool is closing, so the job cannot run."""


def describe_exit(exitcode: int | None) -> str:
    """Describe a process exit code in words.

    Example:
        >>> describe_exit(-11)
        'was killed by SIGSEGV (segmentation fault)'
        >>> describe_exit(-9)
        'was killed by SIGKILL, which the out-of-memory killer sends'
    """
    if exitcode is None:
        return "ended"
    if exitcode >= 0:
        return f"exited with code {exitcode}"

    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        return f"was killed by signal {-exitcode}"
    if name == "SIGKILL":
        return "was killed by SIGKILL, which the out-of-memory killer sends"
    description = signal.strsignal(-exitcode) or ""
    return f"was killed by {name} ({description.lower()})" if description else f"was killed by {name}"


@dataclass(eq=False)
class Worker:
    """One worker slot and its current process."""

    index: int
    process: BaseProcess
    conn: Connection
    temp_dir: Path
    state: str = STARTING
    pid: int | None = None
    generation: int = 0
    failure: str | None = None
    jobs: int = 0
    rss_bytes: int | None = None
    started_at: float = field(default_factory=time.monotonic)


class WorkerPool:
    """Start, feed, replace and stop conversion worker processes.

    Args:
        size (`int`): number of worker processes.
        engine_config (`EngineConfig`): passed to every worker.
        log_level (`str`): log level of the workers.
        start_timeout_s (`float`): seconds a worker may take to load models and warm up.
        metrics (`Metrics`): where restarts, queue depth and worker states are reported.
        temp_dir (`Path`, *optional*): parent of the workers' private temporary folders.
        max_jobs_per_worker (`int`): replace a worker after this many conversions; 0 never.
        max_worker_rss_bytes (`int`): replace a worker left above this resident memory; 0 never.

    Example:
        >>> pool = WorkerPool(2, engine_config, "info", 600, Metrics())  # doctest: +SKIP
        >>> pool.start()  # doctest: +SKIP
        >>> reply, queue_s = await pool.run(job, timeout_s=300)  # doctest: +SKIP
    """

    def __init__(
        self,
        size: int,
        engine_config: Any,
        log_level: str,
        start_timeout_s: float,
        metrics: Metrics,
        *,
        temp_dir: Path | None = None,
        max_jobs_per_worker: int = 0,
        max_worker_rss_bytes: int = 0,
    ):
        self.size = size
        self.engine_config = engine_config
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self.metrics = metrics
        self.temp_dir = temp_dir
        self.max_jobs_per_worker = max_jobs_per_worker
        self.max_worker_rss_bytes = max_worker_rss_bytes

        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, Worker] = {}
        self._retired: set[Worker] = set()
        self._idle: deque[Worker] = deque()
        self._waiters: deque[asyncio.Future[Worker]] = deque()
        self._tasks: set[asyncio.Task] = set()
        self._job_ids = itertools.count(1)
        self._closing = False
        self.ever_ready = False

    # Life cycle.

    def start(self) -> None:
        """Spawn every worker. Each one loads its models in the background."""
        for index in range(self.size):
            self._spawn(index, generation=0)
        self._track(asyncio.create_task(self._supervise()))

    async def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy or loading ones are killed.

        Queued jobs fail with :class:`PoolUnavailable`. Temporary folders are removed.
        """
        self._closing = True
        self._fail_waiters("the service is stopping")
        for task in list(self._tasks):
            task.cancel()

        workers = list(self._workers.values())
        for worker in workers:
            if worker.state == IDLE:
                self._send_stop(worker)
            else:
                self._kill(worker)
            worker.state = STOPPED

        for worker in [*workers, *self._retired]:
            await self._reap(worker)
        self._idle.clear()
        self.metrics.workers_ready.set(0)
        self.metrics.workers_busy.set(0)

    # State for /ready, GET / and admission control.

    @property
    def ready_count(self) -> int:
        """Workers with models loaded, idle or busy."""
        return sum(1 for worker in self._workers.values() if worker.state in (IDLE, BUSY))

    @property
    def starting_count(self) -> int:
        """Workers still loading models or warming up."""
        return sum(1 for worker in self._workers.values() if worker.state == STARTING)

    @property
    def idle_count(self) -> int:
        """Workers waiting for a job."""
        return len(self._idle)

    @property
    def busy_count(self) -> int:
        """Workers converting a document."""
        return sum(1 for worker in self._workers.values() if worker.state == BUSY)

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for a free worker."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def can_serve(self) -> bool:
        """Whether a queued job will eventually get a worker: one is loaded or loading."""
        return not self._closing and (self.ready_count > 0 or self.starting_count > 0)

    def failures(self) -> list[str]:
        """Start-up failure messages of the slots that gave up."""
        return [worker.failure for worker in self._workers.values() if worker.state == FAILED and worker.failure]

    def describe(self) -> list[dict[str, Any]]:
        """Return each slot's state, process id, generation (replacements so far), jobs and resident memory."""
        return [
            {
                "index": worker.index,
                "state": worker.state,
                "pid": worker.pid,
                "generation": worker.generation,
                "jobs": worker.jobs,
                "rss_bytes": worker.rss_bytes,
            }
            for worker in sorted(self._workers.values(), key=lambda worker: worker.index)
        ]

    # Jobs.

    async def run(self, job: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any], float]:
        """Queue one job, run it on the next free worker, and return the reply and the seconds spent queued.

        Cancelling the task that awaits this coroutine removes a queued job from the
        queue, or kills the worker of a running one (which is then replaced).

        Args:
            job (`dict`): the job fields; ``job_id`` is added here.
            timeout_s (`float`): seconds the worker may take once it has the job.

        Raises:
            PoolUnavailable: no worker is loaded or loading, or the pool is closing.
            WorkerExited: the worker process ended during the job; it is being replaced.
            TimeoutError: the job ran past ``timeout_s``; its worker was killed and is being replaced.
        """
        if not self.can_serve():
            raise PoolUnavailable("no conversion worker is loaded or loading")
        job = {**job, "job_id": next(self._job_ids)}

        queued = time.perf_counter()
        worker = await self._acquire()
        queue_s = time.perf_counter() - queued

        reply = await self._run_on(worker, job, timeout_s)
        return reply, queue_s

    async def _acquire(self) -> Worker:
        waiter: asyncio.Future[Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._dispatch()
        self._update_gauges()

        try:
            return await waiter
        except asyncio.CancelledError:
            # Cancelled just after a worker was handed over: give it to the next job.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._make_idle(waiter.result())
            raise
        finally:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass
            self._update_gauges()

    def _dispatch(self) -> None:
        """Hand idle workers to waiting jobs, oldest job first, most recently used worker first."""
        while self._idle and self._waiters:
            waiter = self._waiters[0]
            if waiter.done():
                self._waiters.popleft()
                continue

            # The most recently used worker first: its caches are warm, and the threads of the
            # others can go to sleep instead of spinning next to it.
            worker = self._idle.pop()
            if worker.state != IDLE:
                continue
            if not worker.process.is_alive():
                logger.error("Idle worker exited", extra={"worker": worker.index, "pid": worker.pid})
                self._replace(worker, reason="crash")
                continue

            self._waiters.popleft()
            worker.state = BUSY
            waiter.set_result(worker)

    async def _run_on(self, worker: Worker, job: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        worker.state = BUSY
        self._update_gauges()
        try:
            worker.conn.send(job)
            reply = await self._receive(worker, job["job_id"], timeout_s)
        except WorkerExited:
            try:
                # Reap the process so that its exit code (such as -11 for SIGSEGV) is known.
                await asyncio.to_thread(worker.process.join, _STOP_GRACE_S)
            finally:
                self._replace(worker, reason="crash")
            exitcode = worker.process.exitcode
            error = WorkerExited(f"worker {worker.index} {describe_exit(exitcode)}", exitcode)
            logger.error(
                "Worker exited during a conversion",
                extra={"worker": worker.index, "pid": worker.pid, "exitcode": exitcode, "cause": error.cause},
            )
            raise error from None
        except TimeoutError:
            # Before OSError: TimeoutError is a subclass of it.
            logger.error(
                "Conversion timed out; killing its worker",
                extra={"worker": worker.index, "pid": worker.pid, "timeout_s": timeout_s},
            )
            self._kill(worker)
            self._replace(worker, reason="timeout")
            raise
        except (BrokenPipeError, OSError):
            self._replace(worker, reason="crash")
            raise WorkerExited(f"worker {worker.index} closed its pipe") from None
        except asyncio.CancelledError:
            # The request or task went away: stop the conversion now rather than let it run on.
            logger.warning("Conversion cancelled; killing its worker", extra={"worker": worker.index, "pid": worker.pid})
            self._kill(worker)
            self._replace(worker, reason="cancelled")
            raise
        finally:
            self._update_gauges()

        worker.jobs += 1
        self._after_job(worker, reply)
        return reply

    def _after_job(self, worker: Worker, reply: dict[str, Any]) -> None:
        rss = reply.get("rss_bytes")
        if isinstance(rss, int):
            worker.rss_bytes = rss
            self.metrics.worker_rss.labels(worker=str(worker.index)).set(rss)

        if self.max_jobs_per_worker and worker.jobs >= self.max_jobs_per_worker:
            self._recycle(worker, "max_jobs", jobs=worker.jobs)
        elif self.max_worker_rss_bytes and rss and rss > self.max_worker_rss_bytes:
            self._recycle(worker, "max_rss", rss_bytes=rss, max_worker_rss_bytes=self.max_worker_rss_bytes)
        else:
            self._make_idle(worker)

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

    # Spawning, replacing and stopping.

    def _spawn(self, index: int, generation: int) -> Worker:
        # Named like upload spools, with the web process's id, so a later start can sweep leftovers.
        prefix = f"docling-api-{os.getpid()}-worker-{index}-"
        temp_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=self.temp_dir))
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(child_conn, index, self.engine_config, self.log_level, str(temp_dir)),
            name=f"docling-api-worker-{index}",
            daemon=True,
        )
        process.start()
        child_conn.close()

        worker = Worker(
            index=index, process=process, conn=parent_conn, temp_dir=temp_dir, pid=process.pid, generation=generation
        )
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
            self._kill(worker)
        except (EOFError, OSError):
            message = None

        if worker.state != STARTING:
            return
        if message is None:
            await asyncio.to_thread(worker.process.join, _STOP_GRACE_S)
            message = {"type": "failed", "message": f"the process {describe_exit(worker.process.exitcode)}"}

        if message.get("type") != "ready":
            worker.state = FAILED
            worker.failure = f"worker {worker.index}: {message.get('message')}"
            logger.error("Worker failed to start", extra={"worker": worker.index, "reason": message.get("message")})
            self._retired.add(worker)
            self._track(asyncio.create_task(self._reap(worker)))
            if not self.can_serve():
                self._fail_waiters("no conversion worker could start")
            return

        self.ever_ready = True
        logger.info(
            "Worker ready",
            extra={"worker": worker.index, "pid": worker.pid, "load_s": round(message.get("load_s", 0.0), 3)},
        )
        self._make_idle(worker)

    def _make_idle(self, worker: Worker) -> None:
        if self._closing or worker.state not in (STARTING, BUSY):
            return
        worker.state = IDLE
        self._idle.append(worker)
        self._update_gauges()
        self._dispatch()

    def _recycle(self, worker: Worker, reason: str, **fields: Any) -> None:
        logger.info("Recycling worker", extra={"worker": worker.index, "pid": worker.pid, "reason": reason, **fields})
        self._send_stop(worker)
        self._replace(worker, reason=reason)

    def _replace(self, worker: Worker, reason: str) -> None:
        """Retire a worker (its process is reaped in the background) and start its successor."""
        if worker.state == STOPPED:
            return
        worker.state = STOPPED
        worker.conn.close()
        self._retired.add(worker)
        self._track(asyncio.create_task(self._reap(worker)))
        self._update_gauges()

        if self._closing:
            return
        self.metrics.worker_restarts.labels(reason=reason).inc()
        logger.warning("Replacing worker", extra={"worker": worker.index, "reason": reason, "old_pid": worker.pid})
        self._spawn(worker.index, generation=worker.generation + 1)

    async def _reap(self, worker: Worker) -> None:
        """Wait for a retired worker's process to exit (SIGKILL after a grace period), then remove its temp folder."""
        try:
            await asyncio.to_thread(worker.process.join, _STOP_GRACE_S)
            if worker.process.is_alive():
                self._kill(worker)
                await asyncio.to_thread(worker.process.join, _STOP_GRACE_S)
        finally:
            # The folder holds the worker's warm-up file and whatever docling or Tesseract left behind.
            shutil.rmtree(worker.temp_dir, ignore_errors=True)
            self._retired.discard(worker)
            if not worker.conn.closed:
                worker.conn.close()

    def _send_stop(self, worker: Worker) -> None:
        try:
            worker.conn.send(None)
        except (BrokenPipeError, OSError):
            pass

    @staticmethod
    def _kill(worker: Worker) -> None:
        """SIGKILL at once: a worker's state is disposable, and SIGTERM could wait for native code."""
        if worker.process.is_alive():
            worker.process.kill()

    def _fail_waiters(self, reason: str) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolUnavailable(reason))
        self._update_gauges()

    async def _supervise(self) -> None:
        """Replace idle workers that exited, such as one the out-of-memory killer picked while it was idle."""
        while not self._closing:
            await asyncio.sleep(_SUPERVISE_INTERVAL_S)
            for worker in list(self._idle):
                if worker.state == IDLE and not worker.process.is_alive():
                    logger.error(
                        "Idle worker exited",
                        extra={"worker": worker.index, "pid": worker.pid, "cause": describe_exit(worker.process.exitcode)},
                    )
                    self._idle.remove(worker)
                    self._replace(worker, reason="crash")

    def _update_gauges(self) -> None:
        self.metrics.queue_depth.set(self.queue_depth)
        self.metrics.workers_busy.set(self.busy_count)
        self.metrics.workers_ready.set(self.ready_count)

    def _track(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
