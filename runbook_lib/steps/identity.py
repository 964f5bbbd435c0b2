"""Step 02: grant the cluster's kubelet identity the roles it needs."""

from __future__ import annotations

from ..params import RunbookParams
from ..runstate import record_result
from ._notice import Notice, TextReport

STEP = "02_identity"


def grant_kubelet_roles(params: RunbookParams):
    """Assign the kubelet identity AcrPull on the registry and the storage roles on the account.

    Target ``aks`` creates the missing role assignments, counts existing
    equivalent ones as done, and waits until they are visible. Targets
    ``local`` and ``kubeconfig`` have no Azure identity to set up, so this step
    records that and changes nothing.
    """
    if params.target != "aks":
        record_result(params.run_dir, STEP, {"target": params.target, "applied": False, "reason": "not applicable"})
        return Notice(
            f"No identities to set up for target {params.target}",
            "The local service reads the share folder directly." if params.target == "local"
            else "The cluster's own storage and registry access apply.",
        )

    from .. import azure

    result = azure.assign_kubelet_roles(params)
    record_result(params.run_dir, STEP, {"target": "aks", **result.to_dict()})
    return TextReport("Kubelet identity role assignments", result.render())
