//! Storing an observation's raw incident JSON once per change, and reading it back.
//!
//! Invariants:
//! - A keyframe ([`RawJson::Plain`] or [`RawJson::Lz4`]) decodes alone. A [`RawJson::Delta`]
//!   decodes with the raw JSON of its base, a keyframe observation of the same tenant and
//!   incident at a lower seq, found through [`RawBases`]; a missing or mismatched base is an
//!   error naming the base's seq, never a guess.
//! - Every decompressed length is declared up front, checked against
//!   [`super::MAX_PAYLOAD_BYTES`] before anything is allocated, and must match exactly.
//! - The writer chooses the smallest honest form: a delta only when it is at most half the size
//!   of a fresh compressed keyframe (otherwise the incident changed enough to start a new one).

use super::v2::{Block, RawJson};
use super::MAX_PAYLOAD_BYTES;
use crate::ids::{IncidentKey, TenantId};

/// Raw JSON shorter than this is stored as it is: LZ4 would not pay for its block header.
const COMPRESS_FROM: usize = 128;

/// Where a delta finds its base: the raw JSON recorded by the keyframe observation at a seq.
pub trait RawBases {
    /// The raw JSON of the keyframe observation at `seq`, which must belong to `tenant` and
    /// `incident`; or why it cannot be had (said in words, for an error naming the record).
    fn keyframe(
        &mut self,
        seq: u64,
        tenant: TenantId,
        incident: IncidentKey,
    ) -> Result<&str, String>;

    /// Told of every keyframe as it is decoded (a pass over the log meets a keyframe before the
    /// deltas that refer to it, so a reader that keeps it need not read it again).
    fn decoded_keyframe(&mut self, seq: u64, tenant: TenantId, incident: IncidentKey, raw: &str);
}

/// The record being decoded: its seq, and its stream (which a delta's base must share).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecordAt {
    pub seq: u64,
    pub tenant: TenantId,
    pub incident: IncidentKey,
}

/// No bases: decoding a delta fails, saying it must be read through the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBases;

impl RawBases for NoBases {
    fn keyframe(&mut self, seq: u64, _: TenantId, _: IncidentKey) -> Result<&str, String> {
        Err(format!(
            "its raw JSON is a delta against seq {seq}, which this reader cannot reach (read it through the log)"
        ))
    }

    fn decoded_keyframe(&mut self, _: u64, _: TenantId, _: IncidentKey, _: &str) {}
}

/// The keyframe an observation may be stored against: the same incident's observation at
/// `seq`, stored as a keyframe, which recorded `raw_json`.
#[derive(Clone, Copy, Debug)]
pub struct Keyframe<'a> {
    pub seq: u64,
    pub raw_json: &'a str,
}

/// The stored form of `raw_json`, against `keyframe` when that pays.
pub fn store(raw_json: &str, keyframe: Option<Keyframe<'_>>) -> RawJson {
    if raw_json.len() < COMPRESS_FROM {
        return RawJson::Plain(raw_json.to_string());
    }
    let alone = lz4_flex::block::compress(raw_json.as_bytes());
    if let Some(base) = keyframe {
        let delta =
            lz4_flex::block::compress_with_dict(raw_json.as_bytes(), base.raw_json.as_bytes());
        if delta.len() * 2 <= alone.len() {
            return RawJson::Delta {
                base_seq: base.seq,
                len: raw_json.len() as u32,
                block: Block(delta),
            };
        }
    }
    if alone.len() < raw_json.len() {
        RawJson::Lz4 {
            len: raw_json.len() as u32,
            block: Block(alone),
        }
    } else {
        RawJson::Plain(raw_json.to_string())
    }
}

/// True when `raw` decodes alone (a base for later deltas).
pub fn is_keyframe(raw: &RawJson) -> bool {
    !matches!(raw, RawJson::Delta { .. })
}

/// The raw JSON of a stored form in the record `at`.
pub fn load(raw: RawJson, bases: &mut dyn RawBases, at: RecordAt) -> Result<String, String> {
    let (len, block, dict) = match raw {
        RawJson::Plain(json) => return Ok(json),
        RawJson::Lz4 { len, block } => (len, block, None),
        RawJson::Delta {
            base_seq,
            len,
            block,
        } => {
            let base = bases
                .keyframe(base_seq, at.tenant, at.incident)
                .map_err(|why| format!("raw JSON base seq {base_seq}: {why}"))?;
            (len, block, Some(base))
        }
    };
    let len = len as usize;
    if len > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "raw JSON declares {len} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit"
        ));
    }
    let bytes = match dict {
        None => lz4_flex::block::decompress(&block.0, len),
        Some(base) => lz4_flex::block::decompress_with_dict(&block.0, len, base.as_bytes()),
    }
    .map_err(|e| format!("raw JSON does not decompress: {e}"))?;
    if bytes.len() != len {
        return Err(format!(
            "raw JSON decompressed to {} bytes, {len} declared",
            bytes.len()
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("raw JSON is not UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct One(u64, String);
    impl RawBases for One {
        fn keyframe(&mut self, seq: u64, _: TenantId, _: IncidentKey) -> Result<&str, String> {
            if seq == self.0 {
                Ok(&self.1)
            } else {
                Err(format!("no record at {seq}"))
            }
        }

        fn decoded_keyframe(&mut self, _: u64, _: TenantId, _: IncidentKey, _: &str) {}
    }

    fn json(etag: u32, status: &str) -> String {
        format!(
            r#"{{"name":"73e01a99-5cd7-4139-a149-9f2736ff2ab5","etag":"\"{etag:08x}\"","properties":{{"title":"Multiple failed sign-ins followed by a success","status":"{status}","severity":"High","description":"A user account had many failed sign-ins from an unfamiliar location followed by a success.","labels":[]}}}}"#
        )
    }

    fn stream() -> RecordAt {
        RecordAt {
            seq: 10,
            tenant: TenantId::from_name("t"),
            incident: IncidentKey::TENANT_STREAM,
        }
    }

    #[test]
    fn a_small_change_is_a_small_delta_and_reads_back() {
        let first = json(1, "New");
        let second = json(2, "Active");
        let stored = store(
            &second,
            Some(Keyframe {
                seq: 7,
                raw_json: &first,
            }),
        );
        let RawJson::Delta {
            base_seq: 7, block, ..
        } = &stored
        else {
            panic!("expected a delta, got {stored:?}");
        };
        assert!(block.0.len() * 4 < second.len(), "{} bytes", block.0.len());
        let mut bases = One(7, first);
        assert_eq!(load(stored, &mut bases, stream()).unwrap(), second);
    }

    #[test]
    fn keyframes_read_alone_and_a_delta_names_its_missing_base() {
        let first = json(1, "New");
        let stored = store(&first, None);
        assert!(is_keyframe(&stored));
        assert_eq!(load(stored, &mut NoBases, stream()).unwrap(), first);
        assert_eq!(
            load(store("{}", None), &mut NoBases, stream()).unwrap(),
            "{}"
        );
        let delta = store(
            &json(2, "New"),
            Some(Keyframe {
                seq: 9,
                raw_json: &first,
            }),
        );
        let error = load(delta, &mut NoBases, stream()).unwrap_err();
        assert!(error.contains("seq 9"), "{error}");
    }

    proptest::proptest! {
        /// A damaged block (any bytes, any declared length, any base) is an error or a string,
        /// never a panic: LZ4's bounds checks stay on (its `checked-decode` feature).
        #[test]
        fn any_block_reads_back_or_fails_without_a_panic(
            block: Vec<u8>,
            len in 0u32..4096,
            base in "[ -~]{0,300}",
        ) {
            let mut bases = One(3, base);
            let lz4 = RawJson::Lz4 { len, block: Block(block.clone()) };
            let delta = RawJson::Delta { base_seq: 3, len, block: Block(block) };
            let read = [load(lz4, &mut bases, stream()), load(delta, &mut bases, stream())];
            for json in read.into_iter().flatten() {
                proptest::prop_assert_eq!(json.len(), len as usize);
            }
        }
    }

    #[test]
    fn a_declared_length_over_the_limit_or_wrong_is_refused() {
        let over = RawJson::Lz4 {
            len: u32::MAX,
            block: Block(vec![0]),
        };
        assert!(load(over, &mut NoBases, stream())
            .unwrap_err()
            .contains("limit"));
        let RawJson::Lz4 { block, len } = store(&json(1, "New"), None) else {
            panic!("expected lz4");
        };
        let wrong = RawJson::Lz4 {
            len: len - 1,
            block,
        };
        assert!(load(wrong, &mut NoBases, stream()).is_err());
    }
}
