// The app's user-assigned managed identity: every data-plane call (storage, Azure OpenAI,
// Application Insights, Durable Task Scheduler) and the package download use it.
param name string
param location string
param tags object = {}

// API version as in Azure-Samples' core/identity/userAssignedIdentity.bicep.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
