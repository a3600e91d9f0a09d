//! One connector's pipeline: starts its StatusSync, Forwarder, Enricher and Poller (in that
//! order, so each stage exists before the one that feeds it) on the current actix System.
//!
//! Invariants: the connector's start is recorded in its tenant stream first; incidents the log
//! holds as observed but never paged (a crash between recording and forwarding) are handed to
//! the Enricher again before the first poll; open intents are reconciled by the Forwarder at
//! its start. Nothing depends on how the previous process ended.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor, Addr};
use store::events::ConnectorStarted;
use store::writer::Execution;
use store::{Command, Store, StoreError};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::enricher::{EnrichContext, Enricher};
use crate::forwarder::{ForwardContext, Forwarder};
use crate::known::KnownIncidents;
use crate::messages::{EnrichBacklog, InFlight, PollNow};
use crate::poller::{needs_page, PollContext, Poller};
use crate::ports::{IncidentSource, LogAnalyticsApi, Signl4Api};
use crate::settings::ConnectorSettings;
use crate::status_sync::{PollState, StatusSync, SyncContext};
use crate::tracker::Claims;

/// The remote services one connector talks to.
pub struct Services<S, G, L> {
    pub sentinel: Rc<S>,
    pub signl4: Rc<G>,
    /// The workspace's Log Analytics API when augmentation is configured.
    pub log_analytics: Option<Rc<L>>,
}

/// The running actors of one connector.
pub struct ConnectorHandle<S, G, L>
where
    S: IncidentSource + 'static,
    G: Signl4Api + 'static,
    L: LogAnalyticsApi + 'static,
{
    pub poller: Addr<Poller<S>>,
    pub enricher: Addr<Enricher<S, L>>,
    pub forwarder: Addr<Forwarder<S, G>>,
    pub status_sync: Addr<StatusSync<S, G>>,
}

impl<S, G, L> ConnectorHandle<S, G, L>
where
    S: IncidentSource + 'static,
    G: Signl4Api + 'static,
    L: LogAnalyticsApi + 'static,
{
    /// Work in flight across the pipeline (0 when the connector is idle).
    pub async fn in_flight(&self) -> usize {
        let poller = self.poller.send(InFlight).await.unwrap_or(0);
        let enricher = self.enricher.send(InFlight).await.unwrap_or(0);
        let forwarder = self.forwarder.send(InFlight).await.unwrap_or(0);
        let status_sync = self.status_sync.send(InFlight).await.unwrap_or(0);
        poller + enricher + forwarder + status_sync
    }

    /// Polls now (tests; the timer does it otherwise).
    pub fn poll_now(&self) {
        self.poller.do_send(PollNow);
    }
}

/// Starts one connector's pipeline. Must run inside an actix System.
pub async fn start<S, G, L>(
    settings: ConnectorSettings,
    store: Store,
    services: Services<S, G, L>,
) -> Result<ConnectorHandle<S, G, L>, StoreError>
where
    S: IncidentSource + 'static,
    G: Signl4Api + 'static,
    L: LogAnalyticsApi + 'static,
{
    let tenant = settings.tenant();
    store
        .execute(Execution::tenant(
            tenant,
            Command::StartConnector(ConnectorStarted {
                name: settings.name.clone(),
                source: settings.source,
                build: env!("CARGO_PKG_VERSION").into(),
            }),
        ))
        .await?;
    let settings = Rc::new(settings);
    // Shared by the two writers of an incident (tags; acknowledges and closes).
    let known = Rc::new(KnownIncidents::default());
    let status_sync = StatusSync::new(SyncContext {
        settings: settings.clone(),
        store: store.clone(),
        sentinel: services.sentinel.clone(),
        signl4: services.signl4.clone(),
        busy: Claims::default(),
        parking: Default::default(),
        known: known.clone(),
        by_external_id: RefCell::new(HashMap::new()),
        polls: PollState::default(),
    })
    .start();
    let forwarder = Forwarder::new(ForwardContext {
        settings: settings.clone(),
        store: store.clone(),
        sentinel: services.sentinel.clone(),
        signl4: services.signl4,
        busy: Claims::default(),
        parking: Default::default(),
        known,
    })
    .start();
    let enricher = Enricher::new(EnrichContext {
        settings: settings.clone(),
        store: store.clone(),
        sentinel: services.sentinel.clone(),
        log_analytics: services.log_analytics,
        forwarder: forwarder.clone().recipient(),
        permits: Arc::new(Semaphore::new(settings.enrichment_concurrency.max(1))),
    })
    .start();
    // Only incidents without a Signl in an open round can want a page (`Projection::unpaged`).
    let pending: Vec<_> = store.read(|p| p.unpaged(tenant).map(|i| i.key).collect());
    // Handed over one at a time (the Enricher waits for its permits), never all at once.
    enricher.do_send(EnrichBacklog {
        tenant,
        incidents: pending
            .into_iter()
            .filter(|incident| needs_page(&store, &settings, tenant, *incident))
            .collect(),
        correlation: Uuid::now_v7(),
    });
    let poller = Poller::new(PollContext {
        settings,
        store,
        api: services.sentinel,
        enricher: enricher.clone().recipient(),
        status_sync: status_sync.clone().recipient(),
    })
    .start();
    Ok(ConnectorHandle {
        poller,
        enricher,
        forwarder,
        status_sync,
    })
}
