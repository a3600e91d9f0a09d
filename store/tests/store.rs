//! The store on a real sled database on disk: durability across reopen, group commit under
//! concurrent writers, inbox deduplication, the outbox, snapshots, and clear errors for logs it
//! must not run on (newer format, corrupt record, gap).

mod common;

use std::sync::Arc;

use common::{incident, observed, tenant};
use store::events::{Effect, EffectResult, Signl4Action, Signl4ActionReceived};
use store::keys::{inbox, InboxSource};
use store::verify::{self, Options, Problem};
use store::writer::Execution;
use store::{
    Command, DecideError, EventLog, ExecuteOutcome, OpenOptions, Store, StoreConfig, StoreError,
};

fn observe(n: i64, etag: &str, at: i64) -> Execution {
    Execution::incident(
        tenant(),
        incident(n as u128),
        Command::Observe(observed(n, "New", etag, at)),
    )
}

fn no_snapshots() -> StoreConfig {
    StoreConfig {
        snapshot_every: 0,
        ..StoreConfig::default()
    }
}

fn verify_now(log: &EventLog, max_age_ms: i64) -> verify::Report {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    verify::verify(
        log,
        Options {
            max_intent_age_ms: max_age_ms,
            now_ms,
        },
        &mut |_, _| {},
    )
}

#[test]
fn appended_events_survive_a_reopen_with_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), no_snapshots()).unwrap();
    for n in 1..=20 {
        let outcome = store.execute_blocking(observe(n, "e1", n)).unwrap();
        assert_eq!(outcome.events()[0].seq, n as u64);
    }
    let before = store.read(|p| p.clone());
    store.shutdown().unwrap();

    let store = Store::open(dir.path(), no_snapshots()).unwrap();
    assert_eq!(store.read(|p| p.clone()), before);
    assert_eq!(store.log().last_seq().unwrap(), 20);
    assert_eq!(
        store.replay_report().snapshot_seq,
        Some(20),
        "shutdown snapshots"
    );
    assert!(verify_now(store.log(), i64::MAX).is_ok());
}

#[test]
fn concurrent_writers_share_commits_and_the_sequence_stays_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StoreConfig::default()).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|i| {
                        let n = t * 1000 + i;
                        let outcome = store.execute_blocking(observe(n, "e", 1)).unwrap();
                        outcome.events()[0].seq
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=800).collect::<Vec<u64>>());
    let report = verify_now(store.log(), i64::MAX);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.incidents, 800);
}

#[test]
fn a_page_of_executions_commits_together_and_reports_each_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let outcomes = store
        .execute_many_blocking(vec![
            observe(1, "e1", 1),
            observe(2, "e1", 1),
            observe(1, "e1", 1), // same etag again: nothing new
            Execution::incident(
                tenant(),
                incident(3),
                Command::Request(Effect::TagIncident { label: "x".into() }),
            ),
        ])
        .unwrap();
    assert!(matches!(&outcomes[0], ExecuteOutcome::Appended(e) if e[0].seq == 1));
    assert!(matches!(&outcomes[1], ExecuteOutcome::Appended(e) if e[0].seq == 2));
    assert_eq!(outcomes[2], ExecuteOutcome::Unchanged);
    assert_eq!(
        outcomes[3],
        ExecuteOutcome::Rejected(DecideError::NotObserved)
    );
    assert_eq!(store.log().last_seq().unwrap(), 2);
}

#[test]
fn an_inbound_notification_is_recorded_once_even_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    store.execute_blocking(observe(1, "e1", 1)).unwrap();
    let ack = |id: &str| {
        Execution::incident(
            tenant(),
            incident(1),
            Command::RecordSignl4Action(Signl4ActionReceived {
                notification_id: id.into(),
                signl_id: "s".into(),
                action: Signl4Action::Acknowledged,
                user_email: None,
                user_name: None,
                raised_at_ms: 0,
            }),
        )
        .with_inbox_key(inbox(
            InboxSource::Signl4Notification,
            tenant(),
            id.as_bytes(),
        ))
    };
    // Delivered twice in one batch, then again after a restart.
    let outcomes = store
        .execute_many_blocking(vec![ack("n1"), ack("n1")])
        .unwrap();
    assert!(matches!(&outcomes[0], ExecuteOutcome::Appended(e) if e[0].seq == 2));
    assert_eq!(outcomes[1], ExecuteOutcome::Duplicate { seq: 2 });
    store.shutdown().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(
        store.execute_blocking(ack("n1")).unwrap(),
        ExecuteOutcome::Duplicate { seq: 2 }
    );
    assert_eq!(store.log().last_seq().unwrap(), 2);
}

#[test]
fn intents_stay_in_the_outbox_until_their_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    store.execute_blocking(observe(1, "e1", 1)).unwrap();
    let tag = Effect::TagIncident {
        label: "SIGNL4".into(),
    };
    let requested = store
        .execute_blocking(Execution::incident(
            tenant(),
            incident(1),
            Command::Request(tag.clone()),
        ))
        .unwrap();
    let effect_id = requested.events()[0].event.opens_effect().unwrap();
    assert_eq!(store.log().outbox().unwrap(), vec![(effect_id, 2)]);
    assert_eq!(store.read(|p| p.open_effects().len()), 1);

    // An intent older than the threshold is something for an operator to look at.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let report = verify_now(store.log(), 5);
    assert!(matches!(
        report.problems.as_slice(),
        [Problem::StaleIntent { seq: 2, .. }]
    ));

    store
        .execute_blocking(Execution::incident(
            tenant(),
            incident(1),
            Command::Succeed {
                effect_id,
                result: EffectResult::IncidentWritten {
                    etag: "\"e2\"".into(),
                },
            },
        ))
        .unwrap();
    assert!(store.log().outbox().unwrap().is_empty());
    let report = verify_now(store.log(), 5);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.open_intents, 0);
}

#[test]
fn restart_replays_only_the_tail_after_the_newest_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        snapshot_every: 10,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config.clone()).unwrap();
    for n in 1..=25 {
        store.execute_blocking(observe(n, "e", 1)).unwrap();
    }
    let live = store.read(|p| p.clone());
    store.shutdown().unwrap();

    let log = EventLog::open(dir.path(), &OpenOptions::default()).unwrap();
    let snapshots: Vec<u64> = log
        .snapshots_newest_first()
        .unwrap()
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    assert!(snapshots.len() <= 3, "pruned to 3: {snapshots:?}");
    // Corrupt the newest snapshot: replay falls back to the next one and says so.
    let newest = snapshots[0];
    log.save_snapshot(newest, b"\x01garbage", 3).unwrap();
    let (projection, report) =
        store::replay::rebuild(&log, store::replay::From::NewestSnapshot, &mut |_, _| {}).unwrap();
    assert_eq!(projection, live);
    assert_eq!(report.skipped_snapshots.len(), 1);
    assert_eq!(report.skipped_snapshots[0].0, newest);
    let used = report.snapshot_seq.unwrap();
    assert!(used < newest);
    assert_eq!(report.replayed, 25 - used);
    let verdict = verify_now(&log, i64::MAX);
    assert!(matches!(
        verdict.problems.as_slice(),
        [Problem::BadSnapshot { seq, .. }] if *seq == newest
    ));
}

#[test]
fn a_log_from_a_newer_build_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path(), &OpenOptions::default()).unwrap();
        log.set_meta("store_format", &99u32.to_be_bytes()).unwrap();
        log.flush().unwrap();
    }
    let error = Store::open(dir.path(), StoreConfig::default())
        .err()
        .expect("must refuse");
    assert!(matches!(error, StoreError::NewerFormat { found: 99, .. }));
    let message = error.to_string();
    assert!(message.contains("store format 99"), "{message}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn a_corrupt_record_is_named_by_its_seq_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), no_snapshots()).unwrap();
    for n in 1..=5 {
        store.execute_blocking(observe(n, "e", 1)).unwrap();
    }
    store.log().overwrite_raw(3, b"\x01not an event").unwrap();
    store.shutdown().unwrap();
    // The snapshot taken on drop is at seq 5, past the corrupt record; force a full replay.
    let log = EventLog::open(dir.path(), &OpenOptions::default()).unwrap();
    let error = store::replay::rebuild(&log, store::replay::From::Genesis, &mut |_, _| {})
        .err()
        .unwrap();
    let message = error.to_string();
    assert!(message.contains("seq 3"), "{message}");
    assert!(message.contains("0000000000000003"), "{message}");
    let report = verify_now(&log, i64::MAX);
    assert!(matches!(
        report.problems.as_slice(),
        [Problem::Undecodable { seq: 3, .. }, ..]
    ));
    // Every other record is still there and readable.
    for seq in [1, 2, 4, 5] {
        assert!(log.read(seq).unwrap().is_some());
    }
}

#[test]
fn a_gap_stops_the_start_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), no_snapshots()).unwrap();
    for n in 1..=4 {
        store.execute_blocking(observe(n, "e", 1)).unwrap();
    }
    store.log().remove_raw(2).unwrap();
    store.shutdown().unwrap();
    let log = EventLog::open(dir.path(), &OpenOptions::default()).unwrap();
    let report = verify_now(&log, i64::MAX);
    assert!(report.problems.contains(&Problem::Gap {
        expected: 2,
        found: 3
    }));
    assert!(report
        .problems
        .iter()
        .any(|p| matches!(p, Problem::IndexDangling { seq: 2, .. })));
    let error = store::replay::rebuild(&log, store::replay::From::Genesis, &mut |_, _| {})
        .err()
        .unwrap();
    assert!(matches!(
        error,
        StoreError::Gap {
            expected: 2,
            found: 3
        }
    ));
}

#[test]
fn async_callers_get_durable_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let outcomes = runtime.block_on(async {
        let a = store.execute(observe(1, "e", 1));
        let b = store.execute(observe(2, "e", 1));
        let (a, b) = tokio::join!(a, b);
        vec![a.unwrap(), b.unwrap()]
    });
    let mut seqs: Vec<u64> = outcomes.iter().map(|o| o.events()[0].seq).collect();
    seqs.sort();
    assert_eq!(seqs, vec![1, 2]);
}

#[test]
fn a_consumer_cursor_survives_a_reopen_and_leaves_the_log_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), no_snapshots()).unwrap();
    for n in 1..=3 {
        store.execute_blocking(observe(n, "e1", n)).unwrap();
    }
    let log = store.log();
    assert_eq!(log.cursor("signl4_cl/contoso").unwrap(), 0, "never set");
    log.set_cursor("signl4_cl/contoso", 2).unwrap();
    log.set_cursor("signl4_cl/fabrikam", 3).unwrap();
    assert_eq!(log.cursor("signl4_cl/contoso").unwrap(), 2);
    // Names that would make odd keys are refused, not stored.
    assert!(matches!(
        log.set_cursor("", 1),
        Err(StoreError::BadKey { .. })
    ));
    assert!(log.set_cursor("has space", 1).is_err());
    store.shutdown().unwrap();

    let store = Store::open(dir.path(), no_snapshots()).unwrap();
    assert_eq!(store.log().cursor("signl4_cl/contoso").unwrap(), 2);
    assert_eq!(store.log().cursor("signl4_cl/fabrikam").unwrap(), 3);
    // A cursor is not an event: the log and its verification are untouched.
    assert_eq!(store.log().last_seq().unwrap(), 3);
    assert!(verify_now(store.log(), i64::MAX).is_ok());
}
