"""Smoke test of a running conversion service: convert sample files, check phrases, show previews."""

from ._expectations import Expectation, load_expectations
from ._run import FileResult, SmokeReport, run_smoke_test

__all__ = ["Expectation", "FileResult", "SmokeReport", "load_expectations", "run_smoke_test"]
