//! The open check through `Store::open` (what `run` uses), on real sled logs on disk: a damaged
//! log is refused with a damage report instead of being run on, and sled's files are checked
//! before sled can rewrite them.

mod common;

use std::path::Path;

use common::{incident, observed, tenant};
use store::guard::{mark, Damage, TAIL_EVENTS};
use store::writer::Execution;
use store::{Command, EventLog, OpenOptions, Store, StoreConfig, StoreError};

/// A sound log of 30 events with a snapshot (so its mark is written), closed.
fn written_log(dir: &Path) -> u64 {
    let store = Store::open(dir, StoreConfig::default()).unwrap();
    for n in 1..=30 {
        store
            .execute_blocking(Execution::incident(
                tenant(),
                incident(n as u128),
                Command::Observe(observed(n, "New", "e1", n)),
            ))
            .unwrap();
    }
    let seq = store.snapshot_now().unwrap();
    store.shutdown().unwrap();
    seq
}

fn refused(dir: &Path) -> Damage {
    match Store::open(dir, StoreConfig::default()) {
        Err(StoreError::Damaged(damage)) => *damage,
        Err(other) => panic!("expected a damage report, got {other}"),
        Ok(_) => panic!("a damaged log was opened"),
    }
}

#[test]
fn a_sound_log_opens_and_its_mark_records_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let seq = written_log(dir.path());
    assert_eq!(mark::read(dir.path()), Ok(Some(seq)));
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(store.replay_report().last_seq, 30);
    store.shutdown().unwrap();
}

#[test]
fn a_damaged_conf_is_refused_before_sled_can_rewrite_it() {
    let dir = tempfile::tempdir().unwrap();
    written_log(dir.path());
    std::fs::write(dir.path().join("conf"), b"s").unwrap();
    let damage = refused(dir.path());
    assert!(matches!(&damage, Damage::Conf { path, .. } if path.ends_with("conf")));
    assert!(damage.to_string().contains("recovery: move"), "{damage}");
    assert_eq!(std::fs::read(dir.path().join("conf")).unwrap(), b"s");
}

#[test]
fn a_db_cut_to_half_is_refused_with_the_recovery_step() {
    let dir = tempfile::tempdir().unwrap();
    written_log(dir.path());
    let db = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("db"))
        .unwrap();
    let len = db.metadata().unwrap().len();
    db.set_len(len / 2).unwrap();
    drop(db);
    let damage = refused(dir.path());
    let text = damage.to_string();
    assert!(
        text.contains("is damaged") || text.contains("has lost its tail"),
        "{text}"
    );
    assert!(text.contains("recovery: "), "{text}");
}

#[test]
fn a_log_shorter_than_its_mark_is_refused_as_a_lost_tail() {
    let dir = tempfile::tempdir().unwrap();
    let seq = written_log(dir.path());
    mark::write(dir.path(), seq + 5).unwrap();
    match refused(dir.path()) {
        Damage::Truncated { mark, last_seq, .. } => {
            assert_eq!((mark, last_seq), (seq + 5, seq));
        }
        other => panic!("expected a lost tail, got {other}"),
    }
}

/// A log of `events` observations with a snapshot at the end, closed; no snapshot on the way.
fn long_log(dir: &Path, events: u64) {
    let config = StoreConfig {
        snapshot_every: 0,
        ..StoreConfig::default()
    };
    let store = Store::open(dir, config).unwrap();
    let executions: Vec<_> = (1..=events)
        .map(|n| {
            Execution::incident(
                tenant(),
                incident(n as u128),
                Command::Observe(observed(n as i64, "New", "e1", n as i64)),
            )
        })
        .collect();
    store.execute_many_blocking(executions).unwrap();
    store.snapshot_now().unwrap();
    store.shutdown().unwrap();
}

#[test]
fn a_start_reads_the_tail_and_refuses_a_record_there_that_does_not_decode() {
    // The snapshot is at the last seq, so replay reads nothing after it: the start's check of
    // the last TAIL_EVENTS records is what finds a damaged one.
    let dir = tempfile::tempdir().unwrap();
    let events = TAIL_EVENTS + 200;
    long_log(dir.path(), events);
    let bad = events - TAIL_EVENTS + 1;
    EventLog::open(dir.path(), &OpenOptions::default())
        .unwrap()
        .overwrite_raw(bad, b"\x01not an event")
        .unwrap();
    match Store::open(dir.path(), StoreConfig::default()) {
        Err(StoreError::Decode(error)) => assert_eq!(error.seq, bad),
        Err(other) => panic!("expected the record to be named, got {other}"),
        Ok(_) => panic!("a log with an unreadable tail record was started"),
    }
}

#[test]
fn a_start_refuses_a_gap_in_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    long_log(dir.path(), 300);
    EventLog::open(dir.path(), &OpenOptions::default())
        .unwrap()
        .remove_raw(290)
        .unwrap();
    match Store::open(dir.path(), StoreConfig::default()) {
        Err(StoreError::Gap { expected, found }) => assert_eq!((expected, found), (290, 291)),
        Err(other) => panic!("expected a gap, got {other}"),
        Ok(_) => panic!("a log with a gap in its tail was started"),
    }
}

#[test]
fn a_start_does_not_read_records_older_than_its_snapshot_and_tail_which_verify_reads() {
    // The bound that keeps a start flat as the log grows: a record behind both the snapshot and
    // the tail window is not read at start. verify, which reads everything, names it.
    let dir = tempfile::tempdir().unwrap();
    long_log(dir.path(), TAIL_EVENTS + 200);
    EventLog::open(dir.path(), &OpenOptions::default())
        .unwrap()
        .overwrite_raw(7, b"\x01not an event")
        .unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(store.replay_report().replayed, 0);
    store.shutdown().unwrap();
    let log = EventLog::open(dir.path(), &OpenOptions::default()).unwrap();
    let options = store::verify::Options {
        max_intent_age_ms: i64::MAX,
        now_ms: 0,
    };
    let report = store::verify::verify(&log, options, &mut |_, _| {});
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, store::verify::Problem::Undecodable { seq: 7, .. })),
        "{:?}",
        report.problems
    );
}
