//! [`LogsIngestionClient`]: the `LogsIngestionApi` port, the Azure Monitor Logs Ingestion API
//! (`POST {endpoint}/dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=2023-01-01`,
//! docs/reference/azure-apis.md §7) with a bearer token for the Monitor audience.
//!
//! Accepted answer: 204 (any 2xx is taken as accepted). Errors carry an Azure.Core body
//! (`{"error":{"code","message"}}`) and an `x-ms-error-code` header and go through
//! [`classify`](super::classify::response): 413 and 400 come back as `Rejected` with the
//! service's code and message, 429 as `Throttled` with its `Retry-After`, 5xx as `Transient`.
//!
//! Invariants: the body is sent exactly as given (the caller sized it); a 401 triggers one
//! forced token refresh and one retry; the token and the client secret never reach a message.

use std::sync::Arc;

use actors::ports::LogsIngestionApi;
use uuid::Uuid;

use super::azure::AzureCore;
use super::budget::CallClass;
use super::classify;
use super::send::segment;
use super::token::AzureCredentials;
use super::{ApiError, HttpContext};

/// The api-version of the Logs Ingestion API.
pub const API_VERSION: &str = "2023-01-01";

/// The public-cloud token scope of the Logs Ingestion API.
pub const MONITOR_SCOPE: &str = "https://monitor.azure.com/.default";

/// One data collection rule stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsIngestionSettings {
    /// App credentials (the app needs "Monitoring Metrics Publisher" on the DCR).
    pub credentials: AzureCredentials,
    /// The data collection endpoint or the DCR's own logs ingestion endpoint, without a
    /// trailing `/`.
    pub endpoint: String,
    /// The DCR's immutable id (`dcr-` and 32 hex digits).
    pub dcr_immutable_id: String,
    /// The stream declared in the DCR, e.g. `Custom-SIGNL4_CL`.
    pub stream: String,
    /// Token scope.
    pub scope: String,
}

impl LogsIngestionSettings {
    /// Settings with the public Monitor scope.
    pub fn new(
        credentials: AzureCredentials,
        endpoint: impl Into<String>,
        dcr_immutable_id: impl Into<String>,
        stream: impl Into<String>,
    ) -> Self {
        LogsIngestionSettings {
            credentials,
            endpoint: endpoint.into(),
            dcr_immutable_id: dcr_immutable_id.into(),
            stream: stream.into(),
            scope: MONITOR_SCOPE.into(),
        }
    }
}

/// The Logs Ingestion client of one DCR stream. Cheap to clone.
#[derive(Clone)]
pub struct LogsIngestionClient {
    core: AzureCore,
    settings: Arc<LogsIngestionSettings>,
}

impl std::fmt::Debug for LogsIngestionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogsIngestionClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl LogsIngestionClient {
    /// A client for `settings`, sharing `ctx`'s HTTP client and token cache.
    pub fn new(ctx: &HttpContext, settings: LogsIngestionSettings) -> Self {
        // No budget: the shipper sends at most one batch at a time, far under the DCE's limits.
        let core = AzureCore::new(
            ctx,
            "logs_ingestion",
            &settings.credentials,
            &settings.scope,
            None,
            &settings.endpoint,
        );
        LogsIngestionClient {
            core,
            settings: Arc::new(settings),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &LogsIngestionSettings {
        &self.settings
    }
}

impl LogsIngestionApi for LogsIngestionClient {
    async fn upload(&self, body: &[u8], request_id: Uuid) -> Result<(), ApiError> {
        let call = self.core.call(
            "POST",
            "/dataCollectionRules/{dcr}/streams/{stream}",
            request_id,
        );
        let url = format!(
            "{}/dataCollectionRules/{}/streams/{}?api-version={API_VERSION}",
            self.settings.endpoint.trim_end_matches('/'),
            segment(&self.settings.dcr_immutable_id),
            segment(&self.settings.stream)
        );
        // Without a budget the class is never drawn; `Read` only fills the slot.
        let x = self
            .core
            .send_with(reqwest::Method::POST, &url, &call, CallClass::Read, |req| {
                req.header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_vec())
            })
            .await?;
        if x.is_success() {
            return Ok(());
        }
        Err(match classify::response(&x, &call, self.core.redactor()) {
            // An error without a body still names its code in `x-ms-error-code`.
            ApiError::Rejected { status, message } if message == "(no body)" => {
                let code = x
                    .headers
                    .get("x-ms-error-code")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(no body)");
                ApiError::Rejected {
                    status,
                    message: self.core.redactor().clean(code),
                }
            }
            other => other,
        })
    }
}
