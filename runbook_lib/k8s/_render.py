"""Render the committed manifests in ``k8s/`` with the runbook parameters.

The files in ``k8s/`` are plain, valid YAML for the example parameters, so
``kubectl apply -k k8s/`` works on them as they are. Rendering loads them and
sets the parameter-driven fields on the parsed objects; it never substitutes
text, so the output is always well-formed.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParameterError, UsageError
from ..params import RunbookParams
from . import _names as names
from ._quantity import check_request_within_limit, parse_quantity_param

K8S_DIR = Path(__file__).resolve().parents[2] / "k8s"

# Manifest files in apply order; storage.yaml is left out when an existing claim is used.
SOURCE_FILES = ("namespace.yaml", "storage.yaml", "model-set-configmap.yaml", "download-job.yaml", "deployment.yaml")
MODEL_SET_KEY = "model-set.yaml"

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
MODEL_SET_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
AZURE_STORAGE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
AZURE_SHARE = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")

COPY_SCRIPT = """\
set -eu
if [ -n "${MODEL_SET_ID:-}" ]; then
  set_id="$MODEL_SET_ID"
elif [ -f /models/current ]; then
  set_id="$(tr -d '[:space:]' < /models/current)"
else
  echo "/models/current not found: no model set is published on the share; run the model download Job first" >&2
  exit 1
fi
case "$set_id" in
  ""|.|..|*[!A-Za-z0-9._-]*) echo "invalid model set id '$set_id'" >&2; exit 1 ;;
esac
if [ ! -f "/models/sets/$set_id/manifest.json" ]; then
  echo "model set $set_id has no manifest.json on the share; run the model download Job first" >&2
  exit 1
fi
cp -R "/models/sets/$set_id/." /local-models/
echo "copied model set $set_id to node-local disk"
"""


@dataclass
class RenderedManifests:
    """Rendered manifests, grouped by the file they came from, in apply order."""

    files: dict[str, list[dict]] = field(default_factory=dict)

    def documents(self) -> list[dict]:
        """Return every object in apply order."""
        return [doc for docs in self.files.values() for doc in docs]

    def select(self, *kinds: str) -> list[dict]:
        """Return the objects of the given kinds, in apply order."""
        return [doc for doc in self.documents() if doc["kind"] in kinds]

    def get(self, kind: str, name: str | None = None) -> dict:
        """Return the one object of ``kind`` (and ``name``, when given).

        Raises:
            KeyError: no such object was rendered.
        """
        for doc in self.documents():
            if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name):
                return doc
        label = f"{kind} {name}" if name else kind
        raise KeyError(f"no {label} in the rendered manifests")

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write one YAML file per source file plus a ``kustomization.yaml`` into ``out_dir``.

        Example:
            >>> render_manifests(load_params(EXAMPLE_PARAMS_FILE)).write("rendered")  # doctest: +SKIP
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []

        for name, docs in self.files.items():
            path = out_dir / name
            header = f"# Rendered by `runbook k8s render` from k8s/{name}: change the parameters, not this file.\n"
            path.write_text(header + dump_yaml(docs), encoding="utf-8")
            written.append(path)

        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": list(self.files),
        }
        path = out_dir / "kustomization.yaml"
        path.write_text(yaml.safe_dump(kustomization, sort_keys=False), encoding="utf-8")
        written.append(path)
        return written


class _LiteralDumper(yaml.SafeDumper):
    """A YAML dumper that writes multi-line strings (the model set, the copy script) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _represent_str)


def dump_yaml(docs: list[dict]) -> str:
    """Return the documents as one multi-document YAML text, keys in manifest order."""
    return yaml.dump_all(docs, Dumper=_LiteralDumper, sort_keys=False)


def load_manifest_dir(directory: str | Path) -> RenderedManifests:
    """Load the YAML files of a manifest folder (``kustomization.yaml`` excluded) in apply order.

    Raises:
        UsageError: the folder is missing or contains no manifests, or a file is not valid YAML.

    Example:
        >>> len(load_manifest_dir(K8S_DIR).documents())  # doctest: +SKIP
        8
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"Manifest folder {directory} not found. Render one with: runbook k8s render --out {directory}")

    present = sorted(p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")
    ordered = [name for name in SOURCE_FILES if name in present] + [name for name in present if name not in SOURCE_FILES]
    if not ordered:
        raise UsageError(f"Manifest folder {directory} contains no .yaml files besides kustomization.yaml.")

    files = {}
    for name in ordered:
        path = directory / name
        try:
            docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
        except yaml.YAMLError as exc:
            raise UsageError(f"Manifest {path} is not valid YAML: {exc}") from None
        for doc in docs:
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                raise UsageError(f"Manifest {path} contains a document without apiVersion and kind: fix or remove it.")
        files[name] = docs
    return RenderedManifests(files)


def render_manifests(params: RunbookParams, base_dir: str | Path | None = None) -> RenderedManifests:
    """Render the manifests for the runbook parameters.

    Args:
        params (`RunbookParams`): image, storage, model set, replicas, resources and Service options.
        base_dir (`str` or `Path`, *optional*): the folder with the committed manifests; ``k8s/`` by default.

    Raises:
        ParameterError: a parameter is missing or invalid for the chosen storage (named in the message).
        UsageError: the base manifests cannot be read.
        ModelSetError: the model set file is missing or invalid.

    Example:
        >>> manifests = render_manifests(load_params(EXAMPLE_PARAMS_FILE))
        >>> manifests.get("Deployment")["spec"]["replicas"]
        1
    """
    check_params(params)
    base = load_manifest_dir(base_dir or K8S_DIR)
    missing = [name for name in SOURCE_FILES if name not in base.files]
    if missing:
        raise UsageError(f"Base manifests {', '.join(missing)} missing from {base_dir or K8S_DIR}; restore them from git.")

    files = {name: copy.deepcopy(base.files[name]) for name in SOURCE_FILES}
    model_set_text = read_model_set(params)

    _set_namespace(files, params.namespace)
    _render_storage(files, params)
    _render_model_set(files, model_set_text)
    _render_job(files, params, model_set_text)
    _render_deployment(files, params, model_set_text)
    _render_service(files, params)

    return RenderedManifests({name: docs for name, docs in files.items() if docs})


def check_params(params: RunbookParams) -> None:
    """Check the Kubernetes parameters that pydantic cannot check alone.

    Raises:
        ParameterError: the first invalid or missing value, with the parameter name and what to do.
    """
    if not DNS_LABEL.match(params.namespace):
        raise ParameterError(f"namespace {params.namespace!r} is not a valid Kubernetes name: use lower-case letters, digits and '-'.")
    if not params.image.strip() or any(ch.isspace() for ch in params.image):
        raise ParameterError(f"image {params.image!r} is not a valid image reference, such as myacr.azurecr.io/docling-api:0.1.0.")

    for request_name, limit_name in (
        ("cpu_request", "cpu_limit"),
        ("memory_request", "memory_limit"),
        ("download_cpu_request", "download_cpu_limit"),
        ("download_memory_request", "download_memory_limit"),
    ):
        check_request_within_limit(request_name, getattr(params, request_name), limit_name, getattr(params, limit_name))
    for name in ("staging_size_limit", "local_models_size_limit", "storage_size"):
        parse_quantity_param(name, getattr(params, name))

    if params.storage_class and params.existing_pvc:
        raise ParameterError(
            f"storage_class {params.storage_class!r} and existing_pvc {params.existing_pvc!r} are both set: "
            "set one, or neither for the Azure Files share."
        )
    for name in ("storage_class", "existing_pvc"):
        value = getattr(params, name)
        if value is not None and not DNS_SUBDOMAIN.match(value):
            raise ParameterError(f"{name} {value!r} is not a valid Kubernetes name.")
    if not params.storage_class and not params.existing_pvc:
        _check_azure_files(params)

    if params.model_set_id is not None and (not MODEL_SET_ID.match(params.model_set_id) or params.model_set_id in (".", "..")):
        raise ParameterError(
            f"model_set_id {params.model_set_id!r} is not a model set id: use the id from /models/current "
            "(letters, digits, '.', '_' and '-'), or leave it empty to follow the share."
        )

    for cidr in params.load_balancer_source_ranges:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise ParameterError(f"load_balancer_source_ranges entry {cidr!r} is not a CIDR range ({exc}), such as 203.0.113.0/24.") from None


def _check_azure_files(params: RunbookParams) -> None:
    missing = [name for name in ("storage_account", "resource_group") if not getattr(params, name)]
    if missing:
        raise ParameterError(
            f"{' and '.join(missing)} missing: the Azure Files volume needs storage_account, resource_group and share_name. "
            "On clusters other than AKS set storage_class or existing_pvc instead."
        )
    if not AZURE_STORAGE_ACCOUNT.match(params.storage_account):
        raise ParameterError(f"storage_account {params.storage_account!r} is not a storage account name: 3-24 lower-case letters and digits.")
    if not AZURE_SHARE.match(params.share_name):
        raise ParameterError(f"share_name {params.share_name!r} is not an Azure Files share name: 3-63 lower-case letters, digits and single '-'.")
    if "#" in params.resource_group:
        raise ParameterError(f"resource_group {params.resource_group!r} must not contain '#'.")


def read_model_set(params: RunbookParams) -> str:
    """Return the text of the model set file, ``params.model_set`` or the committed default set, once it validates.

    Raises:
        ModelSetError: the file is missing, not YAML, or has an invalid entry.
    """
    from ..models import default_model_set_path, load_model_set

    path = Path(params.model_set) if params.model_set else default_model_set_path()
    load_model_set(path)
    return path.read_text(encoding="utf-8")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def spec_hash(spec: dict[str, Any]) -> str:
    """Return the sha256 of a spec in canonical JSON; the Job carries it to detect changed inputs."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()


# Rendering steps.


def _find_container(pod_spec: dict, name: str) -> dict:
    return next(c for c in pod_spec["containers"] if c["name"] == name)


def _set_namespace(files: dict[str, list[dict]], namespace: str) -> None:
    for docs in files.values():
        for doc in docs:
            if doc["kind"] == "Namespace":
                doc["metadata"]["name"] = namespace
            elif doc["kind"] != "PersistentVolume":
                doc["metadata"]["namespace"] = namespace


def _render_storage(files: dict[str, list[dict]], params: RunbookParams) -> None:
    pv = next(doc for doc in files["storage.yaml"] if doc["kind"] == "PersistentVolume")
    pvc = next(doc for doc in files["storage.yaml"] if doc["kind"] == "PersistentVolumeClaim")
    claim_name = params.existing_pvc or names.PVC_NAME

    for job_or_deployment in files["download-job.yaml"] + files["deployment.yaml"]:
        if job_or_deployment["kind"] in ("Job", "Deployment"):
            for volume in job_or_deployment["spec"]["template"]["spec"]["volumes"]:
                if "persistentVolumeClaim" in volume:
                    volume["persistentVolumeClaim"]["claimName"] = claim_name

    if params.existing_pvc:
        files["storage.yaml"] = []
        return

    pvc["spec"]["resources"]["requests"]["storage"] = params.storage_size
    pvc["spec"]["accessModes"] = [params.storage_access_mode]
    if params.storage_class:
        pvc["spec"]["storageClassName"] = params.storage_class
        del pvc["spec"]["volumeName"]
        files["storage.yaml"] = [pvc]
        return

    pv_name = names.PV_NAME_PREFIX + params.namespace
    pv["metadata"]["name"] = pv_name
    pv["spec"]["capacity"]["storage"] = params.storage_size
    pv["spec"]["accessModes"] = [params.storage_access_mode]
    pv["spec"]["claimRef"] = {"namespace": params.namespace, "name": names.PVC_NAME}
    pv["spec"]["csi"]["volumeHandle"] = f"{params.resource_group}#{params.storage_account}#{params.share_name}"
    pv["spec"]["csi"]["volumeAttributes"] = {
        "resourceGroup": params.resource_group,
        "storageAccount": params.storage_account,
        "shareName": params.share_name,
        "getLatestAccountKey": "true",
    }
    pvc["spec"]["volumeName"] = pv_name


def _render_model_set(files: dict[str, list[dict]], model_set_text: str) -> None:
    configmap = files["model-set-configmap.yaml"][0]
    configmap["data"] = {MODEL_SET_KEY: model_set_text}
    configmap["metadata"].setdefault("annotations", {})[names.MODEL_SET_HASH_ANNOTATION] = sha256_text(model_set_text)


def _resources(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> dict:
    return {"requests": {"cpu": cpu_request, "memory": memory_request}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def _render_job(files: dict[str, list[dict]], params: RunbookParams, model_set_text: str) -> None:
    job = files["download-job.yaml"][0]
    spec = job["spec"]
    spec["backoffLimit"] = params.download_backoff_limit
    spec["activeDeadlineSeconds"] = params.download_deadline_s
    spec["ttlSecondsAfterFinished"] = params.download_ttl_s

    pod = spec["template"]
    pod["metadata"].setdefault("annotations", {})[names.MODEL_SET_HASH_ANNOTATION] = sha256_text(model_set_text)
    container = _find_container(pod["spec"], names.JOB_CONTAINER)
    container["image"] = params.image
    container["imagePullPolicy"] = params.image_pull_policy
    container["resources"] = _resources(
        params.download_cpu_request, params.download_memory_request, params.download_cpu_limit, params.download_memory_limit
    )
    if params.hf_endpoint:
        container["env"].append({"name": "HF_ENDPOINT", "value": params.hf_endpoint})

    for volume in pod["spec"]["volumes"]:
        if volume["name"] == "staging":
            volume["emptyDir"]["sizeLimit"] = params.staging_size_limit

    job["metadata"].setdefault("annotations", {})[names.SPEC_HASH_ANNOTATION] = spec_hash(spec)


API_KEY_DIR = "/etc/docling-api"


def _render_deployment(files: dict[str, list[dict]], params: RunbookParams, model_set_text: str) -> None:
    deployment = next(doc for doc in files["deployment.yaml"] if doc["kind"] == "Deployment")
    spec = deployment["spec"]
    spec["replicas"] = params.replicas
    spec["progressDeadlineSeconds"] = params.progress_deadline_s

    pod = spec["template"]
    annotations = pod["metadata"].setdefault("annotations", {})
    annotations[names.MODEL_SET_HASH_ANNOTATION] = sha256_text(model_set_text)
    if params.model_set_id:
        annotations[names.MODEL_SET_ID_ANNOTATION] = params.model_set_id

    container = _find_container(pod["spec"], names.API_CONTAINER)
    container["image"] = params.image
    container["imagePullPolicy"] = params.image_pull_policy
    container["resources"] = _resources(params.cpu_request, params.memory_request, params.cpu_limit, params.memory_limit)

    models_dir = f"/models/sets/{params.model_set_id}" if params.model_set_id else "/models"
    if params.copy_models_to_local_disk:
        models_dir = "/local-models"
        _add_copy_init_container(pod["spec"], container, params)
    container["command"] = ["docling-api", "--models-dir", models_dir]

    if params.api_key_secret:
        _mount_api_key(pod["spec"], container, params.api_key_secret)


def _mount_api_key(pod_spec: dict, api_container: dict, secret_name: str) -> None:
    """Mount the Secret's ``api-key`` as a file the service reads, so clients must send it in X-Api-Key."""
    pod_spec["volumes"].append(
        {"name": "api-key", "secret": {"secretName": secret_name, "items": [{"key": "api-key", "path": "api-key"}]}}
    )
    api_container["volumeMounts"].append({"name": "api-key", "mountPath": API_KEY_DIR, "readOnly": True})
    api_container["env"].append({"name": "DOCLING_API_KEY_FILE", "value": f"{API_KEY_DIR}/api-key"})


def _add_copy_init_container(pod_spec: dict, api_container: dict, params: RunbookParams) -> None:
    """Copy the active model set to an emptyDir before the API starts, and serve from there."""
    init = {
        "name": names.COPY_CONTAINER,
        "image": params.image,
        "imagePullPolicy": params.image_pull_policy,
        "command": ["sh", "-c", COPY_SCRIPT],
        "env": [{"name": "MODEL_SET_ID", "value": params.model_set_id}] if params.model_set_id else [],
        "resources": _resources("250m", "256Mi", "1", "512Mi"),
        "securityContext": copy.deepcopy(api_container["securityContext"]),
        "volumeMounts": [
            {"name": "models", "mountPath": "/models", "readOnly": True},
            {"name": "local-models", "mountPath": "/local-models"},
        ],
    }
    if not init["env"]:
        del init["env"]
    pod_spec["initContainers"] = [init]

    api_container["volumeMounts"] = [m for m in api_container["volumeMounts"] if m["name"] != "models"]
    api_container["volumeMounts"].insert(0, {"name": "local-models", "mountPath": "/local-models", "readOnly": True})
    pod_spec["volumes"].append({"name": "local-models", "emptyDir": {"sizeLimit": params.local_models_size_limit}})


def _render_service(files: dict[str, list[dict]], params: RunbookParams) -> None:
    service = next(doc for doc in files["deployment.yaml"] if doc["kind"] == "Service")
    if params.internal_load_balancer:
        service["metadata"].setdefault("annotations", {})["service.beta.kubernetes.io/azure-load-balancer-internal"] = "true"
    if params.load_balancer_source_ranges:
        service["spec"]["loadBalancerSourceRanges"] = list(params.load_balancer_source_ranges)
