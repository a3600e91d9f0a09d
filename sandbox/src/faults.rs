//! Fault injection and the request log, as one actix-web middleware wrapped around every
//! emulator, plus the fault rules the control API installs.
//!
//! A rule matches a service (and optionally a method and a path substring) and fires either a
//! bounded number of times or with a probability. Kinds: an HTTP status in the service's own error
//! shape (429/503 with `Retry-After`), a delay, or a dropped connection (the socket is shut down
//! under actix-web, so the client sees the connection close before any response); and the
//! "processed, reply lost" kinds, which let the emulator handle the request (its change
//! happens) and then lose the answer: a reset, a 5xx, or an answer held past the client's
//! timeout. Outbound
//! webhook faults (duplicate, out-of-order, failing receiver) are read by the SIGNL4 dispatcher.
//!
//! Invariants: rules are evaluated in insertion order and at most one request-level fault fires
//! per request; a rule with `times` never fires more than `times` times.

use std::os::fd::RawFd;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use chrono::Utc;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::errors;
use super::state::{RequestRecord, Shared};

/// The emulated services (also the fault/request-log scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Entra ID token endpoint.
    Entra,
    /// ARM / Sentinel incidents.
    Sentinel,
    /// Log Analytics query API.
    LogAnalytics,
    /// Microsoft Graph security API.
    Graph,
    /// SIGNL4 webhook + REST API.
    Signl4,
    /// SIGNL4 outbound webhooks (sandbox → connector).
    Outbound,
    /// Azure Monitor Logs Ingestion API.
    Ingestion,
    /// The control API itself.
    Control,
}

impl Service {
    /// Lowercase name used in logs and the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Entra => "entra",
            Service::Sentinel => "sentinel",
            Service::LogAnalytics => "log_analytics",
            Service::Graph => "graph",
            Service::Signl4 => "signl4",
            Service::Outbound => "outbound",
            Service::Ingestion => "ingestion",
            Service::Control => "control",
        }
    }
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and the service's error body; `retry_after` seconds adds the header.
    Status {
        /// HTTP status (429, 500, 503, ...).
        status: u16,
        /// `Retry-After` seconds.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Wait before handling the request normally.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Drop the connection without an answer.
    Reset,
    /// Outbound only: deliver the notification twice.
    Duplicate,
    /// Outbound only: hold the notification back and send it after the next one.
    OutOfOrder,
    /// "Processed, reply lost": handle the request (its change happens), then drop the
    /// connection without an answer.
    ResetAfterHandling,
    /// "Processed, reply lost": handle the request, then answer this status with the service's
    /// error body instead of the real answer.
    StatusAfterHandling {
        /// HTTP status (500, 502, 503, ...).
        status: u16,
    },
    /// "Processed, reply lost": handle the request, then hold the answer this long (past the
    /// client's timeout, it never sees it).
    DelayAfterHandling {
        /// Milliseconds.
        ms: u64,
    },
}

/// A fault rule as the control API accepts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultSpec {
    /// Service it applies to.
    pub service: Service,
    /// The fault.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Fire this many times, then retire (`None`: unbounded unless `probability` is set).
    #[serde(default)]
    pub times: Option<u32>,
    /// Fire with this probability (0..=1) instead of counting.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Only requests whose path contains this.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Only this HTTP method.
    #[serde(default)]
    pub method: Option<String>,
}

/// An installed rule with its remaining budget.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRule {
    /// Id for removal.
    pub id: u64,
    /// The spec.
    pub spec: FaultSpec,
    /// Times it fired.
    pub fired: u32,
}

impl FaultRule {
    fn matches(&self, service: Service, method: &str, path: &str) -> bool {
        let s = &self.spec;
        s.service == service
            && s.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && s.path_contains.as_deref().is_none_or(|p| path.contains(p))
            && s.times.is_none_or(|t| self.fired < t)
    }
}

/// Picks the first matching rule that decides to fire, counts it, and returns its kind.
/// `outbound_kinds` selects the outbound-only kinds (duplicate/out-of-order) or the request ones.
pub fn take_fault(
    rules: &mut [FaultRule],
    service: Service,
    method: &str,
    path: &str,
) -> Option<FaultKind> {
    let mut rng = rand::rng();
    for r in rules.iter_mut() {
        if !r.matches(service, method, path) {
            continue;
        }
        let fire = match r.spec.probability {
            Some(p) => rng.random_bool(p.clamp(0.0, 1.0)),
            None => true,
        };
        if fire {
            r.fired += 1;
            return Some(r.spec.kind.clone());
        }
    }
    None
}

/// The raw socket of the current connection, stored by `on_connect` so `Reset` can shut it down.
#[derive(Clone, Copy)]
pub struct ConnFd(pub RawFd);

/// `HttpServer::on_connect` hook: remembers the socket fd of each accepted connection.
pub fn on_connect(conn: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
    use std::os::fd::AsRawFd;
    if let Some(sock) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        ext.insert(ConnFd(sock.as_raw_fd()));
    }
}

/// The middleware: applies request faults, then logs method/path/status/client-request-id.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, Error> {
    let service = *req
        .app_data::<web::Data<Service>>()
        .map(|d| d.get_ref())
        .unwrap_or(&Service::Control);
    let shared = req
        .app_data::<web::Data<Shared>>()
        .map(|d| d.get_ref().clone());
    let method = req.method().to_string();
    let path = redact(match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{}", req.path(), q),
    });
    let client_request_id = req
        .headers()
        .get("x-ms-client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let at = Utc::now();

    let fault = shared.as_ref().and_then(|s| {
        let mut w = s.lock();
        take_fault(&mut w.faults, service, &method, &path)
    });

    let res = match fault {
        Some(FaultKind::Delay { ms }) => {
            actix_web::rt::time::sleep(Duration::from_millis(ms.min(60_000))).await;
            next.call(req).await?.map_into_boxed_body()
        }
        Some(FaultKind::Status {
            status,
            retry_after,
        }) => {
            let mut resp = errors::service_error(service, status);
            if let Some(s) = retry_after {
                resp.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(s),
                );
            }
            req.into_response(resp)
        }
        Some(FaultKind::Reset) => {
            if let Some(ConnFd(fd)) = req.conn_data::<ConnFd>().copied() {
                // SAFETY: the fd belongs to the live connection serving this request; shutdown
                // only half-closes it, actix-web still owns and closes the descriptor.
                unsafe {
                    libc::shutdown(fd, libc::SHUT_RDWR);
                }
            }
            req.into_response(errors::service_error(service, 500))
        }
        Some(FaultKind::ResetAfterHandling) => {
            let fd = req.conn_data::<ConnFd>().copied();
            let handled = next.call(req).await?;
            if let Some(ConnFd(fd)) = fd {
                // SAFETY: as for `Reset`: the fd belongs to the live connection serving this
                // request, and shutdown only half-closes it.
                unsafe {
                    libc::shutdown(fd, libc::SHUT_RDWR);
                }
            }
            let (req, _) = handled.into_parts();
            ServiceResponse::new(req, errors::service_error(service, 500))
        }
        Some(FaultKind::StatusAfterHandling { status }) => {
            let handled = next.call(req).await?;
            let (req, _) = handled.into_parts();
            ServiceResponse::new(req, errors::service_error(service, status))
        }
        Some(FaultKind::DelayAfterHandling { ms }) => {
            let handled = next.call(req).await?.map_into_boxed_body();
            actix_web::rt::time::sleep(Duration::from_millis(ms.min(60_000))).await;
            handled
        }
        _ => next.call(req).await?.map_into_boxed_body(),
    };

    if let Some(s) = shared {
        let status = res.status().as_u16();
        let rec = RequestRecord {
            service: service.as_str().to_string(),
            method,
            path,
            status,
            client_request_id,
            at,
        };
        s.lock().log_request(rec);
    }
    Ok(res)
}

/// Hides the SIGNL4 team secret that the inbound webhook carries in its path: secrets never reach
/// the request log.
pub fn redact(path: String) -> String {
    match path.strip_prefix("/webhook/") {
        Some(rest) => {
            let tail = rest.find(['/', '?']).map(|i| &rest[i..]).unwrap_or("");
            format!("/webhook/***{tail}")
        }
        None => path,
    }
}
