//! The one place that maps an HTTP outcome to an [`ApiError`], so that retry decisions everywhere
//! follow the same table:
//!
//! | outcome | error |
//! |---|---|
//! | 429 | `Throttled` with `Retry-After` (seconds or HTTP date; [`DEFAULT_RETRY_AFTER`] if absent) |
//! | 503 with a readable `Retry-After` | `Unavailable` with it (a 503 without one is `Transient`) |
//! | 409 | `Conflict` |
//! | 404 with a JSON error naming a missing *resource* | `NotFound` |
//! | 404 naming a missing subscription, workspace, path (configuration) | `Rejected` |
//! | other 4xx with a JSON or empty body | `Rejected` with the service's own message |
//! | 5xx, timeouts, resets, non-JSON error pages (HTML), unexpected 1xx/3xx | `Transient` with context |
//!
//! Error bodies understood: ARM `CloudError`/`ErrorResponse` (`{"error":{"code","message"}}`),
//! Log Analytics OneAPI (same plus `innererror`), SIGNL4 `ErrorResponseContent`
//! (`{code, message, details}`).
//!
//! Invariant: context (status, content type, first bytes of the body) is passed through the
//! caller's [`Redactor`]; no message includes a URL.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::send::{CallInfo, Exchange};
use super::{ApiError, Redactor};

/// Wait used when a 429 carries no (readable) `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Upper bound on a server-supplied wait, so that a bogus header cannot park a caller for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// 404 error codes that mean "your configuration points at nothing", not "that item is gone".
const CONFIG_404_CODES: [&str; 7] = [
    "SubscriptionNotFound",
    "ResourceGroupNotFound",
    "ResourceNotFound",
    "InvalidResourceType",
    "WorkspaceNotFoundError",
    "PathNotFoundError",
    "InvalidApiVersionParameter",
];

/// At most this many body bytes are quoted in a message.
const SNIPPET_BYTES: usize = 120;

/// The first bytes of a body, printable, for error context.
pub fn snippet(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty)".into();
    }
    let cut = &body[..body.len().min(SNIPPET_BYTES)];
    let text: String = String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let more = if body.len() > SNIPPET_BYTES {
        "…"
    } else {
        ""
    };
    format!("'{}{more}'", text.trim())
}

/// `Retry-After` as delta-seconds or an HTTP date; `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, chrono::Utc::now())
}

/// The wait a `Retry-After` value asks for, seen at `now`: delta-seconds (an integer, or a
/// decimal some gateways send) or an HTTP date, capped at [`MAX_RETRY_AFTER`]; `None` when the
/// value is neither. Total: no input panics (`1e20` once did, in `Duration::from_secs_f64`),
/// since every number is capped before it becomes a `Duration`.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a (huge) number of seconds: the cap.
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs.min(MAX_RETRY_AFTER.as_secs())));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        let capped = secs.min(MAX_RETRY_AFTER.as_secs_f64());
        return Duration::try_from_secs_f64(capped).ok();
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER))
}

/// The service's error `(code, message)` from an ARM, OneAPI or SIGNL4 body.
pub fn service_error(body: &Value) -> Option<(String, String)> {
    let s = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(e) = body.get("error").filter(|e| e.is_object()) {
        let code = s(e.get("code")).unwrap_or_default();
        let mut message = s(e.get("message")).unwrap_or_default();
        if let Some(inner) = e.get("innererror").or_else(|| e.get("innerError")) {
            if let (Some(ic), Some(im)) = (s(inner.get("code")), s(inner.get("message"))) {
                message = format!("{message} ({ic}: {im})");
            }
        }
        return Some((code, message));
    }
    // SIGNL4 ErrorResponseContent.
    if body.get("message").is_some() || body.get("details").is_some() {
        let code = s(body.get("code")).unwrap_or_default();
        let message = match (s(body.get("message")), s(body.get("details"))) {
            (Some(m), Some(d)) if !d.is_empty() => format!("{m} {d}"),
            (Some(m), _) => m,
            (None, Some(d)) => d,
            (None, None) => String::new(),
        };
        return Some((code, message));
    }
    None
}

/// Classifies a non-2xx exchange (or a 2xx the caller could not use, via [`unexpected`]).
pub fn response(x: &Exchange, call: &CallInfo<'_>, redactor: &Redactor) -> ApiError {
    let status = x.status;
    if status == 429 {
        return ApiError::Throttled {
            retry_after: retry_after(&x.headers).unwrap_or(DEFAULT_RETRY_AFTER),
        };
    }
    if status == 503 {
        // Unavailable, and saying for how long: waited like a throttle (never shorter), but
        // kept apart from a 429, since the request may have been processed behind a gateway.
        if let Some(wait) = retry_after(&x.headers) {
            return ApiError::Unavailable {
                retry_after: wait,
                message: redactor.clean(&format!(
                    "{} {} {} answered 503",
                    call.service, call.method, call.template
                )),
            };
        }
    }
    if status == 409 {
        return ApiError::Conflict;
    }
    let trimmed = x.body.iter().all(u8::is_ascii_whitespace);
    let parsed: Option<Value> = if trimmed {
        None
    } else {
        match serde_json::from_slice::<Value>(&x.body) {
            Ok(v) => Some(v),
            // An HTML page from a gateway or a body cut short: nothing we can trust; retry.
            Err(_) => return unexpected(x, call, redactor, "error body is not JSON"),
        }
    };
    let err = parsed.as_ref().and_then(service_error);
    if (500..600).contains(&status) {
        let what = match &err {
            Some((c, m)) => format!("{c}: {m}"),
            None => format!("body {}", snippet(&x.body)),
        };
        return ApiError::Transient(redactor.clean(&format!(
            "{} {} {} answered {status}: {what}",
            call.service, call.method, call.template
        )));
    }
    if !(400..500).contains(&status) {
        return unexpected(x, call, redactor, "unexpected status");
    }
    if status == 404 {
        let config = err
            .as_ref()
            .is_some_and(|(c, _)| CONFIG_404_CODES.iter().any(|k| k.eq_ignore_ascii_case(c)));
        if !config {
            return ApiError::NotFound;
        }
    }
    if status == 408 {
        return ApiError::Transient(format!(
            "{} {} {} answered 408 (request timeout)",
            call.service, call.method, call.template
        ));
    }
    let message = match err {
        Some((c, m)) if !c.is_empty() && !m.is_empty() => format!("{c}: {m}"),
        Some((c, m)) => format!("{c}{m}"),
        None if trimmed => "(no body)".to_string(),
        None => format!("body {}", snippet(&x.body)),
    };
    ApiError::Rejected {
        status,
        message: redactor.clean(&message),
    }
}

/// A response we cannot use (wrong status class, unparsable or unexpected body): `Transient`
/// with the status, content type and first bytes.
pub fn unexpected(x: &Exchange, call: &CallInfo<'_>, redactor: &Redactor, why: &str) -> ApiError {
    ApiError::Transient(redactor.clean(&format!(
        "{} {} {}: {why}: status {}, content type '{}', body starts {}",
        call.service,
        call.method,
        call.template,
        x.status,
        x.content_type(),
        snippet(&x.body)
    )))
}

/// Classifies a transport failure (no response): always `Transient`. The URL is removed first:
/// a SIGNL4 webhook URL carries the team secret.
pub fn transport(e: reqwest::Error, call: &CallInfo<'_>, redactor: &Redactor) -> ApiError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "failed reading the response"
    } else {
        "failed"
    };
    let e = e.without_url();
    let mut chain = e.to_string();
    let mut src = std::error::Error::source(&e);
    let mut depth = 0;
    while let Some(s) = src {
        if depth >= 6 {
            break;
        }
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        src = s.source();
        depth += 1;
    }
    ApiError::Transient(redactor.clean(&format!(
        "{} {} {} {kind}: {chain}",
        call.service, call.method, call.template
    )))
}
