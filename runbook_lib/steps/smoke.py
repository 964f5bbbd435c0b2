"""Step 05: convert the sample files through the deployed API and check the results."""

from __future__ import annotations

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
    url = params.service_url or read_result(params.run_dir, "04_rollout")["service_url"]
    testdata = project_root() / "testdata"
    files = sample_files(testdata, *(resolve(folder) for folder in params.smoke_extra_dirs))
    expectations = load_expectations(resolve(params.smoke_expectations))

    report = run_smoke_test(url, files, expectations, timeout_s=params.smoke_timeout_s)

    record_result(params.run_dir, STEP, {
        "service_url": url,
        "passed": report.passed,
        "requests": len(report.results),
        "failures": [f"{result.name} ({result.case})" for result in report.failures],
        "seconds": {f"{result.name} ({result.case})": round(result.seconds, 2) for result in report.results},
    })
    return report
