//! Connector health: what each connector's last poll of its incident source did, kept where the
//! operator's surface (`/readyz`, `/status`, `/metrics`) can read it.
//!
//! Invariants:
//! - One registry per process ([`registry`]), keyed by connector name (unique in a
//!   configuration). It is process-wide so that the actors can report without a handle threaded
//!   through every constructor; a process runs one configuration, so names do not collide.
//! - A connector is OK when its last poll succeeded; it is in error from a failed poll until
//!   the next successful one, with the failure's text as the reason (for a refused client
//!   secret that is Entra's AADSTS code and description; error texts never hold secrets, the
//!   HTTP layer redacts them). Before its first poll ends it is "starting", not OK.
//! - Reporting is cheap (one short lock) and never fails: health must not slow or stop a poll.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// What is known of one connector's polls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectorHealth {
    /// When the last poll succeeded (ms since the epoch).
    pub last_poll_ok_ms: Option<i64>,
    /// The failure since the last successful poll: when it first failed, and the latest reason.
    pub error: Option<HealthError>,
    /// Polls that succeeded and failed since start.
    pub polls_ok: u64,
    pub polls_failed: u64,
}

/// Why a connector is not OK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthError {
    /// First failure of this streak (ms since the epoch).
    pub since_ms: i64,
    /// The latest failure's text.
    pub reason: String,
}

impl ConnectorHealth {
    /// True when the last poll succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.last_poll_ok_ms.is_some()
    }

    /// Why it is not OK (`None` when it is).
    pub fn reason(&self) -> Option<String> {
        match (&self.error, self.last_poll_ok_ms) {
            (Some(e), _) => Some(e.reason.clone()),
            (None, None) => Some("starting: no poll has completed yet".to_string()),
            (None, Some(_)) => None,
        }
    }
}

/// Every connector's health. Exists so that the actors report and the admin surface reads
/// through one small shared structure.
#[derive(Debug, Default)]
pub struct Registry {
    connectors: Mutex<BTreeMap<String, ConnectorHealth>>,
}

/// The process's registry.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

impl Registry {
    fn update(&self, connector: &str, f: impl FnOnce(&mut ConnectorHealth)) {
        let mut map = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(connector.to_string()).or_default());
    }

    /// A poll of `connector` completed at `now_ms`.
    pub fn poll_succeeded(&self, connector: &str, now_ms: i64) {
        self.update(connector, |h| {
            h.last_poll_ok_ms = Some(now_ms);
            h.error = None;
            h.polls_ok += 1;
        });
    }

    /// A poll of `connector` failed at `now_ms` because of `reason`.
    pub fn poll_failed(&self, connector: &str, now_ms: i64, reason: String) {
        self.update(connector, |h| {
            let since_ms = h.error.as_ref().map_or(now_ms, |e| e.since_ms);
            h.error = Some(HealthError { since_ms, reason });
            h.polls_failed += 1;
        });
    }

    /// The health of `connector` (default: nothing known yet).
    pub fn get(&self, connector: &str) -> ConnectorHealth {
        let map = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        map.get(connector).cloned().unwrap_or_default()
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_lasts_until_the_next_success() {
        let r = Registry::default();
        assert_eq!(
            r.get("a").reason().as_deref(),
            Some("starting: no poll has completed yet")
        );
        r.poll_failed("a", 10, "AADSTS7000215: Invalid client secret".into());
        r.poll_failed("a", 20, "AADSTS7000215: Invalid client secret again".into());
        let h = r.get("a");
        assert!(!h.is_ok());
        assert_eq!(h.error.as_ref().unwrap().since_ms, 10);
        assert!(h.reason().unwrap().contains("again"));
        r.poll_succeeded("a", 30);
        let h = r.get("a");
        assert!(h.is_ok());
        assert_eq!(
            (h.polls_ok, h.polls_failed, h.last_poll_ok_ms),
            (1, 2, Some(30))
        );
    }
}
