//! The inbound side: an actix-web endpoint that receives SIGNL4 outbound webhooks for every
//! connector of the process, at `POST /signl4/{connector}/{token}`.
//!
//! Invariants:
//! - The route and token are checked before a byte of the body is read: a wrong connector or
//!   token gets 404 (as if the route did not exist) whatever the body, and nothing is
//!   recorded. The token is compared in constant time and never appears in logs.
//! - Only then is the body read, under a size limit (413 beyond, from `Content-Length` or while
//!   reading) and a read timeout (408), so a slow or huge body cannot hold the listener. It
//!   must be a JSON object (400 otherwise, naming what is wrong); nothing is recorded for a
//!   rejected body.
//! - Rejections are counted and logged rate-limited, request text escaped ([`reject`]).
//! - A notification is answered 2xx only after StatusSync recorded it durably (or found it a
//!   duplicate): a crash before that means no 2xx, SIGNL4 delivers again, and the inbox
//!   deduplicates. A failing store answers 503 so that SIGNL4 retries.

use std::collections::HashMap;
use std::sync::Arc;

pub mod reject;

use std::time::Duration;

use actix::Recipient;
use actix_web::{web, HttpRequest, HttpResponse, Responder};
use actors::messages::Signl4Notified;
use actors::status_sync::notification::{parse, Parsed};

use reject::{escape, rejections, Reason};

/// Largest webhook body accepted. SIGNL4 notifications are well under 4 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest a webhook body may take to arrive once its headers are in.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How much body a request may send, and how slowly. Exists so tests can shorten the timeout.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub read_timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_bytes: MAX_BODY_BYTES,
            read_timeout: BODY_READ_TIMEOUT,
        }
    }
}

/// One connector's route: its secret token and its StatusSync.
#[derive(Clone)]
pub struct Route {
    /// The unguessable path token (a secret: never logged).
    pub token: String,
    /// Where notifications go.
    pub status_sync: Recipient<Signl4Notified>,
}

/// Every connector's route, by connector name.
#[derive(Clone, Default)]
pub struct Routes(pub Arc<HashMap<String, Route>>);

/// Equality that takes as long for every input of the same length, so response times do not
/// reveal how much of a guessed token was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Adds the webhook route to an actix-web app, with the default [`BodyLimits`].
pub fn configure(routes: Routes) -> impl FnOnce(&mut web::ServiceConfig) {
    configure_with(routes, BodyLimits::default())
}

/// Adds the webhook route to an actix-web app.
pub fn configure_with(routes: Routes, limits: BodyLimits) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(routes))
            .app_data(web::Data::new(limits))
            .route("/signl4/{connector}/{token}", web::post().to(receive));
    }
}

/// Why a body was not read.
enum BodyError {
    TooLarge,
    Slow,
    Broken(String),
}

/// Reads the body under `limits`; called only once the route and token are known good.
async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
    limits: BodyLimits,
) -> Result<web::Bytes, BodyError> {
    let declared = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return Err(BodyError::TooLarge);
    }
    match tokio::time::timeout(
        limits.read_timeout,
        payload.to_bytes_limited(limits.max_bytes),
    )
    .await
    {
        Err(_) => Err(BodyError::Slow),
        Ok(Err(_)) => Err(BodyError::TooLarge),
        Ok(Ok(Err(error))) => Err(BodyError::Broken(error.to_string())),
        Ok(Ok(Ok(bytes))) => Ok(bytes),
    }
}

async fn receive(
    request: HttpRequest,
    routes: web::Data<Routes>,
    limits: web::Data<BodyLimits>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> impl Responder {
    let (connector, token) = path.into_inner();
    let Some(route) = routes
        .0
        .get(&connector)
        .filter(|r| constant_time_eq(r.token.as_bytes(), token.as_bytes()))
    else {
        rejections().reject(
            Reason::UnknownRoute,
            &connector,
            "unknown connector or wrong token",
        );
        return HttpResponse::NotFound().finish();
    };
    let body = match read_body(&request, payload, **limits).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            rejections().reject(Reason::TooLarge, &connector, "body over the size limit");
            return HttpResponse::PayloadTooLarge().finish();
        }
        Err(BodyError::Slow) => {
            rejections().reject(Reason::SlowBody, &connector, "body not received in time");
            return HttpResponse::RequestTimeout().finish();
        }
        Err(BodyError::Broken(error)) => {
            rejections().reject(Reason::BadBody, &connector, &error);
            return HttpResponse::BadRequest().finish();
        }
    };
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(json) => json,
        Err(error) => {
            rejections().reject(Reason::BadBody, &connector, &format!("not JSON: {error}"));
            return HttpResponse::BadRequest().body(format!("body is not JSON: {error}"));
        }
    };
    let notification = match parse(&json) {
        Ok(Parsed::Action(notification)) => notification,
        Ok(Parsed::Ignored(event_type)) => {
            tracing::debug!(connector = %escape(&connector), event_type, "notification type not acted on");
            return HttpResponse::Ok().finish();
        }
        Err(error) => {
            rejections().reject(Reason::BadBody, &connector, &error.to_string());
            return HttpResponse::BadRequest().body(error.to_string());
        }
    };
    // The notification id comes from the body: escaped like everything from a request.
    let id = escape(&notification.id);
    match route.status_sync.send(Signl4Notified(notification)).await {
        Ok(Ok(recorded)) => {
            store::crash::point("webhook.after_append");
            // New, duplicate or not ours: all done as far as SIGNL4 is concerned.
            tracing::info!(%connector, notification = %id, ?recorded, "notification received");
            HttpResponse::Ok().finish()
        }
        Ok(Err(error)) => {
            tracing::error!(%connector, notification = %id, %error, "notification not recorded");
            HttpResponse::ServiceUnavailable().finish()
        }
        Err(error) => {
            tracing::error!(%connector, notification = %id, %error, "StatusSync unavailable");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
