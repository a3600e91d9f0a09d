//! From configuration to running actors: settings for the actors, clients for the ports, and
//! the webhook routes. See the module invariants in [`super`].

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor, Addr};
use actors::connector::{self, ConnectorHandle, Services};
use actors::shipper::{ShipContext, Shipper, ShipperSettings};
use store::{Store, StoreError};

use super::clients;
use crate::config::{Config, ConnectorConfig, ReadSource, Signl4Target};
use crate::http::incidents::IncidentClient;
use crate::http::log_analytics::LogAnalyticsClient;
use crate::http::logs_ingestion::LogsIngestionClient;
use crate::http::signl4::{Signl4Client, Signl4Settings};
use crate::http::token::AzureCredentials;
use crate::http::{HttpContext, Secret};
use crate::webhook::{Route, Routes};

/// The actors of one connector, with the concrete clients (the incident client is Sentinel's
/// or Graph's, as the connector's `read_source` says).
pub type Handle = ConnectorHandle<IncidentClient, Signl4Client, LogAnalyticsClient>;

/// The `SIGNL4_CL` shipper of one connector, with the concrete client.
pub type ShipperAddr = Addr<Shipper<LogsIngestionClient>>;

/// Every started connector and the webhook routes to serve.
pub struct Running {
    /// One per connector, in configuration order.
    pub connectors: Vec<(String, Handle)>,
    /// The routes for the webhook listener.
    pub routes: Routes,
    /// One per connector with `[connector.signl4_cl]` enabled, in configuration order.
    pub shippers: Vec<(String, ShipperAddr)>,
}

/// Why connectors could not start.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("connector {connector:?}: {reason}")]
    Unsupported { connector: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unsupported(c: &ConnectorConfig, reason: impl Into<String>) -> WiringError {
    WiringError::Unsupported {
        connector: c.name.clone(),
        reason: reason.into(),
    }
}

/// The SIGNL4 host and team secret of a connector.
pub(crate) fn signl4_target(c: &ConnectorConfig) -> Result<(String, Secret), WiringError> {
    match &c.signl4.target {
        Signl4Target::TeamSecret(secret) => Ok((
            c.endpoints
                .signl4
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            Secret::new(secret.expose()),
        )),
        Signl4Target::WebhookUrl(url) => {
            let url = url::Url::parse(url.expose())
                .map_err(|_| unsupported(c, "signl4 webhook URL does not parse"))?;
            let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
            match segments.as_slice() {
                ["webhook", secret] if !secret.is_empty() => {
                    let host = url[..url::Position::BeforePath].to_string();
                    Ok((host, Secret::new(*secret)))
                }
                _ => Err(unsupported(
                    c,
                    "signl4 webhook URL must have the form https://<host>/webhook/<team secret>",
                )),
            }
        }
    }
}

/// Starts every connector of `config` on the current actix System.
pub async fn start_connectors(
    config: &Config,
    store: &Store,
    http: &HttpContext,
) -> Result<Running, WiringError> {
    // Check every connector before starting any.
    let mut prepared = Vec::new();
    for c in &config.connectors {
        prepared.push((c, signl4_target(c)?));
    }
    let mut running = Running {
        connectors: Vec::new(),
        routes: Routes::default(),
        shippers: Vec::new(),
    };
    let mut routes = HashMap::new();
    for (c, (signl4_host, team_secret)) in prepared {
        let credentials = clients::credentials(c);
        let incidents = clients::incident_client(c, http, &credentials);
        match c.read_source {
            ReadSource::Sentinel => {}
            ReadSource::Graph => tracing::info!(
                connector = %c.name,
                "reading Microsoft Graph security alerts (alerts_v2); write-back PATCHes \
                 status, assignedTo and classification and posts comments; no tags (alerts \
                 have no labels)"
            ),
            ReadSource::Defender => tracing::info!(
                connector = %c.name,
                "reading Microsoft Defender XDR incidents (Graph security/incidents); \
                 write-back PATCHes status, assignedTo, classification, determination and \
                 customTags and posts comments"
            ),
        }
        let mut signl4 = Signl4Settings::new(signl4_host, team_secret);
        if let Some(key) = &c.signl4.api_key {
            signl4 = signl4.with_api_key(Secret::new(key.expose()));
        }
        let log_analytics = clients::log_analytics_client(c, http, &credentials).map(Rc::new);
        let handle = connector::start(
            c.settings(),
            store.clone(),
            Services {
                sentinel: Rc::new(incidents),
                // Counted under the connector's name in `/metrics`, like its other clients.
                signl4: Rc::new(Signl4Client::new(&http.for_connector(&c.name), signl4)),
                log_analytics,
            },
        )
        .await?;
        if let Some(token) = &c.webhook_token {
            routes.insert(
                c.name.clone(),
                Route {
                    token: token.expose().to_string(),
                    status_sync: handle.status_sync.clone().recipient(),
                },
            );
        }
        tracing::info!(connector = %c.name, "connector started");
        running.connectors.push((c.name.clone(), handle));
        if let Some(shipper) = start_shipper(c, store, http, &credentials) {
            running.shippers.push((c.name.clone(), shipper));
        }
    }
    running.routes = Routes(Arc::new(routes));
    Ok(running)
}

/// Starts the `SIGNL4_CL` shipper of `c` when its `[connector.signl4_cl]` is enabled.
fn start_shipper(
    c: &ConnectorConfig,
    store: &Store,
    http: &HttpContext,
    credentials: &AzureCredentials,
) -> Option<ShipperAddr> {
    let cl = c.signl4_cl.as_ref().filter(|cl| cl.enabled)?;
    let client = clients::ingestion_client(c, http, credentials)?;
    let mut shipper = ShipperSettings::new(&c.name, &c.tenant_id.to_string());
    shipper.stream.clone_from(&cl.stream);
    shipper.interval = cl.interval;
    tracing::info!(connector = %c.name, stream = %cl.stream, "SIGNL4_CL shipper started");
    Some(Shipper::new(ShipContext::new(shipper, store.clone(), client)).start())
}
