//! Outbound HTTP exchanges counted by connector, service and status, for `/metrics`
//! (`http_requests_total{connector,service,status}`).
//!
//! Invariants: one process-wide table, updated by `crate::http::send` after every exchange
//! (a transport failure counts as status `transport_error`); recording is one short lock and
//! never fails. No URL, path or secret is recorded: only the connector's name (empty for calls
//! made outside a connector), the service name and the status.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// `(connector, service, status)`.
type Key = (String, &'static str, String);

static COUNTS: Mutex<BTreeMap<Key, u64>> = Mutex::new(BTreeMap::new());

/// Counts one exchange of `connector` with `service` that ended with `status` (a code, or
/// `transport_error`).
pub fn record(connector: &str, service: &'static str, status: &str) {
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    *counts
        .entry((connector.to_string(), service, status.to_string()))
        .or_insert(0) += 1;
}

/// Every `(connector, service, status, count)` so far.
pub fn snapshot() -> Vec<(String, &'static str, String, u64)> {
    let counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    counts
        .iter()
        .map(|((c, s, st), n)| (c.clone(), *s, st.clone(), *n))
        .collect()
}
