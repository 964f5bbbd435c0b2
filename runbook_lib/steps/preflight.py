"""Step 00: check tools, packages, disk space and the model source before changing anything."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from ..errors import RunbookError
from ..local_service import docling_api_command, is_service_alive, port_in_use
from ..params import RunbookParams
from ..paths import resolve
from ..runstate import read_result, record_result
from ._checks import CheckReport

STEP = "00_preflight"
REQUIRED_PACKAGES = ("docling", "huggingface_hub", "hf_xet", "fastapi", "uvicorn", "papermill", "kubernetes", "azure-identity")
OCR_LANGUAGES = ("eng", "nld")
DEFAULT_HUB = "https://huggingface.co"


def check_prerequisites(params: RunbookParams) -> CheckReport:
    """Run the checks for ``params.target`` and record the outcome.

    The report renders as a table in a notebook; call ``raise_for_failures()``
    on it to stop the runbook when a check failed.
    """
    report = CheckReport(title=f"Preflight for target {params.target}")

    check_python(report)
    check_packages(report)

    if params.target == "local":
        check_ocr(report)
        check_command(report)
        check_disk(report, resolve(params.share_dir), params.min_free_disk_gb)
        check_model_source(report, params)
        check_port(report, params)

    if params.target == "aks":
        check_azure(report, params)

    if params.target == "kubeconfig":
        check_cluster(report, params)

    record_result(params.run_dir, STEP, {
        "target": params.target,
        "passed": not report.failed,
        "checks": [check.__dict__ for check in report.checks],
    })
    return report


def check_azure(report: CheckReport, params: RunbookParams) -> None:
    """Check the credential, subscription, resource providers, regional quota and names through the Azure SDK."""
    from .. import azure

    for check in azure.preflight(params).checks:
        report.add(f"azure: {check.name}", check.ok, check.detail)


def check_cluster(report: CheckReport, params: RunbookParams) -> None:
    """Check that the kubeconfig context loads and its API server responds."""
    from ..k8s import connect_cluster

    try:
        with connect_cluster(params) as cluster:
            report.add("Kubernetes cluster", True, f"{cluster.description}, version {cluster.server_version()}")
    except RunbookError as exc:
        report.add("Kubernetes cluster", False, str(exc), "Set kubeconfig and kube_context to a cluster you can reach.")


def check_python(report: CheckReport) -> None:
    """Check that Python is 3.11 or newer."""
    version = ".".join(str(part) for part in sys.version_info[:3])
    report.add("Python", sys.version_info >= (3, 11), version, "Use Python 3.11 (environment.yml) or newer.")


def check_packages(report: CheckReport) -> None:
    """Check that the packages the runbook imports are installed."""
    for name in REQUIRED_PACKAGES:
        try:
            version = importlib.metadata.version(name)
            report.add(f"package {name}", True, version)
        except importlib.metadata.PackageNotFoundError:
            report.add(f"package {name}", False, "not installed", "Run `make setup` in the repository root.")


def check_ocr(report: CheckReport) -> None:
    """Check that Tesseract and its English and Dutch data are installed, for OCR of scanned PDFs."""
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        report.add("tesseract", False, "not found on PATH", "Install tesseract-ocr, or run `make setup`.")
        return

    listing = subprocess.run([tesseract, "--list-langs"], capture_output=True, text=True, check=False)
    installed = set(listing.stdout.split())
    missing = [language for language in OCR_LANGUAGES if language not in installed]
    report.add(
        "tesseract languages",
        not missing,
        f"missing {', '.join(missing)}" if missing else ", ".join(OCR_LANGUAGES),
        "Install tesseract-ocr-" + " tesseract-ocr-".join(missing) + ", or run `make setup`.",
    )


def check_command(report: CheckReport) -> None:
    """Check that the ``docling-api`` command is installed in this environment."""
    try:
        report.add("docling-api command", True, docling_api_command()[0])
    except Exception as exc:  # noqa: BLE001 - the check reports any failure as its detail
        report.add("docling-api command", False, str(exc), "Run `make setup` in the repository root.")


def check_disk(report: CheckReport, folder: Path, minimum_gb: float) -> None:
    """Check that the share folder's file system has room for a model set."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent

    free_gb = shutil.disk_usage(existing).free / 1024**3
    report.add(
        f"free disk at {folder}",
        free_gb >= minimum_gb,
        f"{free_gb:.1f} GiB free, {minimum_gb:.1f} GiB needed",
        "Free some space, or point share_dir at a larger disk.",
    )


def check_model_source(report: CheckReport, params: RunbookParams) -> None:
    """Check that the demo models can be generated, or that the Hub (or its mirror) responds."""
    if params.model_source == "demo":
        try:
            importlib.import_module("runbook_lib.models.demo")
            importlib.import_module("runbook_lib.hub_emulator")
            report.add("model source", True, "built-in Hub emulator with tiny demo models (no network)")
        except ImportError as exc:
            report.add("model source", False, f"demo models unavailable: {exc}", "Run `make setup`.")
        return

    endpoint = (params.hf_endpoint or DEFAULT_HUB).rstrip("/")
    url = f"{endpoint}/api/models/docling-project/docling-layout-heron"
    try:
        status = httpx.get(url, timeout=10).status_code
        report.add("model source", status < 500, f"{endpoint} answered {status}", "Check hf_endpoint and the network.")
    except httpx.HTTPError as exc:
        report.add(
            "model source",
            False,
            f"{endpoint} not reachable: {type(exc).__name__}",
            "Check the network or proxy, set hf_endpoint to a reachable mirror, or use model_source=demo.",
        )


def check_port(report: CheckReport, params: RunbookParams) -> None:
    """Check that the local service's port is free, or already serves the runbook's own service."""
    if not port_in_use(params.service_host, params.service_port):
        report.add(f"port {params.service_port}", True, "free")
        return

    ours = recorded_service_alive(params)
    report.add(
        f"port {params.service_port}",
        ours,
        "in use by the runbook's own service, which 04_rollout reuses" if ours else "in use by another program",
        "Stop that program, or pick another port with -p service_port=PORT.",
    )


def recorded_service_alive(params: RunbookParams) -> bool:
    """Return whether the service recorded by an earlier 04_rollout still responds on this port."""
    try:
        record = read_result(params.run_dir, "04_rollout")
    except RunbookError:
        return False
    expected_url = f"http://{params.service_host}:{params.service_port}"
    return record.get("service_url") == expected_url and is_service_alive(expected_url, int(record.get("pid", 0)))
