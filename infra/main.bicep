// `azd up` entry point: a resource group and one module per concern (infra/app/*.bicep).
// Modelled on Azure-Samples/durable-functions-quickstart-python-azd and
// durable-functions-order-processing-python (infra/main.bicep), with plain resources instead of
// the Bicep registry's AVM modules so that every file parses and is scanned offline (make test).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: the resource group is rg-<name>, the other names hash it.')
param environmentName string

@minLength(1)
@description('Region of every resource: Flex Consumption and the image model must both be offered there.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying user or principal (azd passes AZURE_PRINCIPAL_ID): it gets data roles so `make start` works against these resources. Empty: no roles for it.')
param principalId string = ''

@description('An existing Azure OpenAI / Foundry endpoint (azd env set AZURE_OPENAI_ENDPOINT ...). Empty: the template creates an account and a deployment.')
param azureOpenAiEndpoint string = ''

@allowed([
  'OpenAI'
  'AIServices'
])
@description('Kind of the account created when azureOpenAiEndpoint is empty: OpenAI (Azure OpenAI) or AIServices (Foundry).')
param openAiAccountKind string = 'OpenAI'

@description('Deployment name of the image model: created here, or the name of yours on azureOpenAiEndpoint.')
param openAiDeploymentName string = 'gpt-image-2'

@allowed([
  'gpt-image-2'
  'gpt-image-1.5'
  'gpt-image-1-mini'
  'gpt-image-1'
])
@description('Model to deploy (when an account is created), or the model of the deployment on your own endpoint: the app validates requests by this family (IMAGE_MODELS).')
param openAiModelName string = 'gpt-image-2'

@description('Model version to deploy; empty: the service\'s default version for the model.')
param openAiModelVersion string = ''

@description('Deployment SKU (quota type), e.g. GlobalStandard; regions and quotas differ.')
param openAiDeploymentSku string = 'GlobalStandard'

@minValue(1)
@description('Deployment capacity in the SKU\'s units; needs that much quota in the region.')
param openAiDeploymentCapacity int = 1

@allowed([
  'azurestorage'
  'dts'
])
@description('Durable Functions backend: azurestorage (queues/tables in the storage account) or dts (Durable Task Scheduler).')
param durableBackend string = 'azurestorage'

@secure()
@minLength(32)
@description('Signs the status links the app hands out (STATUS_LINK_SECRET): at least 32 characters of random text; never a literal here (infra/main.parameters.json reads it from the azd environment).')
param statusLinkSecret string

@secure()
@description('The previous STATUS_LINK_SECRET while rotating it (verifies links, signs none); empty when not rotating. docs/app.md "Signed status links".')
param statusLinkSecretPrevious string = ''

@description('The storage queue the queue trigger reads (IMAGE_REQUESTS_QUEUE).')
param imageRequestsQueue string = 'image-requests'

@minValue(40)
@maxValue(1000)
@description('Flex Consumption: most instances the app scales out to.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption: memory per instance (MB).')
param instanceMemoryMB int = 2048

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-api-${resourceToken}'
// Flex Consumption reads the app package from this blob container (Azure-Samples' naming).
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var imagesContainerName = 'images'
var createOpenAi = empty(azureOpenAiEndpoint)
var useDts = durableBackend == 'dts'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity './app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage './app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    containerNames: [
      imagesContainerName
      deploymentContainerName
    ]
    queueNames: [
      imageRequestsQueue
    ]
  }
}

module monitoring './app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module openAi './app/openai.bicep' = if (createOpenAi) {
  name: 'openai'
  scope: rg
  params: {
    name: 'oai-${resourceToken}'
    location: location
    tags: tags
    kind: openAiAccountKind
    deploymentName: openAiDeploymentName
    modelName: openAiModelName
    modelVersion: openAiModelVersion
    skuName: openAiDeploymentSku
    capacity: openAiDeploymentCapacity
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

module dts './app/dts.bicep' = if (useDts) {
  name: 'dts'
  scope: rg
  params: {
    name: 'dts-${resourceToken}'
    taskHubName: 'imageshub'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

module rbac './app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

var openAiEndpoint = createOpenAi ? openAi.outputs.endpoint : azureOpenAiEndpoint

module api './app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    imagesContainerName: imagesContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    openAiEndpoint: openAiEndpoint
    openAiDeploymentName: openAiDeploymentName
    imageRequestsQueue: imageRequestsQueue
    statusLinkSecret: statusLinkSecret
    statusLinkSecretPrevious: statusLinkSecretPrevious
    openAiModelName: openAiModelName
    durableBackend: durableBackend
    dtsEndpoint: useDts ? dts.outputs.endpoint : ''
    dtsTaskHubName: useDts ? dts.outputs.taskHubName : ''
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The host starts with its identity-based storage connection: grant the roles first.
  dependsOn: [
    rbac
  ]
}

// Read by azd (`azd env get-values`) and by docs/deploy.md's steps. No output is named like an
// input of infra/main.parameters.json (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_DEPLOYMENT,
// DURABLE_BACKEND): azd writes outputs into the env, so the next provision would read them back
// as the user's choice, and `azd down` deletes every output key, the user's settings with them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output IMAGES_STORAGE_ACCOUNT_URL string = storage.outputs.blobEndpoint
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output SERVICE_API_OPENAI_ENDPOINT string = openAiEndpoint
output SERVICE_API_OPENAI_DEPLOYMENT string = openAiDeploymentName
output IMAGE_REQUESTS_QUEUE string = imageRequestsQueue
output SERVICE_API_DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_SCHEDULER_ENDPOINT string = useDts ? dts.outputs.endpoint : ''
