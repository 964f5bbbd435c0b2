"""Azure layer of the runbook: preflight, plan and apply, kubelet roles, image builds, teardown.

Every public function takes the runbook parameters and, optionally, an
``azure.core.credentials.TokenCredential`` that replaces the one the
``azure_credential`` parameter names. Defaults come from
``infra/defaults.json``, which the Bicep templates read too.
"""

from ._acr_build import BuildResult, build_image
from ._identity import IdentityResult, RoleAssignmentStatus, assign_kubelet_roles, plan_role_assignments
from ._kubeconfig import get_aks_kubeconfig
from ._naming import arm_guid, unique_string
from ._preflight import PreflightReport, preflight
from ._provision import ApplyResult, Plan, apply, plan
from ._session import AzureSession, build_credential, connect, resolve_endpoints
from ._settings import AzureSettings, load_defaults, resolve_settings
from ._teardown import TeardownResult, teardown

__all__ = [
    "ApplyResult",
    "AzureSession",
    "AzureSettings",
    "BuildResult",
    "IdentityResult",
    "Plan",
    "PreflightReport",
    "RoleAssignmentStatus",
    "TeardownResult",
    "apply",
    "arm_guid",
    "assign_kubelet_roles",
    "build_credential",
    "build_image",
    "connect",
    "get_aks_kubeconfig",
    "load_defaults",
    "plan",
    "plan_role_assignments",
    "preflight",
    "resolve_endpoints",
    "resolve_settings",
    "teardown",
    "unique_string",
]
