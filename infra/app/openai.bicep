// An Azure OpenAI (kind OpenAI) or Foundry (kind AIServices) account with one image-model
// deployment, keys off; created only when the user supplies no AZURE_OPENAI_ENDPOINT.
param name string
param location string
param tags object = {}
@allowed([
  'OpenAI'
  'AIServices'
])
param kind string
param deploymentName string
param modelName string
@description('Empty: the service picks the model\'s default version.')
param modelVersion string
param skuName string
param capacity int
param identityPrincipalId string
param userPrincipalId string = ''

// Cognitive Services OpenAI User: inference with an Entra token, nothing else.
var openAiUserRoleId = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

// 2024-10-01: the GA API version of accounts and accounts/deployments used across Azure-Samples'
// OpenAI templates; customSubDomainName is required for Entra ID (token) auth.
resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: kind
  sku: {
    name: 'S0'
  }
  // Not used by the app; the account's own identity (for customer-managed keys and the like).
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
    // No `version` key at all when none is given: the model's `version` is optional and the
    // service then assigns its default (Learn, Cognitive Services DeploymentModel).
    model: union({
      format: 'OpenAI'
      name: modelName
    }, empty(modelVersion) ? {} : {
      version: modelVersion
    })
    versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
  }
}

resource identityOpenAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, identityPrincipalId, openAiUserRoleId)
  scope: account
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUserRoleId)
  }
}

resource userOpenAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(account.id, userPrincipalId, openAiUserRoleId)
  scope: account
  properties: {
    principalId: userPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUserRoleId)
  }
}

output name string = account.name
output endpoint string = account.properties.endpoint
output deploymentName string = deployment.name
