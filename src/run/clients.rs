//! A connector's HTTP clients, built from its configuration in one place: the running
//! connector ([`super::wiring`]), the online checks and `test-signl` (`crate::admin::online`)
//! all talk to the services through exactly these, so a check that passes speaks for the run.
//!
//! Invariants: secrets go from the configuration straight into the clients, never elsewhere;
//! every client built here counts its requests under the connector's name.

use crate::config::{ingestion_scope, Audience, ConnectorConfig, ReadSource};
use crate::http::graph::defender::DefenderClient;
use crate::http::graph::{GraphClient, GraphSettings};
use crate::http::incidents::IncidentClient;
use crate::http::log_analytics::{LogAnalyticsClient, LogAnalyticsSettings};
use crate::http::logs_ingestion::{LogsIngestionClient, LogsIngestionSettings};
use crate::http::sentinel::{SentinelClient, SentinelSettings};
use crate::http::signl4::{Signl4Client, Signl4Settings};
use crate::http::token::AzureCredentials;
use crate::http::{BudgetLimits, HttpContext, Secret};

use super::wiring::{signl4_target, WiringError};

/// The app registration `c` signs in with.
pub(crate) fn credentials(c: &ConnectorConfig) -> AzureCredentials {
    AzureCredentials::new(
        c.endpoints.authority_host.as_str().trim_end_matches('/'),
        c.tenant_id.to_string(),
        c.client_id.to_string(),
        Secret::new(c.client_secret.expose()),
    )
}

/// The incident source `c` reads, as its `read_source` says.
pub(crate) fn incident_client(
    c: &ConnectorConfig,
    http: &HttpContext,
    credentials: &AzureCredentials,
) -> IncidentClient {
    // Counted under the connector's name in `/metrics` (`http_requests_total`).
    let http = &http.for_connector(&c.name);
    let graph = || {
        let mut graph = GraphSettings::new(credentials.clone(), c.endpoints.graph_base());
        graph.scope = c.token_scope(Audience::Graph).to_string();
        graph
    };
    match c.read_source {
        ReadSource::Sentinel => {
            let mut sentinel = SentinelSettings::new(
                credentials.clone(),
                c.endpoints.arm_base(),
                c.subscription_id.to_string(),
                &c.resource_group,
                &c.workspace_name,
            );
            sentinel
                .api_version
                .clone_from(&c.endpoints.sentinel_api_version);
            sentinel.scope = c.token_scope(Audience::Arm).to_string();
            sentinel.budget = c.sentinel_budget.as_ref().map(|b| BudgetLimits {
                incident_writes: b.incident_writes,
                comment_writes: b.comment_writes,
                reads: b.reads,
                window: b.window,
            });
            IncidentClient::Sentinel(SentinelClient::new(http, sentinel))
        }
        ReadSource::Graph => IncidentClient::Graph(GraphClient::new(http, graph())),
        ReadSource::Defender => IncidentClient::Defender(DefenderClient::new(http, graph())),
    }
}

/// The audience of the incident source's tokens.
pub(crate) fn incident_audience(c: &ConnectorConfig) -> Audience {
    match c.read_source {
        ReadSource::Sentinel => Audience::Arm,
        ReadSource::Graph | ReadSource::Defender => Audience::Graph,
    }
}

/// `c`'s SIGNL4 team: its webhook (and REST API when an API key is configured).
pub(crate) fn signl4_client(
    c: &ConnectorConfig,
    http: &HttpContext,
) -> Result<Signl4Client, WiringError> {
    // Counted under the connector's name in `/metrics` (`http_requests_total`).
    let http = &http.for_connector(&c.name);
    let (host, secret) = signl4_target(c)?;
    let mut settings = Signl4Settings::new(host, secret);
    if let Some(key) = &c.signl4.api_key {
        settings = settings.with_api_key(Secret::new(key.expose()));
    }
    Ok(Signl4Client::new(http, settings))
}

/// The workspace's Log Analytics query API, when `c` names a workspace id.
pub(crate) fn log_analytics_client(
    c: &ConnectorConfig,
    http: &HttpContext,
    credentials: &AzureCredentials,
) -> Option<LogAnalyticsClient> {
    // Counted under the connector's name in `/metrics` (`http_requests_total`).
    let http = &http.for_connector(&c.name);
    let workspace = c.workspace_id?;
    let mut settings = LogAnalyticsSettings::new(
        credentials.clone(),
        c.endpoints.log_analytics.as_str().trim_end_matches('/'),
        workspace.to_string(),
    );
    settings.scope = c.token_scope(Audience::LogAnalytics).to_string();
    Some(LogAnalyticsClient::new(http, settings))
}

/// The Logs Ingestion client of `c`'s `SIGNL4_CL` rule, when `[connector.signl4_cl]` is
/// enabled (enabled implies an endpoint: checked at load).
pub(crate) fn ingestion_client(
    c: &ConnectorConfig,
    http: &HttpContext,
    credentials: &AzureCredentials,
) -> Option<LogsIngestionClient> {
    // Counted under the connector's name in `/metrics` (`http_requests_total`).
    let http = &http.for_connector(&c.name);
    let cl = c.signl4_cl.as_ref().filter(|cl| cl.enabled)?;
    let endpoint = cl.endpoint.as_ref()?;
    let mut settings = LogsIngestionSettings::new(
        credentials.clone(),
        endpoint.as_str().trim_end_matches('/'),
        &cl.dcr_immutable_id,
        &cl.stream,
    );
    settings.scope = ingestion_scope(c.endpoints.cloud).to_string();
    Some(LogsIngestionClient::new(http, settings))
}
