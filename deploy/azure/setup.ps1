<#
.SYNOPSIS
  Azure setup for one sentinel-signl4 connector with the Az PowerShell modules (the
  counterpart of setup.sh; Connect-AzAccount first).

.DESCRIPTION
  1. an app registration and its service principal, and a client secret (its expiry printed);
  2. the least-privilege custom role in role.json (created, or updated when it exists),
     assigned to the app on the Sentinel workspace;
  3. with -Dcr: Monitoring Metrics Publisher on the SIGNL4_CL data collection rule;
  4. prints the [[connector]] TOML fragment to paste (the secret is printed once, here only).

  Not exercised by the project's tests (no PowerShell on its CI machines); setup.sh is, with a
  recording stand-in for az. Keep the two in step.

.EXAMPLE
  ./setup.ps1 -Subscription SUB -ResourceGroup rg-sentinel -Workspace ws-contoso -Name contoso
#>
[CmdletBinding()]
param(
  [Parameter(Mandatory = $true)] [string] $Subscription,
  [Parameter(Mandatory = $true)] [string] $ResourceGroup,
  [Parameter(Mandatory = $true)] [string] $Workspace,
  [Parameter(Mandatory = $true)] [string] $Name,
  [string] $AppName = "",
  [ValidateRange(1, 2)] [int] $SecretYears = 2,
  [string] $Dcr = ""
)
$ErrorActionPreference = 'Stop'
Import-Module Az.Accounts, Az.Resources, Az.OperationalInsights

if (-not $AppName) { $AppName = "sentinel-signl4-$Name" }
$scope = "/subscriptions/$Subscription/resourceGroups/$ResourceGroup/providers/Microsoft.OperationalInsights/workspaces/$Workspace"
$roleName = 'sentinel-signl4 connector'

Set-AzContext -Subscription $Subscription | Out-Null
$tenantId = (Get-AzContext).Tenant.Id
$workspaceId = (Get-AzOperationalInsightsWorkspace -ResourceGroupName $ResourceGroup -Name $Workspace).CustomerId

Write-Host "setup.ps1: app registration $AppName"
$app = Get-AzADApplication -DisplayName $AppName | Select-Object -First 1
if (-not $app) { $app = New-AzADApplication -DisplayName $AppName }
$sp = Get-AzADServicePrincipal -ApplicationId $app.AppId
if (-not $sp) { $sp = New-AzADServicePrincipal -ApplicationId $app.AppId }

Write-Host "setup.ps1: client secret valid $SecretYears years"
$expires = (Get-Date).ToUniversalTime().AddYears($SecretYears)
$credential = New-AzADAppCredential -ObjectId $app.Id -EndDate $expires
$secret = $credential.SecretText

Write-Host "setup.ps1: custom role '$roleName' on $scope"
$role = Get-Content -Raw -Path (Join-Path $PSScriptRoot 'role.json') | ConvertFrom-Json
$role.AssignableScopes = @($scope)
$roleFile = New-TemporaryFile
try {
  $role | ConvertTo-Json -Depth 5 | Set-Content -Path $roleFile
  $existing = Get-AzRoleDefinition -Name $roleName -ErrorAction SilentlyContinue
  if ($existing) {
    $role | Add-Member -NotePropertyName Id -NotePropertyValue $existing.Id -Force
    $role | ConvertTo-Json -Depth 5 | Set-Content -Path $roleFile
    Set-AzRoleDefinition -InputFile $roleFile | Out-Null
  } else {
    New-AzRoleDefinition -InputFile $roleFile | Out-Null
  }
} finally {
  Remove-Item -Path $roleFile -Force
}
New-AzRoleAssignment -ObjectId $sp.Id -RoleDefinitionName $roleName -Scope $scope | Out-Null

if ($Dcr) {
  Write-Host "setup.ps1: Monitoring Metrics Publisher on $Dcr"
  New-AzRoleAssignment -ObjectId $sp.Id -RoleDefinitionName 'Monitoring Metrics Publisher' -Scope $Dcr | Out-Null
}

Write-Host ("setup.ps1: the client secret expires {0:yyyy-MM-dd}; role assignments can take a few minutes to apply" -f $expires)
@"
[[connector]]
name = "$Name"
tenant_id = "$tenantId"
subscription_id = "$Subscription"
client_id = "$($app.AppId)"
client_secret = "$secret"   # better: put it in a file and use client_secret_file
client_secret_expires = $('{0:yyyy-MM-dd}' -f $expires)
resource_group = "$ResourceGroup"
workspace_name = "$Workspace"
workspace_id = "$workspaceId"
"@
