"""AKS user credentials (a kubeconfig) through the Azure SDK."""

from __future__ import annotations

from azure.core.credentials import TokenCredential

from ..errors import AzureError
from ..params import RunbookParams
from ._arm import arm_errors
from ._session import connect


def get_aks_kubeconfig(params: RunbookParams, credential: TokenCredential | None = None) -> bytes:
    """Fetch the cluster user kubeconfig of the runbook's AKS cluster (``listClusterUserCredential``).

    With Microsoft Entra ID integration, the kubeconfig signs in through kubelogin; without it, it contains
    a client certificate. Treat it as a secret: keep it out of logs and notebook outputs.

    Args:
        params (`RunbookParams`): runbook parameters naming the subscription, resource group and cluster.
        credential (`TokenCredential`, *optional*): a credential to use instead of ``azure_credential``'s.

    Raises:
        AzureError: the cluster was not found or returned no kubeconfig; subclasses name missing roles.

    Example:
        >>> Path("kubeconfig").write_bytes(get_aks_kubeconfig(params))  # doctest: +SKIP
    """
    session = connect(params, credential)
    settings = session.settings
    doing = f"get the user kubeconfig of AKS cluster {settings.aks_cluster_name}"

    with arm_errors(settings, doing):
        result = session.containerservice.managed_clusters.list_cluster_user_credentials(
            settings.resource_group, settings.aks_cluster_name
        )

    kubeconfigs = result.kubeconfigs or []
    if not kubeconfigs or not kubeconfigs[0].value:
        raise AzureError(f"Could not {doing}: Resource Manager returned no kubeconfig. Check the cluster state.")
    return bytes(kubeconfigs[0].value)
