"""Asynchronous conversion tasks: submit, follow, fetch once, cancel, expire.

Each task owns a private folder (mode 0700, named like the upload spools so that a
restarted service removes what a killed one left). The folder contains the uploaded
document until the conversion ends, then the result JSON until the client fetches it
or ``task_result_ttl_s`` passes. The task's status stays readable until then too.

At most ``workers`` tasks convert at once, so tasks wait here (``pending``, with a
queue position) rather than in the admission queue, which stays open for
``POST /convert`` and ``POST /v1/convert/file``. A task that the admission queue still
turns away (429, or 503 while memory is low) waits and tries again, for up to
``request_timeout_s``.

NOTE: tasks live in the memory of one web process. With several replicas behind one
Service, a client must reach the pod that accepted its task (session affinity).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docling.datamodel.base_models import ConversionStatus
from docling.datamodel.service import PublicFailureInfo, TaskProcessingMeta, TaskStatusResponse, TaskType
from prometheus_client import Counter, Gauge

from ..errors import ApiError, LowMemory, NotReady, QueueFull, ShuttingDown
from ..uploads import SPOOL_PREFIX
from ._conversion import convert_upload
from ._errors import RESULT_NOT_FOUND_PREFIX, TASK_NOT_FOUND, ResultNotFound, TaskNotFound, TooManyTasks
from ._multipart import FilesUpload
from ._options import V1Options
from ._results import cancelled_failure, task_failure, task_failure_payload

if TYPE_CHECKING:
    from ..app import ServiceState

logger = logging.getLogger("docling_api.tasks")

PENDING = ConversionStatus.PENDING.value
STARTED = ConversionStatus.STARTED.value
SUCCESS = ConversionStatus.SUCCESS.value
FAILURE = ConversionStatus.FAILURE.value
TERMINAL = (SUCCESS, FAILURE)

RESULT_FILE = "result.json"
# Retry-After sent when the store is full: about one conversion.
_FULL_RETRY_AFTER_S = 5
# How long a cancel request waits for the conversion's worker to be stopped.
_CANCEL_WAIT_S = 30.0
# Errors after which a task waits and tries to get into the admission queue again.
_CAPACITY_ERRORS = (QueueFull, LowMemory, NotReady)
_CAPACITY_RETRY_S = 1.0


@dataclass(eq=False)
class Task:
    """One conversion task and the files it keeps on disk.

    Attributes:
        task_id (`str`): a random UUID, the only handle clients get.
        filename (`str`): the client's file name, for logs and messages.
        folder (`Path`): private folder with the upload, and later the result.
        sequence (`int`): submission order, for queue positions.
        status (`str`): ``pending``, ``started``, ``success`` or ``failure`` (docling-serve's task states).
        document_status (`str`, *optional*): the document's conversion status once the task succeeded.
        result_path (`Path`, *optional*): the stored result until it is fetched or expires.
        failure (`PublicFailureInfo`, *optional*): why a failed task failed.
        finished_at (`float`, *optional*): ``time.monotonic()`` when the task reached its final state.
    """

    task_id: str
    filename: str
    folder: Path
    sequence: int
    status: str = PENDING
    document_status: str | None = None
    result_path: Path | None = None
    failure: PublicFailureInfo | None = None
    finished_at: float | None = None
    runner: asyncio.Task | None = None
    stop_reason: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def terminal(self) -> bool:
        """Whether the task reached ``success`` or ``failure``."""
        return self.status in TERMINAL

    @property
    def holds_data(self) -> bool:
        """Whether the task still keeps its document or an unfetched result on disk."""
        return not self.terminal or self.result_path is not None


class TaskStore:
    """The tasks of one web process.

    Args:
        state (`ServiceState`): the service, for settings, metrics and the conversions.

    Example:
        >>> store = TaskStore(state)  # doctest: +SKIP
        >>> await store.start()  # doctest: +SKIP
        >>> task = store.submit(folder, upload, options, None, "req-1")  # doctest: +SKIP
        >>> store.status_response(task).task_status  # doctest: +SKIP
        'pending'
    """

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.settings = state.settings
        self._tasks: dict[str, Task] = {}
        self._sequence = itertools.count(1)
        self._slots = asyncio.Semaphore(self.settings.workers)
        self._sweeper: asyncio.Task | None = None
        self._closing = False

        registry = state.metrics.registry
        self._held = Gauge(
            "docling_api_tasks",
            "Asynchronous tasks held by state: pending, started, or finished with an unfetched result.",
            ["state"],
            registry=registry,
        )
        self._finished = Counter(
            "docling_api_tasks_finished",
            "Asynchronous tasks finished, by outcome: success, document_failure, failure or cancelled.",
            ["outcome"],
            registry=registry,
        )
        self._expired = Counter(
            "docling_api_task_results_expired",
            "Task results removed after task_result_ttl_s without being fetched.",
            registry=registry,
        )
        for outcome in ("success", "document_failure", "failure", "cancelled"):
            self._finished.labels(outcome=outcome)
        self._update_gauge()

    # Life cycle.

    async def start(self) -> None:
        """Start removing expired tasks in the background."""
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        """Stop every unfinished task (their workers are stopped) and remove every task folder."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()

        runners = []
        for task in self._tasks.values():
            if task.runner is not None and not task.runner.done():
                task.stop_reason = "shutdown"
                task.runner.cancel()
                runners.append(task.runner)
        if runners:
            logger.info("Stopping unfinished tasks", extra={"tasks": len(runners)})
            await asyncio.wait(runners, timeout=_CANCEL_WAIT_S)

        for task in self._tasks.values():
            shutil.rmtree(task.folder, ignore_errors=True)
        self._tasks.clear()
        self._update_gauge()

    def make_folder(self) -> Path:
        """Create a private folder for one upload, named so that stale-spool cleanup recognises it."""
        return Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-v1-", dir=self.settings.temp_dir))

    # Submitting.

    def check_capacity(self) -> None:
        """Raise unless one more task may be submitted.

        Raises:
            TooManyTasks: ``max_tasks`` tasks hold a document or an unfetched result (429, with Retry-After).
        """
        held = sum(1 for task in self._tasks.values() if task.holds_data)
        if held < self.settings.max_tasks:
            return

        self.state.metrics.rejections.labels(reason="too_many_tasks").inc()
        raise TooManyTasks(
            f"Too many tasks: this service keeps {held} tasks, its limit of max_tasks. Fetch the results of finished "
            f"tasks with GET /v1/result/{{task_id}}, or retry in {_FULL_RETRY_AFTER_S} s.",
            headers={"Retry-After": str(_FULL_RETRY_AFTER_S)},
            max_tasks=self.settings.max_tasks,
        )

    def submit(
        self,
        folder: Path,
        upload: FilesUpload,
        options: V1Options,
        target_version: str | None,
        request_id: str | None,
    ) -> Task:
        """Create a task for a spooled upload; the task owns ``folder`` from now on.

        Raises:
            TooManyTasks: the store is full (429).
        """
        try:
            self.check_capacity()
        except TooManyTasks:
            shutil.rmtree(folder, ignore_errors=True)
            raise

        task = Task(task_id=str(uuid.uuid4()), filename=upload.filename, folder=folder, sequence=next(self._sequence))
        self._tasks[task.task_id] = task
        task.runner = asyncio.create_task(self._run(task, upload, options, target_version, request_id))
        self._update_gauge()
        logger.info("Task submitted", extra={"task_id": task.task_id, "bytes": upload.size})
        return task

    # Reading.

    def find(self, task_id: str) -> Task | None:
        """Return the task, or None when there is no such task here or it expired."""
        return self._tasks.get(task_id)

    def get(self, task_id: str) -> Task:
        """Return the task.

        Raises:
            TaskNotFound: no such task here, or it expired (404, detail "Task not found.").
        """
        task = self._tasks.get(task_id)
        if task is None:
            raise TaskNotFound(TASK_NOT_FOUND, task_id=task_id)
        return task

    def status_response(self, task: Task) -> TaskStatusResponse:
        """Return the task's status in docling's model."""
        position = None
        if task.status == PENDING:
            position = 1 + sum(
                1 for other in self._tasks.values() if other.status == PENDING and other.sequence < task.sequence
            )

        document_status = task.document_status
        meta = TaskProcessingMeta(
            num_docs=1,
            num_processed=1 if task.terminal else 0,
            num_succeeded=1 if document_status == ConversionStatus.SUCCESS.value else 0,
            num_partially_succeeded=1 if document_status == ConversionStatus.PARTIAL_SUCCESS.value else 0,
            num_failed=1 if task.status == FAILURE or document_status == FAILURE else 0,
        )
        return TaskStatusResponse(
            task_id=task.task_id,
            task_type=TaskType.CONVERT,
            task_status=ConversionStatus(task.status),
            task_position=position,
            task_meta=meta,
            error_message=task.failure.message if task.failure else None,
            failure=task.failure,
        )

    async def wait_for_change(self, task: Task, timeout_s: float) -> None:
        """Return when the task's status changes, or after ``timeout_s`` seconds."""
        event = task.changed
        try:
            await asyncio.wait_for(event.wait(), timeout=timeout_s)
        except TimeoutError:
            pass

    async def fetch_result(self, task: Task) -> bytes:
        """Return the task's result JSON and remove it from the store (each result can be fetched once).

        A failed task returns a ``TaskFailureResult`` instead, as often as asked.

        Raises:
            ResultNotFound: the task is unfinished, or its result was already fetched, deleted or expired (404).
        """
        if task.status == FAILURE and task.failure is not None:
            return json.dumps(task_failure_payload(task.failure)).encode("utf-8")

        if not task.terminal:
            raise ResultNotFound(
                f"{RESULT_NOT_FOUND_PREFIX} Task {task.task_id} is still {task.status}. Wait until "
                "GET /v1/status/poll/{task_id} returns task_status success or failure.",
                task_id=task.task_id,
            )

        path = task.result_path
        if path is None:
            raise ResultNotFound(
                f"{RESULT_NOT_FOUND_PREFIX} The result of task {task.task_id} was already fetched or deleted; "
                "a result is kept only until it is fetched once. Submit the document again.",
                task_id=task.task_id,
            )

        task.result_path = None
        content = await asyncio.to_thread(path.read_bytes)
        await asyncio.to_thread(shutil.rmtree, task.folder, True)
        self._update_gauge()
        logger.info("Task result fetched", extra={"task_id": task.task_id, "bytes": len(content)})
        return content

    # Cancelling.

    async def cancel(self, task: Task) -> Task:
        """Stop an unfinished task and wait until its worker is stopped, or discard a finished task's result.

        The task stays readable with ``task_status: failure`` until it expires, so that
        clients following it learn why it ended.
        """
        if task.terminal:
            if task.result_path is not None:
                task.result_path = None
                shutil.rmtree(task.folder, ignore_errors=True)
                self._update_gauge()
                logger.info("Task result deleted", extra={"task_id": task.task_id})
            return task

        task.stop_reason = "cancelled"
        runner = task.runner
        if runner is not None and not runner.done():
            runner.cancel()
            await asyncio.wait({runner}, timeout=_CANCEL_WAIT_S)
        return task

    # Running.

    async def _run(
        self, task: Task, upload: FilesUpload, options: V1Options, target_version: str | None, request_id: str | None
    ) -> None:
        try:
            async with self._slots:
                self._set_status(task, STARTED)
                payload = await self._convert(task, upload, options, target_version, request_id)
            await asyncio.to_thread(self._write_result, task, payload)
        except asyncio.CancelledError:
            reason = task.stop_reason or "shutdown"
            if reason == "cancelled":
                failure = cancelled_failure(task.task_id)
            else:
                failure = task_failure(ShuttingDown("The service stopped before the task finished. Submit it again."))
            self._finish_failed(task, failure, outcome="cancelled")
            logger.info("Task stopped", extra={"task_id": task.task_id, "reason": reason})
            return
        except ApiError as exc:
            self._finish_failed(task, task_failure(exc), outcome="failure")
            logger.warning(
                "Task failed", extra={"task_id": task.task_id, "code": exc.code, "error": exc.message}
            )
            return
        except Exception:
            logger.exception("Task failed with an unexpected error", extra={"task_id": task.task_id})
            error = ApiError("Internal error while converting. Report it with the task id; the service keeps serving.")
            self._finish_failed(task, task_failure(error), outcome="failure")
            return

        outcome = "document_failure" if task.document_status == FAILURE else "success"
        self._finished.labels(outcome=outcome).inc()
        self._set_status(task, SUCCESS)
        logger.info("Task finished", extra={"task_id": task.task_id, "document_status": task.document_status})

    async def _convert(
        self, task: Task, upload: FilesUpload, options: V1Options, target_version: str | None, request_id: str | None
    ) -> dict[str, Any]:
        """Convert, waiting and trying again while the admission queue turns the task away."""
        deadline = time.monotonic() + self.settings.request_timeout_s
        while True:
            try:
                return await convert_upload(self.state, upload, options, target_version, request_id)
            except _CAPACITY_ERRORS as exc:
                if time.monotonic() >= deadline:
                    raise
                delay = _retry_after(exc)
                logger.info(
                    "Task waits for room in the conversion queue",
                    extra={"task_id": task.task_id, "code": exc.code, "retry_after_s": delay},
                )
                await asyncio.sleep(delay)

    def _write_result(self, task: Task, payload: dict[str, Any]) -> None:
        path = task.folder / RESULT_FILE
        path.write_bytes(json.dumps(payload).encode("utf-8"))

        # The document is no longer needed; only the result stays.
        for entry in task.folder.iterdir():
            if entry == path:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        task.result_path = path
        task.document_status = payload["status"]

    def _finish_failed(self, task: Task, failure: PublicFailureInfo, outcome: str) -> None:
        shutil.rmtree(task.folder, ignore_errors=True)
        task.result_path = None
        task.failure = failure
        self._finished.labels(outcome=outcome).inc()
        self._set_status(task, FAILURE)

    def _set_status(self, task: Task, status: str) -> None:
        task.status = status
        if status in TERMINAL:
            task.finished_at = time.monotonic()

        # Wake everyone waiting for this task, and give later waiters a fresh event.
        event = task.changed
        task.changed = asyncio.Event()
        event.set()
        self._update_gauge()

    # Expiry.

    async def _sweep_forever(self) -> None:
        interval = max(0.2, min(self.settings.task_result_ttl_s / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            self.expire()

    def expire(self) -> int:
        """Forget finished tasks older than ``task_result_ttl_s``, deleting unfetched results, and return how many."""
        now = time.monotonic()
        ttl_s = self.settings.task_result_ttl_s
        expired = [
            task for task in self._tasks.values() if task.finished_at is not None and now - task.finished_at >= ttl_s
        ]
        for task in expired:
            if task.result_path is not None:
                self._expired.inc()
                logger.info("Task result expired unfetched", extra={"task_id": task.task_id})
            shutil.rmtree(task.folder, ignore_errors=True)
            del self._tasks[task.task_id]
            # Wake websocket and poll waiters, which then find the task gone.
            task.changed.set()

        if expired:
            self._update_gauge()
        return len(expired)

    def _update_gauge(self) -> None:
        counts = {PENDING: 0, STARTED: 0, "finished": 0}
        for task in self._tasks.values():
            if not task.terminal:
                counts[task.status] += 1
            elif task.result_path is not None:
                counts["finished"] += 1
        for state, count in counts.items():
            self._held.labels(state=state).set(count)


def _retry_after(error: ApiError) -> float:
    value = (error.headers or {}).get("Retry-After")
    try:
        return max(_CAPACITY_RETRY_S, float(value)) if value is not None else _CAPACITY_RETRY_S
    except ValueError:
        return _CAPACITY_RETRY_S
