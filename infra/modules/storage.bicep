// Storage account and the Azure Files share that holds the model set.
param name string
param location string
param tags object
param sku string
param kind string
param minimumTlsVersion string
param allowBlobPublicAccess bool
param largeFileSharesState string
param supportsHttpsTrafficOnly bool
param shareName string
param shareQuotaGb int

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  kind: kind
  properties: {
    minimumTlsVersion: minimumTlsVersion
    allowBlobPublicAccess: allowBlobPublicAccess
    largeFileSharesState: largeFileSharesState
    supportsHttpsTrafficOnly: supportsHttpsTrafficOnly
  }
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource share 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  parent: fileService
  name: shareName
  properties: {
    shareQuota: shareQuotaGb
  }
}

output name string = account.name
output id string = account.id
output shareName string = share.name
