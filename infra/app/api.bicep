// The Flex Consumption (FC1) plan and the Function App, its package container and its app
// settings. Modelled on Azure-Samples/functions-quickstart-python-http-azd
// (infra/core/host/functions-flexconsumption.bicep, infra/app/api.bicep) and Microsoft Learn's
// "Automate resource deployment for your function app" (Flex Consumption tab).
param name string
param planName string
param location string
param tags object = {}
@description('azure.yaml service this app hosts (azd finds the app by its azd-service-name tag).')
param serviceName string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param imagesContainerName string
param applicationInsightsName string
param openAiEndpoint string
param openAiDeploymentName string
param imageRequestsQueue string
@secure()
param statusLinkSecret string
@secure()
param statusLinkSecretPrevious string = ''
param openAiModelName string = 'gpt-image-2'
@allowed([
  'azurestorage'
  'dts'
])
param durableBackend string
param dtsEndpoint string = ''
param dtsTaskHubName string = ''
param maximumInstanceCount int = 100
param instanceMemoryMB int = 2048

// The Python the repo pins (pyproject.toml requires-python >= 3.11, mypy/ruff target 3.11).
var pythonVersion = '3.11'
var blobEndpoint = 'https://${storageAccountName}.blob.${environment().suffixes.storage}'
var queueEndpoint = 'https://${storageAccountName}.queue.${environment().suffixes.storage}'
var tableEndpoint = 'https://${storageAccountName}.table.${environment().suffixes.storage}'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// 2024-04-01: the Microsoft.Web API version of Learn's Flex Consumption Bicep examples
// (functionAppConfig is a property of sites from 2023-12-01 on).
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux: Flex Consumption runs Linux only
  }
}

// Identity-based host storage: Learn "Connecting to host storage with an identity" (the
// AzureWebJobsStorage__credential/__clientId/__<service>ServiceUri settings).
var storageSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
}

// The app's own settings (shared/settings.py `Settings`; docs/app.md "Settings").
var appOwnSettings = {
  // DefaultAzureCredential picks the user-assigned identity by this client id.
  AZURE_CLIENT_ID: identityClientId
  IMAGES_STORAGE_ACCOUNT_URL: blobEndpoint
  IMAGES_CONTAINER: imagesContainerName
  AZURE_OPENAI_ENDPOINT: openAiEndpoint
  // One model, on the deployment created (or named) by this template; the app's JSON form.
  // The public name and family are the model's (the app validates requests by its family).
  IMAGE_MODELS: string({
    '${openAiModelName}': {
      deployment: openAiDeploymentName
      family: openAiModelName
      flavour: 'azure-deployment'
    }
  })
  IMAGE_DEFAULT_MODEL: openAiModelName
  IMAGE_REQUESTS_QUEUE: imageRequestsQueue
  STATUS_LINK_SECRET: statusLinkSecret
}

// While rotating only: the appsettings resource replaces the whole set, so the previous secret
// must come from a parameter too, or a provision would drop it and break the links handed out.
var rotationSettings = empty(statusLinkSecretPrevious) ? {} : {
  STATUS_LINK_SECRET_PREVIOUS: statusLinkSecretPrevious
}

// Telemetry with Entra auth (App Insights has local auth off): the format of Azure-Samples'
// api.bicep, `ClientId=<client id>;Authorization=AAD`.
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// DURABLE_BACKEND=dts: app settings override host.json (Learn "host.json reference", override
// with AzureFunctionsJobHost__path__to__setting), so host.json keeps the Azure Storage backend
// for `make start` and the devstack. The provider `azureManaged` and its connection string
// `Endpoint=...;Authentication=ManagedIdentity;ClientID=...` are Learn's (Durable Task Scheduler
// quickstart / troubleshooting, user-assigned identity); the hub name must be the task hub's.
var dtsSettings = durableBackend == 'dts' ? {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${dtsEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
  AzureFunctionsJobHost__extensions__durableTask__hubName: dtsTaskHubName
} : {}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Every app setting the app gets; tests/unit/infra reads the union's variables.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(storageSettings, appOwnSettings, rotationSettings, monitoringSettings, dtsSettings)
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
