"""The runbook's cluster steps, one function per notebook cell."""

from __future__ import annotations

import logging

from ..params import RunbookParams
from . import _names as names
from ._access import Cluster
from ._apply import ApplyResult, apply_manifests
from ._rollout import RollbackResult, RolloutResult, rollback_deployment, wait_for_deployment, wait_for_service_address
from ._validate import render_and_validate

logger = logging.getLogger("runbook_lib.k8s")

STORAGE_KINDS = ("Namespace", "PersistentVolume", "PersistentVolumeClaim", "ConfigMap")
API_KINDS = ("Namespace", "PersistentVolume", "PersistentVolumeClaim", "Deployment", "Service")


def prepare_model_storage(cluster: Cluster, params: RunbookParams, *, dry_run: bool = False) -> ApplyResult:
    """Apply the namespace, the model volume and claim, and the model set ConfigMap (notebook 03).

    Raises:
        ManifestValidationError, ApplyError: see :func:`render_and_validate` and :func:`apply_manifests`.

    Example:
        >>> print(prepare_model_storage(cluster, params).summary())  # doctest: +SKIP
        Applied 4 objects: 4 created.
    """
    manifests = render_and_validate(params, cluster)
    return apply_manifests(cluster, manifests.select(*STORAGE_KINDS), dry_run=dry_run)


def roll_out_api(cluster: Cluster, params: RunbookParams) -> RolloutResult:
    """Apply the API Deployment and Service, wait for the rollout, then for the Service address (notebook 04).

    Returns:
        The rollout with ``url`` set to the Service's address, for the smoke test.

    Raises:
        RolloutFailedError: the rollout failed; the message contains the pods' diagnosis.
        KubernetesTimeoutError: the rollout or the Service address did not finish in time.

    Example:
        >>> roll_out_api(cluster, params).url  # doctest: +SKIP
        'http://20.50.1.7:80'
    """
    manifests = render_and_validate(params, cluster)
    applied = apply_manifests(cluster, manifests.select(*API_KINDS))

    rollout = wait_for_deployment(cluster, params.namespace, names.DEPLOYMENT_NAME, params=params)
    rollout.url = wait_for_service_address(cluster, params.namespace, names.SERVICE_NAME, params=params)
    rollout.changed = applied.changed
    return rollout


def roll_back_api(
    cluster: Cluster, params: RunbookParams, *, to_revision: int | None = None, dry_run: bool = False
) -> RollbackResult:
    """Roll the API Deployment back to its previous revision and wait for that rollout (notebook 05, on request).

    With ``dry_run`` it only reports which revision and image it would return to.

    Raises:
        RollbackError: there is no previous revision.
        RolloutFailedError, KubernetesTimeoutError: the rolled-back revision did not become available.

    Example:
        >>> print(roll_back_api(cluster, params))  # doctest: +SKIP
    """
    result = rollback_deployment(cluster, params.namespace, names.DEPLOYMENT_NAME, to_revision=to_revision, dry_run=dry_run)
    if not result.dry_run:
        wait_for_deployment(cluster, params.namespace, names.DEPLOYMENT_NAME, params=params)
    return result
