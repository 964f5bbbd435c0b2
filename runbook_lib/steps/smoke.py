"""Step 05: convert the sample files through the deployed API and check the results."""

from __future__ import annotations

import os

from ..errors import RunbookError
from ..params import RunbookParams
from ..paths import project_root, resolve
from ..runstate import read_result, record_result
from ..smoke import SmokeReport, load_expectations, run_smoke_test
from ..smoke._run import sample_files

STEP = "05_smoke_test"


def run_smoke_test_step(params: RunbookParams) -> SmokeReport:
    """Post every sample file to the service the rollout recorded, and record the outcome.

    ``params.service_url`` wins over the recorded URL, for a service the runbook did not start.
    """
    url = params.service_url or recorded_service_url(params)
    testdata = project_root() / "testdata"
    files = sample_files(testdata, *(resolve(folder) for folder in params.smoke_extra_dirs))
    expectations = load_expectations(resolve(params.smoke_expectations))

    # The key stays in the environment, never in parameters, so no notebook output records it.
    api_key = os.environ.get("DOCLING_API_KEY")
    report = run_smoke_test(url, files, expectations, timeout_s=params.smoke_timeout_s, api_key=api_key)

    record_result(params.run_dir, STEP, {
        "service_url": url,
        "passed": report.passed,
        "requests": len(report.results),
        "failures": [f"{result.name} ({result.case})" for result in report.failures],
        "seconds": {f"{result.name} ({result.case})": round(result.seconds, 2) for result in report.results},
    })
    return report


def recorded_service_url(params: RunbookParams) -> str:
    """Return the URL 04_rollout recorded, after checking that 06_teardown has not stopped that service since."""
    url = read_result(params.run_dir, "04_rollout")["service_url"]

    try:
        teardown = read_result(params.run_dir, "06_teardown")
    except RunbookError:
        return url

    rollout = read_result(params.run_dir, "04_rollout")
    if teardown["recorded_at"] > rollout["recorded_at"]:
        raise RunbookError(
            f"06_teardown stopped the service at {url} at {teardown['recorded_at']}. "
            "Start it again with: runbook run --only 04,05"
        )
    return url


def roll_back_if_failed(params: RunbookParams, report: SmokeReport):
    """Roll the API back to its previous ReplicaSet when the smoke test failed and ``rollback_on_smoke_failure`` is set.

    Returns a notice of what was done; the local target has nothing to roll back.
    """
    from ._notice import Notice

    if report.passed:
        return Notice("No rollback", "Every smoke test expectation passed.")
    if params.target == "local":
        return Notice("No rollback for target local", "Fix the service or the models and run 04_rollout again.")
    if not params.rollback_on_smoke_failure:
        return Notice(
            "No rollback requested",
            "Set rollback_on_smoke_failure=True to roll back to the previous ReplicaSet when the smoke test fails.",
        )

    from ..k8s import roll_back_api
    from ._cluster import cluster_params, open_cluster

    params = cluster_params(params)
    with open_cluster(params) as cluster:
        result = roll_back_api(cluster, params)
    record_result(params.run_dir, "05_rollback", result.to_dict())
    return Notice("Rolled back", f"Deployment now runs {result.to_image}, the image before the failing rollout.")
