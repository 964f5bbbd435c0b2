"""A small, strict Azure Resource Manager stand-in on HTTPS loopback for the Azure layer's tests.

It serves the REST paths the runbook's SDK clients call: subscriptions,
resource providers, compute SKUs and usages, resource groups, container
registries (with ACR Tasks runs and a blob upload endpoint), storage
accounts and file shares, managed clusters and role assignments. It stores
what clients write, records every request, and returns ARM's error body
shape (``{"error": {"code", "message"}}``) for bad tokens, missing roles,
quota, SKU availability and name conflicts.

Long-running operations follow ARM: ``Azure-AsyncOperation`` for
registries and clusters, ``Location`` for storage accounts and deletions.
Each response carries ``retry-after-ms: 20`` rather than ``Retry-After: 0``,
because azure-core 1.41 treats a zero Retry-After as absent and then waits
its default 30 s between polls.

The certificate comes from a throwaway CA made with ``trustme``; clients
trust it through ``REQUESTS_CA_BUNDLE`` pointing at :attr:`FakeArm.ca_bundle`.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import ssl
import tarfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

SUBSCRIPTION_ID = "00000000-0000-0000-0000-0000000000aa"
TENANT_ID = "00000000-0000-0000-0000-0000000000bb"
CALLER_OBJECT_ID = "00000000-0000-0000-0000-0000000000cc"
DEFAULT_TOKEN = "fake-arm-token"

# POST actions that only read; everything else that is not GET or HEAD counts as a write.
READ_ACTIONS = ("/listclusterusercredential", "/checknameavailability", "/listbuildsourceuploadurl", "/listlogsasurl")

_RG = r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
_ROUTES: list[tuple[str, str]] = [
    ("operation", r"/fake/operations/(?P<op>[^/]+)"),
    ("operation_result", r"/fake/operationresults/(?P<op>[^/]+)"),
    ("blob_upload", r"/fake/blob/upload/(?P<blob>[^/]+)"),
    ("blob_log", r"/fake/blob/logs/(?P<run>[^/]+)"),
    ("role_assignment", r"(?P<scope>/subscriptions/.+)/providers/microsoft\.authorization/roleassignments/(?P<name>[^/]+)"),
    ("role_assignments", r"(?P<scope>/subscriptions/.+)/providers/microsoft\.authorization/roleassignments"),
    ("subscription", r"/subscriptions/(?P<sub>[^/]+)"),
    ("provider_register", r"/subscriptions/(?P<sub>[^/]+)/providers/(?P<ns>[^/]+)/register"),
    ("compute_skus", r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.compute/skus"),
    ("compute_usages", r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.compute/locations/(?P<loc>[^/]+)/usages"),
    ("acr_name_check", r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.containerregistry/checknameavailability"),
    ("storage_name_check", r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.storage/checknameavailability"),
    ("provider", r"/subscriptions/(?P<sub>[^/]+)/providers/(?P<ns>[^/]+)"),
    ("resource_group", _RG),
    ("group_resources", _RG + r"/resources"),
    ("registry", _RG + r"/providers/microsoft\.containerregistry/registries/(?P<name>[^/]+)"),
    ("registry_upload_url", _RG + r"/providers/microsoft\.containerregistry/registries/(?P<name>[^/]+)/listbuildsourceuploadurl"),
    ("registry_schedule_run", _RG + r"/providers/microsoft\.containerregistry/registries/(?P<name>[^/]+)/schedulerun"),
    ("registry_run", _RG + r"/providers/microsoft\.containerregistry/registries/(?P<name>[^/]+)/runs/(?P<run>[^/]+)"),
    ("registry_run_log", _RG + r"/providers/microsoft\.containerregistry/registries/(?P<name>[^/]+)/runs/(?P<run>[^/]+)/listlogsasurl"),
    ("storage_account", _RG + r"/providers/microsoft\.storage/storageaccounts/(?P<name>[^/]+)"),
    ("file_share", _RG + r"/providers/microsoft\.storage/storageaccounts/(?P<name>[^/]+)/fileservices/default/shares/(?P<share>[^/]+)"),
    ("cluster", _RG + r"/providers/microsoft\.containerservice/managedclusters/(?P<name>[^/]+)"),
    ("cluster_credentials", _RG + r"/providers/microsoft\.containerservice/managedclusters/(?P<name>[^/]+)/listclusterusercredential"),
]
_COMPILED = [(name, re.compile(pattern + r"/?$", re.IGNORECASE)) for name, pattern in _ROUTES]

_TYPES = {
    "registry": "Microsoft.ContainerRegistry/registries",
    "storage_account": "Microsoft.Storage/storageAccounts",
    "cluster": "Microsoft.ContainerService/managedClusters",
}


class ArmError(Exception):
    """Raised inside a handler to respond with ARM's error body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    @property
    def is_write(self) -> bool:
        if self.method in ("GET", "HEAD"):
            return False
        if self.method == "POST" and self.path.lower().endswith(READ_ACTIONS):
            return False
        return not self.path.startswith("/fake/")


@dataclass
class Fault:
    """An error the fake returns for matching requests, a number of times."""

    method: str
    path_pattern: re.Pattern[str]
    status: int
    code: str
    message: str
    times: int


@dataclass
class FakeArmState:
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    invisible_reads: dict[str, int] = field(default_factory=dict)


class FakeArm:
    """The fake Resource Manager. Use as a context manager, or call :meth:`start` and :meth:`stop`.

    Example:
        >>> with FakeArm(tmp_path) as arm:
        ...     arm.base_url, arm.ca_bundle
    """

    def __init__(self, folder: Path, token: str = DEFAULT_TOKEN, subscription_id: str = SUBSCRIPTION_ID):
        self.folder = Path(folder)
        self.token = token
        self.subscription_id = subscription_id
        self.subscription_state = "Enabled"
        self.state = FakeArmState()
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.taken_names: set[str] = set()
        self.unreplicated_principals_need_type = True
        self.role_visibility_lag = 0
        self.lro_polls = 1
        self.run_polls = 1
        self.skus: list[dict[str, Any]] = [default_vm_sku("Standard_DS3_v2", "standardDSv2Family", 4)]
        self.usages: dict[str, dict[str, int]] = {
            "cores": {"limit": 100, "currentValue": 0},
            "standarddsv2family": {"limit": 100, "currentValue": 0},
        }
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for namespace in (
            "Microsoft.ContainerService",
            "Microsoft.ContainerRegistry",
            "Microsoft.Storage",
            "Microsoft.Compute",
            "Microsoft.Network",
        ):
            self.state.providers[namespace.lower()] = "Registered"

    # Lifecycle.

    def start(self) -> FakeArm:
        ca = trustme.CA()
        server_cert = ca.issue_cert("127.0.0.1", "localhost")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ca_bundle = str(self.folder / "fake-arm-ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_cert.configure_cert(context)

        handler = type("BoundHandler", (_Handler,), {"arm": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.base_url = f"https://127.0.0.1:{self.port}"

        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-arm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeArm:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # Test controls and inspection.

    def fail(self, method: str, path_regex: str, status: int, code: str, message: str, times: int = 1) -> None:
        """Respond to the next ``times`` matching requests with an ARM error body."""
        self.faults.append(Fault(method.upper(), re.compile(path_regex, re.IGNORECASE), status, code, message, times))

    def deny(self, method: str, path_regex: str, action: str, scope: str) -> None:
        """Respond to matching requests with ARM's AuthorizationFailed body for ``action`` on ``scope``."""
        message = (
            f"The client '{CALLER_OBJECT_ID}' with object id '{CALLER_OBJECT_ID}' does not have authorization to "
            f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently "
            "granted, please refresh your credentials."
        )
        self.fail(method, path_regex, 403, "AuthorizationFailed", message, times=1000)

    def writes(self) -> list[RecordedRequest]:
        with self.lock:
            return [request for request in self.requests if request.is_write]

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        pattern = re.compile(path_regex, re.IGNORECASE)
        with self.lock:
            return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self.state.resources.get(resource_id.lower()))

    def put_resource(self, resource_id: str, body: dict[str, Any]) -> None:
        with self.lock:
            self.state.resources[resource_id.lower()] = copy.deepcopy(body)


def default_vm_sku(name: str, family: str, vcpus: int, location: str = "westeurope") -> dict[str, Any]:
    """A compute resource SKU record as ``Microsoft.Compute/skus`` lists it."""
    return {
        "resourceType": "virtualMachines",
        "name": name,
        "tier": "Standard",
        "size": name.split("_", 1)[-1],
        "family": family,
        "locations": [location],
        "locationInfo": [{"location": location, "zones": ["1", "2", "3"]}],
        "capabilities": [{"name": "vCPUs", "value": str(vcpus)}, {"name": "MemoryGB", "value": "14"}],
        "restrictions": [],
    }


class _Handler(BaseHTTPRequestHandler):
    arm: FakeArm
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    # Plumbing.

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = raw
        if raw and "json" in (self.headers.get("Content-Type") or ""):
            body = json.loads(raw)

        recorded = RecordedRequest(method, path, query, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.arm.lock:
            self.arm.requests.append(recorded)

        try:
            self._check_auth(path, query)
            self._check_faults(method, path)
            route, match = self._route(path)
            handler = getattr(self, f"_{route}_{method.lower()}", None)
            if handler is None:
                raise ArmError(405, "MethodNotAllowed", f"The requested method {method} is not allowed on {path}.")
            with self.arm.lock:
                handler(match.groupdict(), query, body)
        except ArmError as exc:
            self._json(exc.status, {"error": {"code": exc.code, "message": exc.message}})

    def _check_auth(self, path: str, query: dict[str, list[str]]) -> None:
        if path.startswith("/fake/blob/"):
            if "sig" not in query:
                raise ArmError(403, "AuthenticationFailed", "Server failed to authenticate the request.")
            return
        if self.headers.get("Authorization") != f"Bearer {self.arm.token}":
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if "api-version" not in query:
            raise ArmError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")

    def _check_faults(self, method: str, path: str) -> None:
        with self.arm.lock:
            for fault in self.arm.faults:
                if fault.times > 0 and fault.method == method and fault.path_pattern.search(path):
                    fault.times -= 1
                    raise ArmError(fault.status, fault.code, fault.message)

    def _route(self, path: str) -> tuple[str, re.Match[str]]:
        for name, pattern in _COMPILED:
            match = pattern.fullmatch(path)
            if match:
                return name, match
        raise ArmError(404, "InvalidResourceType", f"The resource type could not be found for path {path}.")

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self._send(status, payload, "application/json; charset=utf-8", headers)

    # Shared helpers.

    @property
    def base(self) -> str:
        return self.arm.base_url

    def _require_subscription(self, sub: str) -> None:
        if sub.lower() != self.arm.subscription_id.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")

    def _group(self, sub: str, rg: str) -> dict[str, Any]:
        self._require_subscription(sub)
        group = self.arm.state.resources.get(f"/subscriptions/{sub}/resourcegroups/{rg}".lower())
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        return group

    def _resource_id(self, params: dict[str, str], kind: str) -> str:
        provider_type = _TYPES[kind]
        return f"/subscriptions/{params['sub']}/resourceGroups/{params['rg']}/providers/{provider_type}/{params['name']}"

    def _get_stored(self, resource_id: str, type_name: str, rg: str) -> dict[str, Any]:
        stored = self.arm.state.resources.get(resource_id.lower())
        if stored is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{type_name}/{resource_id.rsplit('/', 1)[-1]}' under resource group '{rg}' was not "
                "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        return stored

    def _start_operation(self, result_id: str | None, final_status: int = 200, on_done: Any = None) -> str:
        operation = uuid.uuid4().hex
        self.arm.state.operations[operation] = {
            "polls_left": self.arm.lro_polls,
            "result_id": result_id,
            "final_status": final_status,
            "on_done": on_done,
        }
        return operation

    def _async_header(self, operation: str) -> dict[str, str]:
        return {
            "Azure-AsyncOperation": f"{self.base}/fake/operations/{operation}?api-version=2024-01-01",
            "retry-after-ms": "20",
        }

    def _location_header(self, operation: str) -> dict[str, str]:
        return {"Location": f"{self.base}/fake/operationresults/{operation}?api-version=2024-01-01", "retry-after-ms": "20"}

    def _finish(self, operation: dict[str, Any]) -> None:
        if operation.get("on_done") is not None:
            operation["on_done"]()
            operation["on_done"] = None

    # Long-running operation status.

    def _operation_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        operation = self.arm.state.operations.get(params["op"])
        if operation is None:
            raise ArmError(404, "OperationNotFound", "The operation was not found.")
        if operation["polls_left"] > 0:
            operation["polls_left"] -= 1
            self._json(200, {"status": "InProgress"}, {"retry-after-ms": "20"})
            return
        self._finish(operation)
        self._json(200, {"status": "Succeeded"})

    def _operation_result_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        operation = self.arm.state.operations.get(params["op"])
        if operation is None:
            raise ArmError(404, "OperationNotFound", "The operation was not found.")
        if operation["polls_left"] > 0:
            operation["polls_left"] -= 1
            self._json(202, None, {"retry-after-ms": "20", **self._location_header(params["op"])})
            return
        self._finish(operation)
        result_id = operation["result_id"]
        if result_id is None:
            self._json(operation["final_status"], None)
        else:
            self._json(200, self.arm.state.resources[result_id.lower()])

    # Subscription, providers, compute.

    def _subscription_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._require_subscription(params["sub"])
        self._json(
            200,
            {
                "id": f"/subscriptions/{self.arm.subscription_id}",
                "subscriptionId": self.arm.subscription_id,
                "tenantId": TENANT_ID,
                "displayName": "Fake subscription",
                "state": self.arm.subscription_state,
            },
        )

    def _provider_body(self, namespace: str) -> dict[str, Any]:
        state = self.arm.state.providers.get(namespace.lower(), "NotRegistered")
        return {"id": f"/subscriptions/{self.arm.subscription_id}/providers/{namespace}", "namespace": namespace, "registrationState": state}

    def _provider_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._require_subscription(params["sub"])
        self._json(200, self._provider_body(params["ns"]))

    def _provider_register_post(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._require_subscription(params["sub"])
        self.arm.state.providers[params["ns"].lower()] = "Registered"
        self._json(200, self._provider_body(params["ns"]))

    def _compute_skus_get(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> None:
        self._require_subscription(params["sub"])
        match = re.search(r"location eq '([^']+)'", (query.get("$filter") or [""])[0])
        location = match.group(1).lower() if match else None
        skus = [sku for sku in self.arm.skus if location is None or location in [loc.lower() for loc in sku["locations"]]]
        self._json(200, {"value": skus})

    def _compute_usages_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._require_subscription(params["sub"])
        value = [
            {"unit": "Count", "currentValue": usage["currentValue"], "limit": usage["limit"], "name": {"value": key, "localizedValue": key}}
            for key, usage in self.arm.usages.items()
        ]
        self._json(200, {"value": value})

    def _name_check(self, body: dict[str, Any], message: str) -> None:
        name = body.get("name", "")
        taken = name.lower() in self.arm.taken_names
        answer: dict[str, Any] = {"nameAvailable": not taken}
        if taken:
            answer.update({"reason": "AlreadyExists", "message": message.format(name=name)})
        self._json(200, answer)

    def _acr_name_check_post(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._name_check(body, "The registry {name} is already in use.")

    def _storage_name_check_post(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._name_check(body, "The storage account named {name} is already taken.")

    # Resource groups.

    def _resource_group_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._json(200, self._group(params["sub"], params["rg"]))

    def _resource_group_head(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._group(params["sub"], params["rg"])
        self._json(204, None)

    def _resource_group_put(self, params: dict[str, str], query: Any, body: dict[str, Any]) -> None:
        self._require_subscription(params["sub"])
        resource_id = f"/subscriptions/{params['sub']}/resourceGroups/{params['rg']}"
        existed = resource_id.lower() in self.arm.state.resources
        stored = {
            "id": resource_id,
            "name": params["rg"],
            "type": "Microsoft.Resources/resourceGroups",
            "location": body["location"],
            "tags": body.get("tags", {}),
            "properties": {"provisioningState": "Succeeded"},
        }
        self.arm.state.resources[resource_id.lower()] = stored
        self._json(200 if existed else 201, stored)

    def _resource_group_delete(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._group(params["sub"], params["rg"])
        prefix = f"/subscriptions/{params['sub']}/resourcegroups/{params['rg']}".lower()

        def remove() -> None:
            for key in [key for key in self.arm.state.resources if key == prefix or key.startswith(prefix + "/")]:
                del self.arm.state.resources[key]

        operation = self._start_operation(None, final_status=200, on_done=remove)
        self._json(202, None, self._location_header(operation))

    def _group_resources_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._group(params["sub"], params["rg"])
        prefix = f"/subscriptions/{params['sub']}/resourcegroups/{params['rg']}/providers/".lower()
        value = [
            {"id": item["id"], "name": item["name"], "type": item["type"], "location": item.get("location")}
            for key, item in self.arm.state.resources.items()
            if key.startswith(prefix) and item["type"] in _TYPES.values()
        ]
        self._json(200, {"value": value})

    # Container registry and ACR Tasks.

    def _registry_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._group(params["sub"], params["rg"])
        self._json(200, self._get_stored(self._resource_id(params, "registry"), _TYPES["registry"], params["rg"]))

    def _registry_put(self, params: dict[str, str], query: Any, body: dict[str, Any]) -> None:
        self._group(params["sub"], params["rg"])
        name = params["name"]
        resource_id = self._resource_id(params, "registry")
        if name.lower() in self.arm.taken_names:
            raise ArmError(
                409,
                "AlreadyInUse",
                f"The registry DNS name {name.lower()}.azurecr.io is already in use. You can check if the name is "
                "already claimed using following API: https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability",
            )
        existed = resource_id.lower() in self.arm.state.resources
        properties = dict(body.get("properties") or {})
        properties.update({"loginServer": f"{name.lower()}.azurecr.io", "provisioningState": "Succeeded"})
        properties.setdefault("adminUserEnabled", False)
        stored = {
            "id": resource_id,
            "name": name,
            "type": _TYPES["registry"],
            "location": body["location"],
            "tags": body.get("tags", {}),
            "sku": {"name": body["sku"]["name"], "tier": body["sku"]["name"]},
            "properties": properties,
        }
        self.arm.state.resources[resource_id.lower()] = stored
        operation = self._start_operation(resource_id)
        answer = copy.deepcopy(stored)
        answer["properties"]["provisioningState"] = "Creating" if not existed else "Updating"
        self._json(200 if existed else 201, answer, self._async_header(operation))

    def _registry_upload_url_post(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._get_stored(self._resource_id(params, "registry"), _TYPES["registry"], params["rg"])
        blob = uuid.uuid4().hex
        self._json(
            200,
            {"uploadUrl": f"{self.base}/fake/blob/upload/{blob}?sv=2024-01-01&sig=fake-sas-signature", "relativePath": f"source/{blob}.tar.gz"},
        )

    def _blob_upload_put(self, params: dict[str, str], query: Any, body: bytes) -> None:
        if self.headers.get("x-ms-blob-type") != "BlockBlob":
            raise ArmError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type.")
        self.arm.state.blobs[f"source/{params['blob']}.tar.gz"] = body if isinstance(body, bytes) else json.dumps(body).encode()
        self._send(201, b"", "application/octet-stream")

    def _registry_schedule_run_post(self, params: dict[str, str], query: Any, body: dict[str, Any]) -> None:
        self._get_stored(self._resource_id(params, "registry"), _TYPES["registry"], params["rg"])
        if body.get("type") != "DockerBuildRequest":
            raise ArmError(400, "InvalidRequest", f"Unsupported run request type {body.get('type')!r}.")
        archive = self.arm.state.blobs.get(body.get("sourceLocation", ""))
        if archive is None:
            raise ArmError(400, "InvalidSourceLocation", f"The source location {body.get('sourceLocation')!r} does not exist.")

        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            names = set(tar.getnames())
        run_id = f"ca{len(self.arm.state.runs) + 1}"
        dockerfile_found = body.get("dockerFilePath") in names
        self.arm.state.runs[run_id] = {
            "polls_left": self.arm.run_polls,
            "final": "Succeeded" if dockerfile_found else "Failed",
            "request": body,
            "files": sorted(names),
            "log": "Step 1/1 : FROM python\n" + ("Successfully pushed\n" if dockerfile_found else f"unable to prepare context: {body.get('dockerFilePath')} not found\n"),
        }
        self._json(200, self._run_body(params, run_id, "Queued"))

    def _run_body(self, params: dict[str, str], run_id: str, status: str) -> dict[str, Any]:
        run = self.arm.state.runs[run_id]
        images = [{"registry": f"{params['name'].lower()}.azurecr.io", "repository": name.split(":")[0], "tag": name.split(":")[-1]} for name in run["request"]["imageNames"]]
        return {
            "id": f"{self._resource_id(params, 'registry')}/runs/{run_id}",
            "name": run_id,
            "type": "Microsoft.ContainerRegistry/registries/runs",
            "properties": {"runId": run_id, "status": status, "runType": "QuickRun", "outputImages": images if status == "Succeeded" else []},
        }

    def _registry_run_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        run = self.arm.state.runs.get(params["run"])
        if run is None:
            raise ArmError(404, "RunNotFound", f"Run {params['run']} was not found.")
        if run["polls_left"] > 0:
            run["polls_left"] -= 1
            self._json(200, self._run_body(params, params["run"], "Running"))
            return
        self._json(200, self._run_body(params, params["run"], run["final"]))

    def _registry_run_log_post(self, params: dict[str, str], query: Any, body: Any) -> None:
        if params["run"] not in self.arm.state.runs:
            raise ArmError(404, "RunNotFound", f"Run {params['run']} was not found.")
        self._json(200, {"logLink": f"{self.base}/fake/blob/logs/{params['run']}?sig=fake-sas-signature"})

    def _blob_log_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        run = self.arm.state.runs.get(params["run"])
        if run is None:
            raise ArmError(404, "BlobNotFound", "The specified blob does not exist.")
        self._send(200, run["log"].encode(), "text/plain")

    # Storage account and file share.

    def _storage_account_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._group(params["sub"], params["rg"])
        self._json(200, self._get_stored(self._resource_id(params, "storage_account"), _TYPES["storage_account"], params["rg"]))

    def _storage_account_put(self, params: dict[str, str], query: Any, body: dict[str, Any]) -> None:
        self._group(params["sub"], params["rg"])
        name = params["name"]
        if name.lower() in self.arm.taken_names:
            raise ArmError(409, "StorageAccountAlreadyTaken", f"The storage account named {name} is already taken.")
        resource_id = self._resource_id(params, "storage_account")
        existing = self.arm.state.resources.get(resource_id.lower())
        properties = dict((existing or {}).get("properties") or {})
        properties.update(body.get("properties") or {})
        properties.update(
            {
                "provisioningState": "Succeeded",
                "primaryEndpoints": {"file": f"https://{name}.file.core.windows.net/"},
            }
        )
        stored = {
            "id": resource_id,
            "name": name,
            "type": _TYPES["storage_account"],
            "location": body["location"],
            "tags": body.get("tags", {}),
            "sku": {"name": body["sku"]["name"], "tier": body["sku"]["name"].split("_")[0]},
            "kind": body["kind"],
            "properties": properties,
        }

        def store() -> None:
            self.arm.state.resources[resource_id.lower()] = stored

        operation = self._start_operation(resource_id, on_done=store)
        self._json(202, None, self._location_header(operation))

    def _file_share_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._group(params["sub"], params["rg"])
        account_id = self._resource_id(params, "storage_account")
        self._get_stored(account_id, _TYPES["storage_account"], params["rg"])
        share_id = f"{account_id}/fileServices/default/shares/{params['share']}"
        share = self.arm.state.resources.get(share_id.lower())
        if share is None:
            raise ArmError(404, "ShareNotFound", "The specified share does not exist.")
        self._json(200, share)

    def _file_share_put(self, params: dict[str, str], query: Any, body: dict[str, Any]) -> None:
        self._group(params["sub"], params["rg"])
        account_id = self._resource_id(params, "storage_account")
        self._get_stored(account_id, _TYPES["storage_account"], params["rg"])
        share_id = f"{account_id}/fileServices/default/shares/{params['share']}"
        existed = share_id.lower() in self.arm.state.resources
        quota = (body.get("properties") or {}).get("shareQuota")
        if not isinstance(quota, int) or not 1 <= quota <= 102400:
            raise ArmError(400, "InvalidHeaderValue", f"The value for one of the HTTP headers is not in the correct format: shareQuota {quota!r}.")
        stored = {
            "id": share_id,
            "name": params["share"],
            "type": "Microsoft.Storage/storageAccounts/fileServices/shares",
            "properties": {"shareQuota": quota, "enabledProtocols": "SMB", "accessTier": "TransactionOptimized"},
        }
        self.arm.state.resources[share_id.lower()] = stored
        self._json(200 if existed else 201, stored)

    # Managed clusters.

    def _cluster_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        self._group(params["sub"], params["rg"])
        self._json(200, self._get_stored(self._resource_id(params, "cluster"), _TYPES["cluster"], params["rg"]))

    def _cluster_put(self, params: dict[str, str], query: Any, body: dict[str, Any]) -> None:
        self._group(params["sub"], params["rg"])
        name, rg = params["name"], params["rg"]
        resource_id = self._resource_id(params, "cluster")
        existing = self.arm.state.resources.get(resource_id.lower())
        properties = copy.deepcopy(body.get("properties") or {})

        if not properties.get("dnsPrefix"):
            raise ArmError(400, "InvalidParameter", "Required parameter dnsPrefix is missing (null).")
        pools = properties.get("agentPoolProfiles") or []
        if not any(pool.get("mode") == "System" for pool in pools):
            raise ArmError(400, "InvalidParameter", "A managed cluster needs at least one agent pool in System mode.")
        for pool in pools:
            if not any(sku["name"].lower() == str(pool.get("vmSize", "")).lower() for sku in self.arm.skus):
                raise ArmError(400, "InvalidParameter", f"The VM size {pool.get('vmSize')} is not supported.")
            pool.update({"provisioningState": "Succeeded", "powerState": {"code": "Running"}, "orchestratorVersion": "1.33.2"})

        location = body["location"]
        kubelet_object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id.lower()}/kubelet"))
        properties.update(
            {
                "provisioningState": "Succeeded",
                "kubernetesVersion": properties.get("kubernetesVersion") or "1.33.2",
                "fqdn": f"{properties['dnsPrefix']}-abc123.hcp.{location}.azmk8s.io",
                "nodeResourceGroup": f"MC_{rg}_{name}_{location}",
                "identityProfile": {
                    "kubeletidentity": {
                        "resourceId": f"/subscriptions/{params['sub']}/resourcegroups/MC_{rg}_{name}_{location}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool",
                        "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id.lower()}/kubelet-client")),
                        "objectId": kubelet_object_id,
                    }
                },
            }
        )
        oidc = properties.get("oidcIssuerProfile") or {}
        if oidc.get("enabled"):
            oidc["issuerURL"] = f"https://{location}.oic.prod-aks.azure.com/{TENANT_ID}/{uuid.uuid5(uuid.NAMESPACE_URL, resource_id.lower())}/"
        properties["oidcIssuerProfile"] = oidc

        stored = {
            "id": resource_id,
            "name": name,
            "type": _TYPES["cluster"],
            "location": location,
            "tags": body.get("tags", {}),
            "identity": {
                "type": (body.get("identity") or {}).get("type", "SystemAssigned"),
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id.lower()}/cluster")),
                "tenantId": TENANT_ID,
            },
            "properties": properties,
        }
        self.arm.state.resources[resource_id.lower()] = stored
        operation = self._start_operation(resource_id)
        answer = copy.deepcopy(stored)
        answer["properties"]["provisioningState"] = "Updating" if existing else "Creating"
        self._json(200 if existing else 201, answer, self._async_header(operation))

    def _cluster_credentials_post(self, params: dict[str, str], query: Any, body: Any) -> None:
        cluster = self._get_stored(self._resource_id(params, "cluster"), _TYPES["cluster"], params["rg"])
        kubeconfig = (
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: https://{fqdn}:443\n"
            "contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: clusterUser_{name}\n"
            "current-context: {name}\nusers:\n- name: clusterUser_{name}\n  user:\n    token: fake-user-token\n"
        ).format(name=cluster["name"], fqdn=cluster["properties"]["fqdn"])
        self._json(200, {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]})

    # Role assignments.

    def _assignments_for(self, scope: str) -> list[dict[str, Any]]:
        return [
            item
            for item in self.arm.state.resources.values()
            if item.get("type") == "Microsoft.Authorization/roleAssignments"
            and scope.lower().startswith(item["properties"]["scope"].lower())
        ]

    def _role_assignments_get(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> None:
        match = re.search(r"principalId eq '([^']+)'", (query.get("$filter") or [""])[0])
        value = self._assignments_for(params["scope"])
        if match:
            value = [item for item in value if item["properties"]["principalId"] == match.group(1)]
        self._json(200, {"value": value})

    def _role_assignment_get(self, params: dict[str, str], query: Any, body: Any) -> None:
        resource_id = f"{params['scope']}/providers/Microsoft.Authorization/roleAssignments/{params['name']}"
        stored = self.arm.state.resources.get(resource_id.lower())
        lag = self.arm.state.invisible_reads.get(resource_id.lower(), 0)
        if stored is None or lag > 0:
            if lag > 0:
                self.arm.state.invisible_reads[resource_id.lower()] = lag - 1
            raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{params['name']}' is not found.")
        self._json(200, stored)

    def _role_assignment_put(self, params: dict[str, str], query: Any, body: dict[str, Any]) -> None:
        scope, name = params["scope"], params["name"]
        properties = body.get("properties") or {}
        for required in ("roleDefinitionId", "principalId"):
            if not properties.get(required):
                raise ArmError(400, "InvalidRoleAssignmentRequest", f"The request is missing {required}.")
        try:
            uuid.UUID(name)
        except ValueError:
            raise ArmError(400, "InvalidRoleAssignmentId", f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.") from None

        principal = properties["principalId"]
        if self.arm.unreplicated_principals_need_type and not properties.get("principalType"):
            raise ArmError(
                400,
                "PrincipalNotFound",
                f"Principal {principal.replace('-', '')} does not exist in the directory {TENANT_ID}. Check that you have "
                "the correct principal ID. If you are creating this principal and then immediately assigning a role, "
                "this error might be related to a replication delay. In this case, set the role assignment principalType "
                "property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
            )

        resource_id = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
        role_guid = properties["roleDefinitionId"].rsplit("/", 1)[-1].lower()
        for item in self._assignments_for(scope):
            same = (
                item["properties"]["principalId"] == principal
                and item["properties"]["roleDefinitionId"].rsplit("/", 1)[-1].lower() == role_guid
                and item["properties"]["scope"].lower() == scope.lower()
            )
            if same and item["name"] != name:
                raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")

        existed = resource_id.lower() in self.arm.state.resources
        stored = {
            "id": resource_id,
            "name": name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": properties["roleDefinitionId"],
                "principalId": principal,
                "principalType": properties.get("principalType", "ServicePrincipal"),
                "scope": scope,
            },
        }
        self.arm.state.resources[resource_id.lower()] = stored
        if not existed and self.arm.role_visibility_lag:
            self.arm.state.invisible_reads[resource_id.lower()] = self.arm.role_visibility_lag
        self._json(200 if existed else 201, stored)


class StaticTokenCredential:
    """A ``TokenCredential`` that returns one fixed bearer token, for tests against :class:`FakeArm`."""

    def __init__(self, token: str = DEFAULT_TOKEN):
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, 4102444800)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo

        self.scopes.append(scopes)
        return AccessTokenInfo(self.token, 4102444800)
