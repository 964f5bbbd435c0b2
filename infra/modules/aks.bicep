// AKS cluster with a system-assigned identity, one system node pool, the OIDC
// issuer and workload identity, and the Azure Files CSI driver.
param name string
param location string
param tags object
param nodeCount int
param nodeSize string
param systemPoolName string
param kubernetesVersion string
param oidcIssuerEnabled bool
param workloadIdentityEnabled bool
param fileCsiDriverEnabled bool

resource cluster 'Microsoft.ContainerService/managedClusters@2024-09-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    dnsPrefix: name
    kubernetesVersion: empty(kubernetesVersion) ? null : kubernetesVersion
    agentPoolProfiles: [
      {
        name: systemPoolName
        mode: 'System'
        count: nodeCount
        vmSize: nodeSize
        osType: 'Linux'
        type: 'VirtualMachineScaleSets'
      }
    ]
    oidcIssuerProfile: {
      enabled: oidcIssuerEnabled
    }
    securityProfile: {
      workloadIdentity: {
        enabled: workloadIdentityEnabled
      }
    }
    storageProfile: {
      fileCSIDriver: {
        enabled: fileCsiDriverEnabled
      }
    }
  }
}

output name string = cluster.name
output id string = cluster.id
output oidcIssuerUrl string = cluster.properties.oidcIssuerProfile.issuerURL
output kubeletObjectId string = cluster.properties.identityProfile.kubeletidentity.objectId
