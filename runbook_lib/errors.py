"""The one exception hierarchy of ``runbook_lib``.

Every error the library raises on purpose derives from :class:`RunbookError`.
Its message says what failed, on which value, and what to do next, so the CLI
and the notebooks print it as it is, without a traceback.

Exit codes follow the CLI contract: 1 for a check that found a mismatch,
2 for usage, configuration and access errors.
"""

from __future__ import annotations


class RunbookError(Exception):
    """Base class for the errors the runbook reports to an operator."""

    exit_code = 2


class UsageError(RunbookError):
    """An invalid argument, parameter or parameter file."""


class ParameterError(UsageError):
    """A runbook parameter is missing or has an invalid value."""


# Model sets, the Hub and the share.


class ModelSetError(UsageError):
    """A model set file is missing, unreadable or invalid."""


class DemoModelsError(UsageError):
    """The demo model generator got an invalid seed or destination, or could not write there."""


class HubError(RunbookError):
    """The Hugging Face Hub, or a mirror of it, rejected or failed a request."""


class HubAuthError(HubError):
    """The Hub returned 401 or 403: a token is missing or lacks access."""


class HubNotFoundError(HubError):
    """The Hub returned 404 for a repository, revision or file."""


class DownloadError(RunbookError):
    """A download failed after its retries."""


class VerificationError(RunbookError):
    """Downloaded or published files do not match the Hub's hashes or sizes."""

    exit_code = 1


class PublishError(RunbookError):
    """A model set could not be published to the share."""


class LeaseError(PublishError):
    """Another run holds the share's lease and it is not stale yet."""


class ShareLayoutError(RunbookError):
    """The share has no active set, or a set without a valid manifest."""


class EmulatorError(RunbookError):
    """The Hub emulator's store or server could not be built, started or configured."""


class DiskFullError(RunbookError):
    """The staging folder or the share ran out of space."""


# Local processes, clusters and clouds.


class ServiceError(RunbookError):
    """The conversion service could not be started, reached or stopped."""


class SmokeTestError(RunbookError):
    """One or more smoke test expectations failed."""

    exit_code = 1


class KubernetesError(RunbookError):
    """A Kubernetes request, rollout or Job failed."""


class ManifestValidationError(KubernetesError):
    """A rendered manifest does not match the Kubernetes schemas."""


class ClusterAccessError(KubernetesError):
    """The kubeconfig, context or AKS credentials cannot be loaded, or the API server is unreachable or refuses them."""


class ApplyError(KubernetesError):
    """The API server rejected a server-side apply: invalid object, immutable field or conflict."""


class JobFailedError(KubernetesError):
    """A Job failed, or its pod is stuck (image pull, mount); the message contains the diagnosis."""


class RolloutFailedError(KubernetesError):
    """A Deployment rollout failed, or a Service got no address; the message contains the diagnosis."""


class RollbackError(KubernetesError):
    """A Deployment cannot be rolled back, for example because it has no previous revision."""


class KubernetesTimeoutError(KubernetesError):
    """Waiting for a Job, rollout or Service address timed out; the message contains the diagnosis."""


class AzureError(RunbookError):
    """An Azure Resource Manager request failed."""


class AzureCredentialError(AzureError):
    """No Azure credential could get a token, or Resource Manager rejected the token."""


class AzureAuthorizationError(AzureError):
    """The signed-in identity lacks a role for an action on a scope."""


class AzureQuotaError(AzureError):
    """A regional vCPU quota is too small for the requested nodes."""


class AzureSkuNotAvailableError(AzureError):
    """A VM size or other SKU is not offered to the subscription in the region."""


class AzureNameConflictError(AzureError):
    """A globally unique resource name is already taken by someone else."""


class AzurePlanError(AzureError):
    """A requested change cannot be made in place, or preflight found a blocking problem."""


class AcrBuildError(AzureError):
    """An ACR Tasks image build failed or timed out."""


class NotebookError(RunbookError):
    """A notebook failed while the runner executed it."""

    exit_code = 1
