"""Post sample files to ``/convert`` and check each response against its expectation."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..errors import SmokeTestError, UsageError
from ._expectations import Expectation

logger = logging.getLogger("runbook_lib.smoke")

DOCUMENT_SUFFIXES = {".pdf", ".docx", ".pptx", ".xlsx", ".html", ".htm", ".md", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


@dataclass
class FileResult:
    """One conversion request of the smoke test and how it compared with its expectation."""

    name: str
    case: str
    path: str
    expected_status: int
    status_code: int | None = None
    seconds: float = 0.0
    pages: int = 0
    missing_phrases: list[str] = field(default_factory=list)
    error: str = ""
    markdown: str = ""
    document: dict[str, Any] | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        """Whether the status matched and every phrase was found."""
        return self.status_code == self.expected_status and not self.missing_phrases and not self.error


@dataclass
class SmokeReport:
    """Every request of a smoke test run."""

    url: str
    results: list[FileResult]

    @property
    def passed(self) -> bool:
        """Whether every request met its expectation."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[FileResult]:
        """The requests that missed their expectation."""
        return [result for result in self.results if not result.passed]

    def table(self):
        """Return a pass/fail table, one row per request, as a pandas DataFrame."""
        import pandas as pd

        rows = [
            {
                "file": result.name,
                "case": result.case,
                "result": "pass" if result.passed else "FAIL",
                "status": result.status_code,
                "expected": result.expected_status,
                "pages": result.pages,
                "seconds": round(result.seconds, 2),
                "problem": describe_problem(result),
            }
            for result in self.results
        ]
        return pd.DataFrame(rows)

    def raise_for_failures(self) -> None:
        """Raise when any request missed its expectation, naming each one and why."""
        if self.passed:
            return
        lines = [f"{result.name} ({result.case}): {describe_problem(result)}" for result in self.failures]
        raise SmokeTestError(
            f"{len(self.failures)} of {len(self.results)} smoke test requests against {self.url} failed:\n"
            + "\n".join(lines)
        )


def run_smoke_test(
    url: str,
    files: list[Path],
    expectations: dict[str, Expectation],
    timeout_s: float = 600,
    api_key: str | None = None,
) -> SmokeReport:
    """Convert each file through ``POST /convert`` and check the response.

    A file with an expectation must return its status and contain its phrases;
    an encrypted one is also sent without its password. A file without one must
    convert with status 200 and some text.

    Args:
        url (`str`): the service's base URL, such as ``http://127.0.0.1:8000``.
        files (`list[Path]`): the documents to send.
        expectations (`dict[str, Expectation]`): expectations keyed by file name.
        timeout_s (`float`): seconds to wait for each conversion.
        api_key (`str`, *optional*): sent as ``X-Api-Key`` when the service requires one.

    Example:
        >>> report = run_smoke_test("http://127.0.0.1:8000", sample_files(Path("testdata")), expectations)
        >>> report.passed
        True
    """
    headers = {"X-Api-Key": api_key} if api_key else {}
    results = []

    if not url.startswith(("http://", "https://")):
        raise UsageError(f"Invalid service URL {url!r}: it must start with http:// or https://.")

    with httpx.Client(base_url=url, timeout=timeout_s, headers=headers) as client:
        unreachable = check_service(client, url)
        if unreachable is not None:
            return SmokeReport(url=url, results=[unreachable])
        for path in files:
            expectation = expectations.get(path.name)
            match = expectation.match if expectation else "phrases"
            for case, options, expected_status, phrases in request_cases(path, expectation):
                result = convert_one(client, path, case, options, expected_status, phrases, match)
                logger.info(
                    "%s (%s): %s, status %s, %.1f s",
                    path.name, case, "pass" if result.passed else "FAIL", result.status_code, result.seconds,
                )
                results.append(result)

    return SmokeReport(url=url, results=results)


def check_service(client: httpx.Client, url: str) -> FileResult | None:
    """Return one failed result when nothing responds to ``GET /health`` at ``url``, else None.

    One clear failure replaces a connection error per file.
    """
    result = FileResult(name="service", case="GET /health", path="", expected_status=200)

    try:
        response = client.get("/health", timeout=10)
    except httpx.HTTPError as exc:
        result.error = (
            f"no service answers at {url} ({type(exc).__name__}: {exc}); "
            "start it with notebook 04_rollout, or check the URL"
        )
        return result

    if response.status_code != 200:
        result.status_code = response.status_code
        result.error = "GET /health failed; check the service log"
        return result
    return None


def request_cases(path: Path, expectation: Expectation | None):
    """Yield ``(case, options, expected status, phrases)`` for each request a file needs."""
    if expectation is None:
        yield "default", {}, 200, []
        return

    options = dict(expectation.options)
    if expectation.password is not None:
        if expectation.status_without_password is not None:
            yield "without password", options, expectation.status_without_password, []
        options = {**options, "password": expectation.password}
        yield "with password", options, expectation.status, expectation.phrases
        return

    yield "default", options, expectation.status, expectation.phrases


def convert_one(
    client: httpx.Client,
    path: Path,
    case: str,
    options: dict[str, Any],
    expected_status: int,
    phrases: list[str],
    match: str = "phrases",
) -> FileResult:
    """Send one file and compare the response with what is expected."""
    result = FileResult(
        name=path.name, case=case, path=str(path), expected_status=expected_status, password=options.get("password")
    )
    form = form_fields({**options, "to_formats": ["md", "json"]})

    started = time.monotonic()
    try:
        response = client.post("/convert", files={"file": (path.name, path.read_bytes())}, data=form)
    except httpx.HTTPError as exc:
        result.error = f"request failed: {type(exc).__name__}: {exc}"
        return result
    result.seconds = time.monotonic() - started
    result.status_code = response.status_code

    body = parse_json(response)
    if response.status_code != 200:
        result.error = "" if response.status_code == expected_status else error_message(body, response)
        return result

    result.markdown = body.get("markdown") or ""
    result.document = body.get("json")
    result.pages = int(body.get("pages") or 0)
    result.seconds = float((body.get("timings") or {}).get("total", result.seconds))

    result.missing_phrases = missing_phrases(result.markdown, phrases, match)
    if not phrases and not result.markdown.strip() and expected_status == 200:
        result.error = "converted to empty Markdown"
    return result


def missing_phrases(markdown: str, phrases: list[str], match: str) -> list[str]:
    """Return the phrases the Markdown lacks: as written, or with ``match="words"`` word by word."""
    if match == "words":
        words = set(re.findall(r"\w+", markdown))
        return [phrase for phrase in phrases if not set(re.findall(r"\w+", phrase)) <= words]

    flat = collapse_whitespace(markdown)
    return [phrase for phrase in phrases if collapse_whitespace(phrase) not in flat]


def form_fields(options: dict[str, Any]) -> dict[str, Any]:
    """Turn options into multipart form values: booleans as true/false, lists as repeated fields."""
    fields: dict[str, Any] = {}
    for name, value in options.items():
        if isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            fields[name] = [str(item) for item in value]
        else:
            fields[name] = str(value)
    return fields


def sample_files(*folders: Path) -> list[Path]:
    """Return the documents in ``folders`` (not recursive), sorted by name within each folder."""
    files = []
    for folder in folders:
        if not folder.is_dir():
            raise SmokeTestError(f"Sample folder {folder} not found.")
        files.extend(sorted(path for path in folder.iterdir() if is_sample_document(path)))
    return files


def is_sample_document(path: Path) -> bool:
    """Return whether a file is a document to convert; a folder's README describes it and is skipped."""
    return path.is_file() and path.suffix.lower() in DOCUMENT_SUFFIXES and path.stem.upper() != "README"


def describe_problem(result: FileResult) -> str:
    """Say in a few words why a request failed, or return an empty string."""
    if result.passed:
        return ""
    if result.error and result.status_code is None:
        return result.error
    if result.status_code != result.expected_status:
        detail = f": {result.error}" if result.error else ""
        return f"status {result.status_code}, expected {result.expected_status}{detail}"
    if result.missing_phrases:
        return "missing phrases: " + "; ".join(repr(phrase) for phrase in result.missing_phrases)
    return result.error


def collapse_whitespace(text: str) -> str:
    """Collapse runs of whitespace to one space."""
    return re.sub(r"\s+", " ", text)


def parse_json(response: httpx.Response) -> dict[str, Any]:
    """Return the response's JSON object, or an empty dict when it has none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_message(body: dict[str, Any], response: httpx.Response) -> str:
    """Return the service's error message, or the start of the raw body."""
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return response.text[:200]
