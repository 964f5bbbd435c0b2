// Provisions the Docling conversion API's Azure resources: a resource group, a
// container registry, a storage account with the model file share, and an AKS
// cluster with the OIDC issuer and workload identity, then grants the
// cluster's kubelet identity pull access to the registry and access to the
// storage account. Defaults come from defaults.json, which the runbook's
// Python provisioning path (runbook_lib.azure) reads too.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; resource names are derived from it.')
param environmentName string

@minLength(1)
@description('Azure region for every resource.')
param location string

@description('Suffix for globally unique names; empty derives one from the subscription, environment and region.')
param nameSuffix string = ''

@description('Resource group name; empty for rg-<environmentName>.')
param resourceGroupName string = ''

@description('AKS cluster name; empty for aks-<suffix>.')
param aksClusterName string = ''

@description('Container registry name; empty for cr<suffix>.')
param acrName string = ''

@description('Storage account name; empty for st<suffix>.')
param storageAccountName string = ''

@minValue(1)
@maxValue(100)
@description('Number of nodes in the system node pool.')
param aksNodeCount int = loadJsonContent('defaults.json').aks.nodeCount

@description('VM size of the system node pool.')
param aksNodeSize string = loadJsonContent('defaults.json').aks.nodeSize

@description('Kubernetes version; empty for the AKS default.')
param kubernetesVersion string = ''

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
@description('Container registry SKU.')
param acrSku string = loadJsonContent('defaults.json').acr.sku

@description('Storage account SKU.')
param storageSku string = loadJsonContent('defaults.json').storage.sku

@description('Name of the Azure Files share that holds the model set.')
param shareName string = loadJsonContent('defaults.json').storage.shareName

@minValue(1)
@maxValue(102400)
@description('Quota of the file share in GiB.')
param shareQuotaGb int = loadJsonContent('defaults.json').storage.shareQuotaGb

var defaults = loadJsonContent('defaults.json')
var abbreviations = defaults.abbreviations
var resourceToken = empty(nameSuffix) ? toLower(uniqueString(subscription().id, environmentName, location)) : nameSuffix
var tags = union(defaults.tags, { 'azd-env-name': environmentName })

resource resourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? '${abbreviations.resourceGroup}${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module registry 'modules/acr.bicep' = {
  name: 'registry'
  scope: resourceGroup
  params: {
    name: empty(acrName) ? '${abbreviations.containerRegistry}${resourceToken}' : acrName
    location: location
    tags: tags
    sku: acrSku
    adminUserEnabled: defaults.acr.adminUserEnabled
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: resourceGroup
  params: {
    name: empty(storageAccountName) ? '${abbreviations.storageAccount}${resourceToken}' : storageAccountName
    location: location
    tags: tags
    sku: storageSku
    kind: defaults.storage.kind
    minimumTlsVersion: defaults.storage.minimumTlsVersion
    allowBlobPublicAccess: defaults.storage.allowBlobPublicAccess
    largeFileSharesState: defaults.storage.largeFileSharesState
    supportsHttpsTrafficOnly: defaults.storage.supportsHttpsTrafficOnly
    shareName: shareName
    shareQuotaGb: shareQuotaGb
  }
}

module aks 'modules/aks.bicep' = {
  name: 'aks'
  scope: resourceGroup
  params: {
    name: empty(aksClusterName) ? '${abbreviations.managedCluster}${resourceToken}' : aksClusterName
    location: location
    tags: tags
    nodeCount: aksNodeCount
    nodeSize: aksNodeSize
    systemPoolName: defaults.aks.systemPoolName
    kubernetesVersion: kubernetesVersion
    oidcIssuerEnabled: defaults.aks.oidcIssuerEnabled
    workloadIdentityEnabled: defaults.aks.workloadIdentityEnabled
    fileCsiDriverEnabled: defaults.aks.fileCsiDriverEnabled
  }
}

module acrPull 'modules/acr-role.bicep' = {
  name: 'acr-pull-role'
  scope: resourceGroup
  params: {
    registryName: registry.outputs.name
    principalId: aks.outputs.kubeletObjectId
    roleId: defaults.roles.acrPull.id
  }
}

module storageRoles 'modules/storage-roles.bicep' = {
  name: 'storage-roles'
  scope: resourceGroup
  params: {
    storageAccountName: storage.outputs.name
    principalId: aks.outputs.kubeletObjectId
    roleIds: [
      defaults.roles.storageAccountContributor.id
      defaults.roles.storageFileDataSmbShareContributor.id
    ]
  }
}

// azd exports these outputs as environment variables for the post-provision hook.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup.name
output AZURE_AKS_CLUSTER_NAME string = aks.outputs.name
output AZURE_AKS_OIDC_ISSUER_URL string = aks.outputs.oidcIssuerUrl
output AZURE_KUBELET_OBJECT_ID string = aks.outputs.kubeletObjectId
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_FILE_SHARE_NAME string = storage.outputs.shareName
