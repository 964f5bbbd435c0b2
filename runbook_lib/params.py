"""Runbook parameters: one flat set of names shared by notebooks, files and ``-p``.

The notebooks' ``parameters`` cells, parameter files (YAML) and ``runbook run -p``
overrides all use the names of :class:`RunbookParams`. Defaults are safe:
``target="local"`` never touches a cloud.
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ParameterError

Target = Literal["local", "aks", "kubeconfig"]

EXAMPLE_PARAMS_FILE = Path(__file__).resolve().parent.parent / "params" / "example.yaml"


class RunbookParams(BaseModel):
    """Every parameter the runbook's notebooks and commands accept."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # Where the runbook runs and where it records results for the next notebook.
    target: Target = "local"
    run_dir: str = Field(".runbook/run", description="Folder for the JSON results each notebook records.")

    # Model set and its source.
    model_source: Literal["demo", "hub"] = Field(
        "demo",
        description="'demo': the built-in Hub emulator serving tiny generated models; "
        "'hub': the Hugging Face Hub or the mirror in hf_endpoint.",
    )
    model_set: str | None = Field(None, description="Model set YAML file; empty for the committed default set.")
    hf_endpoint: str | None = Field(None, description="Hub mirror URL; empty for huggingface.co.")
    share_dir: str = Field(".runbook/share", description="Local folder standing in for the Azure Files share.")
    min_free_disk_gb: float = Field(2.0, ge=0, description="Free disk space preflight requires at share_dir, in GiB.")

    # Local conversion service.
    service_host: str = "127.0.0.1"
    service_port: int = Field(8000, ge=1, le=65535)
    service_workers: int = Field(1, ge=1, le=32)
    service_ready_timeout_s: float = Field(600, gt=0)

    # Smoke test.
    service_url: str | None = Field(None, description="URL of a running service; empty for the one 04_rollout recorded.")
    smoke_extra_dirs: list[str] = Field(default_factory=list, description="More folders of documents to convert.")
    smoke_expectations: str = Field("testdata/expectations.yaml", description="Phrases and statuses each file must produce.")
    smoke_timeout_s: float = Field(600, gt=0, description="Seconds to wait for each conversion.")

    # Kubernetes cluster access (targets "aks" and "kubeconfig").
    kubeconfig: str | None = Field(None, description="Kubeconfig file; empty for $KUBECONFIG or ~/.kube/config.")
    kube_context: str | None = Field(None, description="Kubeconfig context; empty for the current context.")
    kubernetes_version: str | None = Field(
        None,
        description="Kubernetes minor version for schema validation, such as '1.33'; "
        "empty for the cluster's version, or the newest schemas kubernetes-validate ships when offline.",
    )
    namespace: str = Field("docling", description="Namespace of the model download Job and the API Deployment.")

    # Kubernetes workloads: image, replicas and resources (CPU in cores, memory as quantities such as 4Gi).
    image: str = Field("docling-api:0.1.0", description="API image; the download Job runs the same image.")
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    replicas: int = Field(1, ge=0, le=100)
    cpu_request: str = "2"
    cpu_limit: str = "4"
    memory_request: str = "4Gi"
    memory_limit: str = "8Gi"
    download_cpu_request: str = "500m"
    download_cpu_limit: str = "2"
    download_memory_request: str = "1Gi"
    download_memory_limit: str = "4Gi"
    staging_size_limit: str = Field("20Gi", description="Size limit of the download Job's staging emptyDir.")
    model_set_id: str | None = Field(
        None, description="Serve this published model set id; empty to follow the share's 'current' file."
    )
    copy_models_to_local_disk: bool = Field(
        False, description="Copy the active model set to node-local disk in an init container before start."
    )
    local_models_size_limit: str = Field("20Gi", description="Size limit of the node-local model copy.")

    # Kubernetes storage: a static Azure Files volume, or on other clusters a storage class or an existing claim.
    storage_account: str | None = Field(None, description="Storage account that contains the model share.")
    resource_group: str | None = Field(None, description="Resource group of the storage account and cluster.")
    share_name: str = Field("models", description="Azure Files share that contains the model sets.")
    storage_size: str = Field("100Gi", description="Capacity of the model volume; match the share quota.")
    storage_class: str | None = Field(None, description="Storage class for a dynamically provisioned model volume.")
    storage_access_mode: Literal["ReadWriteMany", "ReadWriteOnce"] = "ReadWriteMany"
    existing_pvc: str | None = Field(None, description="Existing PersistentVolumeClaim to use for the model volume.")

    # Kubernetes Service and who may call it.
    api_key_secret: str | None = Field(
        None,
        description="Secret (key 'api-key') whose value clients must send in X-Api-Key; empty for no key. "
        "Create it with: kubectl -n docling create secret generic docling-api-key --from-literal=api-key=...",
    )
    internal_load_balancer: bool = Field(False, description="Ask AKS for an internal (VNet-only) load balancer.")
    load_balancer_source_ranges: list[str] = Field(
        default_factory=list, description="CIDR ranges allowed to reach the Service; empty for any."
    )

    # Kubernetes Job and rollout limits, in seconds.
    download_backoff_limit: int = Field(2, ge=0, le=10)
    download_deadline_s: int = Field(3600, gt=0, description="activeDeadlineSeconds of the download Job.")
    download_ttl_s: int = Field(86400, ge=0, description="ttlSecondsAfterFinished of the download Job.")
    progress_deadline_s: int = Field(600, gt=0, description="progressDeadlineSeconds of the Deployment.")
    job_timeout_s: float = Field(3900, gt=0, description="How long the runbook waits for the download Job.")
    rollout_timeout_s: float = Field(900, gt=0, description="How long the runbook waits for the Deployment.")
    service_ip_timeout_s: float = Field(600, gt=0, description="How long the runbook waits for the Service address.")
    stuck_pod_grace_s: float = Field(
        180, ge=0, description="How long a pod may stay unable to start (image pull, mount, crash loop) before the wait fails."
    )
    rollback_on_smoke_failure: bool = Field(False, description="Roll the Deployment back when the smoke test fails.")

    # Azure resources (target "aks"). Empty values take infra/defaults.json, which the Bicep templates read too;
    # resource_group, storage_account, share_name and kubernetes_version above also name the Azure resources.
    subscription_id: str | None = Field(None, description="Azure subscription id; empty for $AZURE_SUBSCRIPTION_ID.")
    location: str | None = Field(None, description="Azure region, such as 'westeurope'.")
    environment_name: str | None = Field(None, description="Environment name that resource names derive from.")
    name_suffix: str | None = Field(
        None, description="Suffix of globally unique names; empty for uniqueString(subscription, environment, region)."
    )
    aks_cluster_name: str | None = Field(None, description="AKS cluster name; empty for aks-<suffix>.")
    aks_node_count: int | None = Field(None, ge=1, le=100, description="Nodes in the AKS system node pool.")
    aks_node_size: str | None = Field(None, description="VM size of the AKS system node pool.")
    acr_name: str | None = Field(None, description="Container registry name; empty for cr<suffix>.")
    acr_sku: Literal["Basic", "Standard", "Premium"] | None = None
    storage_sku: str | None = Field(None, description="Storage account SKU, such as 'Standard_LRS'.")
    share_quota_gb: int | None = Field(None, ge=1, le=102400, description="Quota of the model file share in GiB.")
    azure_credential: Literal["default", "cli", "workload-identity", "managed-identity"] = Field(
        "default", description="How the runbook signs in to Azure."
    )
    azure_cloud: Literal["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"] = "AzureCloud"
    arm_endpoint: str | None = Field(
        None, description="Custom Resource Manager URL (Azure Stack Hub, private clouds); empty for the cloud's."
    )
    arm_audience: str | None = Field(None, description="Token audience for arm_endpoint; empty for the cloud's.")
    register_providers: bool = Field(False, description="Let the preflight check register missing resource providers.")
    azure_operation_timeout_s: float = Field(
        3600, gt=0, description="How long the runbook waits for one Azure long-running operation."
    )
    role_visibility_timeout_s: float = Field(
        300, gt=0, description="How long the runbook waits for new role assignments to become visible."
    )

    # Partial re-runs.
    skip_build: bool = Field(False, description="Reuse the existing API image instead of building it.")
    skip_model_wait: bool = Field(False, description="Do not wait for the model download Job.")

    # Destructive steps run dry unless confirmed.
    dry_run: bool = True
    confirm: str = Field("", description="Must equal the name of what a destructive step removes.")

    @field_validator(
        "cpu_request", "cpu_limit", "memory_request", "memory_limit", "download_cpu_request", "download_cpu_limit",
        "download_memory_request", "download_memory_limit", "staging_size_limit", "local_models_size_limit",
        "storage_size", mode="before",
    )
    @classmethod
    def _quantity_from_number(cls, value: Any) -> Any:
        """Accept quantities that YAML read as numbers, such as ``cpu_limit: 4``."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _version_not_number(cls, value: Any) -> Any:
        """Reject versions that YAML read as numbers: 1.30 would silently become 1.3."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError("write the version as a quoted string, such as \"1.30\": YAML reads 1.30 as the number 1.3")
        return value


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunbookParams:
    """Load parameters from a YAML file, then apply overrides.

    Args:
        path (`str` or `Path`, *optional*): a YAML mapping of parameter names to values.
            Without it, only defaults and overrides apply.
        overrides (`dict`, *optional*): values that win over the file, such as ``-p`` options.

    Raises:
        ParameterError: the file is missing or not a mapping, or a value is invalid.

    Example:
        >>> load_params(overrides={"target": "local", "service_port": 8011}).service_port
        8011
    """
    values: dict[str, Any] = {}

    if path is not None:
        values.update(read_params_file(path))

    overrides = overrides or {}
    values.update(overrides)

    try:
        return RunbookParams(**values)
    except ValidationError as exc:
        problems = "; ".join(
            describe_error(error, None if error["loc"][0] in overrides else path) for error in exc.errors()
        )
        raise ParameterError(f"Invalid runbook parameters: {problems}.") from None


def describe_error(error: dict[str, Any], path: str | Path | None) -> str:
    """Describe one validation error: the parameter, where its value came from, and what is wrong."""
    name = ".".join(str(part) for part in error["loc"])
    source = f" in {path}" if path else ""

    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(name, RunbookParams.model_fields, n=1)
        hint = f" (did you mean {close[0]}?)" if close else " (params/example.yaml lists the names)"
        return f"unknown parameter {name}{source}{hint}"

    return f"{name}{source}: {error['msg']} (got {error.get('input')!r})"


def read_params_file(path: str | Path) -> dict[str, Any]:
    """Read a parameter file as a mapping, without validating the names."""
    path = Path(path)

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError(f"Parameter file {path} not found. Pass an existing YAML file.") from None
    except IsADirectoryError:
        raise ParameterError(f"Parameter file {path} is a folder. Pass a YAML file.") from None
    except UnicodeDecodeError:
        raise ParameterError(f"Parameter file {path} is not UTF-8 text. Pass a YAML file.") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"Parameter file {path} is not valid YAML: {exc}") from None

    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"Parameter file {path} must be a mapping of names to values, got {type(data).__name__}.")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``NAME=VALUE`` override; the value is read as YAML, so types are kept.

    Example:
        >>> parse_override("service_port=8011")
        ('service_port', 8011)
    """
    name, sep, raw = text.partition("=")
    name = name.strip()

    if not sep or not name:
        raise ParameterError(f"Invalid override {text!r}: expected NAME=VALUE, for example -p service_port=8011.")

    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return name, value


def add_parameter_options(parser: argparse.ArgumentParser, params_help: str = "YAML file of runbook parameters.") -> None:
    """Add ``--params FILE`` and repeatable ``-p NAME=VALUE`` to a command's parser."""
    parser.add_argument("--params", type=Path, help=params_help)
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Override one parameter; the value is read as YAML, so 8011 is a number and [a, b] a list.",
    )


def params_from_options(
    args: argparse.Namespace, default_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> RunbookParams:
    """Load the parameters a command's ``--params`` and ``-p`` options name; ``overrides`` win over both."""
    values = dict(parse_override(text) for text in args.parameter)
    values.update(overrides or {})
    return load_params(args.params or default_file, values)
