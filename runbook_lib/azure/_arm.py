"""Resource Manager plumbing: wire-format conversion, plain-word errors and long-running waits."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from ..errors import (
    AzureAuthorizationError,
    AzureCredentialError,
    AzureError,
    AzureNameConflictError,
    AzureQuotaError,
    AzureSkuNotAvailableError,
)
from ._naming import unique_string
from ._settings import AzureSettings

logger = logging.getLogger("runbook_lib.azure")

T = TypeVar("T")

_AUTHORIZATION_FAILED = re.compile(
    r"does not have authorization to perform action '(?P<action>[^']+)' over scope '(?P<scope>[^']+)'", re.IGNORECASE
)
_QUOTA_NUMBERS = re.compile(
    r"Current Limit: (?P<limit>\d+), Current Usage: (?P<usage>\d+), Additional Required: (?P<required>\d+)",
    re.IGNORECASE,
)
_QUOTA_CODES = {"quotaexceeded", "insufficientvcpuquota", "errcode_insufficientvcpuquota", "operationnotallowed"}
_SKU_CODES = {"skunotavailable", "vmsizenotsupported", "zonalallocationfailed", "allocationfailed", "invalidvmsize"}
_NAME_CONFLICT_CODES = {"storageaccountalreadytaken", "alreadyinuse", "registrynamenotavailable", "dnsrecordinuse"}
_ROLE_ASSIGNMENT_ACTIONS = ("microsoft.authorization/roleassignments/",)


def to_wire(model: Any) -> dict[str, Any] | None:
    """Convert an SDK model to its REST (camelCase) JSON form, or pass a dict through.

    Example:
        >>> to_wire({"properties": {"shareQuota": 100}})
        {'properties': {'shareQuota': 100}}
    """
    if model is None or isinstance(model, dict):
        return model
    if hasattr(model, "serialize") and hasattr(model, "_attribute_map"):
        return model.serialize(keep_readonly=True)
    return model.as_dict()


def get_or_none(fetch: Callable[[], T]) -> T | None:
    """Call a GET and return None when Resource Manager returns 404."""
    try:
        return fetch()
    except ResourceNotFoundError:
        return None


def error_code_and_message(exc: HttpResponseError) -> tuple[str, str]:
    """Read ARM's ``{"error": {"code", "message"}}`` body from an SDK error."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or ""

    if not code and exc.response is not None:
        try:
            body = exc.response.json()
        except ValueError:
            body = {}
        inner = body.get("error", body) if isinstance(body, dict) else {}
        code = inner.get("code", "") or ""
        message = inner.get("message", "") or ""

    return code, message or str(exc.message or exc)


def required_role_for(action: str) -> str:
    """Name the built-in role that grants an ARM action, for error messages."""
    lowered = action.lower()
    if lowered.startswith(_ROLE_ASSIGNMENT_ACTIONS):
        return "Role Based Access Control Administrator (or User Access Administrator, or Owner)"
    if lowered.endswith("/read"):
        return "Reader"
    return "Contributor"


def translate_error(exc: Exception, settings: AzureSettings, doing: str) -> AzureError:
    """Turn an SDK exception into a runbook error that names what failed and what to do next.

    Args:
        exc (`Exception`): the exception the SDK raised.
        settings (`AzureSettings`): the resolved settings, for the region, SKU and names.
        doing (`str`): what the runbook was doing, such as "create container registry crabc".

    Example:
        >>> from azure.core.exceptions import ClientAuthenticationError
        >>> type(translate_error(ClientAuthenticationError("expired"), settings, "read group")).__name__
        'AzureCredentialError'
    """
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        # Raised by azure-identity before any request reached Resource Manager.
        return AzureCredentialError(f"Could not {doing}: Azure sign-in failed ({exc}). {credential_hint()}")
    if not isinstance(exc, HttpResponseError):
        return AzureError(f"Could not {doing}: {exc}")

    code, message = error_code_and_message(exc)
    lowered = code.lower()
    status = exc.status_code

    if status == 401 or lowered in {"invalidauthenticationtoken", "authenticationfailed", "expiredauthenticationtoken"}:
        return AzureCredentialError(
            f"Could not {doing}: Resource Manager rejected the token ({code}: {message}). {credential_hint()}"
        )

    if status == 403 or lowered in {"authorizationfailed", "linkedauthorizationfailed"}:
        return _authorization_error(doing, code, message)

    if "quota" in lowered or (lowered in _QUOTA_CODES and "quota" in message.lower()):
        return _quota_error(doing, code, message, settings)

    if lowered in _SKU_CODES or ("sku" in message.lower() and "not available" in message.lower()):
        return AzureSkuNotAvailableError(
            f"Could not {doing}: the VM size {settings.aks_node_size} is not available to this subscription in "
            f"region {settings.location} ({code}: {message}). Pick another size with -p aks_node_size=... or "
            f"another region with -p location=...; `az vm list-skus -l {settings.location} --resource-type "
            "virtualMachines -o table` lists what the region offers."
        )

    if lowered in _NAME_CONFLICT_CODES or (status == 409 and "already" in message.lower() and "taken" in message.lower()):
        suggestion = unique_string(settings.subscription_scope, settings.environment_name, settings.location, "retry")
        return AzureNameConflictError(
            f"Could not {doing}: the name is already taken, possibly in another subscription ({code}: {message}). "
            f"Registry and storage account names are global. Choose a new suffix, for example "
            f"-p name_suffix={suggestion[:8]}, or set acr_name / storage_account explicitly."
        )

    return AzureError(f"Could not {doing}: Resource Manager returned {status} {code}: {message}")


def _authorization_error(doing: str, code: str, message: str) -> AzureAuthorizationError:
    match = _AUTHORIZATION_FAILED.search(message)
    if not match:
        return AzureAuthorizationError(
            f"Could not {doing}: not authorized ({code}: {message}). Ask an Owner of the subscription for the "
            "Contributor role on the resource group, and Role Based Access Control Administrator for role "
            "assignments, then sign in again."
        )

    action, scope = match.group("action"), match.group("scope")
    role = required_role_for(action)
    return AzureAuthorizationError(
        f"Could not {doing}: the signed-in identity may not perform {action} on scope {scope}. It needs the "
        f"{role} role on that scope or a parent scope. Ask an Owner to run `az role assignment create "
        f"--assignee <your object id> --role \"{role.split(' (')[0]}\" --scope {scope}`, then sign in again."
    )


def _quota_error(doing: str, code: str, message: str, settings: AzureSettings) -> AzureQuotaError:
    numbers = _QUOTA_NUMBERS.search(message)
    detail = ""
    if numbers:
        detail = (
            f" The limit is {numbers.group('limit')} vCPUs, {numbers.group('usage')} are in use and "
            f"{numbers.group('required')} more are needed."
        )
    return AzureQuotaError(
        f"Could not {doing}: the vCPU quota in region {settings.location} is too small for "
        f"{settings.aks_node_count} x {settings.aks_node_size}.{detail} Request more quota for that VM family "
        f"in the portal (Quotas > Compute), lower -p aks_node_count, or pick another region or size. "
        f"({code}: {message})"
    )


def credential_hint() -> str:
    return (
        "Sign in again (`az login` for azure_credential=cli), check that the credential belongs to the "
        "subscription's tenant, and that arm_audience matches the Resource Manager endpoint."
    )


@contextmanager
def arm_errors(settings: AzureSettings, doing: str) -> Iterator[None]:
    """Re-raise SDK errors inside the block as runbook errors that name ``doing``."""
    try:
        yield
    except (HttpResponseError, ClientAuthenticationError) as exc:
        raise translate_error(exc, settings, doing) from exc


def wait_for(poller: Any, label: str, timeout_s: float) -> Any:
    """Wait for a long-running operation, with a progress bar on a terminal and log lines otherwise.

    Args:
        poller (`LROPoller`): the SDK's poller from a ``begin_*`` call.
        label (`str`): what is being waited for, such as "create AKS cluster aks-abc".
        timeout_s (`float`): how long to wait in total.

    Raises:
        AzureError: the operation did not finish within ``timeout_s``.
    """
    started = time.monotonic()
    last_status = None
    bar = _progress_bar(label)

    try:
        while not poller.done():
            poller.wait(timeout=5)
            status = poller.status()

            if status != last_status:
                logger.info("%s: %s", label, status)
                last_status = status
            if bar is not None:
                bar.set_postfix_str(str(status))
                bar.update(0)

            if time.monotonic() - started > timeout_s and not poller.done():
                raise AzureError(
                    f"Timed out after {timeout_s:.0f} s waiting to {label} (last status {status}). The operation "
                    "continues in Azure: run the step again later, or raise azure_operation_timeout_s."
                )
        return poller.result()
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(label: str):
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=None, desc=label, bar_format="{desc}: {elapsed} {postfix}", file=sys.stderr)
