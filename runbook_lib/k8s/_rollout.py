"""Deployment rollout, Service address and rollback to the previous ReplicaSet."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

from kubernetes.client import V1Deployment, V1Pod, V1ReplicaSet
from kubernetes.client.exceptions import ApiException

from ..errors import KubernetesError, KubernetesTimeoutError, RollbackError, RolloutFailedError
from ..params import RunbookParams
from . import _names as names
from ._access import Cluster, access_error
from ._apply import api_message
from ._diagnose import PodReport, describe_pod, recent_events
from ._watching import Deadline, EventMux

logger = logging.getLogger("runbook_lib.k8s")

POLL_S = 10
MAX_PODS_DIAGNOSED = 3


@dataclass
class RolloutResult:
    """A finished rollout: revision, image, ready replicas and, once known, the Service URL."""

    name: str
    namespace: str
    revision: str | None
    image: str | None
    replicas: int
    available_replicas: int
    duration_s: float
    url: str | None = None
    changed: bool | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RollbackResult:
    """A rollback: from which revision and image to which, and whether it only ran dry."""

    name: str
    namespace: str
    from_revision: str
    to_revision: str
    from_image: str | None
    to_image: str | None
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "Would roll back" if self.dry_run else "Rolled back"
        return (f"{verb} Deployment {self.namespace}/{self.name} from revision {self.from_revision} ({self.from_image}) "
                f"to revision {self.to_revision} ({self.to_image}).")

    def to_dict(self) -> dict:
        return asdict(self)


def _read_deployment(cluster: Cluster, namespace: str, name: str) -> V1Deployment:
    try:
        return cluster.apps.read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        if exc.status in (401, 403):
            raise access_error(cluster, exc) from None
        if exc.status == 404:
            raise KubernetesError(
                f"Deployment {namespace}/{name} not found: apply the manifests first (notebook 04_rollout)."
            ) from None
        raise KubernetesError(f"Reading Deployment {namespace}/{name} failed: {api_message(exc)}") from None


def _owned_replicasets(cluster: Cluster, deployment: V1Deployment) -> list[V1ReplicaSet]:
    """Return the ReplicaSets the Deployment controls, oldest revision first."""
    selector = ",".join(f"{k}={v}" for k, v in (deployment.spec.selector.match_labels or {}).items())
    listed = cluster.apps.list_namespaced_replica_set(deployment.metadata.namespace, label_selector=selector)
    owned = [
        rs for rs in listed.items
        if any(ref.uid == deployment.metadata.uid and ref.controller for ref in rs.metadata.owner_references or [])
    ]
    return sorted(owned, key=_revision_number)


def _revision_number(rs: V1ReplicaSet) -> int:
    try:
        return int((rs.metadata.annotations or {}).get(names.REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def _deployment_revision(deployment: V1Deployment) -> str | None:
    return (deployment.metadata.annotations or {}).get(names.REVISION_ANNOTATION)


def _api_image(template) -> str | None:
    containers = template.spec.containers if template and template.spec else []
    container = next((c for c in containers if c.name == names.API_CONTAINER), containers[0] if containers else None)
    return container.image if container else None


def rollout_state(deployment: V1Deployment) -> tuple[str, str]:
    """Return (``done``, ``failed`` or ``progressing``, a one-line description), as ``kubectl rollout status`` decides."""
    spec, status = deployment.spec, deployment.status
    desired = spec.replicas if spec.replicas is not None else 1
    generation = deployment.metadata.generation or 0
    observed = (status.observed_generation if status else None) or 0
    updated = (status.updated_replicas if status else None) or 0
    total = (status.replicas if status else None) or 0
    available = (status.available_replicas if status else None) or 0

    for condition in (status.conditions if status else None) or []:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            return "failed", f"exceeded its progress deadline ({spec.progress_deadline_seconds} s): {condition.message}"

    if observed < generation:
        return "progressing", "waiting for the controller to observe the new generation"
    if updated < desired:
        return "progressing", f"{updated} of {desired} replicas updated"
    if total > updated:
        return "progressing", f"{total - updated} old replica(s) pending termination"
    if available < updated:
        return "progressing", f"{available} of {updated} updated replicas available"
    return "done", f"{available} of {desired} replicas available"


def _new_pods(cluster: Cluster, deployment: V1Deployment) -> list[V1Pod]:
    """Return the pods of the Deployment's newest ReplicaSet (the one with its current revision)."""
    revision = _deployment_revision(deployment)
    replicasets = _owned_replicasets(cluster, deployment)
    newest = next((rs for rs in replicasets if (rs.metadata.annotations or {}).get(names.REVISION_ANNOTATION) == revision), None)
    if newest is None:
        return []
    pod_hash = newest.metadata.labels.get("pod-template-hash")
    labels = dict(deployment.spec.selector.match_labels or {}, **{"pod-template-hash": pod_hash})
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    return cluster.core.list_namespaced_pod(deployment.metadata.namespace, label_selector=selector).items


def _diagnose_pods(cluster: Cluster, pods: list[V1Pod], params: RunbookParams | None) -> list[PodReport]:
    return [describe_pod(cluster.core, pod, params) for pod in pods[:MAX_PODS_DIAGNOSED]]


def _failure_text(headline: str, reports: list[PodReport], namespace: str, name: str) -> str:
    if not reports:
        return headline + f"\nNo pod of the new revision exists: kubectl -n {namespace} describe deployment {name}"
    return "\n".join([headline] + [report.format() for report in reports])


def wait_for_deployment(
    cluster: Cluster,
    namespace: str = names.NAMESPACE,
    name: str = names.DEPLOYMENT_NAME,
    *,
    params: RunbookParams | None = None,
    timeout_s: float | None = None,
    stuck_grace_s: float | None = None,
) -> RolloutResult:
    """Wait until a Deployment's rollout finishes: generation observed, replicas updated and available.

    Args:
        cluster (`Cluster`): the connection.
        namespace (`str`): the Deployment's namespace.
        name (`str`): the Deployment's name.
        params (`RunbookParams`, *optional*): default timeouts, and values named in hints.
        timeout_s (`float`, *optional*): how long to wait; ``params.rollout_timeout_s`` by default.
        stuck_grace_s (`float`, *optional*): how long new pods may stay unable to start (image pull,
            mount, crash loop) before the wait fails; ``params.stuck_pod_grace_s`` by default.

    Raises:
        RolloutFailedError: the progress deadline passed, or new pods stayed stuck; with the pods' diagnosis.
        KubernetesTimeoutError: the rollout did not finish in time.

    Example:
        >>> wait_for_deployment(cluster, "docling", "docling-model", timeout_s=900).available_replicas  # doctest: +SKIP
        1
    """
    params = params or RunbookParams()
    timeout_s = params.rollout_timeout_s if timeout_s is None else timeout_s
    stuck_grace_s = params.stuck_pod_grace_s if stuck_grace_s is None else stuck_grace_s
    deadline = Deadline(timeout_s)
    stuck_since: dict[str, float] = {}
    last_line = None

    with EventMux() as mux:
        mux.watch("deployment", cluster.apps.list_namespaced_deployment, namespace, field_selector=f"metadata.name={name}")
        mux.watch("pods", cluster.core.list_namespaced_pod, namespace)
        mux.watch("events", cluster.core.list_namespaced_event, namespace)

        while True:
            deployment = _read_deployment(cluster, namespace, name)
            state, line = rollout_state(deployment)
            if line != last_line:
                logger.info("Deployment %s/%s (revision %s): %s.", namespace, name, _deployment_revision(deployment), line)
                last_line = line

            if state == "done":
                status = deployment.status
                return RolloutResult(name, namespace, _deployment_revision(deployment), _api_image(deployment.spec.template),
                                     deployment.spec.replicas or 0, status.available_replicas or 0, round(deadline.elapsed(), 1))

            pods = _new_pods(cluster, deployment)
            if state == "failed":
                raise RolloutFailedError(_failure_text(
                    f"Deployment {namespace}/{name} {line}.", _diagnose_pods(cluster, pods, params), namespace, name))

            wake = _check_stuck_pods(cluster, pods, params, stuck_since, stuck_grace_s, namespace, name)
            if deadline.expired():
                raise KubernetesTimeoutError(_failure_text(
                    f"Timed out after {timeout_s:g} s waiting for Deployment {namespace}/{name}: {line}. "
                    "Raise rollout_timeout_s, or look at the pods below.",
                    _diagnose_pods(cluster, pods, params), namespace, name))
            mux.next(min(POLL_S, deadline.remaining(), wake))


def _check_stuck_pods(cluster, pods, params, stuck_since, stuck_grace_s, namespace, name) -> float:
    """Raise when a new pod has been unable to start for longer than the grace; return seconds until it ends."""
    wake = POLL_S
    for pod in pods:
        report = describe_pod(cluster.core, pod, params)
        reason = report.stuck_reason() or ("CrashLoopBackOff" if report.crash_looping() else None)
        if reason is None:
            stuck_since.pop(pod.metadata.name, None)
            continue
        waited = time.monotonic() - stuck_since.setdefault(pod.metadata.name, time.monotonic())
        if waited >= stuck_grace_s:
            raise RolloutFailedError(
                f"Deployment {namespace}/{name} cannot start pod {pod.metadata.name}: {reason} for {waited:.0f} s "
                f"(stuck_pod_grace_s={stuck_grace_s:g}).\n{report.format()}"
            )
        wake = min(wake, stuck_grace_s - waited)
    return wake


def wait_for_service_address(
    cluster: Cluster,
    namespace: str = names.NAMESPACE,
    name: str = names.SERVICE_NAME,
    *,
    params: RunbookParams | None = None,
    timeout_s: float | None = None,
) -> str:
    """Wait for a LoadBalancer Service's external address and return its URL, such as ``http://20.1.2.3:80``.

    Raises:
        KubernetesTimeoutError: the address stays pending; the message shows the Service's events and what to check.
        KubernetesError: the Service does not exist or is not of type LoadBalancer.

    Example:
        >>> wait_for_service_address(cluster, "docling", "docling-model-service", timeout_s=600)  # doctest: +SKIP
        'http://20.50.1.7:80'
    """
    params = params or RunbookParams()
    timeout_s = params.service_ip_timeout_s if timeout_s is None else timeout_s
    deadline = Deadline(timeout_s)

    with EventMux() as mux:
        mux.watch("service", cluster.core.list_namespaced_service, namespace, field_selector=f"metadata.name={name}")
        while True:
            try:
                service = cluster.core.read_namespaced_service(name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    raise KubernetesError(f"Service {namespace}/{name} not found: apply the manifests first.") from None
                raise KubernetesError(f"Reading Service {namespace}/{name} failed: {api_message(exc)}") from None
            if service.spec.type != "LoadBalancer":
                raise KubernetesError(f"Service {namespace}/{name} is of type {service.spec.type}, not LoadBalancer; it gets no external address.")

            ingress = (service.status.load_balancer.ingress if service.status and service.status.load_balancer else None) or []
            address = next((entry.ip or entry.hostname for entry in ingress if entry.ip or entry.hostname), None)
            if address:
                port = service.spec.ports[0].port
                host = f"[{address}]" if ":" in address else address
                url = f"http://{host}:{port}"
                logger.info("Service %s/%s is reachable at %s.", namespace, name, url)
                return url

            if deadline.expired():
                raise KubernetesTimeoutError(_pending_address_text(cluster, namespace, name, timeout_s, params))
            mux.next(min(POLL_S, deadline.remaining()))


def _pending_address_text(cluster: Cluster, namespace: str, name: str, timeout_s: float, params: RunbookParams) -> str:
    events = recent_events(cluster.core, namespace, "Service", name)
    lines = [f"Service {namespace}/{name} got no external address within {timeout_s:g} s (EXTERNAL-IP <pending>)."]
    if events:
        lines.append("Recent events:")
        lines += [f"  {event.describe()}" for event in events]
    lines.append(
        "hint: On AKS the cloud controller creates the load balancer: the events above name the cause, such as a public IP "
        "quota, or for an internal load balancer the cluster identity's Network Contributor role on the subnet."
    )
    if params.load_balancer_source_ranges:
        lines.append(f"hint: loadBalancerSourceRanges is {params.load_balancer_source_ranges}; check the ranges are valid CIDRs for the load balancer.")
    lines.append(
        "hint: On kind, k3d or minikube nothing assigns LoadBalancer addresses unless you run one (cloud-provider-kind, "
        f"MetalLB or `minikube tunnel`); or reach the API with: kubectl -n {namespace} port-forward svc/{name} 8080:{names.SERVICE_PORT}"
    )
    lines.append(f"more: kubectl -n {namespace} describe service {name}")
    return "\n".join(lines)


def rollback_deployment(
    cluster: Cluster,
    namespace: str = names.NAMESPACE,
    name: str = names.DEPLOYMENT_NAME,
    *,
    to_revision: int | None = None,
    dry_run: bool = False,
) -> RollbackResult:
    """Roll a Deployment back to its previous ReplicaSet's pod template, as ``kubectl rollout undo`` does.

    The template is written with a JSON patch under the field manager ``docling-runbook-rollback``;
    the next apply of the runbook's manifests takes the fields back.

    Args:
        cluster (`Cluster`): the connection.
        namespace (`str`): the Deployment's namespace.
        name (`str`): the Deployment's name.
        to_revision (`int`, *optional*): the revision to return to; the one before the current by default.
        dry_run (`bool`): report what would change without changing it.

    Raises:
        RollbackError: there is no previous revision, or the requested one does not exist.

    Example:
        >>> print(rollback_deployment(cluster, "docling", "docling-model"))  # doctest: +SKIP
        Rolled back Deployment docling/docling-model from revision 3 (acr.io/docling-api:0.2.0) to revision 2 (acr.io/docling-api:0.1.0).
    """
    deployment = _read_deployment(cluster, namespace, name)
    current = _deployment_revision(deployment)
    replicasets = _owned_replicasets(cluster, deployment)
    revisions = {str(_revision_number(rs)): rs for rs in replicasets}

    if to_revision is not None:
        target = revisions.get(str(to_revision))
        if target is None or str(to_revision) == current:
            raise RollbackError(
                f"Deployment {namespace}/{name} has no revision {to_revision} to roll back to: it keeps revisions "
                f"{', '.join(sorted(revisions, key=int)) or 'none'} and runs {current}. "
                f"See them with: kubectl -n {namespace} rollout history deployment/{name}"
            )
    else:
        older = [rs for rs in replicasets if _revision_number(rs) < int(current or 0)]
        if not older:
            raise RollbackError(
                f"Deployment {namespace}/{name} has no previous revision to roll back to (it runs revision {current} "
                "and keeps no older ReplicaSet). Fix the parameters and roll out again instead."
            )
        target = older[-1]

    template = cluster.api_client.sanitize_for_serialization(target.spec.template)
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    result = RollbackResult(name, namespace, current or "?", str(_revision_number(target)),
                            _api_image(deployment.spec.template), _api_image(target.spec.template), dry_run)

    patch = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": deployment.metadata.resource_version},
        {"op": "replace", "path": "/spec/template", "value": template},
    ]
    try:
        cluster.apps.patch_namespaced_deployment(
            name, namespace, patch, field_manager=names.ROLLBACK_FIELD_MANAGER, dry_run="All" if dry_run else None
        )
    except ApiException as exc:
        if exc.status in (401, 403):
            raise access_error(cluster, exc) from None
        raise RollbackError(f"Rolling back Deployment {namespace}/{name} failed: {api_message(exc)}. Try again.") from None

    logger.info("%s", result)
    return result
