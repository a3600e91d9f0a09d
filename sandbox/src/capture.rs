//! The body log: every request body a client sends to an emulator with PUT, POST or PATCH, kept
//! beside the request log so tests can check what the connector put on the wire (for example
//! against the official schemas), not only how the sandbox answered.
//!
//! Invariants:
//! - The handler sees exactly the bytes the client sent: the middleware reads the payload and
//!   hands the same bytes back to the request before calling the next service.
//! - A gzip body (`Content-Encoding: gzip`) is recorded decoded, so the log always holds what
//!   the client meant; one that does not decode is recorded as `decoded: false` with its size.
//! - Nothing secret is kept: SIGNL4 webhook paths are redacted like the request log's, the
//!   Entra token endpoint (a client secret in its form body) is never recorded, and the log is
//!   bounded by `SandboxOptions::request_log_capacity` (oldest dropped first).
//! - A body over [`MAX_RECORDED_BYTES`] is cut; the record says so.

use std::collections::VecDeque;
use std::io::Read;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::faults::{redact, Service};
use super::state::Shared;

/// Longest body text recorded (the Logs Ingestion API's own limit is about 1 MB).
pub const MAX_RECORDED_BYTES: usize = 2 << 20;

/// One request body, as the client meant it.
#[derive(Debug, Clone, Serialize)]
pub struct BodyRecord {
    /// Which emulator received it.
    pub service: String,
    /// HTTP method (PUT, POST or PATCH).
    pub method: String,
    /// Path and query (SIGNL4 webhook secrets redacted).
    pub path: String,
    /// `Content-Type` as sent.
    pub content_type: Option<String>,
    /// `Content-Encoding` as sent (`gzip` for azure-monitor-ingestion uploads).
    pub content_encoding: Option<String>,
    /// The body text (decoded from gzip when it was gzipped; lossy UTF-8).
    pub body: String,
    /// False when the body claimed gzip but did not decode (then `body` is empty).
    pub decoded: bool,
    /// True when `body` was cut at [`MAX_RECORDED_BYTES`].
    pub truncated: bool,
    /// Arrival time.
    pub at: DateTime<Utc>,
}

/// Decodes a gzip body; `None` when it is not valid gzip.
pub fn gunzip(bytes: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// True when `Content-Encoding` names gzip (case-insensitive, surrounding spaces ignored).
pub fn is_gzip(encoding: Option<&str>) -> bool {
    encoding.is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"))
}

/// The middleware: records the body of every PUT/POST/PATCH, then calls the next service with
/// the same bytes.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let service = req
        .app_data::<web::Data<Service>>()
        .map(|d| *d.get_ref())
        .unwrap_or(Service::Control);
    let method = req.method().as_str().to_string();
    let writes = matches!(method.as_str(), "PUT" | "POST" | "PATCH");
    if !writes || matches!(service, Service::Entra | Service::Control) {
        return next.call(req).await;
    }
    let Some(shared) = req
        .app_data::<web::Data<Shared>>()
        .map(|d| d.get_ref().clone())
    else {
        return next.call(req).await;
    };
    let bytes = req.extract::<web::Bytes>().await?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type");
    let content_encoding = header("content-encoding");
    let (text, decoded) = if is_gzip(content_encoding.as_deref()) {
        match gunzip(&bytes, MAX_RECORDED_BYTES) {
            Some(plain) => (plain, true),
            None => (Vec::new(), false),
        }
    } else {
        (bytes.to_vec(), true)
    };
    let truncated = text.len() > MAX_RECORDED_BYTES;
    let shown = &text[..text.len().min(MAX_RECORDED_BYTES)];
    let record = BodyRecord {
        service: service.as_str().to_string(),
        method,
        path: redact(match req.query_string() {
            "" => req.path().to_string(),
            q => format!("{}?{q}", req.path()),
        }),
        content_type,
        content_encoding,
        body: String::from_utf8_lossy(shown).into_owned(),
        decoded,
        truncated,
        at: Utc::now(),
    };
    {
        let mut w = shared.lock();
        let capacity = w.opts.request_log_capacity.max(1);
        push_bounded(&mut w.bodies, record, capacity);
    }
    req.set_payload(Payload::from(bytes));
    next.call(req).await
}

fn push_bounded(log: &mut VecDeque<BodyRecord>, record: BodyRecord, capacity: usize) {
    while log.len() >= capacity {
        log.pop_front();
    }
    log.push_back(record);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_round_trips_and_garbage_does_not_decode() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"[{\"a\":1}]").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 100).unwrap(), b"[{\"a\":1}]");
        assert_eq!(gunzip(b"[{\"a\":1}]", 100), None);
        assert!(is_gzip(Some(" GZip ")));
        assert!(!is_gzip(Some("identity")) && !is_gzip(None));
    }
}
