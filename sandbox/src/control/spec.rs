//! What control callers send and get back: the specs of tenants, incidents, alerts and entities
//! to seed, the analyst's and the SIGNL4 user's actions, and the credentials that can be revoked.
//!
//! Invariant: every field a caller may leave out has a default here (`#[serde(default)]`), so a
//! `{}` body and `Spec::default()` seed the same thing over HTTP and from Rust.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::state::{S4User, Tenant};

/// A tenant to create; every missing field is generated.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantSpec {
    /// Friendly name (`tenant-N`).
    pub name: Option<String>,
    /// Entra tenant GUID.
    pub tenant_id: Option<String>,
    /// App id.
    pub client_id: Option<String>,
    /// App secret.
    pub client_secret: Option<String>,
    /// ARM subscription.
    pub subscription_id: Option<String>,
    /// Resource group (default `rg-sentinel`).
    pub resource_group: Option<String>,
    /// Workspace name (default `ws-<name>`).
    pub workspace_name: Option<String>,
    /// Workspace GUID.
    pub workspace_id: Option<String>,
    /// SIGNL4 team secret.
    pub team_secret: Option<String>,
    /// SIGNL4 API key.
    pub api_key: Option<String>,
    /// Outbound webhook receiver.
    pub outbound_url: Option<String>,
    /// SIGNL4 users (default: two on-duty users).
    pub users: Option<Vec<S4User>>,
}

/// Everything a connector (or test) needs to talk to one tenant. Contains secrets: never log it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TenantInfo {
    /// Friendly name.
    pub name: String,
    /// Entra tenant GUID.
    pub tenant_id: String,
    /// App id.
    pub client_id: String,
    /// App secret.
    pub client_secret: String,
    /// Service principal object id (author of the app's comments).
    pub sp_object_id: String,
    /// ARM subscription.
    pub subscription_id: String,
    /// Resource group.
    pub resource_group: String,
    /// Workspace name.
    pub workspace_name: String,
    /// Workspace GUID.
    pub workspace_id: String,
    /// Logs Ingestion DCR immutable id.
    pub dcr_immutable_id: String,
    /// SIGNL4 team id.
    pub team_id: String,
    /// SIGNL4 team secret.
    pub team_secret: String,
    /// SIGNL4 API key.
    pub api_key: String,
    /// Outbound webhook receiver, if set.
    pub outbound_url: Option<String>,
    /// SIGNL4 users.
    pub users: Vec<S4User>,
}

impl TenantInfo {
    pub(super) fn of(t: &Tenant) -> Self {
        TenantInfo {
            name: t.name.clone(),
            tenant_id: t.tenant_id.clone(),
            client_id: t.client_id.clone(),
            client_secret: t.client_secret.clone(),
            sp_object_id: t.sp_object_id.clone(),
            subscription_id: t.subscription_id.clone(),
            resource_group: t.resource_group.clone(),
            workspace_name: t.workspace_name.clone(),
            workspace_id: t.workspace_id.clone(),
            dcr_immutable_id: t.dcr_immutable_id.clone(),
            team_id: t.team.id.clone(),
            team_secret: t.team.secret.clone(),
            api_key: t.team.api_key.clone(),
            outbound_url: t.team.outbound_url.clone(),
            users: t.team.users.clone(),
        }
    }
}

/// An alert joining an incident (and, unless `la_row` is false, a `SecurityAlert` row).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertSpec {
    /// `systemAlertId` (generated when absent).
    pub system_alert_id: Option<String>,
    /// `alertDisplayName`.
    pub display_name: String,
    /// `High|Medium|Low|Informational`.
    pub severity: String,
    /// Description.
    pub description: String,
    /// `productName`.
    pub product_name: String,
    /// `AttackTactic` values.
    pub tactics: Vec<String>,
    /// MITRE techniques (only in the LA row; the ARM schema has none).
    pub techniques: Vec<String>,
    /// `compromisedEntity`.
    pub compromised_entity: String,
    /// Analytic rule name (ExtendedProperties "Analytic Rule Name").
    pub rule_name: String,
    /// The rule's KQL (ExtendedProperties "Query").
    pub query: String,
    /// "Search Query Results Overall Count".
    pub result_count: u32,
    /// Also write a `SecurityAlert` row to the workspace.
    pub la_row: bool,
}

impl Default for AlertSpec {
    fn default() -> Self {
        AlertSpec {
            system_alert_id: None,
            display_name: "Suspicious sign-in activity".into(),
            severity: "Medium".into(),
            description: "A sign-in from an unusual location was detected.".into(),
            product_name: "Azure Sentinel".into(),
            tactics: vec!["InitialAccess".into()],
            techniques: vec!["T1078".into()],
            compromised_entity: String::new(),
            rule_name: "Unusual sign-in".into(),
            query: "SigninLogs\n| where ResultType == 0\n| summarize count() by UserPrincipalName"
                .into(),
            result_count: 3,
            la_row: true,
        }
    }
}

/// An entity attached to an incident.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntitySpec {
    /// `Account`, `Host`, `Ip`, `Url`, `FileHash`, ...
    pub kind: String,
    /// Kind-specific properties (`friendlyName` is filled in when absent).
    #[serde(default)]
    pub properties: Map<String, Value>,
}

/// An incident to seed (as Sentinel would create it from analytics rules).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentSpec {
    /// Incident id (GUID generated when absent).
    pub id: Option<String>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Severity.
    pub severity: String,
    /// Status.
    pub status: String,
    /// Owner object (`IncidentOwnerInfo`).
    pub owner: Option<Value>,
    /// Label names.
    pub labels: Vec<String>,
    /// Alerts.
    pub alerts: Vec<AlertSpec>,
    /// Entities.
    pub entities: Vec<EntitySpec>,
    /// Creation time (default now).
    pub created: Option<DateTime<Utc>>,
}

impl Default for IncidentSpec {
    fn default() -> Self {
        IncidentSpec {
            id: None,
            title: "Suspicious sign-in activity".into(),
            description: "Generated by the sandbox".into(),
            severity: "Medium".into(),
            status: "New".into(),
            owner: None,
            labels: Vec::new(),
            alerts: vec![AlertSpec::default()],
            entities: vec![EntitySpec {
                kind: "Account".into(),
                properties: serde_json::from_value(json!({"accountName": "jdoe", "upnSuffix": "contoso.com", "displayName": "John Doe"})).unwrap_or_default(),
            }],
            created: None,
        }
    }
}

/// What a simulated analyst changes in the Sentinel portal (absent = unchanged).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalystAction {
    /// Analyst name (history, comment author).
    pub analyst: Option<String>,
    /// New status (`Active` reopens a Closed incident).
    pub status: Option<String>,
    /// New severity.
    pub severity: Option<String>,
    /// New owner (`{}` or `null` unassigns).
    pub owner: Option<Value>,
    /// Classification when closing.
    pub classification: Option<String>,
    /// Classification reason.
    pub classification_reason: Option<String>,
    /// Classification comment.
    pub classification_comment: Option<String>,
    /// Labels to add.
    pub add_labels: Vec<String>,
    /// A comment to post.
    pub comment: Option<String>,
}

/// A SIGNL4 app-user action.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum UserAction {
    /// Acknowledge.
    Acknowledge,
    /// Close.
    Close,
    /// Add a note.
    Annotate {
        /// The note.
        text: String,
    },
}

/// A tenant credential the control API can revoke and restore (operator-fixable failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// The Entra app's client secret (Sentinel, Log Analytics, Graph, Logs Ingestion).
    ClientSecret,
    /// The SIGNL4 team secret of the inbound webhook.
    TeamSecret,
}

impl Credential {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Credential::ClientSecret => "client_secret",
            Credential::TeamSecret => "team_secret",
        }
    }
}
