"""Step 01: provision the resource group, AKS, the registry and the storage share."""

from __future__ import annotations

from ..params import RunbookParams
from ..runstate import record_result
from ._notice import Notice, TextReport

STEP = "01_provision"
LOCAL_NOTICE = Notice("Nothing to provision for target local", "The share is a local folder and the API a local process.")


def show_provisioning_plan(params: RunbookParams):
    """Show, per resource, the current and desired state and what would change; changes nothing."""
    if params.target != "aks":
        return not_applicable(params)

    from .. import azure

    return TextReport("Provisioning plan", azure.plan(params).render())


def provision_infrastructure(params: RunbookParams):
    """Create or update the target's infrastructure and record the outcome.

    Target ``aks`` creates or updates the resource group, AKS, the registry,
    the storage account and the file share; a second run changes nothing.
    Targets ``local`` and ``kubeconfig`` need no Azure infrastructure, so this
    step records that and changes nothing.
    """
    if params.target != "aks":
        record_result(params.run_dir, STEP, {"target": params.target, "applied": False, "reason": "not applicable"})
        return not_applicable(params)

    from .. import azure

    result = azure.apply(params)
    record_result(params.run_dir, STEP, {"target": "aks", **result.to_dict()})
    return TextReport("Provisioning result", result.render())


def not_applicable(params: RunbookParams) -> Notice:
    """Say why a target has nothing to provision."""
    if params.target == "local":
        return LOCAL_NOTICE
    return Notice(f"Nothing to provision for target {params.target}", "The cluster from the kubeconfig context exists already.")
