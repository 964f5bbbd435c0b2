"""Step 06: stop what the runbook started and, when confirmed, remove what it created."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ..errors import ParameterError, RunbookError
from ..local_service import process_exists, stop_process
from ..params import RunbookParams
from ..paths import resolve
from ..runstate import read_result, record_result

STEP = "06_teardown"
logger = logging.getLogger("runbook_lib.steps")


def tear_down(params: RunbookParams):
    """Stop the local service and, when confirmed, remove the local share.

    Removing the share is destructive, so it runs only with ``dry_run=False``
    and ``confirm`` naming the same folder as ``share_dir``. Otherwise the step
    lists what it would remove. Stopping the service loses no data and always runs.

    Raises:
        ParameterError: ``dry_run`` is off but ``confirm`` does not name the share.
    """
    if params.target == "aks":
        return tear_down_azure(params)
    if params.target == "kubeconfig":
        from ._notice import Notice

        # NOTE: the runbook does not delete objects on clusters it did not create; the operator does.
        return Notice(
            "Nothing deleted on the kubeconfig cluster",
            f"Remove the runbook's objects with: kubectl delete namespace {params.namespace}. "
            "The model volume's PersistentVolume has reclaim policy Retain, so the share's data stays.",
        )

    share = resolve(params.share_dir)
    confirmed = bool(params.confirm) and resolve(params.confirm) == share
    if not params.dry_run and not confirmed:
        raise ParameterError(
            f"Refusing to remove {share}: confirm is {params.confirm!r}. "
            f"Pass -p confirm={params.share_dir} to remove it, or -p dry_run=true to only list it."
        )

    actions = [stop_recorded_service(params)]
    actions.append(remove_share(share, dry_run=params.dry_run))

    record_result(params.run_dir, STEP, {"target": "local", "dry_run": params.dry_run, "actions": actions})
    import pandas as pd

    return pd.DataFrame(actions)


def tear_down_azure(params: RunbookParams):
    """Delete the resource group, only with ``dry_run=False`` and ``confirm`` equal to its name.

    Otherwise list the resources the deletion would remove and send no writes.

    Raises:
        ParameterError: ``dry_run`` is off but ``confirm`` does not name the resource group.
    """
    from .. import azure
    from ._notice import TextReport

    guarded = params.model_copy(update={"confirm": ""}) if params.dry_run else params
    result = azure.teardown(guarded)
    record_result(params.run_dir, STEP, {"target": "aks", "dry_run": params.dry_run, **result.to_dict()})

    if not params.dry_run and result.exists and not result.deleted:
        raise ParameterError(
            f"Refusing to delete resource group {result.resource_group}: confirm is {params.confirm!r}. "
            f"Pass -p confirm={result.resource_group} to delete it, or -p dry_run=true to only list it."
        )
    return TextReport("Teardown", result.render())


def stop_recorded_service(params: RunbookParams) -> dict:
    """Stop the service process that 04_rollout recorded, if it still runs."""
    try:
        record = read_result(params.run_dir, "04_rollout")
    except RunbookError:
        return {"action": "stop local service", "result": "skipped", "detail": "no service recorded in this run folder"}

    pid = int(record.get("pid", 0))
    if not pid or not process_exists(pid):
        return {"action": "stop local service", "result": "skipped", "detail": f"pid {pid} is not running"}

    stop_process(pid)
    logger.info("Stopped docling-api (pid %d)", pid)
    return {"action": "stop local service", "result": "done", "detail": f"stopped pid {pid} at {record.get('service_url')}"}


def remove_share(share: Path, dry_run: bool) -> dict:
    """Remove the local share folder, or in a dry run report how much removing it would free."""
    if not share.exists():
        return {"action": f"remove {share}", "result": "skipped", "detail": "does not exist"}

    size_mb = sum(path.stat().st_size for path in share.rglob("*") if path.is_file()) / 1024**2
    if dry_run:
        return {"action": f"remove {share}", "result": "dry run", "detail": f"would free {size_mb:.1f} MiB"}

    shutil.rmtree(share)
    logger.info("Removed %s (%.1f MiB)", share, size_mb)
    return {"action": f"remove {share}", "result": "done", "detail": f"freed {size_mb:.1f} MiB"}
