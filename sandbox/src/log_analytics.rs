//! Log Analytics query API (`POST /v1/workspaces/{workspaceGuid}/query`, plus the GET variant):
//! runs the [`super::kql`] subset over the tenant's `SecurityAlert` rows (the real columns
//! of docs/reference/azure-apis.md §3.5), `SecurityIncident` (derived from the Sentinel emulator's incidents,
//! [`super::security_incident`]) and `SIGNL4_CL` (rows received by the ingestion emulator),
//! answering
//! `{"tables":[{"name":"PrimaryResult","columns","rows"}]}` with typed cells.
//!
//! Quirks reproduced: a POST without a JSON body or without `Content-Type: application/json` gets
//! an **empty 200 without a content type**; a workspace with no data at all answers **204**; more
//! than `la_max_concurrent` queries in flight per principal and workspace get **429**; a query
//! slower than `Prefer: wait=N` (the latency knob) gets **504**; the
//! `PartialError` variant (200 with `tables` and `error`) is a control knob; errors use the
//! OneAPI shape. What the sandbox does not implement says so: KQL it does not emulate is a 400
//! whose inner code is `NotEmulated`, and the documented routes it does not serve (`$batch`,
//! resource-centric queries, metadata) answer 501.
//!
//! Invariant: the in-flight counter is decremented on every path (a guard), so a failed query
//! never leaks a concurrency slot.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::auth::{self, AuthError};
use super::errors;
use super::kql;
use super::state::{Audience, Shared, World};
use super::util::{body_json, json as json_resp, parse_ts, q, query_pairs};

/// `SecurityAlert` columns and their LA types.
pub const SECURITY_ALERT_COLUMNS: [(&str, &str); 35] = [
    ("TenantId", "string"),
    ("TimeGenerated", "datetime"),
    ("DisplayName", "string"),
    ("AlertName", "string"),
    ("AlertSeverity", "string"),
    ("Description", "string"),
    ("ProviderName", "string"),
    ("VendorName", "string"),
    ("VendorOriginalId", "string"),
    ("SystemAlertId", "string"),
    ("ResourceId", "string"),
    ("SourceComputerId", "string"),
    ("AlertType", "string"),
    ("ConfidenceLevel", "string"),
    ("ConfidenceScore", "real"),
    ("IsIncident", "bool"),
    ("StartTime", "datetime"),
    ("EndTime", "datetime"),
    ("ProcessingEndTime", "datetime"),
    ("RemediationSteps", "string"),
    ("ExtendedProperties", "string"),
    ("Entities", "string"),
    ("SourceSystem", "string"),
    ("WorkspaceSubscriptionId", "string"),
    ("WorkspaceResourceGroup", "string"),
    ("ExtendedLinks", "string"),
    ("ProductName", "string"),
    ("ProductComponentName", "string"),
    ("AlertLink", "string"),
    ("Status", "string"),
    ("CompromisedEntity", "string"),
    ("Tactics", "string"),
    ("Techniques", "string"),
    ("SubTechniques", "string"),
    ("Type", "string"),
];

/// A documented route the sandbox does not implement: 501, saying so plainly.
async fn not_emulated(req: HttpRequest) -> HttpResponse {
    errors::la(
        501,
        "NotImplemented",
        &format!(
            "{} {} is a Log Analytics route that is not emulated by the sandbox; use POST \
             /v1/workspaces/{{workspaceId}}/query",
            req.method(),
            req.path()
        ),
        None,
    )
}

/// Registers the LA routes (under `/v1`): the workspace query, and 501 for the documented
/// routes not emulated (`$batch`, resource-centric queries, metadata).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/$batch").to(not_emulated))
        .service(web::resource("/v1/workspaces/{ws}/metadata").to(not_emulated))
        .service(web::resource("/v1/subscriptions/{resource:.*}/query").to(not_emulated));
    cfg.service(
        web::resource("/v1/workspaces/{ws}/query")
            .route(web::post().to(query_post))
            .route(web::get().to(query_get))
            .default_service(web::to(|| async {
                errors::la(
                    405,
                    "MethodNotAllowed",
                    "The requested method is not allowed for this path",
                    None,
                )
            })),
    );
}

fn auth_error(e: AuthError) -> HttpResponse {
    match e {
        AuthError::Missing => errors::la(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            None,
        ),
        AuthError::Invalid => errors::la(
            401,
            "InvalidTokenError",
            "The provided authentication is not valid for this resource",
            Some((
                "SignatureVerificationFailed",
                "Signature validation failed.",
            )),
        ),
        AuthError::Expired(_) => errors::la(
            401,
            "InvalidTokenError",
            "The provided authentication is not valid for this resource",
            Some(("TokenExpired", "The token is expired.")),
        ),
        AuthError::WrongAudience(a) => errors::la(
            401,
            "InvalidTokenError",
            "The provided authentication is not valid for this resource",
            Some((
                "InvalidAudience",
                &format!(
                    "The audience '{}' is invalid; it should be 'https://api.loganalytics.io'.",
                    a.as_str()
                ),
            )),
        ),
    }
}

/// Parses an ISO 8601 duration (`P7D`, `PT12H`, `P1DT2H30M`).
fn iso_duration(s: &str) -> Option<chrono::Duration> {
    let s = s.strip_prefix('P')?;
    let (date, time) = s.split_once('T').unwrap_or((s, ""));
    let mut total = chrono::Duration::zero();
    let mut num = String::new();
    let mut parts = 0;
    for (part, is_time) in [(date, false), (time, true)] {
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let n: f64 = num.parse().ok()?;
            num.clear();
            parts += 1;
            let secs = match (c, is_time) {
                ('D', false) => n * 86400.0,
                ('W', false) => n * 7.0 * 86400.0,
                ('H', true) => n * 3600.0,
                ('M', true) => n * 60.0,
                ('S', true) => n,
                _ => return None,
            };
            // Checked: absurd durations are a 400, never a panic.
            let part = chrono::Duration::try_milliseconds((secs * 1000.0) as i64)?;
            total = total.checked_add(&part)?;
        }
    }
    (num.is_empty() && parts > 0).then_some(total)
}

/// `timespan`: a duration ending now, `start/end` or `start/duration`.
pub fn parse_timespan(s: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let now = Utc::now();
    match s.split_once('/') {
        None => iso_duration(s).and_then(|d| Some((now.checked_sub_signed(d)?, now))),
        Some((a, b)) => {
            let start = parse_ts(a)?;
            let end = parse_ts(b)
                .or_else(|| iso_duration(b).and_then(|d| start.checked_add_signed(d)))?;
            Some((start, end))
        }
    }
}

/// Releases a concurrency slot when dropped.
struct Slot {
    shared: Shared,
    key: (String, String),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut w = self.shared.lock();
        if let Some(n) = w.la_inflight.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

fn tables_of(w: &World, ti: usize) -> impl Fn(&str) -> Option<kql::Source> + '_ {
    move |name: &str| {
        let t = &w.tenants[ti];
        match name {
            "SecurityAlert" => Some((
                SECURITY_ALERT_COLUMNS
                    .iter()
                    .map(|(c, ty)| (c.to_string(), ty.to_string()))
                    .collect(),
                t.security_alert_rows.clone(),
            )),
            "SIGNL4_CL" => Some((
                super::ingestion::columns(&t.signl4_cl_rows),
                t.signl4_cl_rows.clone(),
            )),
            "SecurityIncident" => Some(super::security_incident::table(t)),
            _ => None,
        }
    }
}

async fn query_get(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let pairs = query_pairs(req.query_string());
    let Some(query) = q(&pairs, "query").map(str::to_string) else {
        return errors::la(
            400,
            "BadArgumentError",
            "The request had some invalid properties",
            Some(("QueryMissing", "The 'query' parameter is required.")),
        );
    };
    let timespan = q(&pairs, "timespan").map(str::to_string);
    execute(shared, req, query, timespan).await
}

async fn query_post(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
    // Documented quirk: without a JSON body/content type the API answers an empty 200.
    let parsed = match body_json(&body) {
        Ok(Some(v)) if is_json => v,
        Ok(None) | Ok(Some(_)) => return HttpResponse::Ok().finish(),
        Err(_) if !is_json => return HttpResponse::Ok().finish(),
        Err(_) => {
            return errors::la(
                400,
                "BadArgumentError",
                "The request had some invalid properties",
                Some(("InvalidJson", "The request body is not valid JSON.")),
            )
        }
    };
    let Some(query) = parsed
        .get("query")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return errors::la(
            400,
            "BadArgumentError",
            "The request had some invalid properties",
            Some(("QueryMissing", "The 'query' property is required.")),
        );
    };
    let mut timespan = parsed
        .get("timespan")
        .and_then(Value::as_str)
        .map(str::to_string);
    if timespan.is_none() {
        timespan = q(&query_pairs(req.query_string()), "timespan").map(str::to_string);
    }
    execute(shared, req, query, timespan).await
}

async fn execute(
    shared: web::Data<Shared>,
    req: HttpRequest,
    query: String,
    timespan: Option<String>,
) -> HttpResponse {
    let ws = req.match_info().get("ws").unwrap_or_default().to_string();
    let (ti, slot, delay) = {
        let mut w = shared.lock();
        let tok = match auth::check(&w, &req, Audience::LogAnalytics) {
            Ok(t) => t,
            Err(e) => return auth_error(e),
        };
        let Some(ti) = w
            .tenants
            .iter()
            .position(|t| t.workspace_id.eq_ignore_ascii_case(&ws))
        else {
            return errors::la(
                404,
                "WorkspaceNotFoundError",
                &format!("The workspace {ws} could not be found"),
                None,
            );
        };
        if !w.tenants[ti].tenant_id.eq_ignore_ascii_case(&tok.tenant_id) {
            return errors::la(403, "InsufficientAccessError", "The provided credentials have insufficient access to perform the requested operation", Some(("UnauthorizedClient", "The client does not have access to this workspace.")));
        }
        let key = (tok.client_id.clone(), ws.to_ascii_lowercase());
        let max = w.opts.la_max_concurrent;
        let n = w.la_inflight.entry(key.clone()).or_insert(0);
        if *n >= max {
            let mut r = errors::la(429, "ThrottledError", "Your request was throttled: the maximum number of concurrent queries was reached. Please retry later.", Some(("TooManyConcurrentRequests", "Too many concurrent queries for this user and workspace.")));
            r.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(1u32),
            );
            return r;
        }
        *n += 1;
        (
            ti,
            Slot {
                shared: shared.get_ref().clone(),
                key,
            },
            w.la_query_delay_ms,
        )
    };
    // `Prefer: wait=N` bounds the server-side time; a query slower than that is a 504.
    let wait_ms = req
        .headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix("wait=")
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .map(|n| n.min(600) * 1000);
    if delay > 0 {
        let slept = wait_ms.map_or(delay, |w| w.min(delay));
        actix_web::rt::time::sleep(Duration::from_millis(slept)).await;
        if wait_ms.is_some_and(|w| delay > w) {
            drop(slot);
            return errors::la(
                504,
                "GatewayTimeout",
                "The query exceeded the time limit set by the 'wait' preference.",
                Some((
                    "QueryTimeout",
                    "Query execution has exceeded the allowed limits.",
                )),
            );
        }
    }
    let window = match timespan.as_deref() {
        None => None,
        Some(ts) => match parse_timespan(ts) {
            Some(w) => Some(w),
            None => {
                return errors::la(
                    400,
                    "BadArgumentError",
                    "The request had some invalid properties",
                    Some((
                        "InvalidTimespan",
                        "The timespan is not a valid ISO 8601 duration or interval.",
                    )),
                )
            }
        },
    };
    let mut w = shared.lock();
    let t = &w.tenants[ti];
    if t.security_alert_rows.is_empty() && t.signl4_cl_rows.is_empty() && t.incidents.is_empty() {
        // Release the world lock before the slot guard takes it again.
        drop(w);
        drop(slot);
        return HttpResponse::NoContent().finish();
    }
    let result = kql::run(&query, &tables_of(&w, ti), window);
    let partial = w.la_partial_errors > 0;
    if partial {
        w.la_partial_errors -= 1;
    }
    drop(w);
    drop(slot);
    match result {
        Err(kql::KqlError("NotEmulated", msg)) => errors::la(
            400,
            "BadArgumentError",
            "The query uses something the sandbox does not emulate (this is not an error in your query)",
            Some(("NotEmulated", &msg)),
        ),
        Err(kql::KqlError(inner, msg)) => errors::la(
            400,
            "BadArgumentError",
            "The request had some invalid properties",
            Some((inner, &msg)),
        ),
        Ok(table) => {
            let columns: Vec<Value> = table
                .columns
                .iter()
                .map(|(n, t)| json!({"name": n, "type": t}))
                .collect();
            let mut body = json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": table.rows}]});
            if partial {
                body["error"] = json!({
                    "code": "PartialError",
                    "message": "There were some errors when processing your query.",
                    "details": [{"code": "EngineError", "message": "Something went wrong processing your query on the server.",
                        "innererror": {"code": "-2133196797", "message": "Query result set has exceeded the internal data size limit 8388608 (E_QUERY_RESULT_SET_TOO_LARGE).", "severity": 2, "severityName": "Error"}}],
                });
            }
            json_resp(200, &body)
        }
    }
}
