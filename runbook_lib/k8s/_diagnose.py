"""Plain-words diagnosis of pods: phase, container states, recent events and a hint for common causes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kubernetes.client import V1Pod
from kubernetes.client.exceptions import ApiException

from ..params import RunbookParams
from . import _names as names

logger = logging.getLogger("runbook_lib.k8s")

IMAGE_PULL_REASONS = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
CONFIG_REASONS = {"CreateContainerConfigError", "CreateContainerError"}
MOUNT_EVENT_REASONS = {"FailedMount", "FailedAttachVolume"}
MAX_EVENTS = 8

# Memory limit parameter per container name, for the OOMKilled hint.
MEMORY_LIMIT_PARAMS = {
    names.API_CONTAINER: "memory_limit",
    names.JOB_CONTAINER: "download_memory_limit",
    names.COPY_CONTAINER: "memory_limit",
}


@dataclass
class ContainerReport:
    """The state of one container, as ``kubectl describe pod`` shows it."""

    name: str
    init: bool
    state: str
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    restarts: int = 0
    last_reason: str | None = None
    last_exit_code: int | None = None
    image: str | None = None

    def describe(self) -> str:
        kind = "init container" if self.init else "container"
        text = f"{kind} {self.name}: {self.state}"
        if self.reason:
            text += f" ({self.reason}"
            text += f", exit code {self.exit_code})" if self.exit_code is not None else ")"
        if self.message:
            text += f": {self.message.strip()}"
        if self.restarts:
            text += f"; {self.restarts} restart(s)"
        if self.last_reason:
            text += f"; last terminated: {self.last_reason} (exit code {self.last_exit_code})"
        return text


@dataclass
class EventLine:
    """One recent event about a pod or Service."""

    type: str
    reason: str
    message: str
    count: int
    when: datetime | None

    def describe(self) -> str:
        repeat = f" (x{self.count})" if self.count and self.count > 1 else ""
        return f"{self.type} {self.reason}{repeat}: {self.message.strip()}"


@dataclass
class PodReport:
    """A pod's phase, container states, recent events, and hints for what to do."""

    name: str
    namespace: str
    phase: str
    scheduling: str | None = None
    containers: list[ContainerReport] = field(default_factory=list)
    events: list[EventLine] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    def stuck_reason(self) -> str | None:
        """Return why the pod cannot start on its own (image pull, configuration, mount), or None."""
        for container in self.containers:
            if container.reason in IMAGE_PULL_REASONS | CONFIG_REASONS:
                return container.reason
        if self.phase == "Pending" and any(event.reason in MOUNT_EVENT_REASONS for event in self.events):
            return "FailedMount"
        return None

    def crash_looping(self) -> bool:
        return any(c.reason == "CrashLoopBackOff" for c in self.containers)

    def format(self) -> str:
        lines = [f"Pod {self.namespace}/{self.name}: phase {self.phase}"]
        if self.scheduling:
            lines.append(f"  scheduling: {self.scheduling}")
        lines += [f"  {container.describe()}" for container in self.containers]
        if self.events:
            lines.append("  recent events:")
            lines += [f"    {event.describe()}" for event in self.events]
        if self.hints:
            lines += [f"  hint: {hint}" for hint in self.hints]
        lines.append(f"  more: kubectl -n {self.namespace} describe pod {self.name}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def container_reports(pod: V1Pod) -> list[ContainerReport]:
    """Return the state of each init and main container of a pod."""
    status = pod.status
    reports = []
    for init, statuses, specs in (
        (True, (status.init_container_statuses if status else None) or [], pod.spec.init_containers or []),
        (False, (status.container_statuses if status else None) or [], pod.spec.containers),
    ):
        by_name = {s.name: s for s in statuses}
        for spec in specs:
            reports.append(_container_report(spec.name, init, by_name.get(spec.name), spec.image))
    return reports


def _container_report(name: str, init: bool, status, image: str | None) -> ContainerReport:
    if status is None or status.state is None:
        return ContainerReport(name, init, "waiting", "not started yet", image=image)

    report = ContainerReport(name, init, "running", restarts=status.restart_count or 0, image=status.image or image)
    state = status.state
    if state.waiting is not None:
        report.state, report.reason, report.message = "waiting", state.waiting.reason, state.waiting.message
    elif state.terminated is not None:
        terminated = state.terminated
        report.state, report.reason, report.message = "terminated", terminated.reason, terminated.message
        report.exit_code = terminated.exit_code
    last = status.last_state.terminated if status.last_state else None
    if last is not None:
        report.last_reason, report.last_exit_code = last.reason, last.exit_code
    return report


def recent_events(core, namespace: str, kind: str, name: str) -> list[EventLine]:
    """Return the latest events about one object, oldest first; an empty list when events cannot be read."""
    try:
        listed = core.list_namespaced_event(namespace, field_selector=f"involvedObject.kind={kind},involvedObject.name={name}")
    except ApiException as exc:
        logger.warning("Cannot read the events of %s %s/%s: %s %s", kind, namespace, name, exc.status, exc.reason)
        return []

    def when(event) -> datetime:
        stamp = event.last_timestamp or event.event_time or event.first_timestamp
        return stamp or datetime.min.replace(tzinfo=timezone.utc)

    events = sorted(listed.items, key=when)[-MAX_EVENTS:]
    return [EventLine(e.type or "Normal", e.reason or "", e.message or "", e.count or 1, when(e)) for e in events]


def describe_pod(core, pod: V1Pod, params: RunbookParams | None = None) -> PodReport:
    """Build a :class:`PodReport` for a pod: states, recent events and hints.

    Args:
        core (`CoreV1Api`): the client to read events with.
        pod (`V1Pod`): the pod as read from the API server.
        params (`RunbookParams`, *optional*): names storage, memory and image values in the hints.

    Example:
        >>> print(describe_pod(cluster.core, pod, params))  # doctest: +SKIP
        Pod docling/download-docling-model-x7k2p: phase Pending
          container download: waiting (ImagePullBackOff): Back-off pulling image "..."
          hint: The kubelet cannot pull the image ...
    """
    namespace, name = pod.metadata.namespace, pod.metadata.name
    report = PodReport(name=name, namespace=namespace, phase=(pod.status.phase if pod.status else None) or "Unknown")

    for condition in (pod.status.conditions if pod.status else None) or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            report.scheduling = f"{condition.reason}: {condition.message}"
    report.containers = container_reports(pod)
    report.events = recent_events(core, namespace, "Pod", name)
    report.hints = pod_hints(report, params)
    return report


def pod_hints(report: PodReport, params: RunbookParams | None = None) -> list[str]:
    """Return hints for the common causes visible in a pod report."""
    hints = []
    messages = " ".join([c.message or "" for c in report.containers] + [e.message for e in report.events])

    pulls = [c for c in report.containers if c.reason in IMAGE_PULL_REASONS]
    if pulls or any(e.reason == "Failed" and "pull" in e.message.lower() for e in report.events):
        hints.append(_image_pull_hint(pulls[0] if pulls else None, messages, params))

    if any(e.reason in MOUNT_EVENT_REASONS for e in report.events):
        hints.append(_mount_hint(messages, report.namespace, params))

    for container in report.containers:
        if "OOMKilled" in (container.reason, container.last_reason):
            parameter = MEMORY_LIMIT_PARAMS.get(container.name, "memory_limit")
            limit = getattr(params, parameter, None) if params else None
            hints.append(
                f"Container {container.name} was OOMKilled: it used more memory than its limit"
                f"{f' ({limit})' if limit else ''}. Raise the {parameter} parameter"
                f"{' (and its request)' if parameter == 'memory_limit' else ''}, or use nodes with more memory."
            )
        elif container.reason in CONFIG_REASONS:
            hints.append(
                f"Container {container.name} cannot be created: {container.message or container.reason}. "
                "A ConfigMap, Secret or key it references is missing; apply the manifests again or create it."
            )
        elif container.reason == "CrashLoopBackOff" or (container.state == "terminated" and container.exit_code not in (0, None)):
            hints.append(_exit_hint(container, report))

    if report.scheduling or any(e.reason == "FailedScheduling" for e in report.events):
        hints.append(_scheduling_hint(messages, report.namespace))

    if any(e.reason == "Unhealthy" and "Readiness probe failed" in e.message for e in report.events):
        hints.append(
            "The API returns an error on /ready: the models are not loaded yet, or missing from the share. "
            "Check that the model download Job succeeded and that /models/current names a published set: "
            f"kubectl -n {report.namespace} logs deploy/{names.DEPLOYMENT_NAME}"
        )
    if any(e.reason == "Unhealthy" and ("Liveness probe failed" in e.message or "Startup probe failed" in e.message) for e in report.events):
        hints.append(
            "The API does not answer /health: the kubelet restarts it. Read its output with "
            f"kubectl -n {report.namespace} logs {report.name} -c {names.API_CONTAINER} --previous, and check its CPU limit."
        )
    return hints


def _exit_hint(container: ContainerReport, report: PodReport) -> str:
    """Point at the output of a container that exited with an error; a restarted one shows it with --previous."""
    exit_code = container.exit_code if container.exit_code is not None else container.last_exit_code
    command = f"kubectl -n {report.namespace} logs {report.name} -c {container.name}"
    if container.state != "terminated":
        command += " --previous"
    return f"Container {container.name} exits with code {exit_code}. Read its output: {command}"


def _image_pull_hint(container: ContainerReport | None, messages: str, params: RunbookParams | None) -> str:
    image = container.image if container is not None else None
    if not image:
        image = params.image if params is not None else "the image"
    lowered = messages.lower()

    if container is not None and container.reason == "InvalidImageName":
        return f"Image reference {image!r} is invalid: fix the image parameter, such as myacr.azurecr.io/docling-api:0.1.0."
    if container is not None and container.reason == "ErrImageNeverPull":
        return f"image_pull_policy is Never and {image} is not on the node: load it onto the node or use IfNotPresent."
    if "not found" in lowered or "manifest unknown" in lowered or "name unknown" in lowered:
        return (
            f"Image {image} does not exist in the registry: build and push it (notebook 04_rollout builds it with "
            "ACR Tasks unless skip_build is set), or fix the image parameter."
        )
    return (
        f"The kubelet cannot pull {image} (ImagePullBackOff). On AKS, grant the cluster's kubelet identity the AcrPull role "
        "on the registry (notebook 02_identity, or `az aks update -g RESOURCE_GROUP -n CLUSTER --attach-acr REGISTRY`), "
        "then allow a few minutes for the role assignment to propagate. On other clusters, add an imagePullSecret "
        "for the registry to the namespace's default service account."
    )


def _mount_hint(messages: str, namespace: str, params: RunbookParams | None) -> str:
    lowered = messages.lower()
    if params is not None and (params.storage_class or params.existing_pvc):
        return (
            "The model volume cannot be mounted. Check that the claim is bound and that its storage supports "
            f"{params.storage_access_mode}: kubectl -n {namespace} get pvc; kubectl -n {namespace} describe pvc"
        )

    account = params.storage_account if params else "the storage account"
    share = params.share_name if params else "the share"
    if "not found" in lowered or "sharenotfound" in lowered or "does not exist" in lowered:
        return (
            f"The Azure Files share {share!r} or storage account {account!r} was not found: check the storage_account, "
            "resource_group and share_name parameters, or create the share (notebook 01_provision)."
        )
    return (
        f"The Azure Files share {share!r} on {account!r} cannot be mounted. The CSI driver reads the account key "
        "with the kubelet identity, which needs the Storage Account Contributor role on the storage account "
        "(notebook 02_identity); check also that the nodes reach the account over SMB (port 445) and that "
        "storage_account, resource_group and share_name are right."
    )


def _scheduling_hint(messages: str, namespace: str) -> str:
    lowered = messages.lower()
    if "unbound" in lowered and "persistentvolumeclaim" in lowered:
        return (
            f"The pod waits for its PersistentVolumeClaim to bind: kubectl -n {namespace} get pvc {names.PVC_NAME}; "
            "kubectl get pv. A claim on a storage class without a provisioner, or a PersistentVolume that is "
            "bound elsewhere, stays Pending."
        )
    if "insufficient" in lowered:
        return (
            "No node has enough free CPU or memory for the pod's requests: lower cpu_request and memory_request "
            "(or the download_* requests for the Job), or add nodes."
        )
    return f"The pod cannot be scheduled: kubectl -n {namespace} describe pod shows why (taints, node selectors, capacity)."
