// Grants a principal roles on the storage account: Storage Account Contributor
// (the Azure Files CSI driver reads the account key with it) and Storage File
// Data SMB Share Contributor. Names are guid(scope, principal, role), as in the
// runbook's Python path.
param storageAccountName string
param principalId string
param roleIds array

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in roleIds: {
  name: guid(account.id, principalId, subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId))
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: principalId
    // The kubelet identity is new; a principal type avoids directory replication errors.
    principalType: 'ServicePrincipal'
  }
}]
