"""A small, strict, stateful fake of the Kubernetes API server on loopback HTTP.

The real ``kubernetes`` client talks to it through a kubeconfig that
:meth:`FakeKubeApiServer.write_kubeconfig` writes. It implements the part of
the API that the runbook uses, with the status codes and Status bodies of a
real API server, and rejects everything else:

- discovery (``/version``, ``/api``, ``/apis`` and the resource lists of
  ``v1``, ``apps/v1`` and ``batch/v1``) for the dynamic client;
- server-side apply (``PATCH`` with ``application/apply-patch+yaml``) with a
  required field manager, ``force``, ``dryRun=All``, strict schema validation,
  immutable fields, and conflicts with fields that another manager changed
  through a JSON patch;
- JSON patch (``test``, ``add``, ``replace``, ``remove``), get, list and watch
  with label selectors (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``) and the
  field selectors the API server supports for these kinds, delete with
  ``propagationPolicy``, and pod logs (``follow``, ``tailLines``, ``previous``).

A few controllers run inside: the Deployment controller creates a ReplicaSet
per pod template and keeps its revision annotation, the Job controller adds
its selector and pod labels, and Services get a cluster IP. Pod phases, Job,
Deployment and Service status, events and logs are scripted by each test with
:meth:`put`, :meth:`set_status`, :meth:`add_event`, :meth:`append_log` and
:meth:`on_write` hooks.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import http.server
import itertools
import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import yaml

# (group version, plural) -> (kind, namespaced)
RESOURCES = {
    ("v1", "namespaces"): ("Namespace", False),
    ("v1", "persistentvolumes"): ("PersistentVolume", False),
    ("v1", "persistentvolumeclaims"): ("PersistentVolumeClaim", True),
    ("v1", "configmaps"): ("ConfigMap", True),
    ("v1", "secrets"): ("Secret", True),
    ("v1", "services"): ("Service", True),
    ("v1", "pods"): ("Pod", True),
    ("v1", "events"): ("Event", True),
    ("apps/v1", "deployments"): ("Deployment", True),
    ("apps/v1", "replicasets"): ("ReplicaSet", True),
    ("batch/v1", "jobs"): ("Job", True),
}
KIND_TO_RESOURCE = {kind: key for key, (kind, _) in RESOURCES.items()}

# Field selectors the real API server accepts for these kinds, besides metadata.name and metadata.namespace.
EXTRA_FIELD_LABELS = {
    "events": {"involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "involvedObject.uid", "reason", "type"},
    "pods": {"spec.nodeName", "status.phase"},
    "jobs": {"status.successful"},
}

STRATEGIC_OR_MERGE = {"application/merge-patch+json", "application/strategic-merge-patch+json"}


class ApiError(Exception):
    """An error the fake returns as a ``Status`` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    authorization: str | None = None


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_name(plural: str, group_version: str) -> str:
    """Return the name the API server uses in messages, such as ``jobs.batch``."""
    group = group_version.rpartition("/")[0]
    return f"{plural}.{group}" if group else plural


def template_hash(template: dict) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class FakeKubeApiServer:
    """A stateful fake API server; use as a context manager or call :meth:`start` and :meth:`stop`.

    Example:
        >>> with FakeKubeApiServer() as server:
        ...     kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    """

    def __init__(self, git_version: str = "v1.33.2", token: str = "fake-token"):
        self.git_version = git_version
        self.token = token
        self.requests: list[Request] = []
        self.hook_errors: list[str] = []
        self._cond = threading.Condition()
        self._objects: dict[tuple[str, str, str], dict] = {}
        self._applied: dict[tuple[str, str, str], dict] = {}
        self._updated_paths: dict[tuple[str, str, str], dict[str, str]] = {}
        self._history: list[tuple[int, str, str, dict]] = []
        self._logs: dict[tuple[str, str, str, bool], dict] = {}
        self._hooks: dict[tuple[str, str], list[Callable]] = {}
        self._rv = itertools.count(100)
        self._ips = itertools.count(10)
        self._stopping = False
        self._httpd: http.server.ThreadingHTTPServer | None = None

    # Lifecycle.

    def start(self) -> "FakeKubeApiServer":
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-kube-apiserver", daemon=True).start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "FakeKubeApiServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def write_kubeconfig(self, path: str | Path, context: str = "fake") -> Path:
        """Write a kubeconfig whose context ``context`` points at this server."""
        path = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake-user", "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake-user"}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    # Scripting API for tests.

    def put(self, obj: dict) -> dict:
        """Create or replace an object as a controller would (no validation, no field manager)."""
        obj = copy.deepcopy(obj)
        plural = self._plural_for(obj)
        namespace = obj["metadata"].get("namespace", "")

        with self._cond:
            key = (plural, namespace, obj["metadata"]["name"])
            old = self._objects.get(key)
            meta = obj["metadata"]
            meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", old["metadata"]["creationTimestamp"] if old else now())
            self._store(key, obj, "MODIFIED" if old else "ADDED")
            return copy.deepcopy(obj)

    def set_status(self, plural: str, namespace: str, name: str, status: dict) -> dict:
        """Replace the top-level keys of an object's status given in ``status``."""
        with self._cond:
            key = (plural, namespace, name)
            obj = copy.deepcopy(self._objects[key])
            obj.setdefault("status", {}).update(copy.deepcopy(status))
            self._store(key, obj, "MODIFIED")
            return copy.deepcopy(obj)

    def get(self, plural: str, namespace: str, name: str) -> dict | None:
        with self._cond:
            obj = self._objects.get((plural, namespace, name))
            return copy.deepcopy(obj)

    def list(self, plural: str, namespace: str = "") -> list[dict]:
        with self._cond:
            return [
                copy.deepcopy(obj)
                for (kind, ns, _), obj in sorted(self._objects.items())
                if kind == plural and (not namespace or ns == namespace)
            ]

    def add_event(self, involved: dict, reason: str, message: str, type_: str = "Warning") -> dict:
        """Record a core/v1 Event about ``involved``, as the kubelet or a controller would."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": namespace,
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": now(),
            "lastTimestamp": now(),
            "source": {"component": "kubelet"},
        }
        return self.put(event)

    def append_log(self, namespace: str, pod: str, text: str, container: str = "", previous: bool = False) -> None:
        """Append text to a container's log; followers receive it at once."""
        with self._cond:
            log = self._logs.setdefault((namespace, pod, container, previous), {"text": "", "closed": False})
            log["text"] += text
            self._cond.notify_all()

    def close_log(self, namespace: str, pod: str, container: str = "") -> None:
        """End a container's log, as when the container terminates; followers see the end of the stream."""
        with self._cond:
            log = self._logs.setdefault((namespace, pod, container, False), {"text": "", "closed": False})
            log["closed"] = True
            self._cond.notify_all()

    def on_write(self, kind: str, name: str, action: Callable[["FakeKubeApiServer", dict], None]) -> None:
        """Run ``action(server, obj)`` in a thread after each stored apply or JSON patch of that object."""
        with self._cond:
            self._hooks.setdefault((kind, name), []).append(action)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        """Block until ``predicate()`` is true; it is re-checked after every request and change."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"Fake API server: condition not met within {timeout} s")
                self._cond.wait(remaining)

    def watching(self, plural: str) -> bool:
        """Return whether a client sent a watch request for ``plural``."""
        return any(r.query.get("watch") in ("true", "1", "True") and f"/{plural}" in r.path for r in self.requests)

    def following_log(self, pod: str) -> bool:
        return any(r.path.endswith(f"/pods/{pod}/log") and r.query.get("follow") in ("true", "True") for r in self.requests)

    def writes(self) -> list[Request]:
        """Return the requests that could change state (PATCH, POST, PUT, DELETE) without dry run."""
        return [r for r in self.requests if r.method != "GET" and r.query.get("dryRun") != "All"]

    # Storage and history (callers hold self._cond).

    def _plural_for(self, obj: dict) -> str:
        try:
            group_version, plural = KIND_TO_RESOURCE[obj["kind"]]
        except KeyError:
            raise ValueError(f"The fake API server does not serve kind {obj.get('kind')!r}") from None
        if obj.get("apiVersion") != group_version:
            raise ValueError(f"{obj['kind']} must use apiVersion {group_version}")
        return plural

    def _store(self, key: tuple[str, str, str], obj: dict, event_type: str) -> None:
        if key[0] == "deployments":
            self._sync_deployment(obj)

        rv = next(self._rv)
        obj["metadata"]["resourceVersion"] = str(rv)
        self._objects[key] = obj
        self._history.append((rv, event_type, key[0], copy.deepcopy(obj)))
        self._cond.notify_all()

    def _delete(self, key: tuple[str, str, str]) -> dict:
        obj = self._objects.pop(key)
        self._applied.pop(key, None)
        self._updated_paths.pop(key, None)
        rv = next(self._rv)
        obj["metadata"]["resourceVersion"] = str(rv)
        self._history.append((rv, "DELETED", key[0], copy.deepcopy(obj)))
        self._cond.notify_all()
        return obj

    # Controllers.

    def _sync_deployment(self, deployment: dict) -> None:
        """Create or re-number the ReplicaSet of the Deployment's pod template, as kube-controller-manager does."""
        meta = deployment["metadata"]
        namespace = meta["namespace"]
        template = copy.deepcopy(deployment["spec"]["template"])
        pod_hash = template_hash(template)
        owned = [
            rs for (plural, ns, _), rs in self._objects.items()
            if plural == "replicasets" and ns == namespace
            and any(ref.get("uid") == meta["uid"] for ref in rs["metadata"].get("ownerReferences", []))
        ]
        latest = max((int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for rs in owned), default=0)
        current = next((rs for rs in owned if rs["metadata"]["labels"]["pod-template-hash"] == pod_hash), None)

        if current is not None and current["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == str(latest):
            meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(latest)
            return

        for rs in owned:
            if rs is not current and rs["spec"]["replicas"] != 0:
                rs = copy.deepcopy(rs)
                rs["spec"]["replicas"] = 0
                self._store(("replicasets", namespace, rs["metadata"]["name"]), rs, "MODIFIED")

        current = copy.deepcopy(current) if current is not None else self._new_replicaset(deployment, template, pod_hash)
        current["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(latest + 1)
        current["spec"]["replicas"] = deployment["spec"].get("replicas", 1)
        self._store(("replicasets", namespace, current["metadata"]["name"]), current, "MODIFIED")
        meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(latest + 1)

    def _new_replicaset(self, deployment: dict, template: dict, pod_hash: str) -> dict:
        meta = deployment["metadata"]
        template["metadata"].setdefault("labels", {})["pod-template-hash"] = pod_hash
        selector = copy.deepcopy(deployment["spec"]["selector"])
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now(),
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                    "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True,
                }],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0},
        }

    def _apply_defaults(self, plural: str, obj: dict, old: dict | None) -> None:
        """Fill the defaults and server-set fields that the runbook reads."""
        spec = obj.setdefault("spec", {}) if plural not in ("configmaps", "secrets", "events") else None

        if plural == "deployments":
            spec.setdefault("replicas", 1)
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
            obj.setdefault("status", {})
        elif plural == "jobs":
            uid = obj["metadata"]["uid"]
            spec.setdefault("completions", 1)
            spec.setdefault("parallelism", 1)
            spec.setdefault("backoffLimit", 6)
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
            name = obj["metadata"]["name"]
            labels.update({"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                           "batch.kubernetes.io/job-name": name, "job-name": name})
            obj.setdefault("status", {})
        elif plural == "services":
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            for port in spec.get("ports", []):
                port.setdefault("protocol", "TCP")
            cluster_ip = old["spec"]["clusterIP"] if old else None
            spec["clusterIP"] = cluster_ip or f"10.0.0.{next(self._ips)}"
            spec["clusterIPs"] = [spec["clusterIP"]]
            obj.setdefault("status", {"loadBalancer": {}})
        elif plural == "namespaces":
            obj.setdefault("status", {"phase": "Active"})
        elif plural == "persistentvolumeclaims":
            obj.setdefault("status", {"phase": "Bound"})
        elif plural == "persistentvolumes":
            obj.setdefault("status", {"phase": "Bound"})

    # Request handling (called by the handler threads).

    def handle(self, method: str, path: str, query: dict[str, str], headers, body: bytes):
        """Return (status code, body object or text, content type) or an iterator for streams."""
        with self._cond:
            self.requests.append(Request(method, path, query, headers.get("Content-Type"), headers.get("Authorization")))
            self._cond.notify_all()

        if headers.get("Authorization") != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

        parts = [p for p in path.split("/") if p]
        discovery = self._discovery(parts)
        if discovery is not None:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")
            return 200, discovery, "application/json"

        group_version, plural, namespace, name, subresource = self._route(parts)
        kind, namespaced = RESOURCES[(group_version, plural)]

        if subresource:
            if plural == "pods" and subresource == "log" and method == "GET":
                return self._pod_log(namespace, name, query)
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

        if name is None:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")
            if query.get("watch") in ("true", "1", "True"):
                return self._watch(plural, namespace, query)
            return 200, self._list(group_version, plural, kind, namespace, query), "application/json"

        if method == "GET":
            with self._cond:
                obj = self._objects.get((plural, namespace, name))
                if obj is None:
                    raise self._not_found(plural, group_version, name)
                return 200, copy.deepcopy(obj), "application/json"
        if method == "PATCH":
            return 200, self._patch(group_version, plural, kind, namespaced, namespace, name, query, headers, body), "application/json"
        if method == "DELETE":
            return 200, self._delete_request(group_version, plural, namespace, name, query, body), "application/json"
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")

    def _discovery(self, parts: list[str]):
        if parts == ["version"]:
            major, minor = self.git_version.lstrip("v").split(".")[:2]
            return {"major": major, "minor": minor, "gitVersion": self.git_version, "gitCommit": "0" * 40,
                    "gitTreeState": "clean", "buildDate": "2026-11-12T00:00:00Z", "goVersion": "go1.24.9",
                    "compiler": "gc", "platform": "linux/amd64"}
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if parts == ["apis"]:
            groups = [
                {"name": group, "versions": [{"groupVersion": f"{group}/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": f"{group}/v1", "version": "v1"}}
                for group in ("apps", "batch")
            ]
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        group_version = "/".join(parts[1:])
        if parts[:1] in (["api"], ["apis"]) and any(gv == group_version for gv, _ in RESOURCES) and len(parts) == (2 if parts[0] == "api" else 3):
            resources = []
            for (gv, plural), (kind, namespaced) in RESOURCES.items():
                if gv == group_version:
                    verbs = ["get", "list", "watch", "patch", "delete"]
                    resources.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind, "verbs": verbs})
                    if plural == "pods":
                        resources.append({"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]})
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
        return None

    @staticmethod
    def _route(parts: list[str]):
        not_found = ApiError(404, "NotFound", "the server could not find the requested resource")
        if parts[:2] == ["api", "v1"]:
            group_version, rest = "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            raise not_found

        namespace, name, subresource = "", None, None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, plural, rest = rest[1], rest[2], rest[3:]
        elif rest:
            plural, rest = rest[0], rest[1:]
        else:
            raise not_found
        if rest:
            name, subresource = rest[0], "/".join(rest[1:]) or None

        if (group_version, plural) not in RESOURCES:
            raise not_found
        namespaced = RESOURCES[(group_version, plural)][1]
        if namespace and not namespaced:
            raise not_found
        if name is not None and namespaced and not namespace:
            raise not_found
        return group_version, plural, namespace, name, subresource

    @staticmethod
    def _not_found(plural: str, group_version: str, name: str) -> ApiError:
        full = resource_name(plural, group_version)
        return ApiError(404, "NotFound", f'{full} "{name}" not found',
                        {"name": name, "group": group_version.rpartition("/")[0], "kind": plural})

    # Selectors.

    @staticmethod
    def _label_matcher(selector: str) -> Callable[[dict], bool]:
        requirements = []
        for term in filter(None, (t.strip() for t in selector.split(","))):
            match = re.fullmatch(r"(!?)([\w./-]+)\s*(?:(==|!=|=)\s*([\w.-]*))?", term)
            if match is None:
                raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}: the fake API server supports =, ==, != and existence only")
            requirements.append(match.groups())

        def matches(labels: dict) -> bool:
            for negate, key, op, value in requirements:
                if op is None:
                    if (key in labels) == bool(negate):
                        return False
                elif negate:
                    raise ApiError(400, "BadRequest", f"unable to parse requirement: '!{key}{op}{value}'")
                elif op in ("=", "==") and labels.get(key) != value:
                    return False
                elif op == "!=" and labels.get(key) == value:
                    return False
            return True

        return matches

    @staticmethod
    def _field_matcher(plural: str, selector: str) -> Callable[[dict], bool]:
        allowed = {"metadata.name", "metadata.namespace"} | EXTRA_FIELD_LABELS.get(plural, set())
        requirements = []
        for term in filter(None, (t.strip() for t in selector.split(","))):
            match = re.fullmatch(r"([\w.]+)\s*(==|!=|=)\s*(.*)", term)
            if match is None:
                raise ApiError(400, "BadRequest", f"invalid field selector: {term!r}")
            field, op, value = match.groups()
            if field not in allowed:
                raise ApiError(400, "BadRequest", f'field label not supported: {field}')
            requirements.append((field, op, value))

        def lookup(obj: dict, field: str):
            value = obj
            for part in field.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return "" if value is None else str(value)

        return lambda obj: all((lookup(obj, f) == v) == (op != "!=") for f, op, v in requirements)

    def _selected(self, plural: str, namespace: str, query: dict[str, str]) -> Callable[[str, dict], bool]:
        labels = self._label_matcher(query.get("labelSelector", ""))
        fields = self._field_matcher(plural, query.get("fieldSelector", ""))
        return lambda ns, obj: (not namespace or ns == namespace) and labels(obj["metadata"].get("labels", {})) and fields(obj)

    def _list(self, group_version: str, plural: str, kind: str, namespace: str, query: dict[str, str]) -> dict:
        selected = self._selected(plural, namespace, query)
        with self._cond:
            items = [copy.deepcopy(obj) for (p, ns, _), obj in sorted(self._objects.items()) if p == plural and selected(ns, obj)]
            latest = self._history[-1][0] if self._history else 1
        return {"apiVersion": group_version, "kind": f"{kind}List", "metadata": {"resourceVersion": str(latest)}, "items": items}

    def _watch(self, plural: str, namespace: str, query: dict[str, str]):
        selected = self._selected(plural, namespace, query)
        timeout = float(query.get("timeoutSeconds", "1800"))
        since = query.get("resourceVersion")

        def events():
            deadline = time.monotonic() + timeout
            with self._cond:
                if since in (None, "", "0"):
                    cursor = len(self._history)
                    initial = [("ADDED", obj) for (p, ns, _), obj in sorted(self._objects.items()) if p == plural and selected(ns, obj)]
                else:
                    cursor = next((i for i, entry in enumerate(self._history) if entry[0] > int(since)), len(self._history))
                    initial = []
            for event_type, obj in initial:
                yield json.dumps({"type": event_type, "object": obj}) + "\n"

            while True:
                with self._cond:
                    while cursor >= len(self._history) and not self._stopping:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return
                        self._cond.wait(remaining)
                    if self._stopping:
                        return
                    batch = self._history[cursor:]
                    cursor = len(self._history)
                for _, event_type, p, obj in batch:
                    ns = obj["metadata"].get("namespace", "")
                    if p == plural and selected(ns, obj):
                        yield json.dumps({"type": event_type, "object": obj}) + "\n"

        return 200, events(), "application/json"

    # Logs.

    def _pod_log(self, namespace: str, name: str, query: dict[str, str]):
        with self._cond:
            pod = self._objects.get(("pods", namespace, name))
            if pod is None:
                raise self._not_found("pods", "v1", name)
            containers = [c["name"] for c in pod["spec"]["containers"]]
            container = query.get("container") or (containers[0] if len(containers) == 1 else None)
            if container is None:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: {containers}")
            if container not in containers + [c["name"] for c in pod["spec"].get("initContainers", [])]:
                raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
            previous = query.get("previous") in ("true", "True")
            statuses = pod.get("status", {}).get("containerStatuses", []) + pod.get("status", {}).get("initContainerStatuses", [])
            status = next((s for s in statuses if s["name"] == container), {})
            waiting = status.get("state", {}).get("waiting")
            key = (namespace, name, container, previous)
            if key not in self._logs:
                key = (namespace, name, "", previous)
            if previous and key not in self._logs:
                raise ApiError(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found')
            if waiting and not previous:
                raise ApiError(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {waiting.get("reason", "")}')
            tail = query.get("tailLines")
            follow = query.get("follow") in ("true", "True") and not previous

        def text_of(log: dict | None) -> str:
            text = log["text"] if log else ""
            if tail is not None:
                text = "".join(text.splitlines(keepends=True)[-int(tail):])
            return text

        if not follow:
            with self._cond:
                return 200, text_of(self._logs.get(key)), "text/plain"

        def stream():
            offset = 0
            while True:
                with self._cond:
                    while True:
                        log = self._logs.get(key, {"text": "", "closed": False})
                        pod_deleted = ("pods", namespace, name) not in self._objects
                        if len(log["text"]) > offset or log["closed"] or pod_deleted or self._stopping:
                            break
                        self._cond.wait()
                    chunk, offset = log["text"][offset:], len(log["text"])
                    done = log["closed"] or pod_deleted or self._stopping
                if chunk:
                    yield chunk
                if done:
                    return

        return 200, stream(), "text/plain"

    # Writes.

    def _patch(self, group_version, plural, kind, namespaced, namespace, name, query, headers, body: bytes) -> dict:
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip()
        dry_run = query.get("dryRun")
        if dry_run not in (None, "All"):
            raise ApiError(400, "BadRequest", f"Invalid dry run value: {dry_run!r}; the only supported value is All")
        manager = query.get("fieldManager")

        if content_type == "application/apply-patch+yaml":
            if not manager:
                raise ApiError(400, "BadRequest", "PATCH is not supported: fieldManager is required for apply requests")
            force = query.get("force", "false").lower() == "true"
            return self._apply(group_version, plural, kind, namespaced, namespace, name, body, manager, force, dry_run == "All")
        if content_type == "application/json-patch+json":
            return self._json_patch(group_version, plural, namespace, name, body, manager or "unknown", dry_run == "All")
        accepted = "application/json-patch+json, application/apply-patch+yaml"
        if content_type in STRATEGIC_OR_MERGE:
            raise ApiError(415, "UnsupportedMediaType", f"the fake API server does not implement {content_type}; accepted media types include: {accepted}")
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: {accepted}")

    def _apply(self, group_version, plural, kind, namespaced, namespace, name, body, manager, force, dry_run) -> dict:
        try:
            obj = yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise ApiError(400, "BadRequest", f"error decoding YAML: {exc}") from None
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the apply body must be a YAML or JSON object")
        if obj.get("apiVersion") != group_version or obj.get("kind") != kind:
            raise ApiError(400, "BadRequest", f"the API version and kind in the data ({obj.get('apiVersion')}, {obj.get('kind')}) do not match the expected ({group_version}, {kind})")
        meta = obj.get("metadata") or {}
        if meta.get("name") != name:
            raise ApiError(400, "BadRequest", f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        if namespaced and meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
        if not namespaced and meta.get("namespace"):
            raise ApiError(400, "BadRequest", f"{kind} is cluster-scoped: metadata.namespace must be empty")
        server_set = {"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"} & set(meta)
        if server_set:
            raise ApiError(400, "BadRequest", f"metadata.{sorted(server_set)[0]} must not be set in an apply request")

        problem = _schema_problem(json.dumps(obj, sort_keys=True), self.git_version.lstrip("v"))
        if problem:
            group = group_version.rpartition("/")[0]
            raise ApiError(422, "Invalid", f'{kind}{"." + group if group else ""} "{name}" is invalid: {problem}')

        key = (plural, namespace, name)
        intent = copy.deepcopy(obj)
        intent["metadata"].setdefault("namespace", namespace) if namespaced else None
        intent.pop("status", None)

        with self._cond:
            if namespaced and ("namespaces", "", namespace) not in self._objects:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"})
            old = self._objects.get(key)
            touched_by_others = any(other != manager for other in self._updated_paths.get(key, {}).values())
            if old is not None and self._applied.get(key, {}).get(manager) == intent and not touched_by_others:
                return copy.deepcopy(old)
            if old is not None:
                self._check_immutable(plural, kind, name, self._applied.get(key, {}).get(manager) or old, intent)
                self._check_conflicts(key, manager, intent, old, force)

            new = copy.deepcopy(intent)
            meta = new["metadata"]
            meta["uid"] = old["metadata"]["uid"] if old else str(uuid.uuid4())
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"] if old else now()
            meta["managedFields"] = [{"manager": manager, "operation": "Apply", "apiVersion": group_version, "time": now(), "fieldsType": "FieldsV1", "fieldsV1": {}}]
            if old is not None and "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            if old is not None and plural == "deployments":
                revision = old["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
                if revision:
                    meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision
            self._apply_defaults(plural, new, old)

            old_generation = old["metadata"].get("generation", 1) if old else 0
            spec_changed = old is None or new.get("spec") != old.get("spec")
            if "spec" in new:
                meta["generation"] = old_generation + 1 if spec_changed else old_generation

            if dry_run:
                meta["resourceVersion"] = old["metadata"]["resourceVersion"] if old else ""
                return new

            self._applied.setdefault(key, {})[manager] = intent
            if force:
                self._updated_paths.pop(key, None)
            self._store(key, new, "MODIFIED" if old else "ADDED")
            stored = copy.deepcopy(self._objects[key])
            hooks = list(self._hooks.get((kind, name), []))

        self._run_hooks(hooks, stored)
        return stored

    def _run_hooks(self, hooks: list[Callable], obj: dict) -> None:
        for hook in hooks:
            threading.Thread(target=self._run_hook, args=(hook, copy.deepcopy(obj)), daemon=True).start()

    def _run_hook(self, hook: Callable, obj: dict) -> None:
        try:
            hook(self, obj)
        except Exception:
            self.hook_errors.append(traceback.format_exc())

    @staticmethod
    def _check_immutable(plural: str, kind: str, name: str, before: dict, after: dict) -> None:
        def field(obj: dict, path: str):
            for part in path.split("."):
                obj = obj.get(part, {}) if isinstance(obj, dict) else {}
            return obj

        immutable = {
            "jobs": ["spec.template", "spec.selector", "spec.completions"],
            "deployments": ["spec.selector"],
            "persistentvolumes": ["spec.csi", "spec.hostPath", "spec.nfs"],
            "persistentvolumeclaims": ["spec.accessModes", "spec.storageClassName", "spec.volumeName", "spec.selector"],
        }.get(plural, [])
        for path in immutable:
            if field(before, path) != field(after, path):
                group = {"jobs": ".batch", "deployments": ".apps"}.get(plural, "")
                raise ApiError(422, "Invalid", f'{kind}{group} "{name}" is invalid: {path}: Invalid value: field is immutable',
                               {"name": name, "kind": plural, "causes": [{"reason": "FieldValueInvalid", "message": "field is immutable", "field": path}]})

    def _check_conflicts(self, key, manager, intent, old, force) -> None:
        if force:
            return
        conflicts = []
        for path, other in sorted(self._updated_paths.get(key, {}).items()):
            if other == manager:
                continue
            if _resolve(intent, path) != _resolve(old, path):
                conflicts.append(f'conflict with "{other}": .{path.strip("/").replace("/", ".")}')
        if conflicts:
            raise ApiError(409, "Conflict", f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}: " + "; ".join(conflicts))

    def _json_patch(self, group_version, plural, namespace, name, body: bytes, manager: str, dry_run: bool) -> dict:
        try:
            ops = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"invalid JSON patch: {exc}") from None
        if not isinstance(ops, list):
            raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")

        key = (plural, namespace, name)
        with self._cond:
            old = self._objects.get(key)
            if old is None:
                raise self._not_found(plural, group_version, name)
            new = copy.deepcopy(old)
            for op in ops:
                new = _json_patch_op(new, op)
            if dry_run:
                return new

            if new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            touched = self._updated_paths.setdefault(key, {})
            for op in ops:
                if op.get("op") != "test":
                    touched[op["path"]] = manager
            self._store(key, new, "MODIFIED")
            stored = copy.deepcopy(self._objects[key])
            hooks = list(self._hooks.get((stored["kind"], name), []))

        self._run_hooks(hooks, stored)
        return stored

    def _delete_request(self, group_version, plural, namespace, name, query, body: bytes) -> dict:
        options = json.loads(body) if body else {}
        policy = query.get("propagationPolicy") or options.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError(400, "BadRequest", f"propagationPolicy {policy!r} is invalid: use Orphan, Background or Foreground")

        with self._cond:
            key = (plural, namespace, name)
            if key not in self._objects:
                raise self._not_found(plural, group_version, name)
            obj = self._delete(key)
            if policy in ("Background", "Foreground"):
                for child_key, child in list(self._objects.items()):
                    refs = child["metadata"].get("ownerReferences", [])
                    labels = child["metadata"].get("labels", {})
                    owned = any(ref.get("uid") == obj["metadata"]["uid"] for ref in refs)
                    if plural == "jobs" and child_key[0] == "pods" and labels.get("job-name") == name:
                        owned = True
                    if owned and child_key[1] == namespace:
                        self._delete(child_key)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": group_version.rpartition("/")[0], "kind": plural, "uid": obj["metadata"]["uid"]}}


@functools.lru_cache(maxsize=512)
def _schema_problem(document_json: str, version: str) -> str | None:
    """Validate like the API server's strict field validation; cached because kubernetes-validate reloads schemas per call."""
    try:
        kubernetes_validate.validate(json.loads(document_json), version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"
    return None


def _resolve(obj, pointer: str):
    for part in [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/") if p]:
        if isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return None
    return obj


def _json_patch_op(doc: dict, op: dict) -> dict:
    """Apply one RFC 6902 operation (test, add, replace, remove) to ``doc``."""
    kind, pointer = op.get("op"), op.get("path")
    if kind not in ("test", "add", "replace", "remove") or not isinstance(pointer, str):
        raise ApiError(422, "Invalid", f"the fake API server does not support the JSON patch operation {op!r}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/")]
    parent = _resolve(doc, "/".join(parts[:-1]))
    last = parts[-1]

    if kind == "test":
        if _resolve(doc, pointer) != op.get("value"):
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: testing value {pointer} failed")
        return doc
    if not isinstance(parent, (dict, list)):
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: path {pointer} does not exist")
    if kind == "remove":
        if isinstance(parent, dict) and last in parent:
            del parent[last]
        elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            del parent[int(last)]
        else:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: path {pointer} does not exist")
        return doc
    if kind == "replace" and _resolve(doc, pointer) is None:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: replace operation does not apply: doc is missing path: {pointer}")
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        else:
            parent[index] = copy.deepcopy(op["value"])
    else:
        parent[last] = copy.deepcopy(op["value"])
    return doc


class _Handler(http.server.BaseHTTPRequestHandler):
    """Translate HTTP requests into :meth:`FakeKubeApiServer.handle` calls."""

    fake: FakeKubeApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class names it so
        pass

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""

        try:
            code, payload, content_type = self.fake.handle(method, url.path, query, self.headers, body)
        except ApiError as exc:
            code, payload, content_type = exc.code, exc.status(), "application/json"
        except Exception as exc:  # a bug in the fake: respond as the API server does and keep the trace for the test
            self.fake.hook_errors.append(traceback.format_exc())
            code, payload, content_type = 500, ApiError(500, "InternalError", f"fake API server error: {exc}").status(), "application/json"

        if isinstance(payload, (dict, str)):
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return

        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in payload:
                data = chunk.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_PATCH(self):  # noqa: N802
        self._serve("PATCH")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_PUT(self):  # noqa: N802
        self._serve("PUT")
