//! Microsoft Graph security incidents (Defender XDR, `/v1.0/security/incidents`), and the
//! `/security` rate budget shared with [`alerts_v2`](super::graph).
//!
//! Served: list with `$filter` (assignedTo, classification, determination, createdDateTime,
//! lastUpdateDateTime, severity, status; `and`/`or`), `$top`, `$skip`, `$count`,
//! `$expand=alerts` and `@odata.nextLink`; get (with `$expand=alerts`); PATCH of assignedTo,
//! classification, determination, status and customTags (200 with the incident); POST comments
//! (one alertComment object as the docs send it, or a JSON array of them as the msgraph SDK sends
//! it; 200 with every comment). Enums are the service metadata's, as generated in `msgraph-sdk`
//! (azure-apis.md §4.6): determination `confirmedActivity`, `notMalicious`, ... The evolvable
//! member `awaitingAction` (incident status) and the alerts' evolvable members read as
//! `unknownFutureValue` unless the request sends `Prefer: include-unknown-enum-members`.
//!
//! An incident's alerts are the tenant's alerts_v2 alerts whose `incidentId` is its id: the two
//! resources never disagree. A merge ([`Control::merge_graph_incidents`]) moves the merged
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

use super::control::{Control, ControlError};
use super::errors;
use super::graph::{self, new_alert, present_alert, DETERMINATION};
use super::odata::{self, FieldType};
use super::state::{Tenant, World};
use super::util::{body_json, json as json_resp, pct_encode, q, query_pairs, ts7};

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
const CLASSIFICATION: [&str; 5] = [
    "unknown",
    "falsePositive",
    "truePositive",
    "informationalExpectedActivity",
    "unknownFutureValue",
];
/// `microsoft.graph.security.alertSeverity`.
const SEVERITY: [&str; 6] = [
    "unknown",
    "informational",
    "low",
    "medium",
    "high",
    "unknownFutureValue",
];

/// Registers the incident routes (under `/v1.0`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mna = || {
        web::to(|req: HttpRequest| async move {
            errors::graph(
                405,
                "Request_BadRequest",
                &format!("Method {} is not allowed on this resource.", req.method()),
            )
        })
    };
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
        .throttle
        .entry((
            format!(
                "graph-security/{}/{}",
                tenant_id.to_ascii_lowercase(),
                client_id.to_ascii_lowercase()
            ),
            "graph_security",
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
fn present(t: &Tenant, inc: &Value, expand: bool, opted: bool) -> Value {
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

fn context(req: &HttpRequest, suffix: &str) -> String {
    format!(
        "http://{}/v1.0/$metadata#security/{suffix}",
        req.connection_info().host()
    )
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

async fn list(shared: web::Data<super::state::Shared>, req: HttpRequest) -> HttpResponse {
    let mut w = shared.lock();
    let ti = tri!(graph::prelude_throttled(&mut w, &req));
    let pairs = query_pairs(req.query_string());
    let expand = tri!(expand(&pairs));
    let t = &w.tenants[ti];
    let mut items: Vec<&Value> = t.graph_incidents.iter().collect();
    if let Some(f) = q(&pairs, "$filter").filter(|f| !f.trim().is_empty()) {
        match odata::parse_filter(f, &fields) {
            Ok(e) => items.retain(|a| odata::eval(&e, a)),
            Err(odata::SyntaxError(m)) => {
                return errors::graph(400, "BadRequest", &format!("Invalid filter clause: {m}"))
            }
        }
    }
    let top = match q(&pairs, "$top") {
        None => 50,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return errors::graph(
                    400,
                    "BadRequest",
                    "Invalid $top value. It must be an integer between 1 and 1000.",
                )
            }
        },
    };
    let skip = match q(&pairs, "$skip") {
        None => 0,
        Some(s) => match s.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return errors::graph(400, "BadRequest", "Invalid $skip value."),
        },
    };
    let opted = opted_in(&req);
    let total = items.len();
    let value: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(top)
        .map(|i| present(t, i, expand, opted))
        .collect();
    let mut body = json!({"@odata.context": context(&req, "incidents"), "value": value});
    if q(&pairs, "$count").is_some_and(|c| c == "true") {
        body["@odata.count"] = json!(total);
    }
    if skip + top < total {
        let mut qs: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip"))
            .map(|(k, v)| format!("{}={}", pct_encode(k, false), pct_encode(v, false)))
            .collect();
        qs.push(format!("$skip={}", skip + top));
        body["@odata.nextLink"] = json!(format!(
            "http://{}{}?{}",
            req.connection_info().host(),
            req.path(),
            qs.join("&")
        ));
    }
    json_resp(200, &body)
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
fn validate_patch(upd: &Map<String, Value>) -> Result<(), String> {
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
fn apply(inc: &mut Value, upd: Map<String, Value>, by: &str) {
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
        &json!({"@odata.context": context(&req, &format!("incidents('{id}')/comments")), "value": all}),
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
