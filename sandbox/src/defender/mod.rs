//! Microsoft Graph security incidents (Defender XDR, `/v1.0/security/incidents`), and the
//! `/security` rate budget shared with [`alerts_v2`](super::graph).
//!
//! Served: list with `$filter` (assignedTo, classification, determination, createdDateTime,
//! lastUpdateDateTime, severity, status; `and`/`or`), `$top`, `$skip`, `$count`,
//! `$expand=alerts` and `@odata.nextLink`; get (with `$expand=alerts`); PATCH of assignedTo,
//! classification, determination, status and customTags (200 with the incident); POST comments
//! (one alertComment object as the docs send it, or a JSON array of them as the msgraph SDK sends
//! it; 200 with every comment). Enums are the service metadata's, as generated in `msgraph-sdk`
//! (docs/reference/azure-apis.md §4.6): determination `confirmedActivity`, `notMalicious`, ... The evolvable
//! member `awaitingAction` (incident status) and the alerts' evolvable members read as
//! `unknownFutureValue` unless the request sends `Prefer: include-unknown-enum-members`.
//!
//! An incident's alerts are the tenant's alerts_v2 alerts whose `incidentId` is its id: the two
//! resources never disagree. The control API (creation with alerts, analyst edits and comments,
//! merges) is in `control.rs`. A merge
//! ([`Control::merge_graph_incidents`](super::control::Control::merge_graph_incidents)) moves the merged
//! incident's alerts to the surviving one and turns the merged one `redirected` with
//! `redirectIncidentId`, as Defender does.
//!
//! Throttling: about 150 requests per minute per app per tenant on `/security`
//! ([`SandboxOptions::graph_security_per_minute`](super::options::SandboxOptions)), a sliding
//! minute; past it 429 in Graph's error shape with `Retry-After` (seconds).
//!
//! Where the sandbox chooses: incidents list in creation order; `$top` defaults to 50 and may be
//! 1..=1000; PATCH of `status` accepts active, inProgress, resolved and awaitingAction (not
//! `redirected`, which only a merge sets); an unknown property or enum value is 400 `BadRequest`.
//!
//! Invariants: a token only sees its own tenant's incidents; errors use Graph's shape; every
//! change moves `lastUpdateDateTime`.

use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::errors;
use super::graph::{self, present_alert, DETERMINATION};
use super::graph_list;
use super::odata::FieldType;
use super::state::{Tenant, World};
use super::util::{body_json, json as json_resp, q, query_pairs, ts7};

mod control;

pub use control::{control_routes, DefenderIncidentSpec};

/// Incident statuses (`microsoft.graph.security.incidentStatus`).
pub const INCIDENT_STATUS: [&str; 6] = [
    "active",
    "resolved",
    "inProgress",
    "redirected",
    "unknownFutureValue",
    "awaitingAction",
];
/// Statuses a PATCH may set (`redirected` is the result of a merge only).
const PATCHABLE_STATUS: [&str; 4] = ["active", "resolved", "inProgress", "awaitingAction"];
/// `microsoft.graph.security.alertClassification`.
pub(crate) const CLASSIFICATION: [&str; 5] = [
    "unknown",
    "falsePositive",
    "truePositive",
    "informationalExpectedActivity",
    "unknownFutureValue",
];
/// `microsoft.graph.security.alertSeverity`.
pub(crate) const SEVERITY: [&str; 6] = [
    "unknown",
    "informational",
    "low",
    "medium",
    "high",
    "unknownFutureValue",
];

/// Registers the incident routes (under `/v1.0`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mna = || web::to(errors::graph_method_not_allowed);
    cfg.service(
        web::resource("/v1.0/security/incidents")
            .route(web::get().to(list))
            .default_service(mna()),
    )
    .service(
        web::resource("/v1.0/security/incidents/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(patch))
            .default_service(mna()),
    )
    .service(
        web::resource("/v1.0/security/incidents/{id}/comments")
            .route(web::post().to(comment))
            .default_service(mna()),
    );
}

/// One request against the `/security` budget of (tenant, app): `Err` is the 429 to answer.
pub fn throttle(w: &mut World, tenant_id: &str, client_id: &str) -> Result<(), HttpResponse> {
    let limit = w.opts.graph_security_per_minute as usize;
    let window = Duration::from_secs(60);
    let log = w
        .graph_throttle
        .entry((
            tenant_id.to_ascii_lowercase(),
            client_id.to_ascii_lowercase(),
        ))
        .or_default();
    let now = Instant::now();
    while log
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        log.pop_front();
    }
    if log.len() >= limit {
        let wait = log
            .front()
            .map(|t| window.saturating_sub(now.duration_since(*t)))
            .unwrap_or(window);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut r = errors::graph(
            429,
            "TooManyRequests",
            "Too many requests. The request has been throttled.",
        );
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        return Err(r);
    }
    log.push_back(now);
    Ok(())
}

fn opted_in(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.to_ascii_lowercase()
                .contains("include-unknown-enum-members")
        })
}

/// The incident as served: evolvable members hidden unless opted in; alerts joined when
/// `expand`.
pub(crate) fn present(t: &Tenant, inc: &Value, expand: bool, opted: bool) -> Value {
    let mut v = inc.clone();
    if !opted && v["status"] == json!("awaitingAction") {
        v["status"] = json!("unknownFutureValue");
    }
    if expand {
        let id = inc["id"].as_str().unwrap_or_default();
        let alerts: Vec<Value> = t
            .graph_alerts
            .iter()
            .filter(|a| a["incidentId"].as_str() == Some(id))
            .map(|a| present_alert(a, opted))
            .collect();
        v["alerts"] = json!(alerts);
    }
    v
}

fn fields(p: &[String]) -> Option<FieldType> {
    match p {
        [f] => match f.as_str() {
            "assignedTo" | "classification" | "determination" | "severity" | "status" => {
                Some(FieldType::Str)
            }
            "createdDateTime" | "lastUpdateDateTime" => Some(FieldType::DateTime),
            _ => None,
        },
        _ => None,
    }
}

/// `Ok(true)` for `$expand=alerts`, `Ok(false)` without `$expand`; anything else is 400.
fn expand(pairs: &[(String, String)]) -> Result<bool, HttpResponse> {
    match q(pairs, "$expand") {
        None => Ok(false),
        Some(e) if e.trim().eq_ignore_ascii_case("alerts") => Ok(true),
        Some(e) => Err(errors::graph(
            400,
            "BadRequest",
            &format!("Could not find a property named '{e}' on type 'microsoft.graph.security.incident'."),
        )),
    }
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(x) => x,
            Err(r) => return r,
        }
    };
}

/// Defender incidents page with `$top` up to 1000, 50 by default.
const INCIDENT_PAGING: graph_list::Paging = graph_list::Paging {
    default_top: 50,
    max_top: 1000,
    skip_keys: &["$skip"],
};

async fn list(shared: web::Data<super::state::Shared>, req: HttpRequest) -> HttpResponse {
    let mut w = shared.lock();
    let ti = tri!(graph::prelude_throttled(&mut w, &req));
    let pairs = query_pairs(req.query_string());
    let expand = tri!(expand(&pairs));
    let t = &w.tenants[ti];
    let opted = opted_in(&req);
    let items: Vec<&Value> = t.graph_incidents.iter().collect();
    graph_list::list(
        &req,
        &pairs,
        items,
        fields,
        &INCIDENT_PAGING,
        "incidents",
        |i| present(t, i, expand, opted),
    )
}

fn find(t: &Tenant, id: &str) -> Result<usize, HttpResponse> {
    t.graph_incidents
        .iter()
        .position(|i| i["id"].as_str() == Some(id))
        .ok_or_else(|| {
            errors::graph(
                404,
                "NotFound",
                &format!("Incident with id '{id}' was not found."),
            )
        })
}

async fn get(shared: web::Data<super::state::Shared>, req: HttpRequest) -> HttpResponse {
    let mut w = shared.lock();
    let ti = tri!(graph::prelude_throttled(&mut w, &req));
    let pairs = query_pairs(req.query_string());
    let expand = tri!(expand(&pairs));
    let t = &w.tenants[ti];
    let n = tri!(find(t, req.match_info().get("id").unwrap_or_default()));
    json_resp(
        200,
        &present(t, &t.graph_incidents[n], expand, opted_in(&req)),
    )
}

fn bad(message: &str) -> HttpResponse {
    errors::graph(400, "BadRequest", message)
}

/// Checks a PATCH body against the updatable properties and their enums; `Err` is Graph's
/// message (the HTTP handler answers it as 400 `BadRequest`).
pub(crate) fn validate_patch(upd: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in upd {
        let allowed: Option<&[&str]> = match k.as_str() {
            "status" => Some(&PATCHABLE_STATUS),
            "classification" => Some(&CLASSIFICATION),
            "determination" => Some(&DETERMINATION),
            "assignedTo" => None,
            "customTags" => {
                let ok = v
                    .as_array()
                    .is_some_and(|tags| tags.iter().all(Value::is_string));
                if !ok {
                    return Err("Invalid value for property 'customTags': a collection of \
                                strings is expected."
                        .into());
                }
                continue;
            }
            "@odata.type" => continue,
            other => {
                return Err(format!(
                    "Property '{other}' is read-only or does not exist and cannot be updated."
                ))
            }
        };
        match (allowed, v) {
            (None, Value::String(_) | Value::Null) => {}
            (Some(vals), Value::String(s)) if vals.contains(&s.as_str()) => {}
            _ => {
                return Err(format!(
                    "Requested value '{}' was not found for property '{k}'.",
                    v.as_str().unwrap_or("null")
                ))
            }
        }
    }
    Ok(())
}

/// Applies a validated update; `by` is recorded as `lastModifiedBy`.
pub(crate) fn apply(inc: &mut Value, upd: Map<String, Value>, by: &str) {
    for (k, v) in upd {
        if k != "@odata.type" {
            inc[k] = v;
        }
    }
    inc["lastModifiedBy"] = json!(by);
    inc["lastUpdateDateTime"] = json!(ts7(Utc::now()));
}

async fn patch(
    shared: web::Data<super::state::Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let upd = match body_json(&body) {
        Ok(Some(Value::Object(m))) => m,
        Ok(_) => return bad("Empty Payload. JSON content expected."),
        Err(_) => return bad("Invalid JSON payload."),
    };
    let mut w = shared.lock();
    let ti = tri!(graph::prelude_throttled(&mut w, &req));
    let n = tri!(find(
        &w.tenants[ti],
        req.match_info().get("id").unwrap_or_default()
    ));
    tri!(validate_patch(&upd).map_err(|m| bad(&m)));
    let by = format!("app:{}", w.tenants[ti].client_id);
    apply(&mut w.tenants[ti].graph_incidents[n], upd, &by);
    let t = &w.tenants[ti];
    json_resp(
        200,
        &present(t, &t.graph_incidents[n], false, opted_in(&req)),
    )
}

/// The comment texts of a POST body: one alertComment object, or an array of them.
pub fn comment_texts(body: &[u8]) -> Result<Vec<String>, HttpResponse> {
    let one = |v: &Value| -> Result<String, HttpResponse> {
        match v.get("comment").and_then(Value::as_str) {
            Some(c) if !c.is_empty() => Ok(c.to_string()),
            _ => Err(bad("The 'comment' property is required.")),
        }
    };
    match body_json(body) {
        Ok(Some(Value::Array(items))) if !items.is_empty() => items.iter().map(one).collect(),
        Ok(Some(v @ Value::Object(_))) => Ok(vec![one(&v)?]),
        Ok(Some(_)) => Err(bad("The 'comment' property is required.")),
        Ok(None) => Err(bad("Empty Payload. JSON content expected.")),
        Err(_) => Err(bad("Invalid JSON payload.")),
    }
}

/// Appends comments to a resource's `comments` and moves its `lastUpdateDateTime`.
pub fn push_comments(resource: &mut Value, texts: Vec<String>, by: &str) {
    let now = ts7(Utc::now());
    if !resource["comments"].is_array() {
        resource["comments"] = json!([]);
    }
    if let Some(arr) = resource["comments"].as_array_mut() {
        for text in texts {
            arr.push(
                json!({"@odata.type": "#microsoft.graph.security.alertComment",
                "comment": text, "createdByDisplayName": by, "createdDateTime": now}),
            );
        }
    }
    resource["lastUpdateDateTime"] = json!(now);
}

async fn comment(
    shared: web::Data<super::state::Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let texts = tri!(comment_texts(&body));
    let mut w = shared.lock();
    let ti = tri!(graph::prelude_throttled(&mut w, &req));
    let id = req.match_info().get("id").unwrap_or_default().to_string();
    let n = tri!(find(&w.tenants[ti], &id));
    let by = format!("app:{}", w.tenants[ti].client_id);
    let inc = &mut w.tenants[ti].graph_incidents[n];
    push_comments(inc, texts, &by);
    let all = inc["comments"].clone();
    json_resp(
        200,
        &json!({"@odata.context": graph_list::context(&req, &format!("incidents('{id}')/comments")), "value": all}),
    )
}

/// A new incident with realistic defaults (`fields` merged over them), id `id`.
pub fn new_incident(t: &Tenant, id: &str, fields: Map<String, Value>) -> Value {
    let now = ts7(Utc::now());
    let mut i = json!({
        "@odata.type": "#microsoft.graph.security.incident",
        "id": id, "tenantId": t.tenant_id, "status": "active", "severity": "medium",
        "incidentWebUrl": format!("https://security.microsoft.com/incidents/{id}?tid={}", t.tenant_id),
        "redirectIncidentId": null, "displayName": "Multi-stage incident on one endpoint",
        "description": "Generated by the sandbox", "summary": null,
        "createdDateTime": now, "lastUpdateDateTime": now, "assignedTo": null,
        "classification": "unknown", "determination": "unknown", "customTags": [],
        "systemTags": [], "resolvingComment": null, "lastModifiedBy": "Microsoft 365 Defender",
        "comments": [],
    });
    for (k, v) in fields {
        i[k] = v;
    }
    i
}
