//! Outbound HTTP exchanges counted by service and status, for `/metrics`
//! (`http_requests_total{service,status}`).
//!
//! Invariants: one process-wide table, updated by `crate::http::send` after every exchange
//! (a transport failure counts as status `transport_error`); recording is one short lock and
//! never fails. No URL, path or secret is recorded: only the service name and the status.

use std::collections::BTreeMap;
use std::sync::Mutex;

static COUNTS: Mutex<BTreeMap<(&'static str, String), u64>> = Mutex::new(BTreeMap::new());

/// Counts one exchange with `service` that ended with `status` (a code, or `transport_error`).
pub fn record(service: &'static str, status: &str) {
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    *counts.entry((service, status.to_string())).or_insert(0) += 1;
}

/// Every `(service, status, count)` so far.
pub fn snapshot() -> Vec<(&'static str, String, u64)> {
    let counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    counts
        .iter()
        .map(|((s, st), n)| (*s, st.clone(), *n))
        .collect()
}
