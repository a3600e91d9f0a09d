//! Version 2 payloads, frozen (the same rules as [`super::v1`]: never edit, reorder or remove a
//! field or a variant; new meaning gets a new version and an upcast).
//!
//! `IncidentObserved` v2 carries the fields of v1 with the raw incident JSON stored once per
//! change ([`RawJson`]): an observation whose JSON differs little from the incident's last
//! keyframe stores only an LZ4 block compressed against it. The decoded event is the same
//! [`super::IncidentObserved`] as before, with the full JSON: readers never see the storage.
//!
//! Golden fixtures: `store/tests/fixtures/events/incident_observed_v2*.bin`.

use serde::{Deserialize, Serialize};

use super::v1::Source;

/// The Poller saw an incident, new or changed (v2: the raw JSON as a [`RawJson`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentObserved {
    pub source: Source,
    pub name: String,
    pub etag: String,
    pub incident_number: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub owner: Option<String>,
    pub created_ms: i64,
    pub last_modified_ms: i64,
    pub incident_url: String,
    pub labels: Vec<String>,
    /// The incident exactly as received, stored once per change.
    pub raw: RawJson,
}

/// How an observation stores the incident's raw JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RawJson {
    /// As received (short, or it did not compress). A keyframe.
    Plain(String),
    /// An LZ4 block of the JSON, `len` bytes once decompressed. A keyframe.
    Lz4 { len: u32, block: Block },
    /// An LZ4 block compressed with, as its dictionary, the raw JSON of the keyframe observation
    /// of the same incident at `base_seq` (a `Plain` or `Lz4` one, never another delta, so a
    /// read needs at most one other record). `len` bytes once decompressed.
    Delta {
        base_seq: u64,
        len: u32,
        block: Block,
    },
}

/// Compressed bytes. On the wire exactly what a `Vec<u8>` is in bincode (its length, then the
/// bytes), but read and written as one slice instead of byte by byte (serde's bytes path), which
/// keeps replay fast.
#[derive(Clone, Debug, PartialEq)]
pub struct Block(pub Vec<u8>);

impl Serialize for Block {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Block {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Block, D::Error> {
        /// Takes the bytes as the format hands them.
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = Block;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("compressed bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Block, E> {
                Ok(Block(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Block, E> {
                Ok(Block(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Block, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(byte) = seq.next_element::<u8>()? {
                    out.push(byte);
                }
                Ok(Block(out))
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
    }
}
