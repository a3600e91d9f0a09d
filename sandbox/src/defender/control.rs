//! The control API of Defender XDR incidents: create an incident with its alerts, act as an
//! analyst in the Defender portal (edit, comment), merge incidents as Defender does, and mirror
//! the Sentinel incidents of a tenant as Defender incidents (the demo and the `sandbox` command).
//!
//! Invariants: every operation goes through the same rules as the emulator (an analyst edit is
//! validated like a PATCH and moves `lastUpdateDateTime`); a merge only targets a live incident.

use actix_web::web;
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::{
    apply, new_incident, present, push_comments, validate_patch, CLASSIFICATION, INCIDENT_STATUS,
    SEVERITY,
};
use crate::control::{Control, ControlError};
use crate::graph::{new_alert, DETERMINATION};
use crate::state::{Tenant, World};
use crate::util::{json as json_resp, ts7};

fn tenant_index(w: &World, tenant: &str) -> Result<usize, ControlError> {
    w.tenants
        .iter()
        .position(|t| {
            t.tenant_id.eq_ignore_ascii_case(tenant) || t.name.eq_ignore_ascii_case(tenant)
        })
        .ok_or_else(|| ControlError::NotFound(format!("tenant '{tenant}'")))
}

fn incident_index(t: &Tenant, id: &str) -> Result<usize, ControlError> {
    t.graph_incidents
        .iter()
        .position(|i| i["id"].as_str() == Some(id))
        .ok_or_else(|| ControlError::NotFound(format!("Defender incident '{id}'")))
}

/// A Defender incident to create through the control API: its fields (merged over realistic
/// defaults; `id` is the next number when absent) and its alerts (each merged over an alerts_v2
/// default, `incidentId` set to the incident).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct DefenderIncidentSpec {
    /// Incident fields.
    pub fields: Map<String, Value>,
    /// The incident's alerts (fields each).
    pub alerts: Vec<Map<String, Value>>,
}

impl Control {
    /// Creates a Defender incident with its alerts; answers it with `alerts` expanded.
    pub fn add_graph_incident(
        &self,
        tenant: &str,
        spec: DefenderIncidentSpec,
    ) -> Result<Value, ControlError> {
        let mut w = self.shared.lock();
        let ti = tenant_index(&w, tenant)?;
        let t = &w.tenants[ti];
        let id = match spec.fields.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(other) => {
                return Err(ControlError::Invalid(format!(
                    "incident id {other} is not a non-empty string"
                )))
            }
            None => {
                let max = t
                    .graph_incidents
                    .iter()
                    .filter_map(|i| i["id"].as_str()?.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0);
                (max + 1).to_string()
            }
        };
        if incident_index(t, &id).is_ok() {
            return Err(ControlError::Invalid(format!(
                "Defender incident '{id}' exists"
            )));
        }
        for (k, v) in &spec.fields {
            let enumerated: Option<&[&str]> = match k.as_str() {
                "status" => Some(&INCIDENT_STATUS),
                "severity" => Some(&SEVERITY),
                "classification" => Some(&CLASSIFICATION),
                "determination" => Some(&DETERMINATION),
                _ => None,
            };
            if let Some(vals) = enumerated {
                if !v.as_str().is_some_and(|s| vals.contains(&s)) {
                    return Err(ControlError::Invalid(format!(
                        "{k} {v} is not one of {vals:?}"
                    )));
                }
            }
        }
        let incident = new_incident(t, &id, spec.fields);
        let mut alerts = Vec::new();
        for mut fields in spec.alerts {
            fields.insert("incidentId".into(), json!(id));
            alerts.push(new_alert(t, fields));
        }
        let t = &mut w.tenants[ti];
        t.graph_alerts.extend(alerts);
        t.graph_incidents.push(incident.clone());
        let n = t.graph_incidents.len() - 1;
        Ok(present(t, &t.graph_incidents[n], true, true))
    }

    /// The Defender incident `id` with its alerts, as an opted-in client reads it.
    pub fn graph_incident(&self, tenant: &str, id: &str) -> Result<Value, ControlError> {
        let w = self.shared.lock();
        let t = &w.tenants[tenant_index(&w, tenant)?];
        Ok(present(
            t,
            &t.graph_incidents[incident_index(t, id)?],
            true,
            true,
        ))
    }

    /// An analyst's edit in the Defender portal: the same rules as a PATCH.
    pub fn analyst_graph_incident(
        &self,
        tenant: &str,
        id: &str,
        update: Map<String, Value>,
    ) -> Result<Value, ControlError> {
        validate_patch(&update)
            .map_err(|m| ControlError::Invalid(format!("Defender incident {id}: {m}")))?;
        let mut w = self.shared.lock();
        let ti = tenant_index(&w, tenant)?;
        let n = incident_index(&w.tenants[ti], id)?;
        let inc = &mut w.tenants[ti].graph_incidents[n];
        apply(inc, update, "analyst@sandbox.example");
        Ok(inc.clone())
    }

    /// An analyst's comment in the Defender portal, by `author`.
    pub fn comment_graph_incident(
        &self,
        tenant: &str,
        id: &str,
        text: &str,
        author: &str,
    ) -> Result<Value, ControlError> {
        if text.is_empty() {
            return Err(ControlError::Invalid("empty comment".into()));
        }
        let mut w = self.shared.lock();
        let ti = tenant_index(&w, tenant)?;
        let n = incident_index(&w.tenants[ti], id)?;
        let inc = &mut w.tenants[ti].graph_incidents[n];
        push_comments(inc, vec![text.to_string()], author);
        Ok(inc.clone())
    }

    /// Gives every Sentinel incident of the tenant that has no Defender twin yet one (id = its
    /// `incidentNumber`, same title, description, severity, status and creation time), as a
    /// workspace onboarded to the Defender portal shows them; the scenario's alerts_v2 alerts
    /// already carry that number as their `incidentId`, so they become the twin's alerts.
    /// Answers how many were created. Used by the demo's `--read-source defender`.
    pub fn mirror_sentinel_incidents(&self, tenant: &str) -> Result<usize, ControlError> {
        let mut w = self.shared.lock();
        let ti = tenant_index(&w, tenant)?;
        let t = &w.tenants[ti];
        let mut made = Vec::new();
        for inc in t.incidents.values() {
            let id = inc.number.to_string();
            if incident_index(t, &id).is_ok() {
                continue;
            }
            let text = |k: &str| inc.writable.get(k).and_then(Value::as_str).unwrap_or("");
            let status = match text("status") {
                "Active" => "inProgress",
                "Closed" => "resolved",
                _ => "active",
            };
            let created = ts7(inc.created);
            made.push(new_incident(
                t,
                &id,
                json!({"displayName": text("title"), "description": text("description"),
                    "severity": text("severity").to_ascii_lowercase(), "status": status,
                    "createdDateTime": created, "lastUpdateDateTime": ts7(Utc::now())})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ));
        }
        let n = made.len();
        w.tenants[ti].graph_incidents.extend(made);
        Ok(n)
    }

    /// Defender merges incident `from` into `into`: `from`'s alerts move to `into`, `from`
    /// turns `redirected` with `redirectIncidentId = into`; both move their
    /// `lastUpdateDateTime`. Answers the redirected incident.
    pub fn merge_graph_incidents(
        &self,
        tenant: &str,
        from: &str,
        into: &str,
    ) -> Result<Value, ControlError> {
        if from == into {
            return Err(ControlError::Invalid(
                "an incident cannot merge into itself".into(),
            ));
        }
        let mut w = self.shared.lock();
        let ti = tenant_index(&w, tenant)?;
        let t = &mut w.tenants[ti];
        let f = incident_index(t, from)?;
        let i = incident_index(t, into)?;
        if t.graph_incidents[i]["status"] == json!("redirected") {
            return Err(ControlError::Conflict(format!(
                "incident '{into}' was itself merged; merge into its survivor"
            )));
        }
        let now = ts7(Utc::now());
        let url = t.graph_incidents[i]["incidentWebUrl"].clone();
        for a in t
            .graph_alerts
            .iter_mut()
            .filter(|a| a["incidentId"].as_str() == Some(from))
        {
            a["incidentId"] = json!(into);
            a["incidentWebUrl"] = url.clone();
            a["lastUpdateDateTime"] = json!(now);
        }
        let merged = &mut t.graph_incidents[f];
        merged["status"] = json!("redirected");
        merged["redirectIncidentId"] = json!(into);
        merged["lastUpdateDateTime"] = json!(now);
        merged["lastModifiedBy"] = json!("Microsoft 365 Defender");
        let answer = merged.clone();
        t.graph_incidents[i]["lastUpdateDateTime"] = json!(now);
        Ok(answer)
    }
}

type C = web::Data<Control>;
type P2 = web::Path<(String, String)>;

fn parse<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(b).map_err(|e| ControlError::Invalid(format!("body: {e}")))
}

/// Body of `POST .../graph-incidents/{id}/comments` on the control port.
#[derive(serde::Deserialize)]
struct AnalystComment {
    comment: String,
    #[serde(default)]
    author: Option<String>,
}

/// Body of `POST .../graph-incidents/{id}/merge`.
#[derive(serde::Deserialize)]
struct MergeBody {
    into: String,
}

/// Registers the control routes of Defender incidents:
///
/// | HTTP | Rust |
/// |---|---|
/// | `POST /control/tenants/{t}/graph-incidents` [`DefenderIncidentSpec`] → 201 | [`Control::add_graph_incident`] |
/// | `GET /control/tenants/{t}/graph-incidents/{id}` | [`Control::graph_incident`] |
/// | `PATCH /control/tenants/{t}/graph-incidents/{id}` (fields) | [`Control::analyst_graph_incident`] |
/// | `POST .../graph-incidents/{id}/comments` `{"comment", "author"?}` | [`Control::comment_graph_incident`] |
/// | `POST .../graph-incidents/{id}/merge` `{"into"}` | [`Control::merge_graph_incidents`] |
pub fn control_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/control/tenants/{t}/graph-incidents",
        web::post().to(|c: C, t: web::Path<String>, b: web::Bytes| async move {
            Ok::<_, ControlError>(json_resp(201, &c.add_graph_incident(&t, parse(&b)?)?))
        }),
    )
    .route(
        "/control/tenants/{t}/graph-incidents/{id}",
        web::get().to(|c: C, p: P2| async move {
            Ok::<_, ControlError>(json_resp(200, &c.graph_incident(&p.0, &p.1)?))
        }),
    )
    .route(
        "/control/tenants/{t}/graph-incidents/{id}",
        web::patch().to(|c: C, p: P2, b: web::Bytes| async move {
            Ok::<_, ControlError>(json_resp(
                200,
                &c.analyst_graph_incident(&p.0, &p.1, parse(&b)?)?,
            ))
        }),
    )
    .route(
        "/control/tenants/{t}/graph-incidents/{id}/comments",
        web::post().to(|c: C, p: P2, b: web::Bytes| async move {
            let body: AnalystComment = parse(&b)?;
            let author = body
                .author
                .unwrap_or_else(|| "analyst@sandbox.example".into());
            Ok::<_, ControlError>(json_resp(
                200,
                &c.comment_graph_incident(&p.0, &p.1, &body.comment, &author)?,
            ))
        }),
    )
    .route(
        "/control/tenants/{t}/graph-incidents/{id}/merge",
        web::post().to(|c: C, p: P2, b: web::Bytes| async move {
            let body: MergeBody = parse(&b)?;
            Ok::<_, ControlError>(json_resp(
                200,
                &c.merge_graph_incidents(&p.0, &p.1, &body.into)?,
            ))
        }),
    );
}
