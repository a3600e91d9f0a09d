//! SIGNL4 inbound webhook `POST /webhook/{teamSecret}` (and the API-key variant
//! `POST /api/v2/events/{teamIdOrSecret}`): JSON, form-encoded or plain-text bodies (JSON is
//! sniffed when the content type is missing), nested objects flattened with dots, Title/Text
//! picked by SIGNL4's alias lists, `X-S4-*` control fields matched case-insensitively, the
//! `ExtIDParam`/`ExtStatusParam`/`ResolvedStatus`/`AckStatus`/`NewStatus` query mapping, 201
//! `{"eventId"}`; unknown secret → 404 code 3004.
//!
//! Invariant: the team secret is never echoed (the 404 names an event-source id derived from it).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::{create, set_status, NewSignl, ACKNOWLEDGED, CLOSED, OPEN};
use crate::errors;
use crate::state::{Actor, Shared, World};
use crate::util::{json as json_resp, query_pairs, signl4_id};

/// Registers the webhook routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/webhook/{secret}").route(web::post().to(webhook)));
}

const TITLE_ALIASES: [&str; 7] = [
    "Title",
    "Subject",
    "Job",
    "Task",
    "Case",
    "Incident",
    "X-S4-Subject",
];
const TEXT_ALIASES: [&str; 6] = [
    "Text",
    "Message",
    "MessageText",
    "Description",
    "Body",
    "Content",
];

fn flatten(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// Parses the body into flattened parameters.
fn parse_body(req: &HttpRequest, body: &[u8]) -> Map<String, Value> {
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut out = Map::new();
    if ct.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in query_pairs(&String::from_utf8_lossy(body)) {
            out.insert(k, Value::String(v));
        }
        return out;
    }
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if v.is_object() {
            flatten("", &v, &mut out);
            return out;
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if !text.is_empty() {
        out.insert("Text".into(), Value::String(text));
    }
    out
}

fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn get_str(m: &Map<String, Value>, key: &str) -> Option<String> {
    match get_ci(m, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What an inbound event asks for.
enum Intent {
    New,
    Ack,
    Resolve,
    Discard,
}

/// Handles one inbound event for tenant `ti`; returns the 201 response.
pub fn handle_event(
    w: &mut World,
    ti: usize,
    query: &str,
    mut params: Map<String, Value>,
) -> HttpResponse {
    let q = query_pairs(query);
    let qv = |n: &str| {
        q.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut external_id = get_str(&params, "X-S4-ExternalID").filter(|s| !s.is_empty());
    let mut status = get_str(&params, "X-S4-Status")
        .unwrap_or_default()
        .to_ascii_lowercase();
    // Query-string mapping for senders that cannot add X-S4 fields.
    if let Some(idp) = qv("ExtIDParam") {
        external_id = get_str(&params, &idp).or(external_id);
    }
    if let Some(sp) = qv("ExtStatusParam") {
        let v = get_str(&params, &sp).unwrap_or_default();
        let is = |n: &str| qv(n).is_some_and(|x| x.eq_ignore_ascii_case(&v));
        status = if is("ResolvedStatus") {
            "resolved".into()
        } else if is("AckStatus") {
            "acknowledged".into()
        } else if qv("NewStatus").is_some() && !is("NewStatus") {
            "discard".into()
        } else {
            "new".into()
        };
    }
    let intent = match status.as_str() {
        "" | "new" => Intent::New,
        "acknowledged" => Intent::Ack,
        "resolved" => Intent::Resolve,
        _ => Intent::Discard,
    };
    let event_id = signl4_id(Utc::now());
    match intent {
        Intent::Discard => {}
        Intent::Ack | Intent::Resolve => {
            if let Some(ext) = &external_id {
                let (to, from): (u8, &[u8]) = match intent {
                    Intent::Ack => (ACKNOWLEDGED, &[OPEN]),
                    _ => (CLOSED, &[OPEN, ACKNOWLEDGED]),
                };
                let idx: Vec<usize> = w.tenants[ti]
                    .team
                    .signls
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        s.external_id.as_deref() == Some(ext.as_str()) && from.contains(&s.status)
                    })
                    .map(|(n, _)| n)
                    .collect();
                for n in idx {
                    let _ = set_status(w, ti, n, to, None, Actor::Webhook);
                }
            }
        }
        Intent::New => {
            if w.opts.signl4.dedupe_external_id {
                if let Some(ext) = &external_id {
                    if let Some(s) = w.tenants[ti].team.signls.iter().find(|s| {
                        s.external_id.as_deref() == Some(ext.as_str()) && s.status != CLOSED
                    }) {
                        return json_resp(201, &json!({ "eventId": s.event_id }));
                    }
                }
            }
            let pick = |params: &mut Map<String, Value>, aliases: &[&str]| -> Option<String> {
                for a in aliases {
                    if let Some(k) = params.keys().find(|k| k.eq_ignore_ascii_case(a)).cloned() {
                        if let Some(Value::String(s)) = params.get(&k) {
                            return Some(s.clone());
                        }
                    }
                }
                None
            };
            let mut title = pick(&mut params, &TITLE_ALIASES);
            let mut text = pick(&mut params, &TEXT_ALIASES);
            // Fallback: the first plain string parameters become Title and Text.
            for slot in [&mut title, &mut text] {
                if slot.is_none() {
                    let k = params
                        .iter()
                        .find(|(k, v)| {
                            v.is_string() && !k.to_ascii_lowercase().starts_with("x-s4-")
                        })
                        .map(|(k, _)| k.clone());
                    if let Some(k) = k {
                        *slot = params
                            .remove(&k)
                            .and_then(|v| v.as_str().map(str::to_string));
                    }
                }
            }
            let n = NewSignl {
                title: title.unwrap_or_default(),
                text: text.unwrap_or_default(),
                external_id,
                service: get_str(&params, "X-S4-Service").filter(|s| !s.is_empty()),
                scenario: get_str(&params, "X-S4-AlertingScenario").filter(|s| !s.is_empty()),
                params,
            };
            create(w, ti, n, &event_id, Actor::Webhook);
        }
    }
    json_resp(201, &json!({ "eventId": event_id }))
}

async fn webhook(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let secret = req
        .match_info()
        .get("secret")
        .unwrap_or_default()
        .to_string();
    let params = parse_body(&req, &body);
    let mut w = shared.lock();
    let Some(ti) = w.tenants.iter().position(|t| t.team.secret == secret) else {
        let src = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, secret.as_bytes())
            .simple()
            .to_string();
        return errors::signl4(
            404,
            3004,
            "Error raising event.",
            &format!("An event source with ID {} was not found.", &src[..8]),
        );
    };
    handle_event(&mut w, ti, req.query_string(), params)
}

/// `POST /api/v2/events/{teamIdOrSecret}` body handling, shared with the REST module.
pub fn parse_event_body(req: &HttpRequest, body: &[u8]) -> Map<String, Value> {
    parse_body(req, body)
}
