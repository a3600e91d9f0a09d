//! [`Control`]: the Rust control API, one method per control operation.
//!
//! Invariant: every method goes through the same state functions the emulators use (an analyst
//! edit bumps etags like a PUT, a user acknowledge fires outbound webhooks like SIGNL4) and holds
//! the world's lock only for the call.

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::fixtures::{alert_records, entity_props};
use super::spec::{
    AlertSpec, AnalystAction, Credential, IncidentSpec, TenantInfo, TenantSpec, UserAction,
};
use super::ControlError;
use crate::faults::{FaultRule, FaultSpec};
use crate::sentinel::model::{render_comment, render_incident, validate_incident};
use crate::sentinel::upsert_comment;
use crate::signl4;
use crate::state::{
    Actor, Incident, OutboundRecord, RequestRecord, S4User, Shared, Team, Tenant, World,
};
use crate::util::{guid, ts7};

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
            for c in crate::log_analytics::SECURITY_ALERT_COLUMNS {
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
                let what = crate::sentinel::describe_change(&inc.writable, &writable);
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
        let a = crate::graph::new_alert(&w.tenants[ti], fields);
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
