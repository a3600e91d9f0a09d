//! The operator's surface: an actix-web server on its own listener (`[admin] bind`, loopback
//! by default) so that the webhook listener can face SIGNL4 while this stays private.
//!
//! | path                      | what                                                           |
//! |---------------------------|----------------------------------------------------------------|
//! | `/healthz`                | 200 while the process runs and the log writer makes progress   |
//! | `/readyz`                 | 200 when every connector is OK; 503 naming each failing one    |
//! | `/metrics`                | Prometheus text ([`metrics`])                                  |
//! | `/status`                 | HTML: connectors, open effects, recent incidents and timelines |
//! | `/status/incidents/{id}`  | HTML: one incident's timeline                                  |
//! | `/api/connectors`         | JSON: every connector's view                                   |
//! | `/api/incidents`          | JSON: recent incidents                                         |
//! | `/api/incidents/{id}`     | JSON: one incident and its timeline (404 when unknown)         |
//!
//! Invariants: the surface only reads (health registry, projection, log); auditing a running
//! connector goes through it, no copy of the live sled files needed. Nothing served is a secret.
//! It runs in the caller's actix System with signals disabled; [`AdminServer::stop`] stops the
//! server and the writer probe, so the store can shut down after it.

pub mod activity;
pub mod heartbeat;
pub mod http_counts;
pub mod metrics;
pub mod online;
pub mod outcomes;
pub mod page;
pub mod probe;
pub mod view;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;
use store::Store;

use crate::config::Config;
use crate::run::ShipperAddr;
use probe::{Probe, ProbeSettings};
use view::{ConnectorInfo, ShipperReport};

/// How many incidents `/status` and `/api/incidents` show.
pub const RECENT_INCIDENTS: usize = 20;

/// Everything the handlers read. Exists so one value is shared by every worker.
pub struct AdminState {
    pub connectors: Vec<ConnectorInfo>,
    pub store: Store,
    pub probe: Arc<Probe>,
    pub shippers: Vec<(String, ShipperAddr)>,
    pub outcomes: outcomes::Outcomes,
    pub heartbeats: Arc<heartbeat::HeartbeatStats>,
    /// The connectors' HTTP context, for the rate budgets in `/metrics`.
    pub http: Option<crate::http::HttpContext>,
}

impl AdminState {
    /// The state for `config`'s connectors; starts the writer probe (and its watchdog) and the
    /// heartbeats. Must run inside an actix System.
    pub fn start(
        config: &Config,
        store: Store,
        shippers: Vec<(String, ShipperAddr)>,
        probe: ProbeSettings,
    ) -> std::io::Result<AdminState> {
        let probe = Probe::start(store.clone(), probe)?;
        // The actor system's pulse, for the watchdog (see `probe`).
        let pulse = probe.clone();
        actix_rt::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                ticks.tick().await;
                pulse.tick();
            }
        });
        let heartbeats = Arc::new(heartbeat::HeartbeatStats::default());
        // A beat only while the connector's last poll succeeded and the writer progresses.
        let beat_probe = probe.clone();
        let healthy = Arc::new(move |name: &str| {
            actors::health::registry().get(name).is_ok() && beat_probe.liveness().ok
        });
        heartbeat::start(config, heartbeats.clone(), healthy).map_err(std::io::Error::other)?;
        activity::start(
            store.clone(),
            config
                .connectors
                .iter()
                .map(|c| (store::TenantId::from_name(&c.name), c.name.clone()))
                .collect(),
        );
        let connectors = config
            .connectors
            .iter()
            .map(|c| ConnectorInfo {
                name: c.name.clone(),
                tenant: store::TenantId::from_name(&c.name),
                secret_expires: c.client_secret_expires,
            })
            .collect();
        Ok(AdminState {
            connectors,
            probe,
            store,
            shippers,
            outcomes: outcomes::Outcomes::default(),
            heartbeats,
            http: None,
        })
    }

    fn recent_timelines(&self) -> Vec<view::Timeline> {
        view::recent_incidents(&self.connectors, &self.store, RECENT_INCIDENTS)
            .into_iter()
            .filter_map(|i| {
                view::timeline(&self.connectors, &self.store, &i.id)
                    .ok()
                    .flatten()
            })
            .collect()
    }
}

/// Every connector's view, with its shipper's report. The log follower's pass (the whole log on
/// the first request after a start) runs on the blocking pool, so `/healthz` stays answerable.
pub async fn views(state: &web::Data<AdminState>) -> Vec<view::ConnectorView> {
    let mut reports = BTreeMap::new();
    for (name, shipper) in &state.shippers {
        if let Ok(stats) = shipper.send(actors::messages::ShipperStatus).await {
            reports.insert(
                name.clone(),
                ShipperReport {
                    rows_shipped: stats.rows_shipped,
                    halted: stats.halted,
                },
            );
        }
    }
    let follower = state.clone();
    let outcomes = web::block(move || follower.outcomes.refresh(follower.store.log()))
        .await
        .unwrap_or_default();
    view::connectors(&state.connectors, &state.store, &reports, &outcomes)
}

/// The running admin server.
pub struct AdminServer {
    pub address: SocketAddr,
    pub handle: ServerHandle,
    probe: Arc<Probe>,
}

impl AdminServer {
    /// Stops serving, then stops the writer probe.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let probe = self.probe;
        // Joining threads blocks: off the runtime thread.
        let _ = tokio::task::spawn_blocking(move || probe.stop()).await;
    }
}

/// Serves the admin surface on an already bound `listener`.
pub fn serve(listener: TcpListener, state: AdminState) -> std::io::Result<AdminServer> {
    let address = listener.local_addr()?;
    let probe = state.probe.clone();
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics_text))
            .route("/status", web::get().to(status_page))
            .route("/status/incidents/{id}", web::get().to(incident_page))
            .route("/api/connectors", web::get().to(api_connectors))
            .route("/api/incidents", web::get().to(api_incidents))
            .route("/api/incidents/{id}", web::get().to(api_incident))
    })
    // Two workers: a slow page (a large log's first follower pass) never holds up /healthz.
    .workers(2)
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener);
    let server = match server {
        Ok(server) => server.run(),
        Err(error) => {
            // The probe thread holds a store handle: stop it so the store can shut down.
            probe.stop();
            return Err(error);
        }
    };
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(AdminServer {
        address,
        handle,
        probe,
    })
}

async fn healthz(state: web::Data<AdminState>) -> HttpResponse {
    let liveness = state.probe.liveness();
    if liveness.ok {
        HttpResponse::Ok().json(json!({"status": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({"status": "error", "reason": liveness.reason}))
    }
}

async fn readyz(state: web::Data<AdminState>) -> HttpResponse {
    let views = views(&state).await;
    let failing: Vec<_> = views
        .iter()
        .filter(|v| !v.is_ok())
        .map(|v| json!({"connector": v.connector, "reason": v.reason}))
        .collect();
    if failing.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready", "connectors": views.len()}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({"status": "not ready", "failing": failing}))
    }
}

async fn metrics_text(state: web::Data<AdminState>) -> HttpResponse {
    let views = views(&state).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics::render(&state, &views))
}

async fn status_page(state: web::Data<AdminState>) -> HttpResponse {
    let views = views(&state).await;
    let recent = state.recent_timelines();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page::status(&views, &recent, &state.probe.liveness()))
}

async fn incident_page(state: web::Data<AdminState>, id: web::Path<String>) -> HttpResponse {
    match view::timeline(&state.connectors, &state.store, &id) {
        Ok(Some(t)) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(page::timeline(&t)),
        Ok(None) => HttpResponse::NotFound().body("no such incident"),
        Err(error) => HttpResponse::InternalServerError().body(error.to_string()),
    }
}

async fn api_connectors(state: web::Data<AdminState>) -> HttpResponse {
    HttpResponse::Ok().json(views(&state).await)
}

async fn api_incidents(state: web::Data<AdminState>) -> HttpResponse {
    HttpResponse::Ok().json(view::recent_incidents(
        &state.connectors,
        &state.store,
        RECENT_INCIDENTS,
    ))
}

async fn api_incident(state: web::Data<AdminState>, id: web::Path<String>) -> HttpResponse {
    match view::timeline(&state.connectors, &state.store, &id) {
        Ok(Some(t)) => HttpResponse::Ok().json(t),
        Ok(None) => {
            HttpResponse::NotFound().json(json!({"error": "no such incident", "id": id.as_str()}))
        }
        Err(error) => HttpResponse::InternalServerError().json(json!({"error": error.to_string()})),
    }
}
