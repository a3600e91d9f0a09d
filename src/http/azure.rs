//! The part every Azure client shares: one [`AzureCore`] per client, holding the pooled HTTP
//! client, the token provider and scope, the rate budget (when the service has one), the
//! redactor and the connector's label. The Sentinel, Graph (alerts_v2 and Defender incidents),
//! Log Analytics and Logs Ingestion clients keep only what is their own: URLs and wire formats.
//!
//! Invariants:
//! - every request goes through [`send::send_authed`]: budget before each attempt (when the
//!   service has one), a bearer token with one forced refresh on 401, the request id header,
//!   and a span naming the path template, never the URL;
//! - every error this core builds names the service, method and path template and passes the
//!   client's redactor (the client secret; an error raised during a send also has the token
//!   removed, by `send_authed`), so no secret can reach a log or the event log;
//! - every request says `Accept: application/json` (all four APIs answer JSON; the official
//!   SDKs send the same), plus the service's own headers (Graph's `Prefer`).
//! - a link the service hands back (`nextLink`, `@odata.nextLink`) is followed only to the origin
//!   the client was configured with: a bearer token is never sent elsewhere.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::budget::CallClass;
use super::send::{self, CallInfo, Exchange};
use super::token::{AccessToken, AzureCredentials};
use super::{classify, ApiError, HttpContext, Redactor, SubscriptionBudget, TokenProvider};

/// What a request sends as its body.
#[derive(Clone, Copy)]
pub(crate) enum Body<'a> {
    /// No body, no `Content-Length` (GET).
    None,
    /// An explicit empty body (`Content-Length: 0`): ARM's list actions take one.
    Empty,
    /// A JSON document.
    Json(&'a Value),
}

/// The shared half of an Azure client. Cheap to clone.
#[derive(Clone)]
pub(crate) struct AzureCore {
    http: reqwest::Client,
    /// The `connector` label of its requests in `/metrics`.
    connector: Arc<str>,
    /// `sentinel`, `graph`, `log_analytics`, `logs_ingestion`: the service in logs and metrics.
    service: &'static str,
    tokens: TokenProvider,
    scope: String,
    /// The service's rate budget, drawn before every attempt; `None` where the service has no
    /// documented per-caller limit we must respect (Log Analytics, Logs Ingestion).
    budget: Option<Arc<SubscriptionBudget>>,
    /// `scheme://host[:port]` of the configured endpoint, lowercase: where links may point.
    origin: String,
    redactor: Redactor,
    /// Headers this service wants on every request (Graph's `Prefer` for unknown enum members).
    headers: &'static [(&'static str, &'static str)],
}

/// The link to the next page under `field` of a list answer (`nextLink`, `@odata.nextLink`);
/// `None` when absent or empty (the last page).
pub(crate) fn next_link(body: &Value, field: &str) -> Option<String> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `scheme://host:port` of a URL, lowercase; `None` if it does not parse.
fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization().to_ascii_lowercase())
}

impl AzureCore {
    /// The core of a `service` client signing in with `credentials` for `scope`, sending to
    /// `endpoint` (whose origin bounds the links it follows), labelled with `ctx`'s connector.
    pub(crate) fn new(
        ctx: &HttpContext,
        service: &'static str,
        credentials: &AzureCredentials,
        scope: &str,
        budget: Option<Arc<SubscriptionBudget>>,
        endpoint: &str,
    ) -> Self {
        AzureCore {
            http: ctx.client().clone(),
            connector: ctx.connector(),
            service,
            tokens: ctx.tokens(credentials),
            scope: scope.to_string(),
            budget,
            origin: origin_of(endpoint).unwrap_or_default(),
            redactor: Redactor::new([credentials.client_secret.expose()]),
            headers: &[],
        }
    }

    /// The same core, sending `headers` on every request.
    pub(crate) fn with_headers(mut self, headers: &'static [(&'static str, &'static str)]) -> Self {
        self.headers = headers;
        self
    }

    /// The token provider (shared with other clients of the same app).
    pub(crate) fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// The redactor of this client's secret.
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// What a `method` request to `template` is, for logs, metrics and errors.
    pub(crate) fn call<'a>(
        &'a self,
        method: &'static str,
        template: &'a str,
        request_id: Uuid,
    ) -> CallInfo<'a> {
        CallInfo {
            connector: &self.connector,
            service: self.service,
            method,
            template,
            request_id,
        }
    }

    /// A GET of `template` with a fresh request id.
    pub(crate) fn read<'a>(&'a self, template: &'a str) -> CallInfo<'a> {
        self.call("GET", template, Uuid::new_v4())
    }

    /// Budget, token, send: `method url` with `body`, `Accept: application/json` and the
    /// service's headers; on 401 one forced refresh and one more try.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        call: &CallInfo<'_>,
        class: CallClass,
        body: Body<'_>,
    ) -> Result<Exchange, ApiError> {
        self.send_with(method, url, call, class, |req| match body {
            Body::None => req,
            Body::Empty => req.header(reqwest::header::CONTENT_LENGTH, "0"),
            Body::Json(v) => req.json(v),
        })
        .await
    }

    /// [`send`](Self::send), then the 2xx body as JSON (or the classified error): the exchange
    /// is answered too, for error context and raw bytes.
    pub(crate) async fn send_json(
        &self,
        method: reqwest::Method,
        url: &str,
        call: &CallInfo<'_>,
        class: CallClass,
        body: Body<'_>,
    ) -> Result<(Exchange, Value), ApiError> {
        let x = self.send(method, url, call, class, body).await?;
        let v = self.json_ok(&x, call)?;
        Ok((x, v))
    }

    /// Like [`send`](Self::send), with the request finished by `finish` (a raw body, a
    /// per-request timeout, extra headers).
    pub(crate) async fn send_with(
        &self,
        method: reqwest::Method,
        url: &str,
        call: &CallInfo<'_>,
        class: CallClass,
        finish: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Exchange, ApiError> {
        send::send_authed(
            &self.tokens,
            &self.scope,
            self.budget.as_deref().map(|b| (b, class)),
            call,
            &self.redactor,
            |token: &AccessToken| {
                let mut req = self
                    .http
                    .request(method.clone(), url)
                    .bearer_auth(token.secret())
                    .header(reqwest::header::ACCEPT, "application/json");
                for (name, value) in self.headers {
                    req = req.header(*name, *value);
                }
                finish(req)
            },
        )
        .await
    }

    /// A 2xx body as JSON, or the classified error.
    pub(crate) fn json_ok(&self, x: &Exchange, call: &CallInfo<'_>) -> Result<Value, ApiError> {
        if !x.is_success() {
            return Err(classify::response(x, call, &self.redactor));
        }
        x.json(call, &self.redactor)
    }

    /// The array under `field` of a parsed 2xx body, or an error naming what is missing.
    pub(crate) fn array<'v>(
        &self,
        x: &Exchange,
        call: &CallInfo<'_>,
        body: &'v Value,
        field: &str,
    ) -> Result<&'v Vec<Value>, ApiError> {
        body.get(field).and_then(Value::as_array).ok_or_else(|| {
            classify::unexpected(x, call, &self.redactor, &format!("no '{field}' array"))
        })
    }

    /// A 2xx answer whose content we cannot use: transient (the service may answer properly on
    /// the next try), naming the call and `why`.
    pub(crate) fn bad_resource(&self, call: &CallInfo<'_>, why: &str) -> ApiError {
        ApiError::Transient(self.redactor.clean(&format!(
            "{} {} {}: {why}",
            call.service, call.method, call.template
        )))
    }

    /// A link to the next page, checked to point at the configured origin; `what` names the
    /// link in the refusal (`nextLink`, `@odata.nextLink`).
    pub(crate) fn follow(
        &self,
        link: &str,
        call: &CallInfo<'_>,
        what: &str,
    ) -> Result<String, ApiError> {
        // Literal spaces encoded (Cortex XSOAR saw them in ARM links), everything else verbatim.
        let link = link.replace(' ', "%20");
        if origin_of(&link).as_deref() != Some(self.origin.as_str()) {
            // Named as operators know it: ARM's endpoint, Graph's.
            let endpoint = match self.service {
                "sentinel" => "ARM",
                "graph" => "Graph",
                other => other,
            };
            return Err(self.bad_resource(
                call,
                &format!("{what} points outside the configured {endpoint} endpoint; not followed"),
            ));
        }
        Ok(link)
    }
}
