//! The envelope: how one event is laid out as a record of the `events` tree.
//!
//! Format 2 (written by this build) is a fixed 86-byte header, the causation id when there is
//! one, then the payload (bincode of the frozen struct of `(kind, version)`), all integers
//! big-endian:
//!
//! | offset | size | field                                                      |
//! |-------:|-----:|------------------------------------------------------------|
//! |      0 |    1 | format (= 2)                                               |
//! |      1 |    8 | seq (equals the record's key)                              |
//! |      9 |   16 | event id (uuid v7)                                         |
//! |     25 |    8 | recorded at, ms since the epoch (audit only, never order)  |
//! |     33 |   16 | tenant                                                     |
//! |     49 |   16 | incident (nil for the tenant stream)                       |
//! |     65 |    1 | flags: bit 0 a causation id follows the header, bit 1 the payload is compressed |
//! |     66 |   16 | correlation id                                             |
//! |     82 |    2 | kind                                                       |
//! |     84 |    2 | version                                                    |
//! |     86 |   16 | causation id, only with flag bit 0                         |
//! |  86/102|    n | payload; with flag bit 1: its length (u32) then an LZ4 block of it |
//!
//! Format 1 (written by earlier builds, read forever) is the same up to offset 65, then a
//! causation flag byte (0 or 1), the causation id (zeros when absent) at 66, the correlation
//! id at 82, kind at 98, version at 100 and the payload, never compressed, at 102.
//!
//! Invariants: the header is fixed-width up to the optional causation id, so a record can be
//! inspected without decoding its payload; tenant and incident sit at the same offsets in both
//! formats. A record with another format byte or an unknown flag bit is refused, naming it,
//! rather than misread. A compressed payload declares its length, which is checked against
//! [`MAX_PAYLOAD_BYTES`] before anything is allocated and must match exactly. A new header
//! layout gets a new format byte.

use std::borrow::Cow;

use uuid::Uuid;

use crate::events::{
    Event, Keyframe, NoBases, PayloadError, RawBases, RecordAt, MAX_PAYLOAD_BYTES,
};
use crate::ids::{IncidentKey, TenantId};

/// The envelope format this build writes.
pub const FORMAT: u8 = 2;
/// The format of earlier builds, still read.
pub const FORMAT_1: u8 = 1;
/// Size of the fixed header of format 2 (the causation id, when present, follows it).
pub const HEADER_LEN: usize = 86;
/// Size of the header of format 1.
pub const HEADER_LEN_1: usize = 102;

/// Flag bit: a causation id follows the fixed header.
const FLAG_CAUSATION: u8 = 1;
/// Flag bit: the payload is `len:u32 ‖ LZ4 block`.
const FLAG_COMPRESSED: u8 = 2;

/// Payloads shorter than this are stored as they are: LZ4 would not pay for its header.
const COMPRESS_FROM: usize = 256;

/// Why a record could not be read.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum EnvelopeError {
    /// Shorter than its header.
    #[error("record is {0} bytes, shorter than its header")]
    Truncated(usize),
    /// Another envelope format.
    #[error(
        "envelope format {0} is not supported by this build (it reads formats 1 and {FORMAT})"
    )]
    Format(u8),
    /// A bad causation flag (format 1).
    #[error("causation flag is {0}, expected 0 or 1")]
    CausationFlag(u8),
    /// Flag bits this build does not know (format 2).
    #[error("header flags {0:#04x} hold bits this build does not know")]
    Flags(u8),
    /// A compressed payload that does not decompress to its declared length.
    #[error("compressed payload: {0}")]
    Compressed(String),
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
    /// The payload section is `len:u32 ‖ LZ4 block` (format 2, flag bit 1).
    pub compressed: bool,
}

/// One event's record bytes, as the writer commits them.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedRecord {
    /// The envelope bytes.
    pub bytes: Vec<u8>,
    /// The payload's length before compression (what decoding is bounded by).
    pub payload_len: usize,
    /// An observation stored as a keyframe (see [`crate::events::raw`]).
    pub keyframe: bool,
}

impl StoredEvent {
    /// The record bytes of this event (an observation as a keyframe).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_against(None).bytes
    }

    /// The record bytes of this event, an observation's raw JSON stored against `keyframe` when
    /// that pays, the payload compressed when that pays.
    pub fn encode_against(&self, keyframe: Option<Keyframe<'_>>) -> EncodedRecord {
        let payload = self.event.encode_payload_against(keyframe);
        let payload_len = payload.bytes.len();
        let compressed = (payload_len >= COMPRESS_FROM)
            .then(|| lz4_flex::block::compress(&payload.bytes))
            // Worth it only when it saves a tenth, so a read rarely decompresses for nothing.
            .filter(|block| (block.len() + 4) * 10 <= payload_len * 9);
        let kind = self.event.kind();
        let mut flags = 0;
        if self.causation.is_some() {
            flags |= FLAG_CAUSATION;
        }
        if compressed.is_some() {
            flags |= FLAG_COMPRESSED;
        }
        let mut out = Vec::with_capacity(HEADER_LEN + 16 + payload_len);
        out.push(FORMAT);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(self.event_id.as_bytes());
        out.extend_from_slice(&self.recorded_at_ms.to_be_bytes());
        out.extend_from_slice(self.tenant.0.as_bytes());
        out.extend_from_slice(self.incident.0.as_bytes());
        out.push(flags);
        out.extend_from_slice(self.correlation.as_bytes());
        out.extend_from_slice(&(kind as u16).to_be_bytes());
        out.extend_from_slice(&kind.current_version().to_be_bytes());
        if let Some(causation) = self.causation {
            out.extend_from_slice(causation.as_bytes());
        }
        match compressed {
            Some(block) => {
                out.extend_from_slice(&(payload_len as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            None => out.extend_from_slice(&payload.bytes),
        }
        EncodedRecord {
            bytes: out,
            payload_len,
            keyframe: payload.keyframe,
        }
    }

    /// Decodes a whole record that needs no other (an observation stored as a delta is an
    /// error: read it through the log, [`StoredEvent::decode_with`]).
    pub fn decode(bytes: &[u8]) -> Result<StoredEvent, EnvelopeError> {
        StoredEvent::decode_with(bytes, &mut NoBases)
    }

    /// Decodes a whole record, reading a delta-stored raw JSON's base through `bases`.
    pub fn decode_with(
        bytes: &[u8],
        bases: &mut dyn RawBases,
    ) -> Result<StoredEvent, EnvelopeError> {
        let (header, section) = Header::read(bytes)?;
        let payload = header.payload(section)?;
        let event = Event::decode_payload_with(
            header.kind,
            header.version,
            &payload,
            bases,
            RecordAt {
                seq: header.seq,
                tenant: header.tenant,
                incident: header.incident,
            },
        )?;
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
    /// Splits a record into its header and its payload section (compressed when
    /// [`Header::compressed`]; [`Header::payload`] gives the payload).
    pub fn read(bytes: &[u8]) -> Result<(Header, &[u8]), EnvelopeError> {
        let Some(&format) = bytes.first() else {
            return Err(EnvelopeError::Truncated(0));
        };
        let fixed = match format {
            FORMAT => HEADER_LEN,
            FORMAT_1 => HEADER_LEN_1,
            other => return Err(EnvelopeError::Format(other)),
        };
        if bytes.len() < fixed {
            return Err(EnvelopeError::Truncated(bytes.len()));
        }
        let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
        let uuid_at = |at: usize| Uuid::from_bytes(bytes[at..at + 16].try_into().unwrap());
        let u16_at = |at: usize| u16::from_be_bytes(bytes[at..at + 2].try_into().unwrap());
        let mut header = Header {
            seq: u64_at(1),
            event_id: uuid_at(9),
            recorded_at_ms: u64_at(25) as i64,
            tenant: TenantId(uuid_at(33)),
            incident: IncidentKey(uuid_at(49)),
            causation: None,
            correlation: Uuid::nil(),
            kind: 0,
            version: 0,
            compressed: false,
        };
        if format == FORMAT_1 {
            header.causation = match bytes[65] {
                0 => None,
                1 => Some(uuid_at(66)),
                flag => return Err(EnvelopeError::CausationFlag(flag)),
            };
            header.correlation = uuid_at(82);
            header.kind = u16_at(98);
            header.version = u16_at(100);
            return Ok((header, &bytes[HEADER_LEN_1..]));
        }
        let flags = bytes[65];
        if flags & !(FLAG_CAUSATION | FLAG_COMPRESSED) != 0 {
            return Err(EnvelopeError::Flags(flags));
        }
        header.correlation = uuid_at(66);
        header.kind = u16_at(82);
        header.version = u16_at(84);
        header.compressed = flags & FLAG_COMPRESSED != 0;
        let mut at = HEADER_LEN;
        if flags & FLAG_CAUSATION != 0 {
            if bytes.len() < at + 16 {
                return Err(EnvelopeError::Truncated(bytes.len()));
            }
            header.causation = Some(uuid_at(at));
            at += 16;
        }
        Ok((header, &bytes[at..]))
    }

    /// The payload of a record's payload section (decompressed when it is compressed).
    pub fn payload<'a>(&self, section: &'a [u8]) -> Result<Cow<'a, [u8]>, EnvelopeError> {
        if !self.compressed {
            return Ok(Cow::Borrowed(section));
        }
        let bad = |why: String| EnvelopeError::Compressed(why);
        let Some((len, block)) = section.split_first_chunk::<4>() else {
            return Err(bad(format!("{} bytes, no length", section.len())));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > MAX_PAYLOAD_BYTES {
            return Err(bad(format!(
                "declares {len} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit"
            )));
        }
        let payload = lz4_flex::block::decompress(block, len)
            .map_err(|e| bad(format!("does not decompress: {e}")))?;
        if payload.len() != len {
            return Err(bad(format!(
                "decompressed to {} bytes, {len} declared",
                payload.len()
            )));
        }
        Ok(Cow::Owned(payload))
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
        newer[84..86].copy_from_slice(&9u16.to_be_bytes());
        assert_eq!(
            StoredEvent::decode(&newer),
            Err(EnvelopeError::Payload(PayloadError::Unknown {
                kind: 9,
                version: 9
            }))
        );
        let mut flagged = sample().encode();
        flagged[65] |= 0x80;
        assert_eq!(
            StoredEvent::decode(&flagged),
            Err(EnvelopeError::Flags(flagged[65]))
        );
    }

    fn large() -> StoredEvent {
        let text: String = (0..200).map(|i| format!("alert {i}, ")).collect();
        StoredEvent {
            causation: None,
            event: Event::IncidentEnriched(crate::events::IncidentEnriched {
                alert_count: 200,
                entity_count: 0,
                products: vec![],
                tactics: vec![],
                missing: vec![],
                alerts_json: text,
                entities_json: String::new(),
                search_json: String::new(),
            }),
            ..sample()
        }
    }

    #[test]
    fn a_large_payload_is_compressed_and_reads_back() {
        let event = large();
        let encoded = event.encode_against(None);
        let bytes = &encoded.bytes;
        assert_eq!(bytes[65], FLAG_COMPRESSED, "no causation, compressed");
        assert!(bytes.len() < HEADER_LEN + encoded.payload_len / 2);
        assert_eq!(StoredEvent::decode(bytes).unwrap(), event);
        // A small one is not, and without a causation id the header is 16 bytes shorter.
        let small = StoredEvent {
            causation: None,
            ..sample()
        };
        let bytes = small.encode();
        assert_eq!(bytes[65], 0);
        assert_eq!(bytes.len(), HEADER_LEN + small.event.encode_payload().len());
        assert_eq!(StoredEvent::decode(&bytes).unwrap(), small);
    }

    #[test]
    fn a_damaged_compressed_payload_is_refused_naming_why() {
        let bytes = large().encode();
        let cut = &bytes[..bytes.len() - 10];
        assert!(matches!(
            StoredEvent::decode(cut),
            Err(EnvelopeError::Compressed(_))
        ));
        let mut over = bytes.clone();
        over[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        let Err(EnvelopeError::Compressed(why)) = StoredEvent::decode(&over) else {
            panic!("expected a compression error");
        };
        assert!(why.contains("limit"), "{why}");
    }
}
