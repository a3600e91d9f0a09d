//! The control surface: seed tenants, incidents, alerts and Log Analytics rows; act as a Sentinel
//! analyst or a SIGNL4 app user; install faults; read state, outbound deliveries and the request
//! log. [`Control`] is the Rust API; [`routes`] exposes the same operations as JSON over HTTP on
//! the control port (`/control/...`).
//!
//! | HTTP | Rust |
//! |---|---|
//! | `POST /control/tenants` [`TenantSpec`] → 201 [`TenantInfo`]; `GET /control/tenants` | [`Control::create_tenant`], [`Control::tenants`] |
//! | `POST /control/tenants/{t}/incidents` [`IncidentSpec`]; `GET .../incidents[/{id}]` | [`Control::create_incident`], [`Control::incidents`], [`Control::incident`] |
//! | `POST .../incidents/{id}/alerts` [`AlertSpec`] | [`Control::add_alert`] |
//! | `POST .../incidents/{id}/analyst` [`AnalystAction`] | [`Control::analyst`] |
//! | `GET .../incidents/{id}/comments`, `GET .../incidents/{id}/history` | [`Control::comments`], [`Control::incident_history`] |
//! | `POST /control/tenants/{t}/security-alerts` (rows) | [`Control::add_security_alert_rows`] |
//! | `POST /control/tenants/{t}/graph-alerts` (fields) | [`Control::add_graph_alert`] |
//! | `/control/tenants/{t}/graph-incidents[/{id}[/comments\|/merge]]` | [`super::defender::control_routes`] |
//! | `GET /control/tenants/{t}/signls`; `POST .../signls/{id}/user` `{"action":"acknowledge"\|"close"\|"annotate","text"?,"user"?}` | [`Control::signls`], [`Control::user_action`] |
//! | `PUT /control/tenants/{t}/outbound-url` `{"url": ...}`; `GET /control/outbound` | [`Control::set_outbound_url`], [`Control::outbound`] |
//! | `POST/GET/DELETE /control/faults` [`FaultSpec`] | [`Control::add_fault`], [`Control::faults`], [`Control::clear_faults`] |
//! | `PUT /control/log-analytics` `{"query_delay_ms"?, "partial_errors"?}` | [`Control::set_la_query_delay_ms`], [`Control::set_la_partial_errors`] |
//! | `GET/DELETE /control/requests` | [`Control::requests`], [`Control::clear_requests`] |
//! | `GET /control/state` | [`Control::state`] |
//! | `POST /control/scenario` [`ScenarioSpec`](super::scenario::ScenarioSpec) | [`generate`](super::scenario::generate) |
//! | `GET /control/config` (TOML) | [`SandboxHandle::connector_toml`](super::SandboxHandle::connector_toml) |
//!
//! Invariants: every operation goes through the same state functions the emulators use, so an
//! analyst edit bumps etags exactly like a PUT and a user acknowledge fires outbound webhooks like
//! SIGNL4; control responses carry credentials (this is a sandbox), logs never do.

use actix_web::{web, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::faults::{FaultRule, FaultSpec};
use super::sentinel::model::{render_comment, render_incident, validate_incident};
use super::sentinel::upsert_comment;
use super::signl4;
use super::state::{
    Actor, Incident, OutboundRecord, RequestRecord, S4User, Shared, Team, Tenant, World,
};
use super::util::{guid, json as json_resp, ts7};

/// Control-operation failures.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Unknown tenant/incident/Signl/user.
    #[error("not found: {0}")]
    NotFound(String),
    /// Invalid input (bad incident properties, duplicate tenant, ...).
    #[error("invalid: {0}")]
    Invalid(String),
    /// Illegal Signl transition.
    #[error("conflict: {0}")]
    Conflict(String),
}

impl ResponseError for ControlError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            ControlError::NotFound(_) => actix_web::http::StatusCode::NOT_FOUND,
            ControlError::Invalid(_) => actix_web::http::StatusCode::BAD_REQUEST,
            ControlError::Conflict(_) => actix_web::http::StatusCode::CONFLICT,
        }
    }
    fn error_response(&self) -> HttpResponse {
        json_resp(
            self.status_code().as_u16(),
            &json!({"error": self.to_string()}),
        )
    }
}

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
    fn of(t: &Tenant) -> Self {
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
    fn as_str(self) -> &'static str {
        match self {
            Credential::ClientSecret => "client_secret",
            Credential::TeamSecret => "team_secret",
        }
    }
}

/// The Rust control API (cheap to clone; every method locks the world briefly).
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Shared,
}

fn rand_secret() -> String {
    format!("sbx~{}", guid().replace('-', ""))
}

impl Control {
    /// Wraps the shared world.
    pub fn new(shared: Shared) -> Self {
        Control { shared }
    }

    /// Direct access to the world, for assertions the API does not cover.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.shared.lock())
    }

    /// Creates a tenant with its app, subscription, workspace and SIGNL4 team.
    pub fn create_tenant(&self, spec: TenantSpec) -> Result<TenantInfo, ControlError> {
        let mut w = self.shared.lock();
        let n = w.tenants.len() + 1;
        let name = spec.name.unwrap_or_else(|| format!("tenant-{n}"));
        if w.tenant(&name).is_some() {
            return Err(ControlError::Invalid(format!("tenant '{name}' exists")));
        }
        let users = spec.users.unwrap_or_else(|| {
            vec![
                S4User {
                    id: guid(),
                    name: format!("Alice ({name})"),
                    mail: format!("alice@{name}.example"),
                },
                S4User {
                    id: guid(),
                    name: format!("Bob ({name})"),
                    mail: format!("bob@{name}.example"),
                },
            ]
        });
        let t = Tenant {
            tenant_id: spec.tenant_id.unwrap_or_else(guid),
            client_id: spec.client_id.unwrap_or_else(guid),
            client_secret: spec.client_secret.unwrap_or_else(rand_secret),
            sp_object_id: guid(),
            subscription_id: spec.subscription_id.unwrap_or_else(guid),
            resource_group: spec.resource_group.unwrap_or_else(|| "rg-sentinel".into()),
            workspace_name: spec.workspace_name.unwrap_or_else(|| format!("ws-{name}")),
            workspace_id: spec.workspace_id.unwrap_or_else(guid),
            dcr_immutable_id: format!("dcr-{}", guid().replace('-', "")),
            next_number: 0,
            incidents: Default::default(),
            security_alert_rows: Vec::new(),
            signl4_cl_rows: Vec::new(),
            graph_alerts: Vec::new(),
            owner_nulls: w.opts.sentinel.owner_nulls,
            graph_incidents: Vec::new(),
            team: Team {
                id: guid(),
                name: format!("{name} team"),
                subscription_id: guid(),
                secret: spec
                    .team_secret
                    .unwrap_or_else(|| guid().replace('-', "")[..12].to_string()),
                api_key: spec.api_key.unwrap_or_else(rand_secret),
                outbound_url: spec.outbound_url,
                users,
                signls: Vec::new(),
            },
            name,
        };
        if w.tenants
            .iter()
            .any(|o| o.subscription_id.eq_ignore_ascii_case(&t.subscription_id))
        {
            return Err(ControlError::Invalid(
                "subscription already used by another tenant".into(),
            ));
        }
        let info = TenantInfo::of(&t);
        w.tenants.push(t);
        Ok(info)
    }

    /// All tenants.
    pub fn tenants(&self) -> Vec<TenantInfo> {
        self.shared
            .lock()
            .tenants
            .iter()
            .map(TenantInfo::of)
            .collect()
    }

    fn ti(w: &World, tenant: &str) -> Result<usize, ControlError> {
        w.tenants
            .iter()
            .position(|t| {
                t.tenant_id.eq_ignore_ascii_case(tenant) || t.name.eq_ignore_ascii_case(tenant)
            })
            .ok_or_else(|| ControlError::NotFound(format!("tenant '{tenant}'")))
    }

    /// Seeds an incident (with alerts, entities and `SecurityAlert` rows); returns its ARM JSON.
    pub fn create_incident(&self, tenant: &str, spec: IncidentSpec) -> Result<Value, ControlError> {
        let mut w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        let mut props = Map::new();
        props.insert("title".into(), json!(spec.title));
        props.insert("description".into(), json!(spec.description));
        props.insert("severity".into(), json!(spec.severity));
        props.insert("status".into(), json!(spec.status));
        if let Some(o) = spec.owner {
            props.insert("owner".into(), o);
        }
        let labels: Vec<Value> = spec
            .labels
            .iter()
            .map(|l| json!({"labelName": l}))
            .collect();
        props.insert("labels".into(), json!(labels));
        let created = spec.created.unwrap_or_else(Utc::now);
        if !(2000..=2100).contains(&chrono::Datelike::year(&created)) {
            return Err(ControlError::Invalid(
                "created must be between the years 2000 and 2100".into(),
            ));
        }
        props.insert(
            "firstActivityTimeUtc".into(),
            json!(ts7(created - chrono::Duration::minutes(10))),
        );
        props.insert(
            "lastActivityTimeUtc".into(),
            json!(ts7(created - chrono::Duration::minutes(1))),
        );
        let writable = validate_incident(&props).map_err(ControlError::Invalid)?;
        let name = spec.id.unwrap_or_else(guid);
        let key = name.to_ascii_lowercase();
        let World { tenants, seq, .. } = &mut *w;
        let t = &mut tenants[ti];
        if t.incidents.contains_key(&key) {
            return Err(ControlError::Invalid(format!("incident '{name}' exists")));
        }
        t.next_number += 1;
        let rule_id = format!(
            "{}/providers/Microsoft.SecurityInsights/alertRules/{}",
            t.workspace_arm_id(),
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, spec.title.as_bytes())
        );
        let mut inc = Incident {
            name: name.clone(),
            etag: String::new(),
            number: t.next_number,
            created,
            modified: created - chrono::Duration::microseconds(1),
            writable,
            provider_name: "Azure Sentinel".into(),
            rule_ids: vec![rule_id],
            alerts: Vec::new(),
            entities: Vec::new(),
            comments: Vec::new(),
            history: Vec::new(),
            rendered: Default::default(),
            serialized: Default::default(),
        };
        for e in spec.entities {
            inc.entities.push((e.kind.clone(), entity_props(&e)));
        }
        inc.touch(seq, Actor::Control, "created");
        for a in &spec.alerts {
            let (props, row) = alert_records(t, &inc, a);
            inc.alerts.push(props);
            if let Some(row) = row {
                t.security_alert_rows.push(row);
            }
        }
        let out = render_incident(t, &inc);
        t.incidents.insert(key, inc);
        Ok(out)
    }

    /// An alert joins an existing incident (bumps its etag, like Sentinel's grouping).
    pub fn add_alert(
        &self,
        tenant: &str,
        incident: &str,
        spec: AlertSpec,
    ) -> Result<Value, ControlError> {
        let mut w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        let World { tenants, seq, .. } = &mut *w;
        let t = &mut tenants[ti];
        let key = incident.to_ascii_lowercase();
        let inc = t
            .incidents
            .get(&key)
            .ok_or_else(|| ControlError::NotFound(format!("incident '{incident}'")))?;
        let (props, row) = alert_records(t, inc, &spec);
        if let Some(row) = row {
            t.security_alert_rows.push(row);
        }
        let inc = t
            .incidents
            .get_mut(&key)
            .ok_or_else(|| ControlError::NotFound(incident.into()))?;
        inc.alerts.push(props.clone());
        inc.touch(seq, Actor::Control, "alert added");
        Ok(props)
    }

    /// Appends raw `SecurityAlert` rows (column → cell) to a tenant's workspace.
    pub fn add_security_alert_rows(
        &self,
        tenant: &str,
        rows: Vec<Map<String, Value>>,
    ) -> Result<usize, ControlError> {
        let mut w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        let t = &mut w.tenants[ti];
        let n = rows.len();
        for mut r in rows {
            for c in super::log_analytics::SECURITY_ALERT_COLUMNS {
                r.entry(c.0.to_string()).or_insert(Value::Null);
            }
            t.security_alert_rows.push(r);
        }
        Ok(n)
    }

    /// The incident as ARM renders it.
    pub fn incident(&self, tenant: &str, id: &str) -> Result<Value, ControlError> {
        let w = self.shared.lock();
        let t = &w.tenants[Self::ti(&w, tenant)?];
        t.incidents
            .get(&id.to_ascii_lowercase())
            .map(|i| render_incident(t, i))
            .ok_or_else(|| ControlError::NotFound(format!("incident '{id}'")))
    }

    /// All incidents of a tenant (ARM JSON, by incident number).
    pub fn incidents(&self, tenant: &str) -> Result<Vec<Value>, ControlError> {
        let w = self.shared.lock();
        let t = &w.tenants[Self::ti(&w, tenant)?];
        let mut v: Vec<&Incident> = t.incidents.values().collect();
        v.sort_by_key(|i| i.number);
        Ok(v.into_iter().map(|i| render_incident(t, i)).collect())
    }

    /// Comments of an incident (ARM JSON) with who wrote them.
    pub fn comments(&self, tenant: &str, id: &str) -> Result<Vec<Value>, ControlError> {
        let w = self.shared.lock();
        let t = &w.tenants[Self::ti(&w, tenant)?];
        let i = t
            .incidents
            .get(&id.to_ascii_lowercase())
            .ok_or_else(|| ControlError::NotFound(id.into()))?;
        Ok(i.comments
            .iter()
            .map(|c| {
                let mut v = render_comment(t, i, c);
                v["sandbox"] = json!({"by": c.by});
                v
            })
            .collect())
    }

    /// Change history of an incident (who changed what).
    pub fn incident_history(&self, tenant: &str, id: &str) -> Result<Value, ControlError> {
        let w = self.shared.lock();
        let t = &w.tenants[Self::ti(&w, tenant)?];
        let i = t
            .incidents
            .get(&id.to_ascii_lowercase())
            .ok_or_else(|| ControlError::NotFound(id.into()))?;
        Ok(json!(i.history))
    }

    /// A simulated analyst edits the incident in the portal (same rules as a PUT).
    pub fn analyst(&self, tenant: &str, id: &str, a: AnalystAction) -> Result<Value, ControlError> {
        let mut w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        let key = id.to_ascii_lowercase();
        let analyst = a
            .analyst
            .clone()
            .unwrap_or_else(|| "analyst@contoso.example".into());
        let by = Actor::Analyst {
            name: analyst.clone(),
        };
        {
            let World { tenants, seq, .. } = &mut *w;
            let inc = tenants[ti]
                .incidents
                .get_mut(&key)
                .ok_or_else(|| ControlError::NotFound(id.into()))?;
            let mut p = inc.writable.clone();
            let mut set = |k: &str, v: &Option<String>| {
                if let Some(v) = v {
                    p.insert(k.into(), json!(v));
                }
            };
            set("status", &a.status);
            set("severity", &a.severity);
            set("classification", &a.classification);
            set("classificationReason", &a.classification_reason);
            set("classificationComment", &a.classification_comment);
            if a.status.as_deref().is_some_and(|s| s != "Closed") {
                p.remove("classification");
                p.remove("classificationReason");
                p.remove("classificationComment");
            }
            if let Some(o) = &a.owner {
                if o.is_null() || o.as_object().is_some_and(|m| m.is_empty()) {
                    p.remove("owner");
                } else {
                    p.insert("owner".into(), o.clone());
                }
            }
            if !a.add_labels.is_empty() {
                let mut labels = p
                    .get("labels")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for l in &a.add_labels {
                    if !labels
                        .iter()
                        .any(|x| x.get("labelName").and_then(Value::as_str) == Some(l))
                    {
                        labels.push(json!({"labelName": l, "labelType": "User"}));
                    }
                }
                p.insert("labels".into(), json!(labels));
            }
            let changed = a.status.is_some()
                || a.severity.is_some()
                || a.owner.is_some()
                || !a.add_labels.is_empty()
                || a.classification.is_some();
            if changed {
                let writable = validate_incident(&p).map_err(ControlError::Invalid)?;
                let what = super::sentinel::describe_change(&inc.writable, &writable);
                inc.writable = writable;
                inc.touch(seq, by.clone(), what);
            }
        }
        if let Some(msg) = &a.comment {
            let author = json!({"objectId": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, analyst.as_bytes()).to_string(),
                "name": analyst, "email": analyst, "userPrincipalName": analyst});
            upsert_comment(&mut w, ti, &key, &guid(), msg, author, by)
                .ok_or_else(|| ControlError::NotFound(id.into()))?;
        }
        let t = &w.tenants[ti];
        Ok(render_incident(t, &t.incidents[&key]))
    }

    /// Signls of a tenant's team (REST v2 JSON plus the sandbox's change records).
    pub fn signls(&self, tenant: &str) -> Result<Vec<Value>, ControlError> {
        let w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        Ok(w.tenants[ti]
            .team
            .signls
            .iter()
            .map(|s| {
                let mut v = signl4::render_alert(&w, ti, s);
                v["sandbox"] =
                    json!({"history": s.history, "annotations": s.annotations, "params": s.params});
                v
            })
            .collect())
    }

    /// A SIGNL4 app user acts on a Signl (fires the outbound webhook). `user` is an id or email;
    /// the team's first user when `None`.
    pub fn user_action(
        &self,
        tenant: &str,
        signl_id: &str,
        user: Option<&str>,
        action: UserAction,
    ) -> Result<Value, ControlError> {
        let mut w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        let si = w.tenants[ti]
            .team
            .signls
            .iter()
            .position(|s| s.id == signl_id)
            .ok_or_else(|| ControlError::NotFound(format!("signl '{signl_id}'")))?;
        let u = match user {
            Some(k) => signl4::find_user(&w, ti, k)
                .ok_or_else(|| ControlError::NotFound(format!("user '{k}'")))?,
            None => w.tenants[ti]
                .team
                .users
                .first()
                .cloned()
                .ok_or_else(|| ControlError::NotFound("team has no users".into()))?,
        };
        let by = Actor::User {
            user_id: u.id.clone(),
        };
        match action {
            UserAction::Acknowledge => signl4::set_status(&mut w, ti, si, signl4::ACKNOWLEDGED, Some(u), by)
                .map_err(|_| ControlError::Conflict("Alert can't be acknowledged because it is against the defined alert lifecycle.".into()))?,
            UserAction::Close => signl4::set_status(&mut w, ti, si, signl4::CLOSED, Some(u), by)
                .map_err(|_| ControlError::Conflict("Alert can't be closed because it is against the defined alert lifecycle.".into()))?,
            UserAction::Annotate { text } => {
                signl4::annotate(&mut w, ti, si, &text, Some(u), by);
            }
        }
        Ok(signl4::render_alert(&w, ti, &w.tenants[ti].team.signls[si]))
    }

    /// Revokes a credential of `tenant`, as an operator's mistake or an expiry would: the app's
    /// client secret (every token issued to the app stops working too, so the connector meets
    /// 401 and then `invalid_client`) or the SIGNL4 team secret (its inbound webhook answers
    /// 404 code 3004). A second revoke of the same credential changes nothing.
    pub fn revoke(&self, tenant: &str, credential: Credential) -> Result<(), ControlError> {
        let mut w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        let key = format!("{}/{}", w.tenants[ti].name, credential.as_str());
        if w.revoked.contains_key(&key) {
            return Ok(());
        }
        let old = match credential {
            Credential::ClientSecret => {
                let client_id = w.tenants[ti].client_id.clone();
                w.tokens.retain(|_, t| t.client_id != client_id);
                std::mem::replace(&mut w.tenants[ti].client_secret, rand_secret())
            }
            Credential::TeamSecret => {
                std::mem::replace(&mut w.tenants[ti].team.secret, rand_secret())
            }
        };
        w.revoked.insert(key, old);
        Ok(())
    }

    /// Restores a credential [`Control::revoke`] took away (the operator's fix). Restoring one
    /// that is not revoked changes nothing.
    pub fn restore(&self, tenant: &str, credential: Credential) -> Result<(), ControlError> {
        let mut w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        let key = format!("{}/{}", w.tenants[ti].name, credential.as_str());
        if let Some(old) = w.revoked.remove(&key) {
            match credential {
                Credential::ClientSecret => w.tenants[ti].client_secret = old,
                Credential::TeamSecret => w.tenants[ti].team.secret = old,
            }
        }
        Ok(())
    }

    /// Sets (or clears) the team's outbound webhook receiver URL (the connector's endpoint).
    pub fn set_outbound_url(&self, tenant: &str, url: Option<String>) -> Result<(), ControlError> {
        let mut w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        w.tenants[ti].team.outbound_url = url;
        Ok(())
    }

    /// Outbound notifications and their delivery results.
    pub fn outbound(&self) -> Vec<OutboundRecord> {
        self.shared.lock().outbound.iter().cloned().collect()
    }

    /// Installs a fault; returns its id.
    pub fn add_fault(&self, spec: FaultSpec) -> u64 {
        let mut w = self.shared.lock();
        let id = w.faults.iter().map(|f| f.id).max().unwrap_or(0) + 1;
        w.faults.push(FaultRule { id, spec, fired: 0 });
        id
    }

    /// Installed faults with their fire counts.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.lock().faults.clone()
    }

    /// Removes every fault (and the LA latency/partial-error knobs).
    pub fn clear_faults(&self) {
        let mut w = self.shared.lock();
        w.faults.clear();
        w.la_query_delay_ms = 0;
        w.la_partial_errors = 0;
    }

    /// Log Analytics: every query takes this long (to provoke the concurrency 429).
    pub fn set_la_query_delay_ms(&self, ms: u64) {
        self.shared.lock().la_query_delay_ms = ms.min(60_000);
    }

    /// Log Analytics: the next `n` queries answer 200 with a `PartialError`.
    pub fn set_la_partial_errors(&self, n: u32) {
        self.shared.lock().la_partial_errors = n;
    }

    /// The request log (oldest first).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Adds a Microsoft Graph `alerts_v2` alert (fields merged over a realistic default).
    pub fn add_graph_alert(
        &self,
        tenant: &str,
        fields: Map<String, Value>,
    ) -> Result<Value, ControlError> {
        let mut w = self.shared.lock();
        let ti = Self::ti(&w, tenant)?;
        let a = super::graph::new_alert(&w.tenants[ti], fields);
        w.tenants[ti].graph_alerts.push(a.clone());
        Ok(a)
    }

    /// The full state: tenants (no secrets), incidents with comments and history, Signls,
    /// outbound records, faults.
    pub fn state(&self) -> Value {
        let w = self.shared.lock();
        let tenants: Vec<Value> = w
            .tenants
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                let incidents: Vec<Value> = t.incidents.values().map(|i| {
                    let mut v = render_incident(t, i);
                    v["sandbox"] = json!({
                        "comments": i.comments.iter().map(|c| { let mut x = render_comment(t, i, c); x["by"] = json!(c.by); x }).collect::<Vec<_>>(),
                        "history": i.history,
                        "alerts": i.alerts,
                    });
                    v
                }).collect();
                let signls: Vec<Value> = t.team.signls.iter().map(|s| {
                    let mut v = signl4::render_alert(&w, ti, s);
                    v["sandbox"] = json!({"history": s.history, "annotations": s.annotations});
                    v
                }).collect();
                json!({
                    "name": t.name, "tenant_id": t.tenant_id, "subscription_id": t.subscription_id,
                    "workspace_id": t.workspace_id, "team_id": t.team.id, "outbound_url": t.team.outbound_url,
                    "incidents": incidents, "signls": signls,
                    "security_alert_rows": t.security_alert_rows.len(),
                    "signl4_cl_rows": t.signl4_cl_rows,
                    "graph_alerts": t.graph_alerts,
                    "graph_incidents": t.graph_incidents,
                })
            })
            .collect();
        json!({"tenants": tenants, "outbound": w.outbound, "faults": w.faults})
    }
}

/// Fills `friendlyName` like Sentinel does.
fn entity_props(e: &EntitySpec) -> Value {
    let mut p = e.properties.clone();
    if !p.contains_key("friendlyName") {
        let name = [
            "accountName",
            "hostName",
            "address",
            "url",
            "hashValue",
            "fileName",
        ]
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str))
        .unwrap_or(&e.kind)
        .to_string();
        p.insert("friendlyName".into(), json!(name));
    }
    Value::Object(p)
}

/// Builds the ARM `SecurityAlertProperties` and the matching `SecurityAlert` table row.
fn alert_records(t: &Tenant, inc: &Incident, a: &AlertSpec) -> (Value, Option<Map<String, Value>>) {
    let id = a.system_alert_id.clone().unwrap_or_else(guid);
    let now = Utc::now();
    let start = inc.created - chrono::Duration::minutes(15);
    let rule_id = inc
        .rule_ids
        .first()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    let tactics: Vec<&String> = a
        .tactics
        .iter()
        .filter(|x| super::sentinel::model::TACTICS.contains(&x.as_str()))
        .collect();
    let props = json!({
        "systemAlertId": id,
        "alertDisplayName": a.display_name,
        "alertType": format!("{}_{}", t.tenant_id, rule_id),
        "severity": a.severity,
        "status": "New",
        "confidenceLevel": "Unknown",
        "vendorName": "Microsoft",
        "productName": a.product_name,
        "productComponentName": "Scheduled Alerts",
        "providerAlertId": guid(),
        "compromisedEntity": a.compromised_entity,
        "description": a.description,
        "tactics": tactics,
        "startTimeUtc": ts7(start),
        "endTimeUtc": ts7(inc.created - chrono::Duration::minutes(1)),
        "timeGenerated": ts7(inc.created),
        "processingEndTime": ts7(inc.created),
        "alertLink": "",
        "remediationSteps": [],
        "intent": "Unknown",
        "resourceIdentifiers": [{"type": "LogAnalytics", "workspaceId": t.workspace_id,
            "subscriptionId": t.subscription_id, "resourceGroup": t.resource_group}],
        "additionalData": {"AlertMessageEnqueueTime": ts7(now)},
        "friendlyName": a.display_name,
    });
    if !a.la_row {
        return (props, None);
    }
    let ep = json!({
        "Query Period": "05:00:00",
        "Trigger Operator": "GreaterThan",
        "Trigger Threshold": "0",
        "Correlation Id": guid(),
        "Search Query Results Overall Count": a.result_count.to_string(),
        "Data Sources": "[\"sandbox\"]",
        "Query": format!("// The query_now parameter represents the time (in UTC) at which the scheduled analytics rule ran to produce this alert.\nset query_now = datetime({});\n{}", ts7(inc.created), a.query),
        "Query Start Time UTC": (inc.created - chrono::Duration::hours(5)).format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "Query End Time UTC": inc.created.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "Analytic Rule Ids": format!("[\"{rule_id}\"]"),
        "Event Grouping": "SingleAlert",
        "Analytic Rule Name": a.rule_name,
        "ProcessedBySentinel": "True",
        "Alert generation status": "Full alert created",
    });
    let entities: Vec<Value> = inc
        .entities
        .iter()
        .enumerate()
        .map(|(n, (k, p))| {
            let mut e = p.clone();
            e["$id"] = json!((n + 2).to_string());
            e["Type"] = json!(k.to_ascii_lowercase());
            e
        })
        .collect();
    let mut row = Map::new();
    let cells: Vec<(&str, Value)> = vec![
        ("TenantId", json!(t.workspace_id)),
        ("TimeGenerated", json!(ts7(inc.created))),
        ("DisplayName", json!(a.display_name)),
        ("AlertName", json!(a.display_name)),
        ("AlertSeverity", json!(a.severity)),
        ("Description", json!(a.description)),
        ("ProviderName", json!("ASI Scheduled Alerts")),
        ("VendorName", json!("Microsoft")),
        ("VendorOriginalId", json!(guid())),
        ("SystemAlertId", json!(id)),
        ("ResourceId", json!("")),
        ("SourceComputerId", json!("")),
        ("AlertType", json!(format!("{}_{}", t.tenant_id, rule_id))),
        ("ConfidenceLevel", json!("")),
        ("ConfidenceScore", Value::Null),
        ("IsIncident", json!(false)),
        ("StartTime", json!(ts7(start))),
        (
            "EndTime",
            json!(ts7(inc.created - chrono::Duration::minutes(1))),
        ),
        ("ProcessingEndTime", json!(ts7(inc.created))),
        ("RemediationSteps", json!("")),
        ("ExtendedProperties", json!(ep.to_string())),
        ("Entities", json!(Value::Array(entities).to_string())),
        ("SourceSystem", json!("Detection")),
        ("WorkspaceSubscriptionId", json!(t.subscription_id)),
        ("WorkspaceResourceGroup", json!(t.resource_group)),
        ("ExtendedLinks", json!("")),
        ("ProductName", json!(a.product_name)),
        ("ProductComponentName", json!("Scheduled Alerts")),
        ("AlertLink", json!("")),
        ("Status", json!("New")),
        ("CompromisedEntity", json!(a.compromised_entity)),
        ("Tactics", json!(a.tactics.join(", "))),
        (
            "Techniques",
            json!(serde_json::to_string(&a.techniques).unwrap_or_default()),
        ),
        ("SubTechniques", json!("")),
        ("Type", json!("SecurityAlert")),
    ];
    for (k, v) in cells {
        row.insert(k.into(), v);
    }
    (props, Some(row))
}

/// Registers `/control/...`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    super::defender::control_routes(cfg);
    cfg.route("/control/tenants", web::post().to(h_create_tenant))
        .route("/control/tenants", web::get().to(h_tenants))
        .route(
            "/control/tenants/{t}/incidents",
            web::post().to(h_create_incident),
        )
        .route("/control/tenants/{t}/incidents", web::get().to(h_incidents))
        .route(
            "/control/tenants/{t}/incidents/{id}",
            web::get().to(h_incident),
        )
        .route(
            "/control/tenants/{t}/incidents/{id}/alerts",
            web::post().to(h_add_alert),
        )
        .route(
            "/control/tenants/{t}/incidents/{id}/analyst",
            web::post().to(h_analyst),
        )
        .route(
            "/control/tenants/{t}/incidents/{id}/comments",
            web::get().to(h_comments),
        )
        .route(
            "/control/tenants/{t}/incidents/{id}/history",
            web::get().to(h_history),
        )
        .route(
            "/control/tenants/{t}/security-alerts",
            web::post().to(h_rows),
        )
        .route(
            "/control/tenants/{t}/graph-alerts",
            web::post().to(h_graph_alert),
        )
        .route("/control/tenants/{t}/signls", web::get().to(h_signls))
        .route(
            "/control/tenants/{t}/signls/{id}/user",
            web::post().to(h_user_action),
        )
        .route(
            "/control/tenants/{t}/outbound-url",
            web::put().to(h_outbound_url),
        )
        .route(
            "/control/tenants/{t}/credentials/{credential}/revoke",
            web::post().to(h_revoke),
        )
        .route(
            "/control/tenants/{t}/credentials/{credential}/restore",
            web::post().to(h_restore),
        )
        .route("/control/outbound", web::get().to(h_outbound))
        .route("/control/faults", web::post().to(h_add_fault))
        .route("/control/faults", web::get().to(h_faults))
        .route("/control/faults", web::delete().to(h_clear_faults))
        .route("/control/log-analytics", web::put().to(h_la_knobs))
        .route("/control/requests", web::get().to(h_requests))
        .route("/control/requests", web::delete().to(h_clear_requests))
        .route("/control/state", web::get().to(h_state))
        .route("/control/scenario", web::post().to(h_scenario))
        .route("/control/config", web::get().to(h_config));
}

type C = web::Data<Control>;
type P2 = web::Path<(String, String)>;

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ControlError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ControlError::Invalid(format!("bad JSON: {e}")))
}

fn ok<T: Serialize>(v: T) -> HttpResponse {
    json_resp(200, &json!(v))
}

fn credential(name: &str) -> Result<Credential, ControlError> {
    match name {
        "client_secret" => Ok(Credential::ClientSecret),
        "team_secret" => Ok(Credential::TeamSecret),
        other => Err(ControlError::Invalid(format!(
            "credential '{other}': expected client_secret or team_secret"
        ))),
    }
}
async fn h_revoke(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    c.revoke(&p.0, credential(&p.1)?)?;
    Ok(ok(json!({"revoked": p.1})))
}
async fn h_restore(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    c.restore(&p.0, credential(&p.1)?)?;
    Ok(ok(json!({"restored": p.1})))
}
async fn h_create_tenant(c: C, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &json!(c.create_tenant(parse(&b)?)?)))
}
async fn h_tenants(c: C) -> HttpResponse {
    ok(c.tenants())
}
async fn h_create_incident(
    c: C,
    t: web::Path<String>,
    b: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &c.create_incident(&t, parse(&b)?)?))
}
async fn h_incidents(c: C, t: web::Path<String>) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.incidents(&t)?))
}
async fn h_incident(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.incident(&p.0, &p.1)?))
}
async fn h_add_alert(c: C, p: P2, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &c.add_alert(&p.0, &p.1, parse(&b)?)?))
}
async fn h_analyst(c: C, p: P2, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.analyst(&p.0, &p.1, parse(&b)?)?))
}
async fn h_comments(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.comments(&p.0, &p.1)?))
}
async fn h_history(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.incident_history(&p.0, &p.1)?))
}
async fn h_rows(c: C, t: web::Path<String>, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(ok(
        json!({"added": c.add_security_alert_rows(&t, parse(&b)?)?}),
    ))
}
async fn h_graph_alert(
    c: C,
    t: web::Path<String>,
    b: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &c.add_graph_alert(&t, parse(&b)?)?))
}
async fn h_signls(c: C, t: web::Path<String>) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.signls(&t)?))
}

/// Body of `POST /control/tenants/{t}/signls/{id}/user`.
#[derive(Deserialize)]
struct UserActionBody {
    #[serde(default)]
    user: Option<String>,
    #[serde(flatten)]
    action: UserAction,
}

async fn h_user_action(c: C, p: P2, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    let body: UserActionBody = parse(&b)?;
    Ok(ok(c.user_action(
        &p.0,
        &p.1,
        body.user.as_deref(),
        body.action,
    )?))
}

/// Body of `PUT /control/tenants/{t}/outbound-url`.
#[derive(Deserialize)]
struct UrlBody {
    url: Option<String>,
}

async fn h_outbound_url(
    c: C,
    t: web::Path<String>,
    b: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    let body: UrlBody = parse(&b)?;
    c.set_outbound_url(&t, body.url)?;
    Ok(HttpResponse::NoContent().finish())
}
async fn h_outbound(c: C) -> HttpResponse {
    ok(c.outbound())
}
async fn h_add_fault(c: C, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &json!({"id": c.add_fault(parse(&b)?)})))
}
async fn h_faults(c: C) -> HttpResponse {
    ok(c.faults())
}
async fn h_clear_faults(c: C) -> HttpResponse {
    c.clear_faults();
    HttpResponse::NoContent().finish()
}

/// Body of `PUT /control/log-analytics`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LaKnobs {
    query_delay_ms: Option<u64>,
    partial_errors: Option<u32>,
}

async fn h_la_knobs(c: C, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    let k: LaKnobs = parse(&b)?;
    if let Some(ms) = k.query_delay_ms {
        c.set_la_query_delay_ms(ms);
    }
    if let Some(n) = k.partial_errors {
        c.set_la_partial_errors(n);
    }
    Ok(HttpResponse::NoContent().finish())
}
async fn h_requests(c: C) -> HttpResponse {
    ok(c.requests())
}
async fn h_clear_requests(c: C) -> HttpResponse {
    c.clear_requests();
    HttpResponse::NoContent().finish()
}
async fn h_state(c: C) -> HttpResponse {
    ok(c.state())
}
async fn h_scenario(c: C, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    let spec: super::scenario::ScenarioSpec = parse(&b)?;
    Ok(json_resp(
        201,
        &json!(super::scenario::generate(&c, &spec)?),
    ))
}
async fn h_config(c: C, urls: web::Data<super::SandboxUrls>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/toml")
        .body(super::config::connector_toml(&c.tenants(), &urls))
}

/// Unknown control path.
pub async fn not_found() -> HttpResponse {
    json_resp(404, &json!({"error": "no such control route"}))
}
