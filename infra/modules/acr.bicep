// Container registry for the API image. The admin user stays disabled: AKS
// pulls with its kubelet identity through the AcrPull role.
param name string
param location string
param tags object
param sku string
param adminUserEnabled bool

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    adminUserEnabled: adminUserEnabled
  }
}

output name string = registry.name
output id string = registry.id
output loginServer string = registry.properties.loginServer
