//! The sandbox: faithful local emulators of Entra ID, Microsoft Sentinel (ARM), Log Analytics,
//! Microsoft Graph security alerts_v2, SIGNL4 and the Azure Monitor Logs Ingestion API, with
//! fault injection and a control API, for tests, the demo and the benches.
//!
//! [`Sandbox::start`] binds one loopback listener per service (`127.0.0.1:0`), runs every
//! emulator as an actix-web server inside its own actix System on a dedicated thread (so it works
//! from `#[actix_rt::test]`, `#[tokio::test]` and plain threads alike), and returns a
//! [`SandboxHandle`] with the base URLs and the [`Control`] API. Dropping the handle (or
//! [`SandboxHandle::stop`]) stops the servers. Every PUT/POST/PATCH body is kept in a bounded
//! body log ([`capture`]) beside the request log, so tests can check what clients sent.
//!
//! ```no_run
//! use sandbox::{Sandbox, SandboxOptions, control::{TenantSpec, IncidentSpec}};
//! let sb = Sandbox::start(SandboxOptions::for_tests()).unwrap();
//! let t = sb.control().create_tenant(TenantSpec::default()).unwrap();
//! sb.control().create_incident(&t.name, IncidentSpec::default()).unwrap();
//! println!("{}", sb.connector_toml());
//! sb.stop();
//! ```
//!
//! # Services (one port each, see [`SandboxUrls`])
//!
//! | Service | Routes | Module |
//! |---|---|---|
//! | Entra ID | `POST /{tenant}/oauth2/v2.0/token`, `GET /{tenant}/v2.0/.well-known/openid-configuration` | [`entra`] |
//! | Sentinel (ARM) | `GET .../incidents`, `GET/PUT/DELETE .../incidents/{id}`, `POST .../incidents/{id}/alerts\|entities\|bookmarks`, `GET .../incidents/{id}/comments`, `GET/PUT/DELETE .../comments/{cid}` | [`sentinel`] |
//! | Log Analytics | `POST\|GET /v1/workspaces/{guid}/query` (KQL subset over `SecurityAlert`, `SecurityIncident`, `SIGNL4_CL`: see [`kql`]); `$batch`, resource-centric and metadata routes 501 | [`log_analytics`] |
//! | Graph | `GET /v1.0/security/alerts_v2[/{id}]`, `PATCH .../{id}`, `POST .../{id}/comments` | [`graph`] |
//! | SIGNL4 | `POST /webhook/{secret}`, `POST /api/v2/events/{team}`, `POST /api/v2/alerts/paged`, `GET /api/v2/alerts/{id}[/timeline]`, `POST .../acknowledge\|close\|annotate`, `GET /api/v2/users[/{idOrEmail}]`; outbound webhooks | [`signl4`] |
//! | Graph (Defender XDR) | `GET /v1.0/security/incidents[/{id}]`, `PATCH .../{id}`, `POST .../{id}/comments` | [`defender`] |
//! | Logs Ingestion | `POST /dataCollectionRules/{dcr}/streams/Custom-SIGNL4_CL?api-version=2023-01-01` (plain or gzip) | [`ingestion`] |
//! | Control | `/control/...` (table in [`control`]) | [`control`] |
//!
//! # Where the sandbox chooses (documented uncertainty)
//!
//! - Sentinel: default list order is `createdTimeUtc desc`; `POST .../alerts|entities` count as
//!   reads for throttling; string comparisons in `$filter` are case-insensitive; `$skipToken` is
//!   an opaque offset; unknown enum values in a PUT are rejected (400) although the spec marks
//!   the enums as extensible; an unset owner field renders as an explicit `null` beside
//!   `"ownerType": "Unknown"`, as real responses do (`SentinelQuirks::owner_nulls`; the schema
//!   says string).
//! - Log Analytics: unknown or expired tokens get 401 `InvalidTokenError`; rows with a
//!   `TimeGenerated` outside the body `timespan` are dropped before the query runs.
//! - SIGNL4 (docs/reference/signl4-api.md §7): see [`options::Signl4Options`]; webhook-driven ack/close emit
//!   outbound 201 events without a `user`; multipart and XML bodies are not parsed (JSON,
//!   form-encoded and plain text are).
//! - Logs Ingestion: gzip and uncompressed bodies are accepted; other encodings get 415.
//!
//! With [`SandboxOptions::tls`] every service is HTTPS ([`tls`]): base URLs and the Entra
//! discovery document name `https://` endpoints; the `reset` fault needs plain TCP and does
//! nothing under TLS.
//!
//! Invariants: every listener is on loopback; all state is in one [`state::World`] behind a
//! mutex; stopping is bounded (servers stop non-gracefully, the thread is joined with a timeout).

// Handlers return a ready `HttpResponse` as their error value (the service's error body); boxing
// it would only add noise on a cold path.
#![allow(clippy::result_large_err)]
#![warn(missing_docs)]

pub mod auth;
pub mod capture;
pub mod cli;
pub mod config;
pub mod control;
pub mod defender;
pub mod entra;
pub mod errors;
pub mod faults;
pub mod graph;
pub mod graph_list;
pub mod ingestion;
pub mod kql;
pub mod log_analytics;
pub mod odata;
pub mod options;
pub mod scenario;
pub mod security_incident;
pub mod sentinel;
pub mod signl4;
pub mod state;
pub mod tls;
pub mod two_way;
pub mod util;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};

pub use control::{Control, ControlError, TenantInfo};
pub use faults::{FaultKind, FaultSpec, Service};
pub use options::SandboxOptions;
use state::{Shared, World};

/// Base URLs of the running emulators (what a connector config points at).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SandboxUrls {
    /// Entra authority host (`{authority}/{tenant}/oauth2/v2.0/token`).
    pub entra: String,
    /// ARM endpoint (Sentinel).
    pub arm: String,
    /// Log Analytics API base, including `/v1`.
    pub log_analytics: String,
    /// Microsoft Graph base, including `/v1.0`.
    pub graph: String,
    /// SIGNL4 host (`/webhook/{secret}`, `/api/v2/...`).
    pub signl4: String,
    /// Logs Ingestion endpoint (DCE).
    pub ingestion: String,
    /// Control API base (`/control/...`).
    pub control: String,
}

/// Entry point.
pub struct Sandbox;

/// A running sandbox; stops its servers when dropped.
pub struct SandboxHandle {
    urls: SandboxUrls,
    control: Control,
    servers: Vec<ServerHandle>,
    done: Option<mpsc::Receiver<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// 404 for unknown paths, in each service's own shape.
async fn not_found(req: HttpRequest, service: web::Data<Service>) -> HttpResponse {
    match **service {
        Service::Sentinel => sentinel::not_found(req).await,
        Service::LogAnalytics => errors::la(
            404,
            "PathNotFoundError",
            "The requested path does not exist",
            None,
        ),
        Service::Graph => errors::graph(404, "UnknownError", ""),
        Service::Signl4 | Service::Outbound => signl4::rest::not_found().await,
        Service::Ingestion => {
            errors::azure_core(404, "NotFound", "The requested resource was not found.")
        }
        Service::Entra => errors::entra(
            404,
            "invalid_request",
            90012,
            "The request has an invalid or unsupported path.",
        ),
        Service::Control => control::not_found().await,
    }
}

const SERVICES: [Service; 7] = [
    Service::Entra,
    Service::Sentinel,
    Service::LogAnalytics,
    Service::Graph,
    Service::Signl4,
    Service::Ingestion,
    Service::Control,
];

fn configure(service: Service, cfg: &mut web::ServiceConfig) {
    match service {
        Service::Entra => entra::routes(cfg),
        Service::Sentinel => sentinel::routes(cfg),
        Service::LogAnalytics => log_analytics::routes(cfg),
        Service::Graph => {
            graph::routes(cfg);
            defender::routes(cfg);
        }
        Service::Signl4 | Service::Outbound => signl4::routes(cfg),
        Service::Ingestion => ingestion::routes(cfg),
        Service::Control => control::routes(cfg),
    }
}

impl Sandbox {
    /// Binds every emulator on `127.0.0.1:0` and starts serving. Blocks only until the servers
    /// run (milliseconds); usable from any context.
    pub fn start(opts: SandboxOptions) -> std::io::Result<SandboxHandle> {
        let workers = opts.workers.max(1);
        let mut listeners = Vec::new();
        for _ in SERVICES {
            listeners.push(TcpListener::bind(("127.0.0.1", 0))?);
        }
        let tls = match &opts.tls {
            Some(identity) => Some(identity.server_config()?),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = |n: usize| -> std::io::Result<String> {
            Ok(format!("{scheme}://{}", listeners[n].local_addr()?))
        };
        let urls = SandboxUrls {
            entra: base(0)?,
            arm: base(1)?,
            log_analytics: format!("{}/v1", base(2)?),
            graph: format!("{}/v1.0", base(3)?),
            signl4: base(4)?,
            ingestion: base(5)?,
            control: base(6)?,
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut world = World::new(opts);
        world.outbound_tx = Some(tx);
        let shared = Shared::new(world);
        let control = Control::new(shared.clone());

        let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<Vec<ServerHandle>>>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (sh, ctl, u) = (shared.clone(), control.clone(), urls.clone());
        let thread = std::thread::Builder::new()
            .name("sandbox".into())
            .spawn(move || {
                let sys = actix_rt::System::new();
                sys.block_on(async move {
                    let mut servers = Vec::new();
                    let mut handles = Vec::new();
                    for (service, l) in SERVICES.into_iter().zip(listeners) {
                        let (sh, ctl, u) = (sh.clone(), ctl.clone(), u.clone());
                        let tls = tls.clone();
                        let srv = HttpServer::new(move || {
                            App::new()
                                .app_data(web::Data::new(sh.clone()))
                                .app_data(web::Data::new(service))
                                .app_data(web::Data::new(ctl.clone()))
                                .app_data(web::Data::new(u.clone()))
                                .app_data(web::PayloadConfig::new(4 << 20))
                                .wrap(from_fn(faults::middleware))
                                .wrap(from_fn(capture::middleware))
                                .configure(|c| configure(service, c))
                                .default_service(web::to(not_found))
                        })
                        .workers(workers)
                        .disable_signals()
                        .shutdown_timeout(1)
                        .on_connect(faults::on_connect);
                        let srv = match tls {
                            Some(config) => srv.listen_rustls_0_23(l, config),
                            None => srv.listen(l),
                        };
                        match srv {
                            Ok(s) => {
                                // A `Server` only starts when polled: spawn each one.
                                let s = s.run();
                                handles.push(s.handle());
                                servers.push(actix_rt::spawn(s));
                            }
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    actix_rt::spawn(signl4::outbound::run(sh.clone(), rx));
                    let _ = ready_tx.send(Ok(handles));
                    for s in servers {
                        let _ = s.await;
                    }
                });
                let _ = done_tx.send(());
            })?;
        let servers = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| std::io::Error::other("sandbox did not start"))??;
        Ok(SandboxHandle {
            urls,
            control,
            servers,
            done: Some(done_rx),
            thread: Some(thread),
        })
    }
}

impl SandboxHandle {
    /// Base URLs of the emulators.
    pub fn urls(&self) -> &SandboxUrls {
        &self.urls
    }

    /// The control API.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// The connector configuration (TOML) for every tenant, pointing at this sandbox.
    pub fn connector_toml(&self) -> String {
        config::connector_toml(&self.control.tenants(), &self.urls)
    }

    /// Stops every server and joins the sandbox thread (bounded: 5 s).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        for h in self.servers.drain(..) {
            // `stop` sends the command right away; the returned future only awaits completion.
            drop(h.stop(false));
        }
        if let Some(done) = self.done.take() {
            if done.recv_timeout(Duration::from_secs(5)).is_ok() {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
