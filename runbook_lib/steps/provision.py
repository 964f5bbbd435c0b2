"""Step 01: provision the resource group, AKS, the registry and the storage share."""

from __future__ import annotations

from ..params import RunbookParams
from ..runstate import record_result
from ._notice import Notice

STEP = "01_provision"


def provision_infrastructure(params: RunbookParams):
    """Create or update the target's infrastructure and record the outcome.

    Target ``local`` needs no infrastructure: the share is a local folder and
    the service a local process, so this step records that and changes nothing.
    """
    if params.target == "local":
        record_result(params.run_dir, STEP, {"target": "local", "applied": False, "reason": "not applicable"})
        return Notice("Nothing to provision for target local", "The share is a local folder and the API a local process.")

    raise NotImplementedError(f"Provisioning for target {params.target}")
