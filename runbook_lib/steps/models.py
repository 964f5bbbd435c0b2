"""Step 03: download the model set over Xet, verify it and publish it to the share."""

from __future__ import annotations

import logging

from ..params import RunbookParams
from ..paths import resolve
from ..runstate import record_result
from ._notice import Notice

STEP = "03_models"
DEMO_MODELS_DIR = ".runbook/demo-models"
DEMO_HUB_DIR = ".runbook/hub-emulator"
logger = logging.getLogger("runbook_lib.steps")


def publish_model_set(params: RunbookParams):
    """Download, verify and publish the model set to the share, and record its id.

    Target ``local`` publishes into ``share_dir`` with the same code the
    Kubernetes download Job runs. With ``model_source="demo"`` the source is
    the built-in Hub emulator serving the tiny demo models, which runs only
    for the download. With ``"hub"`` it is the Hugging Face Hub or
    ``hf_endpoint``. A set already published and intact downloads nothing.
    """
    if params.target != "local":
        return run_download_job(params)

    from ..models import download_model_set

    share = resolve(params.share_dir)
    model_set = resolve(params.model_set) if params.model_set else None

    if params.model_source == "demo":
        from ..hub_emulator import HubEmulator, build_demo_store
        from ..models.demo import write_demo_models

        demo_models = write_demo_models(resolve(DEMO_MODELS_DIR))
        build_demo_store(demo_models, resolve(DEMO_HUB_DIR))
        with HubEmulator(resolve(DEMO_HUB_DIR)) as hub:
            logger.info("Hub emulator serving the demo models at %s", hub.endpoint)
            result = download_model_set(model_set, share, endpoint=hub.endpoint, progress="log")
    else:
        result = download_model_set(model_set, share, endpoint=params.hf_endpoint, progress="log")

    record_result(params.run_dir, STEP, {
        "target": params.target,
        "set_id": result.set_id,
        "set_path": str(result.path),
        "already_published": result.already_published,
        "bytes_downloaded": result.bytes_downloaded,
        "duration_s": round(result.duration_s, 2),
    })
    return summary_table(result)


def run_download_job(params: RunbookParams):
    """Prepare the model volume and run the download Job on the cluster, streaming its logs.

    The Job runs ``runbook models download`` against the share, the same code
    as the local target. With ``skip_model_wait`` it is started and not waited
    for. A failing Job raises with its pod's state, recent events and a hint.
    """
    from ..k8s import prepare_model_storage, run_model_download_job
    from ._cluster import cluster_params, ensure_image, open_cluster

    if read_image(params) is None:
        ensure_image(params)
    params = cluster_params(params)

    with open_cluster(params) as cluster:
        storage = prepare_model_storage(cluster, params)
        print(storage.summary())
        job = run_model_download_job(cluster, params)

    record_result(params.run_dir, STEP, {"target": params.target, "storage": storage.to_dict(), "job": job.to_dict()})
    import pandas as pd

    return pd.DataFrame(sorted(job.to_dict().items()), columns=["property", "value"])


def read_image(params: RunbookParams) -> str | None:
    """Return the image an earlier step of this run folder built, if any."""
    from ..errors import RunbookError
    from ..runstate import read_result
    from ._cluster import IMAGE_STEP

    try:
        return read_result(params.run_dir, IMAGE_STEP)["image"]
    except RunbookError:
        return None


def summary_table(result):
    """Return what the download run did, as a two-column table."""
    import pandas as pd

    rows = [
        ("set id", result.set_id),
        ("published at", str(result.path)),
        ("state", "already published, nothing downloaded" if result.already_published else "downloaded and published"),
        ("previous set", result.previous_set_id or "none"),
        ("files downloaded", result.files_downloaded),
        ("bytes downloaded", f"{result.bytes_downloaded / 1024**2:.1f} MiB"),
        ("duration", f"{result.duration_s:.1f} s"),
    ]
    return pd.DataFrame(rows, columns=["property", "value"])


def manifest_table(params: RunbookParams):
    """Return every file of the active set on the share: repository, path, size, hash and transport.

    On a cluster target the share is not mounted here; the Job's log shows the manifest instead.
    """
    import pandas as pd

    if params.target != "local":
        return Notice("Manifest", "The share is mounted in the cluster; the download Job's log above lists the set.")

    from ..models import read_current, read_manifest

    share = resolve(params.share_dir)
    manifest = read_manifest(share, read_current(share))

    rows = [
        {
            "repository": repository.repo,
            "revision": repository.revision,
            "commit": repository.commit[:12],
            "file": file.path,
            "MiB": round(file.size / 1024**2, 2),
            "sha256": file.sha256[:16],
            "transport": file.transport,
        }
        for repository in manifest.repositories
        for file in repository.files
    ]
    return pd.DataFrame(rows)
