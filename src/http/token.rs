//! Entra ID client-credentials tokens (`POST {authority}/{tenant}/oauth2/v2.0/token`), cached per
//! scope for one (authority, tenant, app).
//!
//! Invariants:
//! - A cached token is used until `min(5 min, 10 % of its lifetime)` before expiry, then
//!   refreshed (the 10 % keeps short test lifetimes working; azure-core uses 5 min).
//! - Concurrent callers share one refresh: each scope has an async mutex; whoever holds it
//!   refreshes, the others wait and then find the fresh token — or, if that refresh failed, get
//!   its error at once instead of each trying again in turn (during an Entra outage a queue of
//!   callers would otherwise wait one timeout each, one after the other). Callers arriving after
//!   a failure try afresh: no failure is cached beyond the callers that waited for it.
//! - After a service answered 401, [`TokenProvider::refresh_rejected`] replaces the rejected token
//!   at most once (if another caller already replaced it, the newer one is returned).
//! - Failures become `ApiError::Auth` naming the AADSTS code and HTTP status, never the secret;
//!   Entra's own 429/5xx are `Throttled`/`Transient` (retrying can help there).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

use super::classify;
use super::send::{self, CallInfo};
use super::{ApiError, Redactor, Secret};

/// The app registration a connector authenticates as.
#[derive(Debug, Clone, PartialEq)]
pub struct AzureCredentials {
    /// Authority host, e.g. `https://login.microsoftonline.com` (the sandbox's Entra URL in tests).
    pub authority_host: String,
    /// Tenant GUID or verified domain (never `common`).
    pub tenant_id: String,
    /// App (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
}

impl AzureCredentials {
    /// Credentials issued by `authority_host` (e.g. [`PUBLIC_AUTHORITY`], or the sandbox's URL).
    pub fn new(
        authority_host: impl Into<String>,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        AzureCredentials {
            authority_host: authority_host.into(),
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

/// The public-cloud Entra authority host.
pub const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";

/// ARM (Sentinel) scope.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// Log Analytics query API scope.
pub const LOG_ANALYTICS_SCOPE: &str = "https://api.loganalytics.io/.default";
/// Microsoft Graph scope (security alerts_v2).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// An access token. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    /// The bearer value.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// A cached token with the instant to refresh it.
struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

/// One scope's cache: the token, and the outcome of the last refresh for the callers that queued
/// behind it.
#[derive(Default)]
struct SlotState {
    cached: Option<Cached>,
    last_failure: Option<ApiError>,
}

/// A scope's state behind its async mutex, plus a count of finished refresh attempts that can be
/// read without the lock (to tell "a refresh finished while I waited").
#[derive(Default)]
struct SlotInner {
    state: tokio::sync::Mutex<SlotState>,
    attempts: std::sync::atomic::AtomicU64,
}

type Slot = Arc<SlotInner>;

struct Inner {
    http: reqwest::Client,
    creds: AzureCredentials,
    redactor: Redactor,
    slots: Mutex<HashMap<String, Slot>>,
}

/// Client-credentials token cache for one app in one tenant; one entry per scope. Cheap to
/// clone; clones share the cache. Exists so that every client of a tenant asks Entra once per
/// token lifetime, not once per request.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("tenant_id", &self.inner.creds.tenant_id)
            .field("client_id", &self.inner.creds.client_id)
            .finish_non_exhaustive()
    }
}

/// How long before expiry a token is refreshed.
pub fn refresh_margin(lifetime: Duration) -> Duration {
    Duration::from_secs(300).min(lifetime / 10)
}

impl TokenProvider {
    /// A provider sending token requests through `http`.
    pub fn new(http: reqwest::Client, creds: AzureCredentials) -> Self {
        let redactor = Redactor::new([creds.client_secret.expose()]);
        TokenProvider {
            inner: Arc::new(Inner {
                http,
                creds,
                redactor,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The credentials.
    pub fn credentials(&self) -> &AzureCredentials {
        &self.inner.creds
    }

    fn slot(&self, scope: &str) -> Slot {
        let mut m = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(scope.to_string()).or_default().clone()
    }

    /// A valid token for `scope` (cached, or fetched now). A fetch is counted under no
    /// connector; clients use [`token_for`](Self::token_for).
    pub async fn token(&self, scope: &str) -> Result<AccessToken, ApiError> {
        self.get(scope, None, "").await
    }

    /// A valid token for `scope`; a fetch it causes is counted under `connector` in `/metrics`
    /// (the provider is shared by every connector of the app, so the caller names itself).
    pub async fn token_for(&self, scope: &str, connector: &str) -> Result<AccessToken, ApiError> {
        self.get(scope, None, connector).await
    }

    /// After a 401 with `rejected`: a new token, unless another caller already replaced it; a
    /// fetch is counted under `connector`.
    pub async fn refresh_rejected(
        &self,
        scope: &str,
        rejected: &AccessToken,
        connector: &str,
    ) -> Result<AccessToken, ApiError> {
        self.get(scope, Some(rejected), connector).await
    }

    async fn get(
        &self,
        scope: &str,
        rejected: Option<&AccessToken>,
        connector: &str,
    ) -> Result<AccessToken, ApiError> {
        use std::sync::atomic::Ordering;
        let slot = self.slot(scope);
        let seen = slot.attempts.load(Ordering::Acquire);
        let mut st = slot.state.lock().await;
        if let Some(c) = st.cached.as_ref() {
            if Instant::now() < c.refresh_at && rejected.is_none_or(|r| *r != c.token) {
                return Ok(c.token.clone());
            }
        }
        if slot.attempts.load(Ordering::Acquire) != seen {
            if let Some(e) = &st.last_failure {
                // A refresh we queued behind has just failed: share its outcome.
                return Err(e.clone());
            }
        }
        let result = self.fetch(scope, connector).await;
        slot.attempts.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(fresh) => {
                let token = fresh.token.clone();
                st.cached = Some(fresh);
                st.last_failure = None;
                Ok(token)
            }
            Err(e) => {
                if rejected.is_some() {
                    st.cached = None;
                }
                st.last_failure = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Drops every cached token (e.g. after the secret was rotated in place).
    pub async fn clear(&self) {
        let slots: Vec<Slot> = {
            let m = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
            m.values().cloned().collect()
        };
        for s in slots {
            *s.state.lock().await = SlotState::default();
        }
    }

    async fn fetch(&self, scope: &str, connector: &str) -> Result<Cached, ApiError> {
        let c = &self.inner.creds;
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            c.authority_host.trim_end_matches('/'),
            send::segment(&c.tenant_id)
        );
        let call = CallInfo {
            connector,
            service: "entra",
            method: "POST",
            template: "/{tenant}/oauth2/v2.0/token",
            request_id: Uuid::new_v4(),
        };
        let req = self.inner.http.post(&url).form(&[
            ("client_id", c.client_id.as_str()),
            ("scope", scope),
            ("client_secret", c.client_secret.expose()),
            ("grant_type", "client_credentials"),
        ]);
        let sent_at = Instant::now();
        let x = send::send(req, &call, &self.inner.redactor).await?;
        if x.status == 429 {
            return Err(classify::response(&x, &call, &self.inner.redactor));
        }
        let body: Option<Value> = serde_json::from_slice(&x.body).ok();
        if !x.is_success() {
            if let Some(e) = body.as_ref().and_then(|b| aadsts_message(b, x.status)) {
                if x.status >= 500 {
                    return Err(ApiError::Transient(self.inner.redactor.clean(&e)));
                }
                return Err(ApiError::Auth(self.inner.redactor.clean(&e)));
            }
            if x.status >= 500 || body.is_none() {
                return Err(classify::unexpected(
                    &x,
                    &call,
                    &self.inner.redactor,
                    "token endpoint failed",
                ));
            }
            return Err(ApiError::Auth(self.inner.redactor.clean(&format!(
                "token endpoint answered {} for tenant '{}', app '{}'",
                x.status, c.tenant_id, c.client_id
            ))));
        }
        let body = body.ok_or_else(|| {
            classify::unexpected(
                &x,
                &call,
                &self.inner.redactor,
                "token response is not JSON",
            )
        })?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                classify::unexpected(&x, &call, &self.inner.redactor, "no access_token")
            })?;
        // `expires_in` is an integer in v2.0 responses; some Azure endpoints send it as a string.
        let expires_in = match body.get("expires_in") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(300.0);
        let lifetime = Duration::from_secs_f64(expires_in.min(86_400.0));
        // Count from when the request left: the server's clock started no earlier.
        let refresh_at = sent_at + lifetime - refresh_margin(lifetime);
        tracing::debug!(
            tenant = %c.tenant_id,
            scope,
            lifetime_s = lifetime.as_secs(),
            "access token obtained"
        );
        Ok(Cached {
            token: AccessToken(Arc::from(token)),
            refresh_at,
        })
    }
}

/// `AADSTS<code> (<error>, HTTP <status>): <first line of error_description>`, from an Entra
/// error body; `None` if the body is not one.
pub fn aadsts_message(body: &Value, status: u16) -> Option<String> {
    let error = body.get("error").and_then(Value::as_str)?;
    let code = body
        .get("error_codes")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_u64);
    let desc = body
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or("");
    // The description embeds trace/correlation lines after "\r\n"; the first line is the text.
    let first = desc.lines().next().unwrap_or("").trim();
    let text = match code {
        Some(c) => {
            let prefix = format!("AADSTS{c}:");
            let rest = first.strip_prefix(&prefix).unwrap_or(first).trim();
            format!("AADSTS{c} ({error}, HTTP {status}): {rest}")
        }
        None => format!("{error} (HTTP {status}): {first}"),
    };
    Some(text)
}
