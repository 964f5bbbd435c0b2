"""Build and push the API image with ACR Tasks, so no local Docker daemon is needed.

The build context is packed into a gzipped tar, uploaded to the blob URL
the registry hands out (``listBuildSourceUploadUrl``), and built by a
``DockerBuildRequest`` run. The runbook polls the run until it finishes and
shows the tail of its log when it fails.
"""

from __future__ import annotations

import fnmatch
import io
import logging
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
from azure.core.credentials import TokenCredential

from ..errors import AcrBuildError, ParameterError
from ..params import RunbookParams
from ._arm import arm_errors, to_wire
from ._session import AzureSession, connect

logger = logging.getLogger("runbook_lib.azure")

TERMINAL_RUN_STATES = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}
ALWAYS_EXCLUDED = (".git", ".venv", ".runbook", "__pycache__", ".pytest_cache", "node_modules")
UPLOAD_TIMEOUT_S = 300
LOG_TAIL_LINES = 40


@dataclass
class BuildResult:
    """The image reference later steps deploy, and how it was produced."""

    image: str
    skipped: bool
    run_id: str | None = None
    status: str | None = None

    def render(self) -> str:
        if self.skipped:
            return f"Skipped the build; deploying the existing image {self.image}."
        return f"ACR Tasks run {self.run_id} {self.status}: pushed {self.image}."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def image_reference(params: RunbookParams, login_server: str) -> tuple[str, str]:
    """Split ``params.image`` into the repository:tag ACR builds and the full reference pods pull.

    An image without a registry host goes to the runbook's registry. An image naming another registry
    cannot be built there.

    Raises:
        ParameterError: ``image`` names a registry other than ``login_server``.

    Example:
        >>> image_reference(RunbookParams(image="docling-api:0.1.0"), "crabc.azurecr.io")
        ('docling-api:0.1.0', 'crabc.azurecr.io/docling-api:0.1.0')
    """
    image = params.image
    first, _, rest = image.partition("/")
    has_host = bool(rest) and ("." in first or ":" in first or first == "localhost")

    if not has_host:
        return image, f"{login_server}/{image}"
    if first.lower() != login_server.lower():
        raise ParameterError(
            f"image {image!r} names registry {first}, but ACR Tasks builds into {login_server}. Set -p image="
            f"{login_server}/{rest} (or just {rest}), or pass -p skip_build=true to deploy {image} as it is."
        )
    return rest, image


def pack_context(context_dir: Path) -> bytes:
    """Pack a build context into a gzipped tar, leaving out .dockerignore matches and local caches.

    Raises:
        ParameterError: the folder does not exist.
    """
    if not context_dir.is_dir():
        raise ParameterError(f"Build context {context_dir} is not a folder. Pass the repository root.")

    patterns = _dockerignore_patterns(context_dir)
    buffer = io.BytesIO()

    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(context_dir.rglob("*")):
            relative = path.relative_to(context_dir).as_posix()
            if _excluded(relative, patterns) or not path.is_file():
                continue
            archive.add(path, arcname=relative, recursive=False)
    return buffer.getvalue()


def _dockerignore_patterns(context_dir: Path) -> list[str]:
    ignore_file = context_dir / ".dockerignore"
    if not ignore_file.is_file():
        return []
    lines = ignore_file.read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.lstrip().startswith(("#", "!"))]


def _excluded(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    if any(part in ALWAYS_EXCLUDED for part in parts):
        return True
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for pattern in patterns for prefix in prefixes)


def build_image(
    params: RunbookParams,
    context_dir: str | Path = ".",
    dockerfile: str = "service/Dockerfile",
    credential: TokenCredential | None = None,
) -> BuildResult:
    """Build and push ``params.image`` into the runbook's registry with ACR Tasks, or skip with ``skip_build``.

    Args:
        params (`RunbookParams`): runbook parameters; ``image`` is the repository:tag to build, and
            ``skip_build`` returns the reference without building.
        context_dir (`str` or `Path`): the build context, normally the repository root.
        dockerfile (`str`): the Dockerfile's path inside the context.
        credential (`TokenCredential`, *optional*): a credential to use instead of ``azure_credential``'s.

    Raises:
        ParameterError: the context or Dockerfile is missing, or ``image`` names another registry.
        AcrBuildError: the run failed, was canceled or timed out; the message ends with the log's tail.

    Example:
        >>> build_image(params, context_dir=".", dockerfile="service/Dockerfile").image  # doctest: +SKIP
        'crabc.azurecr.io/docling-api:0.1.0'
    """
    session = connect(params, credential)
    settings = session.settings

    with arm_errors(settings, f"read container registry {settings.acr_name}"):
        registry = to_wire(session.containerregistry.registries.get(settings.resource_group, settings.acr_name))
    login_server = registry["properties"]["loginServer"]
    repository_tag, full_image = image_reference(params, login_server)

    if params.skip_build:
        logger.info("Skipping the image build; using %s", full_image)
        return BuildResult(image=full_image, skipped=True)

    context = Path(context_dir)
    if not (context / dockerfile).is_file():
        raise ParameterError(f"Dockerfile {dockerfile} not found in build context {context}.")

    source_location = _upload_context(session, pack_context(context))
    request = {
        "type": "DockerBuildRequest",
        "imageNames": [repository_tag],
        "isPushEnabled": True,
        "sourceLocation": source_location,
        "dockerFilePath": dockerfile,
        "platform": {"os": "Linux", "architecture": "amd64"},
        "timeout": int(min(session.operation_timeout_s, 28800)),
    }

    with arm_errors(settings, f"schedule an ACR Tasks build in {settings.acr_name}"):
        run = to_wire(session.registry_tasks.registries.schedule_run(settings.resource_group, settings.acr_name, request))
    run_id = (run.get("properties") or run)["runId"]
    logger.info("ACR Tasks run %s scheduled for %s", run_id, full_image)

    status = _wait_for_run(session, run_id)
    if status != "Succeeded":
        raise AcrBuildError(
            f"ACR Tasks run {run_id} for {full_image} ended with status {status}. Last log lines:\n"
            f"{_log_tail(session, run_id)}\nFix the build and run this step again, or pass -p skip_build=true."
        )
    return BuildResult(image=full_image, skipped=False, run_id=run_id, status=status)


def _upload_context(session: AzureSession, archive: bytes) -> str:
    settings = session.settings
    with arm_errors(settings, f"get a source upload URL from {settings.acr_name}"):
        upload = to_wire(session.registry_tasks.registries.get_build_source_upload_url(settings.resource_group, settings.acr_name))

    # The upload URL carries a SAS token: it is never logged.
    response = requests.put(
        upload["uploadUrl"],
        data=archive,
        headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"},
        timeout=UPLOAD_TIMEOUT_S,
    )
    if response.status_code not in (200, 201):
        raise AcrBuildError(
            f"Uploading the build context ({len(archive)} bytes) failed with HTTP {response.status_code}. "
            "Check network access to the registry's storage and run this step again."
        )
    logger.info("Uploaded the build context (%d bytes)", len(archive))
    return upload["relativePath"]


def _wait_for_run(session: AzureSession, run_id: str) -> str:
    settings = session.settings
    deadline = time.monotonic() + session.operation_timeout_s
    delay = 1.0
    last_status = None

    while True:
        with arm_errors(settings, f"read ACR Tasks run {run_id}"):
            run = to_wire(session.registry_tasks.runs.get(settings.resource_group, settings.acr_name, run_id))
        status = (run.get("properties") or run).get("status")

        if status != last_status:
            logger.info("ACR Tasks run %s: %s", run_id, status)
            last_status = status
        if status in TERMINAL_RUN_STATES:
            return status
        if time.monotonic() + delay > deadline:
            raise AcrBuildError(
                f"ACR Tasks run {run_id} still {status} after {session.operation_timeout_s:.0f} s. Follow it with "
                f"`az acr task logs -r {settings.acr_name} --run-id {run_id}`, then run this step with -p skip_build=true."
            )
        time.sleep(delay)
        delay = min(delay * 2, 15)


def _log_tail(session: AzureSession, run_id: str) -> str:
    settings = session.settings
    try:
        link = to_wire(session.registry_tasks.runs.get_log_sas_url(settings.resource_group, settings.acr_name, run_id))
        response = requests.get(link["logLink"], timeout=60)
        response.raise_for_status()
    except Exception as exc:  # The log is a diagnostic aid; failing to read it must not hide the build error.
        logger.warning("Could not read the log of ACR Tasks run %s: %s", run_id, type(exc).__name__)
        return "(log not available)"
    return "\n".join(response.text.splitlines()[-LOG_TAIL_LINES:])
