//! Azure Monitor Logs Ingestion API: `POST /dataCollectionRules/{dcrImmutableId}/streams/{stream}
//! ?api-version=2023-01-01` with a Monitor-audience token and a JSON array of objects, plain or
//! `Content-Encoding: gzip` (what azure-monitor-ingestion always sends); 204 on success, 413 over
//! 1 MB (compressed or not), 400 for anything but an array of objects or for a body that is not
//! the gzip it claims, 415 for other encodings (not emulated), Azure.Core errors with
//! `x-ms-error-code`. Rows of stream `Custom-SIGNL4_CL` land in the tenant's `SIGNL4_CL` table,
//! queryable through the Log Analytics emulator. No server-side deduplication (like Azure).
//!
//! Invariant: a rejected call stores nothing (validation happens before the append).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{Map, Value};

use super::auth::{self, AuthError};
use super::capture::{gunzip, is_gzip};
use super::errors;
use super::state::{Audience, Shared};
use super::util::{q, query_pairs, ts7};

/// Maximum request body (about 1 MB per call, as documented).
pub const MAX_BODY: usize = 1024 * 1024;

fn too_large() -> HttpResponse {
    errors::azure_core(
        413,
        "ContentLengthLimitExceeded",
        "The request body exceeds the 1 MB limit.",
    )
}

/// Registers the ingestion route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/dataCollectionRules/{dcr}/streams/{stream}").route(web::post().to(ingest)),
    );
}

/// Columns of `SIGNL4_CL` inferred from the rows (first-seen order, `TimeGenerated` first). A
/// column's type comes from its first non-null value (a column only ever null is a string), so
/// a nullable number sent as `null` first is still a number column.
pub fn columns(rows: &[Map<String, Value>]) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = vec![("TimeGenerated".into(), "datetime".into())];
    // Columns seen so far with only nulls: their type is still open.
    let mut open: Vec<String> = Vec::new();
    for r in rows {
        for (k, v) in r {
            let known = cols.iter().position(|(c, _)| c == k);
            let ty = match v {
                Value::Null => None,
                Value::Bool(_) => Some("bool"),
                Value::Number(n) if n.is_i64() || n.is_u64() => Some("long"),
                Value::Number(_) => Some("real"),
                Value::Object(_) | Value::Array(_) => Some("dynamic"),
                Value::String(_) => Some("string"),
            };
            match (known, ty) {
                (None, ty) => {
                    cols.push((k.clone(), ty.unwrap_or("string").into()));
                    if ty.is_none() {
                        open.push(k.clone());
                    }
                }
                (Some(i), Some(ty)) if open.contains(k) => {
                    cols[i].1 = ty.into();
                    open.retain(|o| o != k);
                }
                _ => {}
            }
        }
    }
    cols
}

async fn ingest(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut w = shared.lock();
    let tok = match auth::check(&w, &req, Audience::Monitor) {
        Ok(t) => t,
        Err(AuthError::Missing) => {
            return errors::azure_core(
                401,
                "NoAuthenticationHeader",
                "The request is missing the Authorization header.",
            )
        }
        Err(AuthError::WrongAudience(a)) => {
            return errors::azure_core(
                401,
                "InvalidAudience",
                &format!(
                    "The token audience '{}' is not valid; expected 'https://monitor.azure.com'.",
                    a.as_str()
                ),
            )
        }
        Err(_) => {
            return errors::azure_core(
                401,
                "InvalidToken",
                "The provided access token is invalid or expired.",
            )
        }
    };
    let pairs = query_pairs(req.query_string());
    if q(&pairs, "api-version") != Some("2023-01-01") {
        return errors::azure_core(
            400,
            "InvalidApiVersion",
            "The api-version query parameter must be '2023-01-01'.",
        );
    }
    let encoding = req
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
    if body.len() > MAX_BODY {
        return too_large();
    }
    // azure-monitor-ingestion gzips every upload; the 1 MB limit holds compressed or not.
    let body: Vec<u8> = match encoding {
        None => body.to_vec(),
        Some(e) if is_gzip(Some(e)) => match gunzip(&body, MAX_BODY) {
            Some(plain) if plain.len() > MAX_BODY => return too_large(),
            Some(plain) => plain,
            None => {
                return errors::azure_core(
                    400,
                    "InvalidContentEncoding",
                    "The request body is not valid gzip although Content-Encoding says gzip.",
                )
            }
        },
        Some(e) => {
            return errors::azure_core(
                415,
                "UnsupportedContentEncoding",
                &format!(
                    "Content-Encoding '{e}' is not emulated by the sandbox; send gzip or an \
                     uncompressed body."
                ),
            )
        }
    };
    let dcr = req.match_info().get("dcr").unwrap_or_default();
    let stream = req.match_info().get("stream").unwrap_or_default();
    let Some(ti) = w.tenants.iter().position(|t| t.dcr_immutable_id == dcr) else {
        return errors::azure_core(
            404,
            "NotFound",
            &format!("Data collection rule with immutable Id '{dcr}' not found."),
        );
    };
    if !w.tenants[ti].tenant_id.eq_ignore_ascii_case(&tok.tenant_id) {
        return errors::azure_core(403, "OperationFailed", "The authentication token provided does not have access to ingest data for the data collection rule.");
    }
    if stream != "Custom-SIGNL4_CL" {
        return errors::azure_core(
            400,
            "InvalidStream",
            &format!("Stream '{stream}' is not declared in the data collection rule."),
        );
    }
    let rows: Vec<Map<String, Value>> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                match i {
                    Value::Object(m) => out.push(m),
                    _ => {
                        return errors::azure_core(
                            400,
                            "InvalidRequestBody",
                            "The request body must be a JSON array of objects.",
                        )
                    }
                }
            }
            out
        }
        _ => {
            return errors::azure_core(
                400,
                "InvalidRequestBody",
                "The request body must be a JSON array of objects.",
            )
        }
    };
    let now = ts7(Utc::now());
    let t = &mut w.tenants[ti];
    for mut r in rows {
        r.entry("TimeGenerated")
            .or_insert(Value::String(now.clone()));
        t.signl4_cl_rows.push(r);
    }
    HttpResponse::NoContent().finish()
}
