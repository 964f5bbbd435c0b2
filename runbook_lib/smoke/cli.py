"""``runbook smoke``: the smoke test against any running service."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``smoke`` command."""
    smoke = subparsers.add_parser("smoke", help="Convert the sample files through a running service and check them.")
    smoke.add_argument("--url", required=True, help="Base URL of the service, for example http://127.0.0.1:8000.")
    smoke.add_argument(
        "--dir", dest="folders", type=Path, action="append", default=[],
        help="Folder of documents to convert; repeatable. Default: the repository's testdata/.",
    )
    smoke.add_argument(
        "--expectations", type=Path,
        help="Expectations YAML; default testdata/expectations.yaml. Files without an entry must convert with text.",
    )
    smoke.add_argument("--timeout", type=float, default=600, help="Seconds to wait for each conversion.")
    smoke.set_defaults(handler=run_smoke_command)


def run_smoke_command(args: argparse.Namespace) -> int:
    """Run the smoke test, print a pass/fail table, and return 1 when anything failed."""
    from ..paths import project_root
    from . import load_expectations, run_smoke_test
    from ._run import describe_problem, sample_files

    testdata = project_root() / "testdata"
    folders = args.folders or [testdata]
    expectations = load_expectations(args.expectations or testdata / "expectations.yaml")

    report = run_smoke_test(
        args.url, sample_files(*folders), expectations, timeout_s=args.timeout, api_key=os.environ.get("DOCLING_API_KEY")
    )

    for result in report.results:
        verdict = "pass" if result.passed else "FAIL"
        print(f"{verdict:4}  {result.status_code!s:>4}  {result.seconds:6.1f} s  {result.name} ({result.case})  {describe_problem(result)}")

    failures = len(report.failures)
    print(f"{len(report.results) - failures} passed, {failures} failed")
    return 1 if failures else 0
