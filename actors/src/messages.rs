//! Every message the actors exchange, in one place (the witnet-rust `messages.rs` layout).
//!
//! Messages carry keys, not state: the receiver reads the incident from the store, which holds
//! the durable truth, so a message that arrives late or twice can never make an actor act on
//! stale or non-durable data. Sending between pipeline stages uses `send().await`. For `Enrich`
//! that is backpressure: the Enricher answers only once the enrichment holds one of its permits,
//! so the Poller waits while every permit is taken (`enricher/handlers.rs`). For the other
//! stages it waits only while the receiver's mailbox is full: their handlers spawn their work
//! and return at once.

use actix::Message;
use store::{IncidentKey, TenantId};
use uuid::Uuid;

// MESSAGES TO THE POLLER

/// Poll now instead of waiting for the next tick (tests, and the first poll after start).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct PollNow;

// MESSAGES FROM THE POLLER TO THE ENRICHER

/// An incident was observed new or changed in a round that may need a Signl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct Enrich {
    pub tenant: TenantId,
    pub incident: IncidentKey,
    /// The poll that saw it, to correlate the events that follow.
    pub correlation: Uuid,
}

/// The incidents a starting connector found observed but not paged (a restart): the Enricher
/// hands them to itself one at a time, each waiting for a permit like the Poller's.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct EnrichBacklog {
    pub tenant: TenantId,
    pub incidents: Vec<IncidentKey>,
    /// The start that found them, to correlate the events that follow.
    pub correlation: Uuid,
}

// MESSAGES FROM THE ENRICHER TO THE FORWARDER

/// The incident's enrichment is recorded (complete, or with what is missing): page it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct Forward {
    pub tenant: TenantId,
    pub incident: IncidentKey,
    pub correlation: Uuid,
}

// MESSAGES FROM THE POLLER TO STATUSSYNC

/// A change of an incident that has a Signl was recorded (it may have been closed in Sentinel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct SentinelChanged {
    pub tenant: TenantId,
    pub incident: IncidentKey,
}

// MESSAGES FROM THE WEBHOOK RECEIVER TO STATUSSYNC

/// A SIGNL4 notification arrived. Answered once it is durable in the log (or known as a
/// duplicate), so the receiver may then answer 2xx; the write-back happens afterwards.
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "Result<Recorded, store::StoreError>")]
pub struct Signl4Notified(pub crate::status_sync::notification::Notification);

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Appended to the incident's history; write-back follows.
    New,
    /// Delivered before (same notification id): nothing done.
    Duplicate,
    /// Its ExternalID is not one of this connector's incidents: nothing recorded.
    UnknownIncident,
}

// MESSAGES TO STATUSSYNC

/// Poll SIGNL4's REST API for status changes and annotations now (the fallback for
/// deployments without outbound webhooks; sent by StatusSync's own timer, and by tests).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct PollSignl4;

// MESSAGES TO THE FORWARDER AND STATUSSYNC

/// Finish every open intent the receiving actor owns (the Forwarder: raise, tag; StatusSync:
/// incident writes, comments, resolves): check the remote side where possible, then record the
/// outcome or redo the idempotent call. Sent at start and periodically; a pass never starts
/// while the receiver's previous one runs (that tick is skipped).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Reconcile;

// MESSAGES TO ANY PIPELINE ACTOR

/// Report how much work is in flight (tests and the demo wait for zero).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "usize")]
pub struct InFlight;

// MESSAGES TO THE SHIPPER

/// Ship what the log holds beyond the cursor now (the timer does it otherwise). Answered when
/// the pass ends, with what it did.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<crate::shipper::PassReport, crate::shipper::ShipError>")]
pub struct ShipNow;

/// The shipper's counters (answered between passes).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "crate::shipper::ShipperStats")]
pub struct ShipperStatus;
