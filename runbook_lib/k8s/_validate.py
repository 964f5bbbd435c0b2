"""Offline validation of manifests against the Kubernetes OpenAPI schemas (kubernetes-validate)."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterable

import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, all_versions
from packaging.version import Version

from ..errors import ManifestValidationError, ParameterError
from ..params import RunbookParams
from ._render import RenderedManifests, render_manifests

logger = logging.getLogger("runbook_lib.k8s")

MINOR_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


def supported_versions() -> list[str]:
    """Return the Kubernetes minor versions the installed kubernetes-validate ships schemas for.

    Example:
        >>> "1.33" in supported_versions()
        True
    """
    minors = {".".join(version.split(".")[:2]) for version in all_versions()}
    return sorted(minors, key=Version)


def schema_version(kubernetes_version: str | None, *, clamp_newer: bool = False) -> str:
    """Return the minor version to validate against, such as ``"1.33"``.

    Args:
        kubernetes_version (`str`, *optional*): a cluster version such as ``"1.33"``, ``"v1.33.2"``
            or ``"v1.31.4+k3s1"``; empty for the newest shipped schemas.
        clamp_newer (`bool`): for a version newer than the shipped schemas, use the newest with a
            warning instead of raising (for versions read from a cluster).

    Raises:
        ParameterError: the version is malformed, older than the shipped schemas, or newer without ``clamp_newer``.

    Example:
        >>> schema_version("v1.31.4+k3s1")
        '1.31'
    """
    supported = supported_versions()
    if not kubernetes_version:
        return supported[-1]

    match = MINOR_VERSION.match(kubernetes_version.strip())
    if match is None:
        raise ParameterError(f"kubernetes_version {kubernetes_version!r} is not a Kubernetes version such as '1.33'.")

    minor = f"{match.group(1)}.{match.group(2)}"
    if clamp_newer and Version(minor) > Version(supported[-1]):
        logger.warning("Kubernetes %s is newer than the shipped schemas; validating against %s.", kubernetes_version, supported[-1])
        return supported[-1]
    if minor not in supported:
        raise ParameterError(
            f"kubernetes_version {kubernetes_version!r}: kubernetes-validate {kubernetes_validate.__version__} ships schemas "
            f"for {supported[0]} to {supported[-1]} only. Pick a version in that range, or upgrade kubernetes-validate."
        )
    return minor


def validate_manifests(documents: Iterable[dict], kubernetes_version: str | None = None, *, clamp_newer: bool = False) -> str:
    """Validate manifests strictly (unknown fields are errors) against the schemas of one Kubernetes version.

    Args:
        documents (iterable of `dict`): the parsed manifests.
        kubernetes_version (`str`, *optional*): the cluster's version; empty for the newest shipped schemas.
        clamp_newer (`bool`): see :func:`schema_version`.

    Returns:
        The minor version the manifests were validated against.

    Raises:
        ManifestValidationError: one or more manifests are invalid; the message lists each object, field path and problem.
        ParameterError: the version is not supported.

    Example:
        >>> validate_manifests([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "docling"}}], "1.33")
        '1.33'
    """
    version = schema_version(kubernetes_version, clamp_newer=clamp_newer)
    problems = []
    count = 0

    for doc in documents:
        count += 1
        label = f"{doc.get('kind', '?')} {doc.get('metadata', {}).get('name', '?')}"
        problem = _schema_problem(json.dumps(doc, sort_keys=True), version)
        if problem:
            problems.append(f"{label}: {problem}")

    if problems:
        raise ManifestValidationError(
            f"{len(problems)} manifest problem(s) against the Kubernetes {version} schemas:\n  "
            + "\n  ".join(problems)
            + "\nFix the parameters or the base manifests in k8s/, then render again."
        )

    logger.info("Validated %d manifests against the Kubernetes %s schemas (strict).", count, version)
    return version


@functools.lru_cache(maxsize=256)
def _schema_problem(document_json: str, version: str) -> str | None:
    """Return the first schema problem of one document, or None; cached because kubernetes-validate reloads its schemas per call."""
    try:
        kubernetes_validate.validate(json.loads(document_json), version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path) or "(top level)"
        return f"{path}: {exc.message}"
    except SchemaNotFoundError as exc:
        return exc.message
    return None


def render_and_validate(params: RunbookParams, cluster=None) -> RenderedManifests:
    """Render the manifests and validate them strictly against the cluster's Kubernetes version.

    The version is ``params.kubernetes_version`` when set, else the connected cluster's version, else the
    newest shipped schemas. A cluster newer than the shipped schemas is validated against the newest.

    Raises:
        ParameterError: a parameter is invalid, or ``kubernetes_version`` has no schemas.
        ManifestValidationError: a rendered manifest does not match the schemas.

    Example:
        >>> manifests = render_and_validate(params, cluster)  # doctest: +SKIP
    """
    manifests = render_manifests(params)

    if params.kubernetes_version:
        validate_manifests(manifests.documents(), params.kubernetes_version)
    elif cluster is not None:
        validate_manifests(manifests.documents(), cluster.server_version(), clamp_newer=True)
    else:
        validate_manifests(manifests.documents())
    return manifests
