"""Kubernetes layer: render, validate, apply, wait, diagnose and roll back the Docling rollout.

Notebook cells call one function each, with a :class:`Cluster` from :func:`connect_cluster`:

- ``03_models``: :func:`prepare_model_storage`, then :func:`run_model_download_job`.
- ``04_rollout``: :func:`roll_out_api`, whose result carries the Service URL.
- ``05_smoke_test``: on failure and on request, :func:`roll_back_api`.

Names are imported from the submodules on first use, so that ``runbook --help``, which imports
``runbook_lib.k8s.cli``, does not load the kubernetes client.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "._access": ("Cluster", "connect_aks", "connect_cluster", "connect_kubeconfig"),
    "._apply": ("AppliedObject", "ApplyResult", "apply_manifests"),
    "._diagnose": ("PodReport", "describe_pod"),
    "._job": ("JobResult", "delete_job", "run_model_download_job", "wait_for_job"),
    "._names": ("CONFIGMAP_NAME", "DEPLOYMENT_NAME", "FIELD_MANAGER", "JOB_NAME", "NAMESPACE", "PVC_NAME", "SERVICE_NAME"),
    "._render": ("K8S_DIR", "RenderedManifests", "load_manifest_dir", "render_manifests"),
    "._rollout": ("RollbackResult", "RolloutResult", "rollback_deployment", "wait_for_deployment", "wait_for_service_address"),
    "._steps": ("prepare_model_storage", "roll_back_api", "roll_out_api"),
    "._validate": ("render_and_validate", "supported_versions", "validate_manifests"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _MODULE_OF)
