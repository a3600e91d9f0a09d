#!/usr/bin/env bash
# Azure setup for one sentinel-signl4 connector, with the Azure CLI (`az login` first):
#   1. an app registration and its service principal, and a client secret (its expiry printed);
#   2. the least-privilege custom role in role.json (created, or updated when it exists),
#      assigned to the app on the Sentinel workspace;
#   3. with --dcr: Monitoring Metrics Publisher on the SIGNL4_CL data collection rule
#      (deploy/signl4_cl/azuredeploy.json creates the rule);
#   4. prints the [[connector]] TOML fragment to paste (the secret is printed once, here only).
#
# Usage: setup.sh --subscription ID --resource-group RG --workspace NAME --name CONNECTOR
#                 [--app-name NAME] [--secret-years N] [--dcr RULE_RESOURCE_ID]
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

subscription="" resource_group="" workspace="" name="" app_name="" years=2 dcr=""
while [ $# -gt 0 ]; do
  case "$1" in
    --subscription) subscription="${2:-}"; shift 2 ;;
    --resource-group) resource_group="${2:-}"; shift 2 ;;
    --workspace) workspace="${2:-}"; shift 2 ;;
    --name) name="${2:-}"; shift 2 ;;
    --app-name) app_name="${2:-}"; shift 2 ;;
    --secret-years) years="${2:-}"; shift 2 ;;
    --dcr) dcr="${2:-}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "setup.sh: unknown argument: $1" >&2; usage ;;
  esac
done
for required in subscription resource_group workspace name; do
  if [ -z "${!required}" ]; then
    echo "setup.sh: --${required//_/-} is required" >&2
    usage
  fi
done
case "$years" in
  ''|*[!0-9]*) echo "setup.sh: --secret-years must be a whole number of years" >&2; exit 2 ;;
esac
app_name="${app_name:-sentinel-signl4-${name}}"
here="$(cd "$(dirname "$0")" && pwd)"
scope="/subscriptions/${subscription}/resourceGroups/${resource_group}/providers/Microsoft.OperationalInsights/workspaces/${workspace}"
role_name="sentinel-signl4 connector"

log() { echo "setup.sh: $*" >&2; }

az account set --subscription "$subscription"
tenant_id="$(az account show --query tenantId -o tsv)"
workspace_id="$(az monitor log-analytics workspace show --resource-group "$resource_group" \
  --workspace-name "$workspace" --query customerId -o tsv)"

log "app registration ${app_name}"
client_id="$(az ad app list --display-name "$app_name" --query '[0].appId' -o tsv)"
if [ -z "$client_id" ]; then
  client_id="$(az ad app create --display-name "$app_name" --query appId -o tsv)"
fi
principal_id="$(az ad sp list --filter "appId eq '${client_id}'" --query '[0].id' -o tsv)"
if [ -z "$principal_id" ]; then
  principal_id="$(az ad sp create --id "$client_id" --query id -o tsv)"
fi

log "client secret valid ${years} years"
secret="$(az ad app credential reset --id "$client_id" --append --display-name sentinel-signl4 \
  --years "$years" --query password -o tsv)"
expires="$(date -u -d "+${years} years" +%Y-%m-%d)"

log "custom role '${role_name}' on ${scope}"
role_file="$(mktemp)"
trap 'rm -f "$role_file"' EXIT
sed -e "s|{subscriptionId}|${subscription}|" -e "s|{resourceGroup}|${resource_group}|" \
  -e "s|{workspaceName}|${workspace}|" "${here}/role.json" > "$role_file"
if [ -n "$(az role definition list --custom-role-only true --name "$role_name" --query '[0].id' -o tsv)" ]; then
  az role definition update --role-definition "@${role_file}" > /dev/null
else
  az role definition create --role-definition "@${role_file}" > /dev/null
fi
az role assignment create --assignee-object-id "$principal_id" \
  --assignee-principal-type ServicePrincipal --role "$role_name" --scope "$scope" > /dev/null

if [ -n "$dcr" ]; then
  log "Monitoring Metrics Publisher on ${dcr}"
  az role assignment create --assignee-object-id "$principal_id" \
    --assignee-principal-type ServicePrincipal --role "Monitoring Metrics Publisher" \
    --scope "$dcr" > /dev/null
fi

log "the client secret expires ${expires}; role assignments can take a few minutes to apply"
cat <<TOML
[[connector]]
name = "${name}"
tenant_id = "${tenant_id}"
subscription_id = "${subscription}"
client_id = "${client_id}"
client_secret = "${secret}"   # better: put it in a file and use client_secret_file
client_secret_expires = ${expires}
resource_group = "${resource_group}"
workspace_name = "${workspace}"
workspace_id = "${workspace_id}"
TOML
