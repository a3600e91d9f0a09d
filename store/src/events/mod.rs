//! The events of the log: the current [`Event`] enum and its encoding per `(kind, version)`.
//!
//! Invariants:
//! - A kind number, once used, names one event forever; new events get new numbers (see
//!   [`Kind`]). Each `(kind, version)` decodes with exactly one frozen struct from `vN.rs`.
//! - Decoding dispatches on `(kind, version)` and upcasts old versions to the current struct, so a
//!   log written by any earlier build stays readable. A `(kind, version)` this build does not
//!   know (written by a newer build) is a [`PayloadError::Unknown`], never a guess.
//! - A payload must decode completely: trailing bytes are an error, and sizes are bounded.

pub mod defender_v1;
pub mod raw;
pub mod v1;
pub mod v2;

use serde::Serialize;

use crate::ids::{EffectId, IncidentKey, TenantId};
pub use defender_v1::IncidentMerged;
pub use raw::{Keyframe, NoBases, RawBases, RecordAt};
pub use v1::{
    ClosedInSentinel, ConnectorStarted, Effect, EffectCancelled, EffectFailed, EffectParked,
    EffectRequested, EffectResult, EffectSucceeded, IncidentEnriched, IncidentObserved, Reopened,
    Signl4Action, Signl4ActionReceived, Source, WatermarkAdvanced,
};

/// Largest payload accepted when decoding (raw incident JSON included). Bounds the memory a
/// corrupt length prefix could make us allocate.
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;

/// Stable numbers of the event kinds, as stored in the envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Kind {
    IncidentObserved = 1,
    IncidentEnriched = 2,
    EffectRequested = 3,
    EffectSucceeded = 4,
    EffectFailed = 5,
    ClosedInSentinel = 6,
    Reopened = 7,
    Signl4ActionReceived = 8,
    WatermarkAdvanced = 9,
    ConnectorStarted = 10,
    EffectParked = 11,
    EffectCancelled = 12,
    /// Defender XDR merges (41: far from the next free numbers, which other features take).
    IncidentMerged = 41,
}

impl Kind {
    /// Every kind, for fixtures and exhaustive tests.
    pub const ALL: [Kind; 13] = [
        Kind::IncidentObserved,
        Kind::IncidentEnriched,
        Kind::EffectRequested,
        Kind::EffectSucceeded,
        Kind::EffectFailed,
        Kind::ClosedInSentinel,
        Kind::Reopened,
        Kind::Signl4ActionReceived,
        Kind::WatermarkAdvanced,
        Kind::ConnectorStarted,
        Kind::EffectParked,
        Kind::EffectCancelled,
        Kind::IncidentMerged,
    ];

    /// The kind stored as `number`, if this build knows it.
    pub fn from_number(number: u16) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u16 == number)
    }

    /// The name used in the audit tool and exports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::IncidentObserved => "IncidentObserved",
            Kind::IncidentEnriched => "IncidentEnriched",
            Kind::EffectRequested => "EffectRequested",
            Kind::EffectSucceeded => "EffectSucceeded",
            Kind::EffectFailed => "EffectFailed",
            Kind::ClosedInSentinel => "ClosedInSentinel",
            Kind::Reopened => "Reopened",
            Kind::Signl4ActionReceived => "Signl4ActionReceived",
            Kind::WatermarkAdvanced => "WatermarkAdvanced",
            Kind::ConnectorStarted => "ConnectorStarted",
            Kind::EffectParked => "EffectParked",
            Kind::EffectCancelled => "EffectCancelled",
            Kind::IncidentMerged => "IncidentMerged",
        }
    }

    /// The version this build writes for the kind.
    pub fn current_version(self) -> u16 {
        match self {
            // v2: the raw JSON stored once per change (v2::RawJson).
            Kind::IncidentObserved => 2,
            _ => 1,
        }
    }
}

/// Every transition the log records, in its current shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Event {
    IncidentObserved(IncidentObserved),
    IncidentEnriched(IncidentEnriched),
    EffectRequested(EffectRequested),
    EffectSucceeded(EffectSucceeded),
    EffectFailed(EffectFailed),
    ClosedInSentinel(ClosedInSentinel),
    Reopened(Reopened),
    Signl4ActionReceived(Signl4ActionReceived),
    WatermarkAdvanced(WatermarkAdvanced),
    ConnectorStarted(ConnectorStarted),
    EffectParked(EffectParked),
    EffectCancelled(EffectCancelled),
    IncidentMerged(IncidentMerged),
}

/// Why a payload could not be decoded.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum PayloadError {
    /// Written by a newer build, or corrupt kind/version fields.
    #[error("unknown event kind {kind} version {version} (written by a newer build?)")]
    Unknown { kind: u16, version: u16 },
    /// The bytes do not match the frozen struct.
    #[error("{kind} v{version} payload does not decode: {reason}")]
    Malformed {
        kind: &'static str,
        version: u16,
        reason: String,
    },
}

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_PAYLOAD_BYTES>,
> {
    bincode::config::standard().with_limit::<MAX_PAYLOAD_BYTES>()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding an owned struct of strings, numbers and enums into a Vec cannot fail; the limit
    // only guards decoding. A failure here is a programming error in a payload type.
    bincode::serde::encode_to_vec(value, config()).expect("event payloads always encode")
}

fn decode<T: serde::de::DeserializeOwned>(
    kind: Kind,
    version: u16,
    bytes: &[u8],
) -> Result<T, PayloadError> {
    let malformed = |reason: String| PayloadError::Malformed {
        kind: kind.name(),
        version,
        reason,
    };
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| malformed(e.to_string()))?;
    if read != bytes.len() {
        return Err(malformed(format!(
            "{} trailing bytes after {read}",
            bytes.len() - read
        )));
    }
    Ok(value)
}

/// An event's payload bytes, and whether it is a keyframe observation (one whose raw JSON
/// decodes alone, so a later observation of the incident may be stored against it).
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedPayload {
    pub bytes: Vec<u8>,
    pub keyframe: bool,
}

/// The v2 stored form of an observation.
fn observed_v2(e: &IncidentObserved, keyframe: Option<Keyframe<'_>>) -> v2::IncidentObserved {
    v2::IncidentObserved {
        source: e.source,
        name: e.name.clone(),
        etag: e.etag.clone(),
        incident_number: e.incident_number,
        title: e.title.clone(),
        severity: e.severity.clone(),
        status: e.status.clone(),
        owner: e.owner.clone(),
        created_ms: e.created_ms,
        last_modified_ms: e.last_modified_ms,
        incident_url: e.incident_url.clone(),
        labels: e.labels.clone(),
        raw: raw::store(&e.raw_json, keyframe),
    }
}

/// Upcast of a v2 observation: its raw JSON read back (through `bases` for a delta).
fn observed_from_v2(
    e: v2::IncidentObserved,
    bases: &mut dyn RawBases,
    at: RecordAt,
) -> Result<IncidentObserved, PayloadError> {
    let raw_json = raw::load(e.raw, bases, at).map_err(|reason| PayloadError::Malformed {
        kind: Kind::IncidentObserved.name(),
        version: 2,
        reason,
    })?;
    Ok(IncidentObserved {
        source: e.source,
        name: e.name,
        etag: e.etag,
        incident_number: e.incident_number,
        title: e.title,
        severity: e.severity,
        status: e.status,
        owner: e.owner,
        created_ms: e.created_ms,
        last_modified_ms: e.last_modified_ms,
        incident_url: e.incident_url,
        labels: e.labels,
        raw_json,
    })
}

impl Event {
    /// The kind of this event.
    pub fn kind(&self) -> Kind {
        match self {
            Event::IncidentObserved(_) => Kind::IncidentObserved,
            Event::IncidentEnriched(_) => Kind::IncidentEnriched,
            Event::EffectRequested(_) => Kind::EffectRequested,
            Event::EffectSucceeded(_) => Kind::EffectSucceeded,
            Event::EffectFailed(_) => Kind::EffectFailed,
            Event::ClosedInSentinel(_) => Kind::ClosedInSentinel,
            Event::Reopened(_) => Kind::Reopened,
            Event::Signl4ActionReceived(_) => Kind::Signl4ActionReceived,
            Event::WatermarkAdvanced(_) => Kind::WatermarkAdvanced,
            Event::ConnectorStarted(_) => Kind::ConnectorStarted,
            Event::EffectParked(_) => Kind::EffectParked,
            Event::EffectCancelled(_) => Kind::EffectCancelled,
            Event::IncidentMerged(_) => Kind::IncidentMerged,
        }
    }

    /// The payload bytes in the current version of the kind, an observation as a keyframe.
    pub fn encode_payload(&self) -> Vec<u8> {
        self.encode_payload_against(None).bytes
    }

    /// The payload bytes in the current version of the kind; an observation's raw JSON is
    /// stored against `keyframe` (the same incident's last keyframe observation) when that pays.
    pub fn encode_payload_against(&self, keyframe: Option<Keyframe<'_>>) -> EncodedPayload {
        if let Event::IncidentObserved(e) = self {
            let stored = observed_v2(e, keyframe);
            return EncodedPayload {
                keyframe: raw::is_keyframe(&stored.raw),
                bytes: encode(&stored),
            };
        }
        let bytes = match self {
            Event::IncidentObserved(_) => unreachable!("handled above"),
            Event::IncidentEnriched(e) => encode(e),
            Event::EffectRequested(e) => encode(e),
            Event::EffectSucceeded(e) => encode(e),
            Event::EffectFailed(e) => encode(e),
            Event::ClosedInSentinel(e) => encode(e),
            Event::Reopened(e) => encode(e),
            Event::Signl4ActionReceived(e) => encode(e),
            Event::WatermarkAdvanced(e) => encode(e),
            Event::ConnectorStarted(e) => encode(e),
            Event::EffectParked(e) => encode(e),
            Event::EffectCancelled(e) => encode(e),
            Event::IncidentMerged(e) => encode(e),
        };
        EncodedPayload {
            bytes,
            keyframe: false,
        }
    }

    /// Decodes a stored payload of `(kind, version)`, upcasting old versions; a delta-stored
    /// raw JSON is an error (see [`Event::decode_payload_with`]).
    pub fn decode_payload(kind: u16, version: u16, bytes: &[u8]) -> Result<Event, PayloadError> {
        let nowhere = RecordAt {
            seq: 0,
            tenant: TenantId(uuid::Uuid::nil()),
            incident: IncidentKey::TENANT_STREAM,
        };
        Event::decode_payload_with(kind, version, bytes, &mut NoBases, nowhere)
    }

    /// Decodes a stored payload of `(kind, version)` of the record `at`, upcasting old
    /// versions and reading a delta-stored raw JSON through `bases`.
    pub fn decode_payload_with(
        kind: u16,
        version: u16,
        bytes: &[u8],
        bases: &mut dyn RawBases,
        at: RecordAt,
    ) -> Result<Event, PayloadError> {
        let unknown = PayloadError::Unknown { kind, version };
        let Some(kind) = Kind::from_number(kind) else {
            return Err(unknown);
        };
        // One arm per (kind, version) ever written. When a kind gets a v2, its v1 arm becomes
        // `decode::<v1::X>(..).map(upcast_x_v1_to_v2)` and a v2 arm is added.
        Ok(match (kind, version) {
            (Kind::IncidentObserved, 1) => Event::IncidentObserved(decode(kind, 1, bytes)?),
            (Kind::IncidentObserved, 2) => {
                let stored: v2::IncidentObserved = decode(kind, 2, bytes)?;
                let keyframe = raw::is_keyframe(&stored.raw);
                let observed = observed_from_v2(stored, bases, at)?;
                if keyframe {
                    bases.decoded_keyframe(at.seq, at.tenant, at.incident, &observed.raw_json);
                }
                Event::IncidentObserved(observed)
            }
            (Kind::IncidentEnriched, 1) => Event::IncidentEnriched(decode(kind, 1, bytes)?),
            (Kind::EffectRequested, 1) => Event::EffectRequested(decode(kind, 1, bytes)?),
            (Kind::EffectSucceeded, 1) => Event::EffectSucceeded(decode(kind, 1, bytes)?),
            (Kind::EffectFailed, 1) => Event::EffectFailed(decode(kind, 1, bytes)?),
            (Kind::ClosedInSentinel, 1) => Event::ClosedInSentinel(decode(kind, 1, bytes)?),
            (Kind::Reopened, 1) => Event::Reopened(decode(kind, 1, bytes)?),
            (Kind::Signl4ActionReceived, 1) => Event::Signl4ActionReceived(decode(kind, 1, bytes)?),
            (Kind::WatermarkAdvanced, 1) => Event::WatermarkAdvanced(decode(kind, 1, bytes)?),
            (Kind::ConnectorStarted, 1) => Event::ConnectorStarted(decode(kind, 1, bytes)?),
            (Kind::EffectParked, 1) => Event::EffectParked(decode(kind, 1, bytes)?),
            (Kind::EffectCancelled, 1) => Event::EffectCancelled(decode(kind, 1, bytes)?),
            (Kind::IncidentMerged, 1) => Event::IncidentMerged(decode(kind, 1, bytes)?),
            _ => return Err(unknown),
        })
    }

    /// The effect this event opens (an intent), if any.
    pub fn opens_effect(&self) -> Option<EffectId> {
        match self {
            Event::EffectRequested(e) => Some(e.effect_id),
            _ => None,
        }
    }

    /// The effect this event closes (an outcome), if any.
    pub fn closes_effect(&self) -> Option<EffectId> {
        match self {
            Event::EffectSucceeded(e) => Some(e.effect_id),
            Event::EffectFailed(e) => Some(e.effect_id),
            Event::EffectCancelled(e) => Some(e.effect_id),
            _ => None,
        }
    }

    /// The payload as JSON, for exports and `audit --json`.
    pub fn payload_json(&self) -> serde_json::Value {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        // Externally tagged: {"Kind": {...}} -> {...}
        match value {
            serde_json::Value::Object(mut map) if map.len() == 1 => map
                .remove(self.kind().name())
                .unwrap_or(serde_json::Value::Null),
            other => other,
        }
    }

    /// One line for the audit timeline.
    pub fn summary(&self) -> String {
        match self {
            Event::IncidentObserved(e) => format!(
                "#{} {} {} {:?} owner={} etag={}",
                e.incident_number,
                e.status,
                e.severity,
                e.title,
                e.owner.as_deref().unwrap_or("-"),
                e.etag
            ),
            Event::IncidentEnriched(e) => format!(
                "{} alerts, {} entities, products [{}], tactics [{}]{}",
                e.alert_count,
                e.entity_count,
                e.products.join(", "),
                e.tactics.join(", "),
                if e.missing.is_empty() {
                    String::new()
                } else {
                    format!(", missing: {}", e.missing.join("; "))
                }
            ),
            Event::EffectRequested(e) => {
                format!(
                    "intent {} {}",
                    short(e.effect_id),
                    effect_summary(&e.effect)
                )
            }
            Event::EffectSucceeded(e) => {
                format!(
                    "outcome {} {}",
                    short(e.effect_id),
                    result_summary(&e.result)
                )
            }
            Event::EffectFailed(e) => format!(
                "outcome {} failed after {} attempts: {}",
                short(e.effect_id),
                e.attempts,
                e.reason
            ),
            Event::EffectParked(e) => format!(
                "parked {} after {} attempts, waiting for an operator: {}",
                short(e.effect_id),
                e.attempts,
                e.reason
            ),
            Event::EffectCancelled(e) => {
                format!("outcome {} cancelled: {}", short(e.effect_id), e.reason)
            }
            Event::ClosedInSentinel(e) => format!(
                "closed in Sentinel (owner {})",
                e.owner.as_deref().unwrap_or("-")
            ),
            Event::Reopened(e) => format!("reopened as {}, round {}", e.status, e.round),
            Event::Signl4ActionReceived(e) => {
                let who = e
                    .user_email
                    .as_deref()
                    .or(e.user_name.as_deref())
                    .unwrap_or("SIGNL4");
                match &e.action {
                    Signl4Action::Acknowledged => format!("SIGNL4: acknowledged by {who}"),
                    Signl4Action::Closed => format!("SIGNL4: closed by {who}"),
                    Signl4Action::Annotated { text } => {
                        format!("SIGNL4: {who} annotated {text:?}")
                    }
                }
            }
            Event::WatermarkAdvanced(e) => format!(
                "watermark {} ms, max incident #{}",
                e.watermark_ms, e.max_incident_number
            ),
            Event::ConnectorStarted(e) => {
                format!(
                    "connector {:?} started ({:?}, {})",
                    e.name, e.source, e.build
                )
            }
            Event::IncidentMerged(e) => format!(
                "merged in Defender into incident #{} ({}), {}",
                e.into_number,
                e.into_name,
                if e.survivor_paged {
                    "which has its own Signl: this one is resolved"
                } else {
                    "which has no Signl: this one now stands for it"
                }
            ),
        }
    }
}

fn short(id: EffectId) -> String {
    id.to_string()[..8].to_string()
}

fn effect_summary(effect: &Effect) -> String {
    match effect {
        Effect::RaiseSignl { round, .. } => format!("raise Signl (round {round})"),
        Effect::TagIncident { label } => format!("tag incident {label:?}"),
        Effect::AcknowledgeIncident {
            owner, set_active, ..
        } => format!(
            "acknowledge incident (owner {}, active {set_active})",
            owner.as_deref().unwrap_or("-")
        ),
        Effect::CloseIncident {
            classification,
            classification_reason,
            ..
        } => format!(
            "close incident as {classification}/{}",
            classification_reason.as_deref().unwrap_or("-")
        ),
        Effect::WriteComment {
            comment_id,
            message,
        } => format!("comment {comment_id}: {message:?}"),
        Effect::ResolveSignl { round, .. } => format!("resolve Signl (round {round})"),
        Effect::AcknowledgeSignl { round, .. } => format!("acknowledge Signl (round {round})"),
        Effect::AnnotateSignl { signl_id, text, .. } => {
            format!("annotate Signl {signl_id}: {text:?}")
        }
    }
}

fn result_summary(result: &EffectResult) -> String {
    match result {
        EffectResult::SignlRaised { event_id } => format!("Signl raised, eventId {event_id}"),
        EffectResult::SignlRaisedUnverified { event_id } => {
            format!("Signl re-raised without a check (at-least-once), eventId {event_id}")
        }
        EffectResult::IncidentWritten { etag } => format!("incident written, etag {etag}"),
        EffectResult::CommentWritten { etag } => format!("comment written, etag {etag}"),
        EffectResult::Signl4Accepted { reference } => format!("SIGNL4 accepted ({reference})"),
        EffectResult::AlreadyDone { detail } => format!("already done: {detail}"),
    }
}
