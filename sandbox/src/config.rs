//! The connector configuration the sandbox prints and writes (`--config-out`): one
//! `[[connector]]` per tenant with its credentials, SIGNL4 team and the emulator endpoints, and
//! `[connector.signl4_cl]` enabled against the Logs Ingestion emulator and the tenant's DCR.
//!
//! Invariant: the keys match what the connector's config parser reads (agreed in the issue);
//! this file is the only place that knows them on the sandbox side.

use serde::{Deserialize, Serialize};

use super::control::TenantInfo;
use super::SandboxUrls;

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConnectorFile {
    /// One per tenant.
    pub connector: Vec<ConnectorConfig>,
}

/// One connector instance (tenant/workspace ↔ SIGNL4 team).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConnectorConfig {
    /// Instance name.
    pub name: String,
    /// Entra tenant.
    pub tenant_id: String,
    /// ARM subscription.
    pub subscription_id: String,
    /// App id.
    pub client_id: String,
    /// App secret.
    pub client_secret: String,
    /// Resource group.
    pub resource_group: String,
    /// Workspace name.
    pub workspace_name: String,
    /// Workspace GUID; empty disables Log Analytics enrichment.
    pub workspace_id: String,
    /// `sentinel`, `graph` or `defender`.
    pub read_source: String,
    /// Incident statuses to forward.
    pub statuses: Vec<String>,
    /// Incident severities to forward.
    pub severities: Vec<String>,
    /// Label written to forwarded incidents.
    pub tag: String,
    /// SIGNL4 side.
    pub signl4: Signl4Config,
    /// Endpoints (the sandbox's).
    pub endpoints: Endpoints,
    /// Shipping SIGNL4 activity into the tenant's `SIGNL4_CL` (the ingestion emulator).
    pub signl4_cl: Signl4ClConfig,
}

/// `[connector.signl4_cl]`: the Logs Ingestion endpoint and rule of one tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signl4ClConfig {
    /// Ship (on in the sandbox's configuration).
    pub enabled: bool,
    /// The ingestion emulator's base URL (what a DCE or the DCR's endpoint is in Azure).
    pub endpoint: String,
    /// The tenant's DCR immutable id.
    pub dcr_immutable_id: String,
    /// The stream the emulator accepts.
    pub stream: String,
}

/// SIGNL4 settings of one connector.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signl4Config {
    /// Inbound webhook secret.
    pub team_secret: String,
    /// REST API key.
    pub api_key: String,
    /// `X-S4-Service`.
    pub service: String,
    /// `X-S4-AlertingScenario`.
    pub alerting_scenario: String,
}

/// Service base URLs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoints {
    /// Entra authority host.
    pub authority_host: String,
    /// ARM.
    pub arm: String,
    /// Log Analytics (with `/v1`).
    pub log_analytics: String,
    /// Graph (with `/v1.0`).
    pub graph: String,
    /// SIGNL4.
    pub signl4: String,
}

/// Builds the config structure.
pub fn connector_file(tenants: &[TenantInfo], urls: &SandboxUrls) -> ConnectorFile {
    ConnectorFile {
        connector: tenants
            .iter()
            .map(|t| ConnectorConfig {
                name: t.name.clone(),
                tenant_id: t.tenant_id.clone(),
                subscription_id: t.subscription_id.clone(),
                client_id: t.client_id.clone(),
                client_secret: t.client_secret.clone(),
                resource_group: t.resource_group.clone(),
                workspace_name: t.workspace_name.clone(),
                workspace_id: t.workspace_id.clone(),
                read_source: "sentinel".into(),
                statuses: vec!["New".into(), "Active".into()],
                severities: ["High", "Medium", "Low", "Informational"]
                    .map(String::from)
                    .to_vec(),
                tag: "SIGNL4".into(),
                signl4: Signl4Config {
                    team_secret: t.team_secret.clone(),
                    api_key: t.api_key.clone(),
                    service: "Microsoft Sentinel".into(),
                    alerting_scenario: "single_ack".into(),
                },
                endpoints: Endpoints {
                    authority_host: urls.entra.clone(),
                    arm: urls.arm.clone(),
                    log_analytics: urls.log_analytics.clone(),
                    graph: urls.graph.clone(),
                    signl4: urls.signl4.clone(),
                },
                signl4_cl: Signl4ClConfig {
                    enabled: true,
                    endpoint: urls.ingestion.clone(),
                    dcr_immutable_id: t.dcr_immutable_id.clone(),
                    stream: "Custom-SIGNL4_CL".into(),
                },
            })
            .collect(),
    }
}

/// The TOML text.
pub fn connector_toml(tenants: &[TenantInfo], urls: &SandboxUrls) -> String {
    let header = "# Connector configuration generated by `sentinel-signl4 sandbox`.\n# Every endpoint points at the local sandbox; the secrets are sandbox-only.\n\n";
    match toml::to_string(&connector_file(tenants, urls)) {
        Ok(s) => format!("{header}{s}"),
        Err(e) => format!("# could not serialise the configuration: {e}\n"),
    }
}
