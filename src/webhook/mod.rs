//! The inbound side: an actix-web endpoint that receives SIGNL4 outbound webhooks for every
//! connector of the process, at `POST /signl4/{connector}/{token}`.
//!
//! Invariants:
//! - The token is compared in constant time; a wrong connector or token gets 404 (as if the
//!   route did not exist) and nothing is recorded. Tokens never appear in logs.
//! - Bodies are limited in size (413 beyond) and must be JSON objects (400 otherwise, naming
//!   what is wrong); nothing is recorded for a rejected body.
//! - A notification is answered 2xx only after StatusSync recorded it durably (or found it a
//!   duplicate): a crash before that means no 2xx, SIGNL4 delivers again, and the inbox
//!   deduplicates. A failing store answers 503 so that SIGNL4 retries.

use std::collections::HashMap;
use std::sync::Arc;

use actix::Recipient;
use actix_web::{web, HttpResponse, Responder};
use actors::messages::Signl4Notified;
use actors::status_sync::notification::{parse, Parsed};

/// Largest webhook body accepted. SIGNL4 notifications are well under 4 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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

/// Adds the webhook route to an actix-web app.
pub fn configure(routes: Routes) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(routes))
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route("/signl4/{connector}/{token}", web::post().to(receive));
    }
}

async fn receive(
    routes: web::Data<Routes>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> impl Responder {
    let (connector, token) = path.into_inner();
    let Some(route) = routes
        .0
        .get(&connector)
        .filter(|r| constant_time_eq(r.token.as_bytes(), token.as_bytes()))
    else {
        tracing::warn!(%connector, "webhook with an unknown connector or a wrong token");
        return HttpResponse::NotFound().finish();
    };
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(json) => json,
        Err(error) => {
            tracing::warn!(%connector, %error, "webhook body is not JSON");
            return HttpResponse::BadRequest().body(format!("body is not JSON: {error}"));
        }
    };
    let notification = match parse(&json) {
        Ok(Parsed::Action(notification)) => notification,
        Ok(Parsed::Ignored(event_type)) => {
            tracing::debug!(%connector, event_type, "notification type not acted on");
            return HttpResponse::Ok().finish();
        }
        Err(error) => {
            tracing::warn!(%connector, %error, "webhook body is not a SIGNL4 notification");
            return HttpResponse::BadRequest().body(error.to_string());
        }
    };
    let id = notification.id.clone();
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
