// Durable Task Scheduler + task hub (DURABLE_BACKEND=dts), with Durable Task Data Contributor for
// the app's identity and the deploying user (its dashboard). As in Azure-Samples'
// durable-functions-order-processing-python (infra/main.bicep + app/dts.bicep).
param name string
param taskHubName string
param location string
param tags object = {}
param identityPrincipalId string
param userPrincipalId string = ''
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string = 'Consumption'

// Durable Task Data Contributor (the role id Azure-Samples' DTS templates assign).
var dtsDataContributorRoleId = '0ad04412-c4d5-4796-b79c-f76d14c8d402'

// 2025-11-01: the GA management API version of Microsoft.DurableTask (announced in
// microsoft/durabletask-dotnet#491; used by the Azure-Samples DTS templates).
resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // Reachable from anywhere, authenticated by Entra ID only (Flex Consumption without a VNet
    // has no fixed outbound addresses to list here).
    ipAllowlist: [
      '0.0.0.0/0'
    ]
    sku: {
      name: skuName
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

resource identityDtsData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scheduler.id, identityPrincipalId, dtsDataContributorRoleId)
  scope: scheduler
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dtsDataContributorRoleId)
  }
}

resource userDtsData 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(scheduler.id, userPrincipalId, dtsDataContributorRoleId)
  scope: scheduler
  properties: {
    principalId: userPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dtsDataContributorRoleId)
  }
}

output name string = scheduler.name
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
