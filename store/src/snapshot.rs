//! Snapshots: the projection at one sequence number, so that a restart replays only the tail.
//!
//! Invariants: a snapshot is a cache, never the truth. It starts with [`SNAPSHOT_FORMAT`]; one
//! that is of another format, fails to decode, or claims another seq than its key is skipped
//! (and reported) and the next older one, or a full replay, is used instead. Snapshots are
//! written by the single writer only, from the projection it holds after a durable commit.

use crate::projection::Projection;

/// Layout version of the snapshot bytes; bump it whenever a projection type changes shape.
pub const SNAPSHOT_FORMAT: u8 = 3;

/// Largest snapshot decoded (bounds memory if a length prefix is corrupt).
const MAX_SNAPSHOT_BYTES: usize = 4 << 30;

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_SNAPSHOT_BYTES>,
> {
    bincode::config::standard().with_limit::<MAX_SNAPSHOT_BYTES>()
}

/// The snapshot bytes of `projection`.
pub fn encode(projection: &Projection) -> Vec<u8> {
    let mut out = vec![SNAPSHOT_FORMAT];
    // Encoding owned maps of plain data into a Vec cannot fail.
    let body = bincode::serde::encode_to_vec(projection, config()).expect("projection encodes");
    out.extend_from_slice(&body);
    out
}

/// Decodes a snapshot stored under `seq`.
pub fn decode(seq: u64, bytes: &[u8]) -> Result<Projection, String> {
    match bytes.first() {
        None => return Err("empty snapshot".into()),
        Some(&SNAPSHOT_FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "snapshot format {other}, expected {SNAPSHOT_FORMAT}"
            ))
        }
    }
    let (projection, read): (Projection, usize) =
        bincode::serde::decode_from_slice(&bytes[1..], config()).map_err(|e| e.to_string())?;
    if read != bytes.len() - 1 {
        return Err(format!("{} trailing bytes", bytes.len() - 1 - read));
    }
    if projection.last_seq != seq {
        return Err(format!(
            "snapshot stored under seq {seq} holds state at seq {}",
            projection.last_seq
        ));
    }
    Ok(projection)
}
