//! Shared helpers for the sandbox integration tests: a started sandbox with one tenant, token
//! fetching, ARM URL building and a local outbound-webhook receiver.
//!
//! Every test talks to the sandbox over real HTTP on loopback with reqwest.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sandbox::control::{TenantInfo, TenantSpec};
use sandbox::{Sandbox, SandboxHandle, SandboxOptions};
use serde_json::Value;

pub const ARM: &str = "https://management.azure.com/.default";
pub const LA: &str = "https://api.loganalytics.io/.default";
pub const GRAPH: &str = "https://graph.microsoft.com/.default";
pub const MONITOR: &str = "https://monitor.azure.com/.default";
pub const API: &str = "api-version=2025-12-01";

/// A sandbox with one tenant and an HTTP client.
pub struct Env {
    pub sb: SandboxHandle,
    pub t: TenantInfo,
    pub http: reqwest::Client,
}

impl Env {
    pub fn new() -> Env {
        Env::with(SandboxOptions::for_tests())
    }

    pub fn with(opts: SandboxOptions) -> Env {
        let sb = Sandbox::start(opts).expect("sandbox starts");
        let t = sb
            .control()
            .create_tenant(TenantSpec::default())
            .expect("tenant");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Env { sb, t, http }
    }

    /// Client-credentials token for `scope`.
    pub async fn token(&self, scope: &str) -> String {
        let r = self
            .http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                self.sb.urls().entra,
                self.t.tenant_id
            ))
            .form(&[
                ("client_id", self.t.client_id.as_str()),
                ("client_secret", self.t.client_secret.as_str()),
                ("scope", scope),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.expect("token json");
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// `.../providers/Microsoft.SecurityInsights` base of the tenant's workspace.
    pub fn si(&self) -> String {
        format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights",
            self.sb.urls().arm, self.t.subscription_id, self.t.resource_group, self.t.workspace_name
        )
    }

    pub fn incident_url(&self, id: &str) -> String {
        format!("{}/incidents/{id}?{API}", self.si())
    }
}

/// Sends and returns (status, JSON body or Null).
pub async fn send(rb: reqwest::RequestBuilder) -> (u16, Value) {
    let r = rb.send().await.expect("request");
    let s = r.status().as_u16();
    let b = r.bytes().await.expect("body");
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// A local HTTP receiver for outbound webhooks: records JSON bodies; fails the first `fail_first`
/// requests with 500.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Value>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub fn start(fail_first: usize) -> Receiver {
        use actix_web::{web, App, HttpResponse, HttpServer};
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let seen = Arc::new(Mutex::new(0usize));
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", l.local_addr().expect("addr"));
        let (tx, rx) = std::sync::mpsc::channel();
        let g = got.clone();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let srv = HttpServer::new(move || {
                    let (g, seen) = (g.clone(), seen.clone());
                    App::new().route(
                        "/hook",
                        web::post().to(move |b: web::Bytes| {
                            let (g, seen) = (g.clone(), seen.clone());
                            async move {
                                let n = {
                                    let mut s = seen.lock().unwrap();
                                    *s += 1;
                                    *s
                                };
                                if n <= fail_first {
                                    return HttpResponse::InternalServerError().finish();
                                }
                                g.lock()
                                    .unwrap()
                                    .push(serde_json::from_slice(&b).unwrap_or(Value::Null));
                                HttpResponse::Ok().finish()
                            }
                        }),
                    )
                })
                .workers(1)
                .disable_signals()
                .listen(l)
                .expect("listen")
                .run();
                tx.send(srv.handle()).expect("send handle");
                let _ = srv.await;
            })
        });
        let handle = rx.recv().expect("receiver starts");
        Receiver { url, got, handle }
    }

    /// Waits (bounded) until `n` bodies arrived; returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let v = self.got.lock().unwrap().clone();
            if v.len() >= n || start.elapsed() > timeout {
                return v;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
