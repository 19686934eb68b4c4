// Log Analytics + workspace-based Application Insights with local (key) auth off: telemetry is
// accepted only with an Entra token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING, infra/app/api.bicep;
// Monitoring Metrics Publisher, infra/app/rbac.bicep).
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    retentionInDays: 30
    sku: {
      name: 'PerGB2018'
    }
  }
}

// 2020-02-02: the components API version Azure-Samples' templates use; DisableLocalAuth is its
// property (AVM's insights/component `disableLocalAuth` parameter maps to it).
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name
output logAnalyticsName string = logAnalytics.name
