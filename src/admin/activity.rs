//! Activity lines: a page, an acknowledgement or close in SIGNL4, and a close in Sentinel are
//! logged at INFO, read from the event log once they are durable, so an operator tailing the
//! journal sees what the connector did without `audit`.
//!
//! Invariants: each line is written from a recorded event (never from an attempt), once per
//! process (the follower starts after the events that were in the log at start, so a restart
//! does not repeat history); incident numbers and connector names only, no payloads, no
//! secrets. Reading is a short scan of the new events every [`EVERY`].

use std::collections::HashMap;
use std::time::Duration;

use store::events::{EffectResult, Event, Signl4Action};
use store::{Store, TenantId};

/// How often the follower reads new events.
pub const EVERY: Duration = Duration::from_secs(1);

/// Starts the follower on the current actix System.
pub fn start(store: Store, names: HashMap<TenantId, String>) {
    let mut next = store.durable_seq() + 1;
    actix_rt::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            next = pass(&store, &names, next);
        }
    });
}

/// Logs the activity among the events from `next`; returns the seq to read from next time.
fn pass(store: &Store, names: &HashMap<TenantId, String>, mut next: u64) -> u64 {
    for event in store.log().events_from(next) {
        let Ok(event) = event else {
            break; // `verify` reports records that do not decode; try again next pass
        };
        next = event.seq + 1;
        let Some(connector) = names.get(&event.tenant) else {
            continue;
        };
        let number = store.read(|p| {
            p.incident(event.tenant, event.incident)
                .map_or(0, |i| i.number)
        });
        match &event.event {
            Event::EffectSucceeded(e) => match &e.result {
                EffectResult::SignlRaised { .. } | EffectResult::SignlRaisedUnverified { .. } => {
                    tracing::info!(%connector, incident = number, "paged: Signl raised in SIGNL4")
                }
                _ => {}
            },
            Event::Signl4ActionReceived(a) => {
                let by = a
                    .user_name
                    .as_deref()
                    .or(a.user_email.as_deref())
                    .unwrap_or("-");
                match a.action {
                    Signl4Action::Acknowledged => {
                        tracing::info!(%connector, incident = number, by, "acknowledged in SIGNL4")
                    }
                    Signl4Action::Closed => {
                        tracing::info!(%connector, incident = number, by, "closed in SIGNL4")
                    }
                    Signl4Action::Annotated { .. } => {}
                }
            }
            Event::ClosedInSentinel(c) => tracing::info!(
                %connector,
                incident = number,
                owner = c.owner.as_deref().unwrap_or("-"),
                "closed in Sentinel"
            ),
            _ => {}
        }
    }
    next
}
