//! One HTTP exchange: send a prepared request, read the whole body (under the cap of
//! [`super::body`]), and report it with a tracing
//! span — or classify the transport failure. Every client goes through [`send`].
//!
//! Invariants: the request id is sent as `x-ms-client-request-id` on every request; the span and
//! every message name the path *template* (`/webhook/{secret}`), never the URL; transport errors
//! lose their URL before they are formatted.

use std::time::Instant;

use reqwest::header::HeaderMap;
use tracing::{field, Instrument};
use uuid::Uuid;

use super::classify;
use super::{ApiError, Redactor};

/// What one request is, for logs and error context.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    /// The connector making the call (the `connector` label in `/metrics`; empty outside one).
    pub connector: &'a str,
    /// `sentinel`, `graph`, `log_analytics`, `logs_ingestion`, `signl4`, `entra`.
    pub service: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path template, e.g. `/incidents/{id}`; never the concrete URL.
    pub template: &'a str,
    /// Sent as `x-ms-client-request-id`.
    pub request_id: Uuid,
}

/// A completed HTTP exchange (any status), body read in full.
#[derive(Debug)]
pub struct Exchange {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Exchange {
    /// `Content-Type` (lowercase), empty when absent.
    pub fn content_type(&self) -> String {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON; a body that does not parse is `Transient` with context.
    pub fn json(
        &self,
        call: &CallInfo<'_>,
        redactor: &Redactor,
    ) -> Result<serde_json::Value, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::Transient(redactor.clean(&format!(
                "{} {} {}: response {} is not valid JSON ({e}); content type '{}', body starts {}",
                call.service,
                call.method,
                call.template,
                self.status,
                self.content_type(),
                classify::snippet(&self.body)
            )))
        })
    }
}

/// Sends `req` (the request id header is added here) and reads the body.
pub async fn send(
    req: reqwest::RequestBuilder,
    call: &CallInfo<'_>,
    redactor: &Redactor,
) -> Result<Exchange, ApiError> {
    let span = tracing::debug_span!(
        "http",
        service = call.service,
        method = call.method,
        path = call.template,
        request_id = %call.request_id,
        status = field::Empty,
        elapsed_ms = field::Empty,
    );
    let started = Instant::now();
    let req = req.header("x-ms-client-request-id", call.request_id.to_string());
    let result = async {
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        // Under a cap (see body.rs): a body over it is not read, and the call is refused.
        let body = match super::body::read_capped(resp, super::body::MAX_RESPONSE_BYTES).await? {
            Ok(body) => body,
            Err(too_large) => {
                return Ok(Err(ApiError::Rejected {
                    status,
                    message: format!(
                        "{} {} {}: {too_large}",
                        call.service, call.method, call.template
                    ),
                }))
            }
        };
        Ok::<_, reqwest::Error>(Ok(Exchange {
            status,
            headers,
            body,
        }))
    }
    .instrument(span.clone())
    .await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    span.record("elapsed_ms", elapsed_ms);
    match result {
        Ok(Err(too_large)) => {
            tracing::warn!(parent: &span, error = %too_large, "http response too large");
            Err(too_large)
        }
        Ok(Ok(x)) => {
            span.record("status", x.status);
            crate::admin::http_counts::record(call.connector, call.service, &x.status.to_string());
            if x.is_success() {
                tracing::debug!(parent: &span, "http exchange");
            } else {
                tracing::info!(parent: &span, "http exchange failed");
            }
            Ok(x)
        }
        Err(e) => {
            crate::admin::http_counts::record(call.connector, call.service, "transport_error");
            let err = classify::transport(e, call, redactor);
            tracing::info!(parent: &span, error = %err, "http transport failure");
            Err(err)
        }
    }
}

/// Percent-encodes a query value: unreserved characters and the OData punctuation ARM reads
/// literally (`/ : $ ( ) ,`) stay, everything else is encoded — spaces as `%20`, never `+`,
/// which ARM does not read as a space. (The URL parser further encodes `'` as `%27`.)
pub fn pct_encode(s: &str) -> String {
    encode(s, true)
}

/// A path segment (ids, secrets): like [`pct_encode`] but `/` is always encoded.
pub fn segment(s: &str) -> String {
    encode(s, false)
}

fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        match c {
            b'/' if keep_slash => out.push('/'),
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b':'
            | b'$'
            | b'\''
            | b'('
            | b')'
            | b',' => out.push(c as char),
            _ => out.push_str(&format!("%{c:02X}")),
        }
    }
    out
}

/// Sends an Azure request with a bearer token for `scope`: draws from `budget` (if any) before
/// each HTTP attempt, and on a 401 forces one token refresh and tries once more with the same
/// request id. `build` makes the request for a given token (called once or twice).
pub async fn send_authed<F>(
    tokens: &super::TokenProvider,
    scope: &str,
    budget: Option<(&super::SubscriptionBudget, super::budget::CallClass)>,
    call: &CallInfo<'_>,
    redactor: &Redactor,
    mut build: F,
) -> Result<Exchange, ApiError>
where
    F: FnMut(&super::token::AccessToken) -> reqwest::RequestBuilder,
{
    let mut token = tokens.token_for(scope, call.connector).await?;
    let mut refreshed = false;
    loop {
        if let Some((b, class)) = budget {
            // Background work that the budget has no room for is not sent at all (see
            // `budget`): the caller's intent stays open for a later try.
            if let Err(retry_after) = b.acquire(class).await {
                return Err(ApiError::Deferred { retry_after });
            }
        }
        let redactor = redactor.clone().with(token.secret());
        let x = send(build(&token), call, &redactor).await?;
        if x.status != 401 || refreshed {
            return Ok(x);
        }
        tracing::info!(
            service = call.service,
            path = call.template,
            "401: refreshing the token once"
        );
        token = tokens
            .refresh_rejected(scope, &token, call.connector)
            .await?;
        refreshed = true;
    }
}
