"""Server-side apply of manifests with a fixed field manager, reporting what changed."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from ..errors import ApplyError
from . import _names as names
from ._access import Cluster, access_error, unreachable_error

logger = logging.getLogger("runbook_lib.k8s")

SERVER_SET_METADATA = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")


@dataclass
class AppliedObject:
    """The outcome of applying one object: ``created``, ``configured`` or ``unchanged``."""

    kind: str
    name: str
    namespace: str | None
    action: str
    resource_version: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass
class ApplyResult:
    """The outcome of one apply, object by object."""

    objects: list[AppliedObject] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any(obj.action != "unchanged" for obj in self.objects)

    def summary(self) -> str:
        """Return a one-line summary, such as ``No changes: all 5 objects are unchanged.``"""
        prefix = "Dry run: " if self.dry_run else ""
        if not self.changed:
            return f"{prefix}No changes: all {len(self.objects)} objects are unchanged."

        order = ("created", "would create", "configured", "would configure", "unchanged")
        counts = {action: sum(obj.action == action for obj in self.objects) for action in order}
        parts = ", ".join(f"{count} {action}" for action, count in counts.items() if count)
        return f"{prefix}Applied {len(self.objects)} objects: {parts}."

    def __str__(self) -> str:
        width = max((len(obj.label) for obj in self.objects), default=0)
        lines = [f"{obj.label:<{width}}  {obj.action}" for obj in self.objects]
        return "\n".join(lines + [self.summary()])

    def to_dict(self) -> dict:
        return {"dry_run": self.dry_run, "changed": self.changed, "objects": [asdict(obj) for obj in self.objects]}


def apply_manifests(
    cluster: Cluster,
    documents: Iterable[dict],
    *,
    dry_run: bool = False,
    force_conflicts: bool = True,
    field_manager: str = names.FIELD_MANAGER,
) -> ApplyResult:
    """Apply manifests with server-side apply, in order, and report which objects changed.

    The runbook owns these objects, so by default it takes over fields that another manager changed
    (``force_conflicts``), such as the pod template after a rollback. Fields that the manifests do not set
    stay with their owners.

    Args:
        cluster (`Cluster`): the connection.
        documents (iterable of `dict`): manifests in apply order (namespace first).
        dry_run (`bool`): ask the API server to validate and compute the result without storing it.
        force_conflicts (`bool`): take over fields owned by other managers; with False a conflict raises.
        field_manager (`str`): the field manager name recorded on the objects.

    Raises:
        ApplyError: the API server rejected an object (invalid, immutable field, conflict, missing namespace).
        ClusterAccessError: the API server cannot be reached or rejected the credentials.

    Example:
        >>> result = apply_manifests(cluster, render_manifests(params).documents())  # doctest: +SKIP
        >>> print(result.summary())  # doctest: +SKIP
        No changes: all 7 objects are unchanged.
    """
    result = ApplyResult(dry_run=dry_run)

    for doc in documents:
        try:
            applied = _apply_one(cluster, doc, dry_run=dry_run, force_conflicts=force_conflicts, field_manager=field_manager)
        except urllib3.exceptions.HTTPError as exc:
            raise unreachable_error(cluster, exc) from None
        logger.info("%s%s %s", "(dry run) " if dry_run else "", applied.label, applied.action)
        result.objects.append(applied)

    logger.info("%s", result.summary())
    return result


def _apply_one(cluster: Cluster, doc: dict, *, dry_run: bool, force_conflicts: bool, field_manager: str) -> AppliedObject:
    kind, api_version = doc["kind"], doc["apiVersion"]
    name = doc["metadata"]["name"]

    try:
        resource = cluster.dynamic.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        raise ApplyError(f"The API server does not serve {kind} in {api_version}: check kubernetes_version against the cluster.") from None
    namespace = doc["metadata"].get("namespace") if resource.namespaced else None
    target = AppliedObject(kind, name, namespace, "")

    try:
        before = resource.get(name=name, namespace=namespace).to_dict()
    except ApiException as exc:
        if exc.status != 404:
            raise _apply_error(cluster, target, exc) from None
        before = None

    try:
        after = resource.server_side_apply(
            body=doc,
            name=name,
            namespace=namespace,
            field_manager=field_manager,
            force_conflicts=force_conflicts,
            dry_run="All" if dry_run else None,
        ).to_dict()
    except ApiException as exc:
        raise _apply_error(cluster, target, exc) from None

    target.resource_version = after["metadata"].get("resourceVersion")
    if before is None:
        target.action = "would create" if dry_run else "created"
    elif dry_run:
        target.action = "would configure" if _content(before) != _content(after) else "unchanged"
    else:
        target.action = "configured" if before["metadata"]["resourceVersion"] != target.resource_version else "unchanged"
    return target


def _content(obj: dict) -> dict:
    """Return an object without its status and server-set metadata, to compare intent."""
    content = copy.deepcopy(obj)
    content.pop("status", None)
    for key in SERVER_SET_METADATA:
        content["metadata"].pop(key, None)
    return content


def api_message(exc: ApiException) -> str:
    """Return the message of an API server ``Status`` body, or the HTTP reason."""
    try:
        return json.loads(exc.body)["message"]
    except (TypeError, ValueError, KeyError):
        return f"{exc.status} {exc.reason}"


def _apply_error(cluster: Cluster, target: AppliedObject, exc: ApiException) -> Exception:
    if exc.status in (401, 403):
        return access_error(cluster, exc)

    message = api_message(exc)
    prefix = f"Applying {target.label} failed ({exc.status}): {message}"
    if exc.status == 422 and "immutable" in message:
        command = f"kubectl delete {target.kind.lower()} {target.name}" + (f" -n {target.namespace}" if target.namespace else "")
        return ApplyError(
            f"{prefix}. This field cannot change on an existing object: delete it ({command}) and apply again. "
            "A PersistentVolume keeps the share's data (reclaim policy Retain)."
        )
    if exc.status == 409:
        return ApplyError(f"{prefix}. Another field manager owns these fields: apply again with force_conflicts=True to take them over.")
    if exc.status == 404:
        return ApplyError(f"{prefix}. Apply the namespace first (it comes first in the rendered manifests).")
    return ApplyError(f"{prefix}.")
