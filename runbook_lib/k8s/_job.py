"""The model download Job: apply it (re-created when its inputs changed or it failed) and wait for it."""

from __future__ import annotations

import collections
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from kubernetes.client import V1Job, V1Pod
from kubernetes.client.exceptions import ApiException

from ..errors import JobFailedError, KubernetesError, KubernetesTimeoutError
from ..params import RunbookParams
from . import _names as names
from ._access import Cluster, access_error
from ._apply import apply_manifests, api_message
from ._diagnose import PodReport, describe_pod
from ._validate import render_and_validate
from ._watching import Deadline, EventMux

logger = logging.getLogger("runbook_lib.k8s")

POLL_S = 10
LOG_DRAIN_S = 30
LOG_TAIL_LINES = 15
DELETE_TIMEOUT_S = 120


@dataclass
class JobResult:
    """The outcome of the model download Job."""

    name: str
    namespace: str
    status: str
    pod: str | None = None
    duration_s: float = 0.0
    log_lines: int = 0
    reused: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def print_line(line: str) -> None:
    """Write one log line to stdout, where a notebook cell shows it."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_model_download_job(
    cluster: Cluster,
    params: RunbookParams,
    *,
    wait: bool | None = None,
    on_log_line: Callable[[str], None] = print_line,
) -> JobResult:
    """Apply the model download Job and wait for it, streaming its logs.

    A Job whose inputs (image, model set, limits) are unchanged and that already succeeded is left
    alone. One that failed, or whose inputs changed, is deleted and created again, because a Job's
    pod template cannot change.

    Args:
        cluster (`Cluster`): the connection.
        params (`RunbookParams`): the runbook parameters; ``job_timeout_s`` and ``stuck_pod_grace_s`` bound the wait.
        wait (`bool`, *optional*): wait for the Job; by default unless ``skip_model_wait`` is set.
        on_log_line (callable): receives each log line of the Job's pods; prints by default.

    Raises:
        JobFailedError: the Job failed or its pod is stuck; the message contains the diagnosis and a hint.
        KubernetesTimeoutError: the Job did not finish within ``job_timeout_s``.
        ApplyError: the API server rejected the Job.

    Example:
        >>> result = run_model_download_job(cluster, params)  # doctest: +SKIP
        >>> result.status
        'succeeded'
    """
    wait = not params.skip_model_wait if wait is None else wait
    job_doc = render_and_validate(params, cluster).get("Job")
    namespace, name = job_doc["metadata"]["namespace"], job_doc["metadata"]["name"]
    expected_hash = job_doc["metadata"]["annotations"][names.SPEC_HASH_ANNOTATION]

    existing = _read_job(cluster, namespace, name)
    if existing is not None:
        current_hash = (existing.metadata.annotations or {}).get(names.SPEC_HASH_ANNOTATION)
        state = job_state(existing)
        if current_hash == expected_hash and state == "succeeded":
            logger.info("Job %s/%s already succeeded with the same inputs; nothing to do.", namespace, name)
            return JobResult(name, namespace, "succeeded", reused=True)
        if current_hash != expected_hash or state == "failed":
            reason = "its inputs changed" if current_hash != expected_hash else "it failed"
            logger.info("Deleting Job %s/%s because %s; it will be created again.", namespace, name, reason)
            delete_job(cluster, namespace, name)
        else:
            logger.info("Job %s/%s is already running with the same inputs; waiting for it.", namespace, name)

    apply_manifests(cluster, [job_doc])
    if not wait:
        logger.info("Job %s/%s started; not waiting for it (skip_model_wait).", namespace, name)
        return JobResult(name, namespace, "started")
    return wait_for_job(cluster, namespace, name, params=params, on_log_line=on_log_line)


def job_state(job: V1Job) -> str:
    """Return ``succeeded``, ``failed`` or ``running`` from a Job's conditions and counts."""
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.status == "True" and condition.type in ("Complete", "SuccessCriteriaMet"):
            return "succeeded"
        if condition.status == "True" and condition.type in ("Failed", "FailureTarget"):
            return "failed"
    return "running"


def _read_job(cluster: Cluster, namespace: str, name: str) -> V1Job | None:
    try:
        return cluster.batch.read_namespaced_job(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        if exc.status in (401, 403):
            raise access_error(cluster, exc) from None
        raise KubernetesError(f"Reading Job {namespace}/{name} failed: {api_message(exc)}") from None


def delete_job(cluster: Cluster, namespace: str, name: str, timeout_s: float = DELETE_TIMEOUT_S) -> None:
    """Delete a Job and its pods (background propagation) and wait until the Job is gone.

    Raises:
        KubernetesTimeoutError: the Job still exists after ``timeout_s``.
    """
    try:
        cluster.batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
    except ApiException as exc:
        if exc.status == 404:
            return
        raise KubernetesError(f"Deleting Job {namespace}/{name} failed: {api_message(exc)}") from None

    deadline = Deadline(timeout_s)
    with EventMux() as mux:
        mux.watch("job", cluster.batch.list_namespaced_job, namespace, field_selector=f"metadata.name={name}")
        while _read_job(cluster, namespace, name) is not None:
            if deadline.expired():
                raise KubernetesTimeoutError(
                    f"Job {namespace}/{name} still exists {timeout_s:g} s after it was deleted; "
                    f"check its finalizers: kubectl -n {namespace} get job {name} -o yaml"
                )
            mux.next(min(POLL_S, deadline.remaining()))


def _pod_summary(pod: V1Pod) -> str:
    phase = (pod.status.phase if pod.status else None) or "Unknown"
    for status in (pod.status.container_statuses if pod.status else None) or []:
        if status.state and status.state.waiting and status.state.waiting.reason:
            return f"{phase} ({status.state.waiting.reason})"
        if status.state and status.state.terminated and status.state.terminated.reason:
            return f"{phase} ({status.state.terminated.reason}, exit code {status.state.terminated.exit_code})"
    return phase


def _main_container_started(pod: V1Pod, container: str) -> bool:
    for status in (pod.status.container_statuses if pod.status else None) or []:
        if status.name == container and status.state and (status.state.running or status.state.terminated):
            return True
    return False


class _JobWait:
    """State of one wait for a Job: pods seen, logs followed, stuck pods and the log tail per pod."""

    def __init__(self, cluster: Cluster, namespace: str, name: str, params: RunbookParams | None,
                 on_log_line: Callable[[str], None]):
        self.cluster, self.namespace, self.name, self.params = cluster, namespace, name, params
        self.on_log_line = on_log_line
        self.summaries: dict[str, str] = {}
        self.followed: set[str] = set()
        self.ended: set[str] = set()
        self.tails: dict[str, collections.deque] = {}
        self.stuck_since: dict[str, float] = {}
        self.log_lines = 0

    def pods(self) -> list[V1Pod]:
        listed = self.cluster.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={self.name}")
        return sorted(listed.items, key=lambda pod: (pod.metadata.creation_timestamp is not None, pod.metadata.creation_timestamp))

    def report_progress(self, pods: list[V1Pod], mux: EventMux) -> None:
        for pod in pods:
            pod_name = pod.metadata.name
            summary = _pod_summary(pod)
            if self.summaries.get(pod_name) != summary:
                logger.info("Job %s/%s: pod %s is %s.", self.namespace, self.name, pod_name, summary)
                self.summaries[pod_name] = summary
            if pod_name not in self.followed and _main_container_started(pod, names.JOB_CONTAINER):
                self.followed.add(pod_name)
                self.tails[pod_name] = collections.deque(maxlen=LOG_TAIL_LINES)
                self.on_log_line(f"--- logs of pod {pod_name} ---")
                mux.follow_log(pod_name, self.cluster.core.read_namespaced_pod_log, pod_name, self.namespace,
                               container=names.JOB_CONTAINER)

    def handle(self, item) -> bool:
        """Consume one delivery; return True when the state may have changed."""
        if item is None:
            return True
        if item.kind == "log":
            self.on_log_line(item.value)
            self.tails[item.key].append(item.value)
            self.log_lines += 1
            return False
        if item.kind in ("log_end", "log_error"):
            self.ended.add(item.key)
            if item.kind == "log_error":
                logger.debug("Log stream of pod %s ended with %s", item.key, item.value)
            return False
        return True

    def diagnose(self, pods: list[V1Pod]) -> PodReport | None:
        if not pods:
            return None
        return describe_pod(self.cluster.core, pods[-1], self.params)

    def failure_text(self, headline: str, pods: list[V1Pod]) -> str:
        report = self.diagnose(pods)
        parts = [headline]
        if report is None:
            parts.append(f"No pod of Job {self.name} was created: kubectl -n {self.namespace} describe job {self.name}")
        else:
            parts.append(report.format())
            tail = self.tails.get(report.name)
            if tail:
                parts.append("Last log lines:\n  " + "\n  ".join(tail))
        return "\n".join(parts)


def wait_for_job(
    cluster: Cluster,
    namespace: str = names.NAMESPACE,
    name: str = names.JOB_NAME,
    *,
    params: RunbookParams | None = None,
    timeout_s: float | None = None,
    stuck_grace_s: float | None = None,
    on_log_line: Callable[[str], None] = print_line,
) -> JobResult:
    """Wait for a Job to succeed, streaming its pods' logs and reporting pod state changes.

    Args:
        cluster (`Cluster`): the connection.
        namespace (`str`): the Job's namespace.
        name (`str`): the Job's name.
        params (`RunbookParams`, *optional*): default timeouts, and values named in hints.
        timeout_s (`float`, *optional*): how long to wait; ``params.job_timeout_s`` by default.
        stuck_grace_s (`float`, *optional*): how long a pod may stay unable to start (image pull, mount)
            before the wait fails; ``params.stuck_pod_grace_s`` by default.
        on_log_line (callable): receives each log line.

    Raises:
        JobFailedError: the Job failed, or its pod stayed stuck longer than ``stuck_grace_s``.
        KubernetesTimeoutError: the Job did not finish in time.

    Example:
        >>> wait_for_job(cluster, "docling", "download-docling-model", timeout_s=600).status  # doctest: +SKIP
        'succeeded'
    """
    params = params or RunbookParams()
    timeout_s = params.job_timeout_s if timeout_s is None else timeout_s
    stuck_grace_s = params.stuck_pod_grace_s if stuck_grace_s is None else stuck_grace_s
    deadline = Deadline(timeout_s)
    state = _JobWait(cluster, namespace, name, params, on_log_line)

    with EventMux() as mux:
        mux.watch("job", cluster.batch.list_namespaced_job, namespace, field_selector=f"metadata.name={name}")
        mux.watch("pods", cluster.core.list_namespaced_pod, namespace, label_selector=f"job-name={name}")
        mux.watch("events", cluster.core.list_namespaced_event, namespace)

        while True:
            job = _read_job(cluster, namespace, name)
            if job is None:
                raise JobFailedError(
                    f"Job {namespace}/{name} was deleted while the runbook waited for it; run the step again."
                )
            pods = state.pods()
            state.report_progress(pods, mux)
            outcome = job_state(job)

            if outcome == "succeeded":
                _drain_logs(state, mux, Deadline(min(LOG_DRAIN_S, deadline.remaining())))
                logger.info("Job %s/%s succeeded after %.0f s.", namespace, name, deadline.elapsed())
                return JobResult(name, namespace, "succeeded", pods[-1].metadata.name if pods else None,
                                 round(deadline.elapsed(), 1), state.log_lines)

            if outcome == "failed":
                _drain_logs(state, mux, Deadline(min(LOG_DRAIN_S, deadline.remaining())))
                raise JobFailedError(state.failure_text(_failed_headline(job, namespace, name, params), pods))

            wake = _check_stuck(state, pods, stuck_grace_s, namespace, name)
            if deadline.expired():
                raise KubernetesTimeoutError(state.failure_text(
                    f"Timed out after {timeout_s:g} s waiting for Job {namespace}/{name}; it is still running. "
                    "Raise job_timeout_s, or look at the pod below.", pods))

            # Print log lines as they come, and read the state again after a watch event or at the latest after POLL_S.
            recheck_at = time.monotonic() + min(POLL_S, deadline.remaining(), wake)
            while not state.handle(mux.next(recheck_at - time.monotonic())):
                if time.monotonic() >= recheck_at:
                    break


def _check_stuck(state: _JobWait, pods: list[V1Pod], stuck_grace_s: float, namespace: str, name: str) -> float:
    """Raise when the newest pod has been stuck longer than the grace; return seconds until the grace ends."""
    if not pods:
        return POLL_S
    pod = pods[-1]
    pod_name = pod.metadata.name
    if (pod.status.phase if pod.status else None) not in ("Pending", None):
        state.stuck_since.pop(pod_name, None)
        return POLL_S

    report = describe_pod(state.cluster.core, pod, state.params)
    reason = report.stuck_reason()
    if reason is None:
        state.stuck_since.pop(pod_name, None)
        return POLL_S

    first_seen = state.stuck_since.setdefault(pod_name, time.monotonic())
    waited = time.monotonic() - first_seen
    if waited >= stuck_grace_s:
        raise JobFailedError(
            f"Job {namespace}/{name} cannot start: pod {pod_name} is stuck ({reason}) for {waited:.0f} s "
            f"(stuck_pod_grace_s={stuck_grace_s:g}).\n{report.format()}"
        )
    return stuck_grace_s - waited


def _failed_headline(job: V1Job, namespace: str, name: str, params: RunbookParams) -> str:
    condition = next((c for c in job.status.conditions or [] if c.type in ("Failed", "FailureTarget") and c.status == "True"), None)
    reason = condition.reason if condition else "Failed"
    message = condition.message if condition and condition.message else ""
    headline = f"Job {namespace}/{name} failed ({reason}{': ' + message if message else ''})."

    if reason == "DeadlineExceeded":
        headline += f" It ran longer than activeDeadlineSeconds; raise download_deadline_s (now {params.download_deadline_s})."
    elif reason == "BackoffLimitExceeded":
        headline += f" All {(job.spec.backoff_limit or 0) + 1} attempts failed; the newest pod is below."
    return headline


def _drain_logs(state: _JobWait, mux: EventMux, deadline: Deadline) -> None:
    """Print the remaining log lines of the followed pods, up to the deadline."""
    while state.followed - state.ended and not deadline.expired():
        state.handle(mux.next(deadline.remaining()))
