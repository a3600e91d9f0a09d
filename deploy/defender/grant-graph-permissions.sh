#!/usr/bin/env bash
# Grants the connector's app registration the Microsoft Graph application permissions its read
# source needs, and admin consent for them (needs an account that may consent, e.g. a Global or
# Privileged Role Administrator, and the Azure CLI signed in to the customer tenant).
#
#   deploy/defender/grant-graph-permissions.sh <app-client-id> defender   # SecurityIncident.ReadWrite.All
#   deploy/defender/grant-graph-permissions.sh <app-client-id> graph      # SecurityAlert.ReadWrite.All
#
# The app-role ids are looked up by name on the Microsoft Graph service principal, so nothing
# here hard-codes a GUID that could be mistyped. Run it once per customer tenant.
set -euo pipefail

app_id="${1:?usage: $0 <app-client-id> defender|graph}"
source="${2:?usage: $0 <app-client-id> defender|graph}"
graph_app_id="00000003-0000-0000-c000-000000000000" # Microsoft Graph (the same in every tenant)

case "$source" in
  defender) permission="SecurityIncident.ReadWrite.All" ;;
  graph) permission="SecurityAlert.ReadWrite.All" ;;
  *) echo "$0: the read source must be 'defender' or 'graph', not '$source'" >&2; exit 2 ;;
esac

role_id="$(az ad sp show --id "$graph_app_id" \
  --query "appRoles[?value=='${permission}'].id | [0]" -o tsv)"
if [ -z "$role_id" ]; then
  echo "$0: Microsoft Graph has no application permission named $permission here" >&2
  exit 1
fi

echo "adding $permission ($role_id) to app $app_id"
az ad app permission add --id "$app_id" --api "$graph_app_id" \
  --api-permissions "${role_id}=Role"
echo "granting admin consent"
az ad app permission admin-consent --id "$app_id"
echo "done: $app_id may use $permission (application)"
