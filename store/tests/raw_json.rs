//! Raw incident JSON stored once per change, end to end on a real log: the writer stores a
//! changed observation as a delta against the incident's keyframe, and every reader (a read by
//! seq, a scan, one incident's events, replay, verify) still gets the full JSON; a restart costs
//! at most a new keyframe; a damaged keyframe is reported naming the record that needs it.

mod common;

use common::{incident, observed, tenant};
use store::envelope::Header;
use store::events::{Event, IncidentObserved};
use store::replay::{self, From};
use store::verify::{self, Options, Problem};
use store::writer::Execution;
use store::{Command, EventLog, OpenOptions, Store, StoreConfig};

/// An observation of incident 1 whose raw JSON is long (compressible) and says what changed.
fn long_observed(etag: u32, status: &str) -> IncidentObserved {
    let mut o = observed(
        1,
        status,
        &format!("e{etag}"),
        1_700_000_000_000 + etag as i64,
    );
    o.raw_json = format!(
        r#"{{"id":"/subscriptions/d1d8779d/resourceGroups/soc/providers/Microsoft.SecurityInsights/Incidents/{}","etag":"\"e{etag}\"","properties":{{"title":"Suspicious sign-in #1","status":"{status}","description":"A user account had many failed sign-ins from an unfamiliar location followed by a success.","lastModifiedTimeUtc":"2025-11-24T16:0{etag}:00Z"}}}}"#,
        incident(1)
    );
    o
}

fn observe(o: &IncidentObserved) -> Execution {
    Execution::incident(tenant(), incident(1), Command::Observe(o.clone()))
}

fn no_snapshots() -> StoreConfig {
    StoreConfig {
        snapshot_every: 0,
        ..StoreConfig::default()
    }
}

/// The raw JSON of every observation `log` reads back for incident 1, in order.
fn raw_jsons(events: &[store::StoredEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::IncidentObserved(o) => Some(o.raw_json.clone()),
            _ => None,
        })
        .collect()
}

/// Record sizes of `seqs`, from the log's raw bytes.
fn sizes(log: &EventLog, seqs: &[u64]) -> Vec<usize> {
    seqs.iter()
        .map(|seq| log.raw_from(*seq).next().unwrap().unwrap().1.len())
        .collect()
}

#[test]
fn a_changed_observation_is_stored_as_a_delta_and_every_reader_gets_the_whole_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), no_snapshots()).unwrap();
    let wanted: Vec<_> = [(1, "New"), (2, "Active"), (3, "Active")]
        .into_iter()
        .map(|(etag, status)| long_observed(etag, status))
        .collect();
    // The first two in one commit (a delta may refer to a keyframe of its own batch).
    store
        .execute_many_blocking(vec![observe(&wanted[0]), observe(&wanted[1])])
        .unwrap();
    store.execute_blocking(observe(&wanted[2])).unwrap();
    let raw: Vec<String> = wanted.iter().map(|o| o.raw_json.clone()).collect();
    let log = store.log();
    let [keyframe, first_delta, second_delta] = sizes(log, &[1, 2, 3])[..] else {
        panic!("three records");
    };
    assert!(
        first_delta * 2 < keyframe && second_delta * 2 < keyframe,
        "deltas {first_delta} and {second_delta} bytes against a {keyframe}-byte keyframe"
    );
    assert_eq!(
        raw_jsons(&log.incident_events(tenant(), incident(1)).unwrap()),
        raw
    );
    let scanned: Vec<_> = log.events_from(1).collect::<Result<_, _>>().unwrap();
    assert_eq!(raw_jsons(&scanned), raw);
    assert_eq!(raw_jsons(&[log.read(3).unwrap().unwrap()]), raw[2..]);
    let live = store.read(Clone::clone);
    store.shutdown().unwrap();

    // A restart: the state replays the same, and the writer's next observation starts a new
    // keyframe (it keeps keyframes in memory only) that later ones refer to.
    let store = Store::open(dir.path(), no_snapshots()).unwrap();
    assert_eq!(store.read(Clone::clone), live);
    let later = [long_observed(4, "Active"), long_observed(5, "Active")];
    for o in &later {
        store.execute_blocking(observe(o)).unwrap();
    }
    let log = store.log();
    let last = log.last_seq().unwrap();
    let [restart_keyframe, after] = sizes(log, &[last - 1, last])[..] else {
        panic!("two records");
    };
    assert!(
        after * 2 < restart_keyframe,
        "{after} vs {restart_keyframe}"
    );
    let events = log.incident_events(tenant(), incident(1)).unwrap();
    let mut all = raw.clone();
    all.extend(later.iter().map(|o| o.raw_json.clone()));
    assert_eq!(raw_jsons(&events), all);
    store.shutdown().unwrap();

    let log = EventLog::open(dir.path(), &OpenOptions::default()).unwrap();
    let (projection, _) = replay::rebuild(&log, From::Genesis, &mut |_, _| {}).unwrap();
    assert_eq!(projection.last_seq, last);
    let report = verify::verify(
        &log,
        Options {
            max_intent_age_ms: i64::MAX,
            now_ms: 0,
        },
        &mut |_, _| {},
    );
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn a_damaged_keyframe_is_reported_naming_the_delta_that_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), no_snapshots()).unwrap();
    store
        .execute_blocking(observe(&long_observed(1, "New")))
        .unwrap();
    store
        .execute_blocking(observe(&long_observed(2, "Active")))
        .unwrap();
    let log = store.log();
    let delta = log.raw_from(2).next().unwrap().unwrap().1;
    let (header, _) = Header::read(&delta).unwrap();
    assert_eq!(header.kind, store::events::Kind::IncidentObserved as u16);
    // The keyframe becomes another incident's record: the delta must not decode against it.
    let mut keyframe = log.raw_from(1).next().unwrap().unwrap().1.to_vec();
    keyframe[49..65].copy_from_slice(incident(2).0.as_bytes());
    log.overwrite_raw(1, &keyframe).unwrap();
    store.shutdown().unwrap();

    let log = EventLog::open(dir.path(), &OpenOptions::default()).unwrap();
    let Err(error) = replay::rebuild(&log, From::Genesis, &mut |_, _| {}) else {
        panic!("replay must refuse the delta whose keyframe is another incident's");
    };
    let error = error.to_string();
    assert!(error.contains("seq 2"), "{error}");
    assert!(error.contains("base seq 1"), "{error}");
    let report = verify::verify(
        &log,
        Options {
            max_intent_age_ms: i64::MAX,
            now_ms: 0,
        },
        &mut |_, _| {},
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Undecodable { seq: 2, reason, .. } if reason.contains("base seq 1"))),
        "{:?}",
        report.problems
    );
}
