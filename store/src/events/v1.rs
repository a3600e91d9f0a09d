//! Version 1 payloads, frozen.
//!
//! Invariants (this file is part of the on-disk format):
//! - Never edit, reorder or remove a field or an enum variant here: bincode writes fields in
//!   declaration order and variants by index. New meaning gets a new struct in a new `vN.rs` and an
//!   upcast from this one in `events/mod.rs`.
//! - No `#[serde(flatten | skip | tag | untagged)]` and no `serde_json::Value`: bincode cannot
//!   carry them. Raw JSON from Sentinel travels as a `String`.
//! - The golden fixtures in `store/tests/fixtures/events/*_v1.bin` must keep decoding to the same
//!   values; `store/tests/golden.rs` checks it on every test run.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::EffectId;

/// Where an incident was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// Microsoft Sentinel incidents on ARM (the default read source).
    Sentinel,
    /// Microsoft Graph security alerts_v2 (the alternate read source).
    Graph,
}

/// The Poller saw an incident, new or changed (a new etag), in a listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentObserved {
    /// Where it was read.
    pub source: Source,
    /// The source id: the Sentinel incident `name` (a GUID) or the Graph alert id.
    pub name: String,
    /// The resource etag as Sentinel returned it, quotes included.
    pub etag: String,
    /// `properties.incidentNumber`, sequential per workspace (0 for Graph).
    pub incident_number: i64,
    /// `properties.title`.
    pub title: String,
    /// `properties.severity` (High, Medium, Low, Informational; unknown values kept verbatim).
    pub severity: String,
    /// `properties.status` (New, Active, Closed; unknown values kept verbatim).
    pub status: String,
    /// The owner as the portal shows it (UPN, else email, else assignedTo), if any.
    pub owner: Option<String>,
    /// `properties.createdTimeUtc` in ms since the epoch.
    pub created_ms: i64,
    /// `properties.lastModifiedTimeUtc` in ms since the epoch; the Poller's watermark moves by it.
    pub last_modified_ms: i64,
    /// `properties.incidentUrl`, the portal deep link.
    pub incident_url: String,
    /// Label names on the incident.
    pub labels: Vec<String>,
    /// The incident exactly as received, for audit and later re-enrichment.
    pub raw_json: String,
}

/// The Enricher gathered what is linked to an incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentEnriched {
    /// How many alerts are linked.
    pub alert_count: u32,
    /// How many entities are linked.
    pub entity_count: u32,
    /// Product names of the alerts, deduplicated, for display.
    pub products: Vec<String>,
    /// MITRE tactics of the alerts, deduplicated.
    pub tactics: Vec<String>,
    /// What could not be fetched in time (e.g. "log analytics: 429"); empty when complete.
    pub missing: Vec<String>,
    /// The alerts as received (JSON array).
    pub alerts_json: String,
    /// The entities as received (JSON array).
    pub entities_json: String,
    /// Log Analytics search results (JSON), empty when augmentation is off or failed.
    pub search_json: String,
}

/// A side effect the connector will perform. The intent is recorded before the call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// Raise the Signl of one round (one page per incident, again after each reopen).
    RaiseSignl {
        /// `X-S4-ExternalID`, stable per incident.
        external_id: String,
        /// The incident's round: 1, then +1 per reopen.
        round: u32,
    },
    /// Add a label to the Sentinel incident once its Signl exists.
    TagIncident {
        /// The label name.
        label: String,
    },
    /// Assign the owner and/or set Active because SIGNL4 acknowledged.
    AcknowledgeIncident {
        /// The owner to assign (UPN or object id), if owner assignment is on.
        owner: Option<String>,
        /// Whether to set the status to Active.
        set_active: bool,
        /// The SIGNL4 notification id that caused it.
        cause: String,
    },
    /// Close the Sentinel incident because SIGNL4 closed the Signl.
    CloseIncident {
        /// `properties.classification`.
        classification: String,
        /// `properties.classificationReason`, required by some classifications.
        classification_reason: Option<String>,
        /// `properties.classificationComment`.
        classification_comment: String,
        /// The owner to assign, if owner assignment on close is on.
        owner: Option<String>,
        /// The SIGNL4 notification id that caused it.
        cause: String,
    },
    /// Write (create or rewrite) a Sentinel incident comment with a deterministic id.
    WriteComment {
        /// The comment id in the URL: uuid v5 of tenant, incident and cause.
        comment_id: Uuid,
        /// The text.
        message: String,
    },
    /// Resolve the incident's Signls (the incident was closed in Sentinel).
    ResolveSignl {
        /// `X-S4-ExternalID`.
        external_id: String,
        /// The round being resolved.
        round: u32,
    },
    /// Acknowledge the incident's Signls (an owner was set in Sentinel).
    AcknowledgeSignl {
        /// `X-S4-ExternalID`.
        external_id: String,
        /// The round being acknowledged.
        round: u32,
    },
    /// Add an annotation to a Signl (an analyst commented in Sentinel).
    AnnotateSignl {
        /// The Signl id (`alert.id`).
        signl_id: String,
        /// The text.
        text: String,
        /// The Sentinel comment id that caused it.
        cause: String,
    },
}

/// The intent of a side effect: appended and flushed before the call is made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectRequested {
    /// Deterministic id; the outbox key and the request id of the call.
    pub effect_id: EffectId,
    /// What will be done.
    pub effect: Effect,
}

/// What a successful side effect produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EffectResult {
    /// SIGNL4 accepted the event (201) and returned its event id.
    SignlRaised {
        /// `eventId` from the webhook response.
        event_id: String,
    },
    /// Re-posted after a crash without a way to check (no API key): maybe a second Signl.
    SignlRaisedUnverified {
        /// `eventId` from the webhook response.
        event_id: String,
    },
    /// A Sentinel incident write (PUT) succeeded; the etag it produced, for loop prevention.
    IncidentWritten {
        /// The etag of the resource after our write.
        etag: String,
    },
    /// A Sentinel comment was written (PUT by id).
    CommentWritten {
        /// The comment's etag after the write.
        etag: String,
    },
    /// SIGNL4 accepted a status change or annotation.
    Signl4Accepted {
        /// The event or annotation id SIGNL4 returned, if any.
        reference: String,
    },
    /// Reconciliation found the remote side already in the target state; nothing was sent.
    AlreadyDone {
        /// What was found.
        detail: String,
    },
}

/// The outcome of a side effect that worked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectSucceeded {
    /// The intent this closes.
    pub effect_id: EffectId,
    /// What it produced.
    pub result: EffectResult,
}

/// The outcome of a side effect that cannot work (a 400, a permanent refusal): the intent closes
/// so that it is not retried forever, and the reason stays in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectFailed {
    /// The intent this closes.
    pub effect_id: EffectId,
    /// Why, as the remote side said it (never containing secrets).
    pub reason: String,
    /// How many attempts were made.
    pub attempts: u32,
}

/// An effect met a refusal an operator can fix (a revoked secret, a missing role, an unknown
/// SIGNL4 team): its intent stays open and is tried again with a capped backoff. Recorded once
/// per change of reason, so `verify` and `audit` can list what waits for an operator. Not an
/// outcome: the effect still ends with exactly one `EffectSucceeded`/`EffectFailed`/
/// `EffectCancelled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectParked {
    /// The open intent.
    pub effect_id: EffectId,
    /// Why, as the remote side said it (never containing secrets).
    pub reason: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// An open intent that must no longer be performed (a page for an incident closed in Sentinel
/// since it was asked for): an outcome, closing the intent without a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectCancelled {
    /// The intent this closes.
    pub effect_id: EffectId,
    /// Why it was cancelled.
    pub reason: String,
}

/// An observation showed the incident turned Closed in Sentinel (an analyst closed it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClosedInSentinel {
    /// The owner at that time, if any.
    pub owner: Option<String>,
    /// The etag of the observation that showed it.
    pub etag: String,
}

/// An observation showed a Closed incident open again: a new round starts and pages again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reopened {
    /// The new round number.
    pub round: u32,
    /// The status it reopened to.
    pub status: String,
}

/// What a SIGNL4 user did, as an outbound webhook (or the REST fallback) reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Signl4Action {
    /// eventType 201, alert.statusCode 2.
    Acknowledged,
    /// eventType 201, alert.statusCode 4.
    Closed,
    /// eventType 203.
    Annotated {
        /// `annotation.message`.
        text: String,
    },
}

/// A SIGNL4 notification about this incident's Signl was received and recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signl4ActionReceived {
    /// The notification's unique `id` (the inbox key).
    pub notification_id: String,
    /// `alert.id`.
    pub signl_id: String,
    /// What happened.
    pub action: Signl4Action,
    /// `user.mailaddress`, if a user acted.
    pub user_email: Option<String>,
    /// `user.username`, if a user acted.
    pub user_name: Option<String>,
    /// `eventRaisedUtc` in ms since the epoch.
    pub raised_at_ms: i64,
}

/// The Poller moved its durable watermark (tenant stream).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatermarkAdvanced {
    /// Incidents modified at or after this (minus the overlap) are listed next time.
    pub watermark_ms: i64,
    /// The highest incident number seen so far.
    pub max_incident_number: i64,
}

/// A connector started with this log (tenant stream): names the tenant for the audit tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectorStarted {
    /// The connector's configured name.
    pub name: String,
    /// The read source configured.
    pub source: Source,
    /// The build that started (crate version).
    pub build: String,
}
