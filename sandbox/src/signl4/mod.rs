//! SIGNL4: the inbound webhook (`webhook`), the REST API v2 subset (`rest`) and outbound
//! webhooks (`outbound`). This module holds the Signl state machine they share.
//!
//! State machine: Open(1) → Acknowledged(2) → Closed(4), Open → Closed allowed; anything else is
//! an illegal transition (REST answers 409). Every change records its cause ([`Actor`]) so loop
//! tests can tell webhook-driven changes from simulated users. Outbound notifications: 200 on
//! creation, 201 with `alert.statusCode` 2/4 on acknowledge/close, 203 on annotation; changes made
//! through the webhook or REST API notify too unless `outbound_for_api_changes` is off.

pub mod outbound;
pub mod rest;
pub mod webhook;

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::state::{Actor, Annotation, Change, OutboundRecord, S4User, Signl, World};
use super::util::{guid, signl4_id, ts7};

/// Registers the SIGNL4 routes (webhook and REST).
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    webhook::routes(cfg);
    rest::routes(cfg);
}

/// Status codes.
pub const OPEN: u8 = 1;
/// Acknowledged.
pub const ACKNOWLEDGED: u8 = 2;
/// Closed.
pub const CLOSED: u8 = 4;

/// Why a status change was refused.
#[derive(Debug, PartialEq)]
pub struct IllegalTransition;

/// Fields of a new Signl, as parsed from an inbound event.
#[derive(Debug, Default, Clone)]
pub struct NewSignl {
    /// Title parameter.
    pub title: String,
    /// Text parameter.
    pub text: String,
    /// `X-S4-ExternalID`.
    pub external_id: Option<String>,
    /// `X-S4-Service`.
    pub service: Option<String>,
    /// `X-S4-AlertingScenario`.
    pub scenario: Option<String>,
    /// All parameters (flattened).
    pub params: Map<String, Value>,
}

/// Creates a Signl in team `ti` (tenant index) and notifies (eventType 200). Returns the Signl id.
pub fn create(w: &mut World, ti: usize, n: NewSignl, event_id: &str, by: Actor) -> String {
    let now = Utc::now();
    let id = signl4_id(now);
    let team = &mut w.tenants[ti].team;
    team.signls.push(Signl {
        id: id.clone(),
        event_id: event_id.to_string(),
        team_id: team.id.clone(),
        external_id: n.external_id,
        title: n.title,
        text: n.text,
        params: n.params,
        status: OPEN,
        scenario: n.scenario,
        service: n.service,
        ack_user_ids: Vec::new(),
        created: now,
        modified: now,
        acknowledged_at: None,
        closed_at: None,
        closed_by: None,
        annotations: Vec::new(),
        history: vec![Change {
            at: now,
            by: by.clone(),
            what: "created".into(),
        }],
    });
    let n = team.signls.len() - 1;
    notify(w, ti, n, 200, None, None, by);
    id
}

/// Applies a status change to Signl `si` of tenant `ti`; `user` is the acting SIGNL4 user.
pub fn set_status(
    w: &mut World,
    ti: usize,
    si: usize,
    to: u8,
    user: Option<S4User>,
    by: Actor,
) -> Result<(), IllegalTransition> {
    let now = Utc::now();
    let s = &mut w.tenants[ti].team.signls[si];
    let ok = matches!(
        (s.status, to),
        (OPEN, ACKNOWLEDGED) | (OPEN, CLOSED) | (ACKNOWLEDGED, CLOSED)
    );
    if !ok {
        return Err(IllegalTransition);
    }
    let from = s.status;
    s.status = to;
    s.modified = now;
    if to == ACKNOWLEDGED {
        s.acknowledged_at = Some(now);
        if let Some(u) = &user {
            if !s.ack_user_ids.contains(&u.id) {
                s.ack_user_ids.push(u.id.clone());
            }
        }
    } else {
        s.closed_at = Some(now);
        s.closed_by = user.as_ref().map(|u| u.id.clone());
    }
    s.history.push(Change {
        at: now,
        by: by.clone(),
        what: format!("status {from} -> {to}"),
    });
    if fires(w, &by) {
        notify(w, ti, si, 201, user, None, by);
    }
    Ok(())
}

/// Adds an annotation and notifies (eventType 203). Returns the annotation.
pub fn annotate(
    w: &mut World,
    ti: usize,
    si: usize,
    text: &str,
    user: Option<S4User>,
    by: Actor,
) -> Annotation {
    let now = Utc::now();
    let a = Annotation {
        id: signl4_id(now),
        text: text.to_string(),
        user_id: user.as_ref().map(|u| u.id.clone()),
        at: now,
        by: by.clone(),
    };
    let s = &mut w.tenants[ti].team.signls[si];
    s.annotations.push(a.clone());
    s.modified = now;
    s.history.push(Change {
        at: now,
        by: by.clone(),
        what: "annotated".into(),
    });
    if fires(w, &by) {
        notify(w, ti, si, 203, user, Some(&a), by);
    }
    a
}

/// Whether a change by `by` produces an outbound notification.
fn fires(w: &World, by: &Actor) -> bool {
    match by {
        Actor::User { .. } | Actor::Control => true,
        _ => w.opts.signl4.outbound_for_api_changes,
    }
}

/// Builds the outbound payload, records it and queues it for the dispatcher.
fn notify(
    w: &mut World,
    ti: usize,
    si: usize,
    event_type: u16,
    user: Option<S4User>,
    annotation: Option<&Annotation>,
    cause: Actor,
) {
    let team = &w.tenants[ti].team;
    let s = &team.signls[si];
    let id = guid();
    let status_code = if event_type == 203 { 0 } else { s.status };
    let mut alert = json!({
        "statusCode": status_code,
        "eventId": s.event_id,
        "externalEventId": s.external_id,
        "acknowledgedUserIds": s.ack_user_ids,
        "id": s.id,
    });
    if event_type == 200 {
        alert
            .as_object_mut()
            .map(|a| a.remove("acknowledgedUserIds"));
    }
    let mut p = json!({
        "eventType": event_type,
        "eventRaisedUtc": ts7(Utc::now()),
        "subscription": {"id": team.subscription_id},
        "team": {"id": team.id},
        "alert": alert,
        "id": id,
    });
    if let Some(u) = user {
        p["user"] = json!({"username": u.name, "mailaddress": u.mail, "id": u.id});
    }
    if let Some(a) = annotation {
        p["annotation"] = json!({"message": a.text, "id": a.id});
    }
    let rec = OutboundRecord {
        id: id.clone(),
        team_id: team.id.clone(),
        event_type,
        payload: p,
        cause,
        attempts: 0,
        deliveries: 0,
        last_result: None,
    };
    w.outbound.push_back(rec);
    if w.outbound.len() > 10_000 {
        w.outbound.pop_front();
    }
    if let Some(tx) = &w.outbound_tx {
        let _ = tx.send(id);
    }
}

/// Finds a user of tenant `ti` by id or email (case-insensitive).
pub fn find_user(w: &World, ti: usize, key: &str) -> Option<S4User> {
    w.tenants[ti]
        .team
        .users
        .iter()
        .find(|u| u.id.eq_ignore_ascii_case(key) || u.mail.eq_ignore_ascii_case(key))
        .cloned()
}

/// The v2 REST representation of a Signl.
pub fn render_alert(w: &World, ti: usize, s: &Signl) -> Value {
    let team = &w.tenants[ti].team;
    let params: Vec<Value> = s
        .params
        .iter()
        .enumerate()
        .map(|(n, (k, v))| {
            let value = match v {
                Value::String(x) => x.clone(),
                other => other.to_string(),
            };
            json!({"name": k, "value": value, "type": 0, "order": n})
        })
        .collect();
    json!({
        "id": s.id,
        "eventId": s.event_id,
        "externalId": s.external_id,
        "teamId": s.team_id,
        "subscriptionId": team.subscription_id,
        "title": s.title,
        "text": s.text,
        "status": s.status,
        "severity": 0,
        "flags": if s.annotations.is_empty() { 0 } else { 2 },
        "categoryId": s.service.as_ref().map(|c| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, c.as_bytes()).to_string()),
        "categoryName": s.service,
        "workflowType": match s.scenario.as_deref() { Some("multi_ack") => 1, Some("emergency") => 2, _ => 0 },
        "requiredAcknowledgements": if s.scenario.as_deref() == Some("multi_ack") { 0 } else { 1 },
        "lastModified": ts7(s.modified),
        "history": {
            "created": ts7(s.created),
            "acknowledgedAt": s.acknowledged_at.map(ts7),
            "acknowledgements": s.ack_user_ids.iter().map(|u| json!({"userId": u})).collect::<Vec<_>>(),
            "closedAt": s.closed_at.map(ts7),
            "closedBy": s.closed_by,
        },
        "parameters": params,
    })
}
