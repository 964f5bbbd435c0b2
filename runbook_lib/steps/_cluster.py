"""Cluster access shared by the steps of targets ``aks`` and ``kubeconfig``."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..errors import RunbookError
from ..params import RunbookParams
from ..paths import project_root
from ..runstate import read_result, record_result

IMAGE_STEP = "image"


def cluster_params(params: RunbookParams) -> RunbookParams:
    """Fill what the manifests need from Azure for target ``aks``: storage account, resource group and image.

    Other targets take the parameters as they are.
    """
    if params.target != "aks":
        return params

    from .. import azure

    settings = azure.resolve_settings(params)
    update = {
        "storage_account": params.storage_account or settings.storage_account,
        "resource_group": params.resource_group or settings.resource_group,
        "share_name": settings.share_name,
    }
    try:
        update["image"] = read_result(params.run_dir, IMAGE_STEP)["image"]
    except RunbookError:
        pass
    return params.model_copy(update=update)


def ensure_image(params: RunbookParams):
    """Build and push the API image with ACR Tasks for target ``aks``, once per run folder.

    The download Job (step 03) and the API (step 04) run the same image, so the
    first of them builds it and records the full reference. With
    ``skip_build`` the existing image is used. Returns the build result, or
    None for other targets.
    """
    if params.target != "aks":
        return None

    from .. import azure

    result = azure.build_image(params, context_dir=project_root(), dockerfile="service/Dockerfile")
    record_result(params.run_dir, IMAGE_STEP, result.to_dict())
    return result


@contextmanager
def open_cluster(params: RunbookParams) -> Iterator:
    """Connect to the target's cluster: a kubeconfig context, or AKS credentials fetched through the Azure SDK."""
    from ..k8s import connect_cluster

    if params.target == "aks":
        from .. import azure

        cluster = connect_cluster(params, get_aks_kubeconfig=lambda: azure.get_aks_kubeconfig(params))
    else:
        cluster = connect_cluster(params)

    with cluster:
        yield cluster
