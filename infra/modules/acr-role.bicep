// Grants a principal a role on the container registry (AcrPull for the
// kubelet identity). The assignment name is guid(scope, principal, role), the
// same name the runbook's Python path computes, so both paths converge.
param registryName string
param principalId string
param roleId string

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

var roleDefinitionId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, principalId, roleDefinitionId)
  scope: registry
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    // The kubelet identity is new; a principal type avoids directory replication errors.
    principalType: 'ServicePrincipal'
  }
}
