//! The envelope: how one event is laid out as a record of the `events` tree.
//!
//! Format 1 is a fixed 102-byte header followed by the payload (bincode of the frozen struct of
//! `(kind, version)`), all integers big-endian:
//!
//! | offset | size | field                                                     |
//! |-------:|-----:|-----------------------------------------------------------|
//! |      0 |    1 | format (= 1)                                              |
//! |      1 |    8 | seq (equals the record's key)                             |
//! |      9 |   16 | event id (uuid v7)                                        |
//! |     25 |    8 | recorded at, ms since the epoch (audit only, never order) |
//! |     33 |   16 | tenant                                                    |
//! |     49 |   16 | incident (nil for the tenant stream)                      |
//! |     65 |    1 | 1 if a causation id follows, else 0                       |
//! |     66 |   16 | causation id (zeros when absent)                          |
//! |     82 |   16 | correlation id                                            |
//! |     98 |    2 | kind                                                      |
//! |    100 |    2 | version                                                   |
//! |    102 |    n | payload                                                   |
//!
//! Invariants: the header is fixed-width so a record can be inspected (and the payload borrowed)
//! without decoding it; a record with another format byte is refused, naming the format, rather
//! than misread. A new header layout gets a new format byte.

use uuid::Uuid;

use crate::events::{Event, PayloadError};
use crate::ids::{IncidentKey, TenantId};

/// The envelope format this build writes and reads.
pub const FORMAT: u8 = 1;
/// Size of the fixed header of format 1.
pub const HEADER_LEN: usize = 102;

/// Why a record could not be read.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum EnvelopeError {
    /// Shorter than the header.
    #[error("record is {0} bytes, shorter than the {HEADER_LEN}-byte header")]
    Truncated(usize),
    /// Another envelope format.
    #[error("envelope format {0} is not supported by this build (it reads format {FORMAT})")]
    Format(u8),
    /// A bad causation flag.
    #[error("causation flag is {0}, expected 0 or 1")]
    CausationFlag(u8),
    /// The header's sequence number is not the record's key.
    #[error("header says seq {header} but the record is stored under seq {key}")]
    SeqMismatch { key: u64, header: u64 },
    /// The payload did not decode.
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// Caller-supplied metadata of the events one command produces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventMeta {
    /// The event (or inbound notification, as a v5 uuid) that caused this one.
    pub causation: Option<Uuid>,
    /// Groups every event of one flow (one poll, one webhook); random if `None`.
    pub correlation: Option<Uuid>,
    /// Deduplication key for inbound notifications; see [`crate::keys::inbox`].
    pub inbox_key: Option<Vec<u8>>,
}

/// One event as stored, with its position in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Position in the log: 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// Unique id, time-ordered (v7).
    pub event_id: Uuid,
    /// Wall-clock time of the append, for people; order is `seq`.
    pub recorded_at_ms: i64,
    /// The connector it belongs to.
    pub tenant: TenantId,
    /// The incident it belongs to, or [`IncidentKey::TENANT_STREAM`].
    pub incident: IncidentKey,
    /// What caused it.
    pub causation: Option<Uuid>,
    /// The flow it is part of.
    pub correlation: Uuid,
    /// The event itself.
    pub event: Event,
}

/// A record's header, read without decoding the payload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Header {
    pub seq: u64,
    pub event_id: Uuid,
    pub recorded_at_ms: i64,
    pub tenant: TenantId,
    pub incident: IncidentKey,
    pub causation: Option<Uuid>,
    pub correlation: Uuid,
    pub kind: u16,
    pub version: u16,
}

impl StoredEvent {
    /// The record bytes of this event.
    pub fn encode(&self) -> Vec<u8> {
        let payload = self.event.encode_payload();
        let kind = self.event.kind();
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(self.event_id.as_bytes());
        out.extend_from_slice(&self.recorded_at_ms.to_be_bytes());
        out.extend_from_slice(self.tenant.0.as_bytes());
        out.extend_from_slice(self.incident.0.as_bytes());
        out.push(u8::from(self.causation.is_some()));
        out.extend_from_slice(self.causation.unwrap_or_default().as_bytes());
        out.extend_from_slice(self.correlation.as_bytes());
        out.extend_from_slice(&(kind as u16).to_be_bytes());
        out.extend_from_slice(&kind.current_version().to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes a whole record.
    pub fn decode(bytes: &[u8]) -> Result<StoredEvent, EnvelopeError> {
        let (header, payload) = Header::read(bytes)?;
        let event = Event::decode_payload(header.kind, header.version, payload)?;
        Ok(StoredEvent {
            seq: header.seq,
            event_id: header.event_id,
            recorded_at_ms: header.recorded_at_ms,
            tenant: header.tenant,
            incident: header.incident,
            causation: header.causation,
            correlation: header.correlation,
            event,
        })
    }
}

impl Header {
    /// Splits a record into its header and its payload bytes.
    pub fn read(bytes: &[u8]) -> Result<(Header, &[u8]), EnvelopeError> {
        if bytes.is_empty() {
            return Err(EnvelopeError::Truncated(0));
        }
        if bytes[0] != FORMAT {
            return Err(EnvelopeError::Format(bytes[0]));
        }
        if bytes.len() < HEADER_LEN {
            return Err(EnvelopeError::Truncated(bytes.len()));
        }
        let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
        let uuid_at = |at: usize| Uuid::from_bytes(bytes[at..at + 16].try_into().unwrap());
        let u16_at = |at: usize| u16::from_be_bytes(bytes[at..at + 2].try_into().unwrap());
        let causation = match bytes[65] {
            0 => None,
            1 => Some(uuid_at(66)),
            flag => return Err(EnvelopeError::CausationFlag(flag)),
        };
        let header = Header {
            seq: u64_at(1),
            event_id: uuid_at(9),
            recorded_at_ms: u64_at(25) as i64,
            tenant: TenantId(uuid_at(33)),
            incident: IncidentKey(uuid_at(49)),
            causation,
            correlation: uuid_at(82),
            kind: u16_at(98),
            version: u16_at(100),
        };
        Ok((header, &bytes[HEADER_LEN..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::WatermarkAdvanced;

    fn sample() -> StoredEvent {
        StoredEvent {
            seq: 42,
            event_id: Uuid::now_v7(),
            recorded_at_ms: 1_700_000_000_123,
            tenant: TenantId::from_name("contoso"),
            incident: IncidentKey::TENANT_STREAM,
            causation: Some(Uuid::new_v4()),
            correlation: Uuid::new_v4(),
            event: Event::WatermarkAdvanced(WatermarkAdvanced {
                watermark_ms: 5,
                max_incident_number: 7,
            }),
        }
    }

    #[test]
    fn round_trips_and_keeps_the_header_fixed() {
        let event = sample();
        let bytes = event.encode();
        assert_eq!(bytes[0], FORMAT);
        assert_eq!(&bytes[1..9], &42u64.to_be_bytes());
        assert_eq!(StoredEvent::decode(&bytes).unwrap(), event);
    }

    #[test]
    fn refuses_other_formats_truncation_and_trailing_bytes() {
        let mut bytes = sample().encode();
        assert_eq!(
            StoredEvent::decode(&bytes[..50]),
            Err(EnvelopeError::Truncated(50))
        );
        bytes[0] = 9;
        assert_eq!(StoredEvent::decode(&bytes), Err(EnvelopeError::Format(9)));
        bytes[0] = FORMAT;
        bytes.push(0);
        assert!(matches!(
            StoredEvent::decode(&bytes),
            Err(EnvelopeError::Payload(PayloadError::Malformed { .. }))
        ));
        let mut newer = sample().encode();
        newer[100..102].copy_from_slice(&9u16.to_be_bytes());
        assert_eq!(
            StoredEvent::decode(&newer),
            Err(EnvelopeError::Payload(PayloadError::Unknown {
                kind: 9,
                version: 9
            }))
        );
    }
}
