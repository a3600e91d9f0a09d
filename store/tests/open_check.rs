//! The open check through `Store::open` (what `run` uses), on real sled logs on disk: a damaged
//! log is refused with a damage report instead of being run on, and sled's files are checked
//! before sled can rewrite them.

mod common;

use std::path::Path;

use common::{incident, observed, tenant};
use store::guard::{mark, Damage};
use store::writer::Execution;
use store::{Command, Store, StoreConfig, StoreError};

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
