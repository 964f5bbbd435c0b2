"""Step 04: roll out the conversion API and wait until it is ready."""

from __future__ import annotations

import logging

import httpx

from ..errors import RunbookError
from ..local_service import is_service_alive, start_local_service, stop_process
from ..params import RunbookParams
from ..paths import resolve
from ..runstate import read_result, record_result

STEP = "04_rollout"
logger = logging.getLogger("runbook_lib.steps")


def roll_out_service(params: RunbookParams):
    """Start or update the conversion API for ``params.target`` and record its URL.

    Target ``local`` starts ``docling-api`` as a background process reading the
    share folder, waits for ``/ready`` and records the URL and pid. A service
    the runbook started before, still ready at the same URL on the same share,
    is kept as it is.
    """
    if params.target != "local":
        return roll_out_to_cluster(params)

    models_dir = resolve(params.share_dir)
    read_result(params.run_dir, "03_models")
    url = f"http://{params.service_host}:{params.service_port}"

    previous = previous_record(params)
    if previous and previous.get("service_url") == url and previous.get("models_dir") == str(models_dir):
        if is_service_alive(url, int(previous["pid"])):
            logger.info("Service at %s (pid %s) is already running and ready; keeping it", url, previous["pid"])
            return describe_service(url, previous, reused=True)
    if previous and previous.get("pid"):
        stop_process(int(previous["pid"]))

    def record(service, ready: bool) -> dict:
        values = {
            "target": "local",
            "service_url": service.url,
            "pid": service.pid,
            "models_dir": service.models_dir,
            "log_path": service.log_path,
            "ready": ready,
        }
        record_result(params.run_dir, STEP, values)
        return values

    service = start_local_service(
        models_dir=models_dir,
        host=params.service_host,
        port=params.service_port,
        workers=params.service_workers,
        log_path=resolve(params.run_dir) / "docling-api.log",
        ready_timeout_s=params.service_ready_timeout_s,
        on_started=lambda started: record(started, ready=False),
    )
    return describe_service(service.url, record(service, ready=True), reused=False)


def roll_out_to_cluster(params: RunbookParams):
    """Apply the Deployment and Service, wait for the rollout and the external address, and record the URL.

    Target ``aks`` builds the image with ACR Tasks first, unless step 03 of
    this run folder built it or ``skip_build`` is set.
    """
    import pandas as pd

    from ..k8s import roll_out_api
    from ._cluster import cluster_params, ensure_image, open_cluster
    from .models import read_image

    if read_image(params) is None:
        ensure_image(params)
    params = cluster_params(params)

    with open_cluster(params) as cluster:
        rollout = roll_out_api(cluster, params)

    record = {"target": params.target, "service_url": rollout.url, **rollout.to_dict()}
    record_result(params.run_dir, STEP, record)
    return pd.DataFrame(sorted(rollout.to_dict().items()), columns=["property", "value"])


def previous_record(params: RunbookParams) -> dict | None:
    """Return what an earlier rollout recorded in this run folder, if anything."""
    try:
        return read_result(params.run_dir, STEP)
    except RunbookError:
        return None


def describe_service(url: str, record: dict, reused: bool):
    """Return a table of what the running service reports about itself."""
    import pandas as pd

    info = httpx.get(f"{url}/", timeout=10).json()
    model_set = info.get("model_set") or {}
    rows = [
        ("URL", url),
        ("pid", record.get("pid")),
        ("state", "kept running (already ready)" if reused else "started and ready"),
        ("service version", info.get("version")),
        ("docling version", info.get("docling_version")),
        ("model set", model_set.get("set_id") or model_set.get("artifacts_path")),
        ("log", record.get("log_path")),
    ]
    return pd.DataFrame(rows, columns=["property", "value"])


def service_url(params: RunbookParams) -> str:
    """Return the URL the rollout step recorded for this run folder."""
    return read_result(params.run_dir, STEP)["service_url"]


