//! Replay: rebuild the projection from the newest valid snapshot plus the tail of the log.
//!
//! Invariants: restart cost is the snapshot decode plus the tail, not the whole log; the tail must
//! continue the snapshot's sequence without a gap and every record must decode, otherwise replay
//! stops with an error naming the seq and key (a connector must not run on a log it cannot read).

use std::time::{Duration, Instant};

use crate::error::StoreError;
use crate::log::{decode_record_with, EventLog};
use crate::projection::Projection;
use crate::{keys, snapshot};

/// How a replay went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayReport {
    /// The snapshot used, if any.
    pub snapshot_seq: Option<u64>,
    /// Snapshots skipped, newest first, with the reason.
    pub skipped_snapshots: Vec<(u64, String)>,
    /// Events decoded and applied after the snapshot.
    pub replayed: u64,
    /// The last seq in the log.
    pub last_seq: u64,
    /// Wall time taken.
    pub elapsed: Duration,
}

/// Whether to start from a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    /// The newest valid snapshot (normal start).
    NewestSnapshot,
    /// Seq 1 (audits, and proving snapshots agree with the log).
    Genesis,
}

/// Rebuilds the projection. `progress(done, total)` is called now and then for long replays.
pub fn rebuild(
    log: &EventLog,
    from: From,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Projection, ReplayReport), StoreError> {
    let started = Instant::now();
    let mut report = ReplayReport {
        last_seq: log.last_seq()?,
        ..ReplayReport::default()
    };
    let mut projection = Projection::default();
    if from == From::NewestSnapshot {
        for (seq, bytes) in log.snapshots_newest_first()? {
            if seq > report.last_seq {
                report.skipped_snapshots.push((
                    seq,
                    format!("newer than the log's last seq {}", report.last_seq),
                ));
                continue;
            }
            match snapshot::decode(seq, &bytes) {
                Ok(p) => {
                    projection = p;
                    report.snapshot_seq = Some(seq);
                    break;
                }
                Err(reason) => report.skipped_snapshots.push((seq, reason)),
            }
        }
    }
    for (seq, reason) in &report.skipped_snapshots {
        tracing::warn!(seq, %reason, "snapshot skipped; replaying further back");
    }
    let start = projection.last_seq + 1;
    let total = report.last_seq.saturating_sub(projection.last_seq);
    let mut bases = log.bases();
    for (expected, entry) in (start..).zip(log.raw_from(start)) {
        let (seq, bytes) = entry?;
        if seq != expected {
            return Err(StoreError::Gap {
                expected,
                found: seq,
            });
        }
        let event = decode_record_with(seq, &keys::event(seq), &bytes, &mut bases)?;
        projection.apply_owned(event);
        report.replayed += 1;
        if report.replayed.is_multiple_of(4_096) {
            progress(report.replayed, total);
        }
    }
    progress(report.replayed, total);
    report.elapsed = started.elapsed();
    Ok((projection, report))
}
