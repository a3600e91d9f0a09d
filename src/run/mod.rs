//! Running connectors: from a validated [`Config`](crate::config::Config) to live actors, HTTP
//! clients and the webhook listener, all in one actix System.
//!
//! Invariants: every connector shares one event log (its own tenant stream), one HTTP context
//! (connection pool, token caches, per-subscription rate budgets) and one webhook listener (its
//! own path token); a connector whose configuration cannot run (a webhook URL that is not
//! SIGNL4's shape) stops the start with an error naming it, before any connector polls. Each
//! connector reads Sentinel (ARM) or Microsoft Graph alerts, as its `read_source` says. Secrets
//! go from the configuration straight into the clients. A connector with `[connector.signl4_cl]`
//! enabled also gets its `SIGNL4_CL` shipper ([`Running::shippers`]).

pub(crate) mod clients;
mod serve;
mod wiring;

pub use serve::{bind_listener, serve_webhooks, serve_webhooks_on};
pub use wiring::{start_connectors, Handle, Running, ShipperAddr, WiringError};

/// Waits until every connector's pipeline has been idle for a few consecutive checks, or
/// `max_checks` checks (one per `step`) have passed. Returns whether it settled.
pub async fn settle(running: &Running, step: std::time::Duration, max_checks: usize) -> bool {
    let mut quiet = 0;
    for _ in 0..max_checks {
        tokio::time::sleep(step).await;
        let mut busy = 0;
        for (_, handle) in &running.connectors {
            busy += handle.in_flight().await;
        }
        quiet = if busy == 0 { quiet + 1 } else { 0 };
        if quiet >= 3 {
            return true;
        }
    }
    false
}
