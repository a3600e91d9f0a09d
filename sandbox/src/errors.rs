//! Error bodies in each service's own shape. Clients key their retry and error handling off
//! these, so they follow the reference docs verbatim where a verbatim text is known.
//!
//! Invariant: no message contains a secret (client secrets, team secrets, API keys, tokens).

use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::json;

use super::faults::Service;
use super::util::{guid, json, ts_secs};

/// ARM `CloudError`: `{"error":{"code","message"}}`.
pub fn arm(status: u16, code: &str, message: &str) -> HttpResponse {
    json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// Log Analytics OneAPI error: `{"error":{"message","code","innererror"?}}`.
pub fn la(status: u16, code: &str, message: &str, inner: Option<(&str, &str)>) -> HttpResponse {
    let mut e = json!({"message": message, "code": code, "correlationId": guid()});
    if let Some((c, m)) = inner {
        e["innererror"] = json!({"code": c, "message": m});
    }
    json(status, &json!({ "error": e }))
}

/// Microsoft Graph error: `{"error":{"code","message","innerError":{date,request-id,client-request-id}}}`.
pub fn graph(status: u16, code: &str, message: &str) -> HttpResponse {
    let rid = guid();
    json(
        status,
        &json!({"error": {"code": code, "message": message,
            "innerError": {"date": ts_secs(Utc::now()), "request-id": rid, "client-request-id": rid}}}),
    )
}

/// Graph's 405 for a method a resource does not take (the default service of every Graph
/// resource: alerts_v2 and Defender incidents answer it alike).
pub async fn graph_method_not_allowed(req: HttpRequest) -> HttpResponse {
    graph(
        405,
        "Request_BadRequest",
        &format!("Method {} is not allowed on this resource.", req.method()),
    )
}

/// SIGNL4 `ErrorResponseContent`: `{requestId, code, details, message, errors?}`.
pub fn signl4(status: u16, code: i64, message: &str, details: &str) -> HttpResponse {
    json(
        status,
        &json!({"requestId": guid(), "code": code, "details": details, "message": message}),
    )
}

/// Azure.Core error (Logs Ingestion): body plus `x-ms-error-code` header.
pub fn azure_core(status: u16, code: &str, message: &str) -> HttpResponse {
    let mut r = json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    );
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(code) {
        r.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-ms-error-code"),
            v,
        );
    }
    r
}

/// Entra (AADSTS) error body; `description` is the message start without the trailer.
pub fn entra(status: u16, error: &str, code: u32, description: &str) -> HttpResponse {
    let now = Utc::now();
    let trace = guid();
    let corr = guid();
    let ts = super::util::ts_entra(now);
    json(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}"),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

/// Canonical code/message per status, for injected faults.
fn generic(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("BadRequest", "The request is invalid."),
        401 => ("Unauthorized", "Authentication failed."),
        403 => ("Forbidden", "Authorization failed."),
        404 => ("NotFound", "The requested resource was not found."),
        409 => ("Conflict", "The request conflicts with the current state."),
        429 => ("TooManyRequests", "The request is being throttled as the limit has been reached for operation type. Please try again after some time."),
        502 => ("BadGateway", "The gateway received an invalid response."),
        503 => ("ServiceUnavailable", "The service is temporarily unavailable. Please try again later."),
        504 => ("GatewayTimeout", "The gateway did not receive a response within the specified time period."),
        _ => ("InternalServerError", "Encountered internal server error. Diagnostic information: timestamp '', subscription id '', tracking id '', request correlation id ''."),
    }
}

/// An error response of `status` in `service`'s own shape (used by injected faults).
pub fn service_error(service: Service, status: u16) -> HttpResponse {
    let (code, msg) = generic(status);
    match service {
        Service::Sentinel | Service::Control => arm(status, code, msg),
        Service::LogAnalytics => la(status, code, msg, None),
        Service::Graph => graph(status, code, msg),
        Service::Signl4 | Service::Outbound => signl4(status, i64::from(status), msg, ""),
        Service::Ingestion => azure_core(status, code, msg),
        Service::Entra => {
            let error = if status == 429 {
                "temporarily_unavailable"
            } else {
                "server_error"
            };
            entra(
                status,
                error,
                50000,
                "There was an error issuing a token or an issue with our sign-in service.",
            )
        }
    }
}
