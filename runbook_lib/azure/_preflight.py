"""Preflight checks before provisioning: sign-in, subscription, resource providers, VM size and quota, names."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.rest import HttpRequest

from ..errors import AzurePlanError
from ..params import RunbookParams
from ._arm import arm_errors, get_or_none, to_wire, translate_error
from ._session import AzureSession, connect

logger = logging.getLogger("runbook_lib.azure")

SUBSCRIPTION_API_VERSION = "2022-12-01"
PROVIDER_REGISTRATION_TIMEOUT_S = 600


@dataclass
class Check:
    """One preflight check: its name, whether it passed, and what was found or what to do."""

    name: str
    ok: bool
    detail: str


@dataclass
class PreflightReport:
    """All preflight checks, in the order they ran."""

    checks: list[Check] = field(default_factory=list)
    quota: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))
        logger.log(logging.INFO if ok else logging.WARNING, "Preflight %s: %s: %s", name, "ok" if ok else "FAILED", detail)

    def render(self) -> str:
        width = max(len(check.name) for check in self.checks)
        return "\n".join(f"{'ok' if check.ok else 'FAILED':<6}  {check.name:<{width}}  {check.detail}" for check in self.checks)

    def raise_for_failures(self) -> None:
        """Raise one error listing every failed check.

        Raises:
            AzurePlanError: at least one check failed.
        """
        failed = [check for check in self.checks if not check.ok]
        if failed:
            details = " ".join(f"{check.name}: {check.detail}" for check in failed)
            raise AzurePlanError(f"Preflight found {len(failed)} problem(s). {details}")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(check) for check in self.checks], "quota": self.quota}


def preflight(params: RunbookParams, credential: TokenCredential | None = None) -> PreflightReport:
    """Check that provisioning can succeed before anything is written.

    The checks, in order:

    - the credential gets a token for Resource Manager;
    - the subscription exists and is enabled;
    - the resource providers in ``infra/defaults.json`` are registered (``register_providers`` registers them);
    - the region offers the node VM size, and the regional and per-family vCPU quotas leave room for the nodes;
    - the registry and storage account names are free, unless the runbook's resource group already contains them.

    Args:
        params (`RunbookParams`): runbook parameters.
        credential (`TokenCredential`, *optional*): a credential to use instead of ``azure_credential``'s.

    Raises:
        AzureError: a check could not run at all; a check that ran and failed is reported, not raised.

    Example:
        >>> report = preflight(params)  # doctest: +SKIP
        >>> print(report.render())  # doctest: +SKIP
        ok      credential    token for https://management.azure.com/.default
        ...
        >>> report.raise_for_failures()  # doctest: +SKIP
    """
    session = connect(params, credential)
    report = PreflightReport()

    if not _check_credential(session, params, report):
        return report
    if not _check_subscription(session, report):
        return report

    _check_providers(session, params.register_providers, report)
    _check_vm_size_and_quota(session, report)
    _check_names(session, report)
    return report


def _check_credential(session: AzureSession, params: RunbookParams, report: PreflightReport) -> bool:
    try:
        session.credential.get_token(session.scope)
    except ClientAuthenticationError as exc:
        hints = {
            "cli": "Run `az login` (and `az account set -s <subscription>`).",
            "workload-identity": "Run inside a pod with workload identity: AZURE_CLIENT_ID, AZURE_TENANT_ID and "
            "AZURE_FEDERATED_TOKEN_FILE must be set.",
            "managed-identity": "Run on an Azure VM or pod with a managed identity; set AZURE_CLIENT_ID for a "
            "user-assigned one.",
            "default": "Run `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET.",
        }
        report.add(
            "credential",
            False,
            f"azure_credential={params.azure_credential} could not get a token for {session.scope}: "
            f"{str(exc).splitlines()[0]} {hints[params.azure_credential]}",
        )
        return False

    report.add("credential", True, f"azure_credential={params.azure_credential}, token for {session.scope}")
    return True


def _check_subscription(session: AzureSession, report: PreflightReport) -> bool:
    settings = session.settings
    request = HttpRequest("GET", f"/subscriptions/{settings.subscription_id}?api-version={SUBSCRIPTION_API_VERSION}")

    try:
        response = session.resources.send_request(request)
        response.raise_for_status()
    except HttpResponseError as exc:
        if exc.status_code == 404:
            report.add(
                "subscription",
                False,
                f"subscription {settings.subscription_id} not found for this credential. Check subscription_id "
                "and that the identity has a role in it (`az account list -o table`).",
            )
            return False
        raise translate_error(exc, settings, f"read subscription {settings.subscription_id}") from exc

    body = response.json()
    state = body.get("state")
    name = body.get("displayName", settings.subscription_id)
    if state != "Enabled":
        report.add("subscription", False, f"subscription {name} is {state}, not Enabled; provisioning would fail.")
        return False

    report.add("subscription", True, f"{name} ({settings.subscription_id}) is Enabled")
    return True


def _check_providers(session: AzureSession, register: bool, report: PreflightReport) -> None:
    settings = session.settings

    for namespace in settings.defaults["providers"]:
        with arm_errors(settings, f"read resource provider {namespace}"):
            state = to_wire(session.resources.providers.get(namespace)).get("registrationState")

        if state == "Registered":
            report.add(f"provider {namespace}", True, "Registered")
            continue

        if not register:
            report.add(
                f"provider {namespace}",
                False,
                f"{state}. Register it with `az provider register -n {namespace}`, or run again with "
                "-p register_providers=true.",
            )
            continue

        with arm_errors(settings, f"register resource provider {namespace}"):
            session.resources.providers.register(namespace)
            state = _wait_for_registration(session, namespace)
        report.add(f"provider {namespace}", state == "Registered", f"registered by the runbook ({state})")


def _wait_for_registration(session: AzureSession, namespace: str) -> str:
    deadline = time.monotonic() + PROVIDER_REGISTRATION_TIMEOUT_S
    delay = 1.0

    while True:
        state = to_wire(session.resources.providers.get(namespace)).get("registrationState")
        if state == "Registered" or time.monotonic() + delay > deadline:
            return state
        logger.info("Waiting for resource provider %s to register (%s)", namespace, state)
        time.sleep(delay)
        delay = min(delay * 2, 15)


def _vm_size_details(session: AzureSession) -> dict[str, Any] | None:
    settings = session.settings
    size_name = settings.aks_node_size.lower()

    for sku in session.compute.resource_skus.list(filter=f"location eq '{settings.location}'"):
        body = to_wire(sku)
        if body.get("resourceType") == "virtualMachines" and (body.get("name") or "").lower() == size_name:
            return body
    return None


def _existing_node_count(session: AzureSession) -> int:
    settings = session.settings
    cluster = to_wire(
        get_or_none(
            lambda: session.containerservice.managed_clusters.get(settings.resource_group, settings.aks_cluster_name)
        )
    )
    if not cluster:
        return 0
    pools = (cluster.get("properties") or {}).get("agentPoolProfiles") or []
    return sum(pool.get("count") or 0 for pool in pools if pool.get("vmSize", "").lower() == settings.aks_node_size.lower())


def _check_vm_size_and_quota(session: AzureSession, report: PreflightReport) -> None:
    settings = session.settings
    size, location = settings.aks_node_size, settings.location

    with arm_errors(settings, f"list VM sizes in {location}"):
        sku = _vm_size_details(session)

    if sku is None:
        report.add(
            "VM size",
            False,
            f"{size} is not offered in region {location}. Pick another -p aks_node_size or -p location "
            f"(`az vm list-skus -l {location} --resource-type virtualMachines -o table`).",
        )
        return

    restrictions = [item for item in sku.get("restrictions") or [] if item.get("type") == "Location"]
    if restrictions:
        reason = restrictions[0].get("reasonCode", "restricted")
        report.add(
            "VM size",
            False,
            f"{size} is not available to this subscription in region {location} ({reason}). Pick another size "
            "or region, or ask Azure support to lift the restriction.",
        )
        return

    capabilities = {item["name"]: item["value"] for item in sku.get("capabilities") or []}
    vcpus = int(float(capabilities.get("vCPUs", "0")))
    family = sku.get("family") or ""
    report.add("VM size", True, f"{size} ({vcpus} vCPUs, family {family}) is available in {location}")

    with arm_errors(settings, f"read compute quota in {location}"):
        usages = {to_wire(item)["name"]["value"].lower(): to_wire(item) for item in session.compute.usage.list(location)}
        new_nodes = max(0, settings.aks_node_count - _existing_node_count(session))

    needed = new_nodes * vcpus
    report.quota = {"location": location, "vm_size": size, "vcpus_per_node": vcpus, "vcpus_needed": needed}

    for key, label in (("cores", "Total Regional vCPUs"), (family.lower(), f"{family} vCPUs")):
        usage = usages.get(key)
        if usage is None:
            report.add(f"quota {label}", False, f"no quota record for {label} in {location}; check the quota in the portal.")
            continue

        limit, current = int(usage["limit"]), int(usage["currentValue"])
        free = limit - current
        report.quota[key] = {"limit": limit, "used": current, "free": free}
        if free < needed:
            report.add(
                f"quota {label}",
                False,
                f"region {location} has {free} of {limit} {label} free, {needed} needed for {new_nodes} x {size}. "
                "Request more quota (portal: Quotas > Compute), lower -p aks_node_count, or pick another region or size.",
            )
        else:
            report.add(f"quota {label}", True, f"{free} of {limit} free in {location}, {needed} needed")


def _check_names(session: AzureSession, report: PreflightReport) -> None:
    settings = session.settings
    group = settings.resource_group

    checks = [
        (
            "registry name",
            settings.acr_name,
            lambda: session.containerregistry.registries.get(group, settings.acr_name),
            lambda: session.containerregistry.registries.check_name_availability(
                {"name": settings.acr_name, "type": "Microsoft.ContainerRegistry/registries"}
            ),
        ),
        (
            "storage account name",
            settings.storage_account,
            lambda: session.storage.storage_accounts.get_properties(group, settings.storage_account),
            lambda: session.storage.storage_accounts.check_name_availability(
                {"name": settings.storage_account, "type": "Microsoft.Storage/storageAccounts"}
            ),
        ),
    ]

    for label, name, read_own, check in checks:
        with arm_errors(settings, f"check the {label} {name}"):
            if get_or_none(read_own) is not None:
                report.add(label, True, f"{name} already exists in resource group {group}")
                continue
            answer = to_wire(check())

        if answer.get("nameAvailable"):
            report.add(label, True, f"{name} is available")
        else:
            report.add(
                label,
                False,
                f"{name} is taken ({answer.get('reason')}: {answer.get('message')}). Choose a new suffix with "
                "-p name_suffix=<letters and digits>, or set the name explicitly.",
            )

