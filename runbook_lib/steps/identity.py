"""Step 02: grant the cluster's kubelet identity the roles it needs."""

from __future__ import annotations

from ..params import RunbookParams
from ..runstate import record_result
from ._notice import Notice

STEP = "02_identity"


def grant_kubelet_roles(params: RunbookParams):
    """Assign the kubelet identity its roles on the registry and the storage account.

    Target ``local`` has no cluster identity, so this step records that and changes nothing.
    """
    if params.target == "local":
        record_result(params.run_dir, STEP, {"target": "local", "applied": False, "reason": "not applicable"})
        return Notice("No identities to set up for target local", "The local service reads the share folder directly.")

    raise NotImplementedError(f"Identity setup for target {params.target}")
