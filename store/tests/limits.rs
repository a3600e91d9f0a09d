//! Limits on write: an event the log could not read back is refused before the commit, with a
//! clear error, and the log stays readable (a real sled store on disk, reopened).

mod common;

use common::{incident, observed, tenant};
use store::events::{IncidentEnriched, MAX_PAYLOAD_BYTES};
use store::{Command, DecideError, ExecuteOutcome, Store, StoreConfig};

fn enriched(json_bytes: usize) -> IncidentEnriched {
    IncidentEnriched {
        alert_count: 1,
        entity_count: 0,
        products: vec!["Azure AD Identity Protection".into()],
        tactics: vec![],
        missing: vec![],
        alerts_json: format!("[\"{}\"]", "a".repeat(json_bytes)),
        entities_json: "[]".into(),
        search_json: String::new(),
    }
}

fn execute(store: &Store, command: Command) -> ExecuteOutcome {
    store
        .execute_blocking(store::writer::Execution::incident(
            tenant(),
            incident(1),
            command,
        ))
        .unwrap()
}

#[test]
fn an_oversized_event_is_refused_before_the_commit_and_the_log_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let first = execute(&store, Command::Observe(observed(1, "New", "e1", 1)));
    assert_eq!(first.events().len(), 1);

    // Just under the limit: recorded, and read back below.
    let fits = execute(
        &store,
        Command::RecordEnrichment(enriched(MAX_PAYLOAD_BYTES - 4096)),
    );
    assert_eq!(fits.events().len(), 1, "{fits:?}");

    // Over it: refused, naming the kind, the size and the limit; nothing appended.
    let last_before = store.durable_seq();
    let refused = execute(
        &store,
        Command::RecordEnrichment(enriched(MAX_PAYLOAD_BYTES + 1)),
    );
    match &refused {
        ExecuteOutcome::Rejected(DecideError::TooLarge { kind, bytes, limit }) => {
            assert_eq!(*kind, "IncidentEnriched");
            assert!(*bytes > MAX_PAYLOAD_BYTES);
            assert_eq!(*limit, MAX_PAYLOAD_BYTES);
            let text = refused_text(&refused);
            assert!(
                text.contains("IncidentEnriched") && text.contains("payload limit"),
                "{text}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(store.durable_seq(), last_before);
    // The projection did not take it either: a later command still works.
    let later = execute(&store, Command::Observe(observed(1, "Active", "e2", 2)));
    assert_eq!(later.events().len(), 1);
    store.shutdown().unwrap();

    // The whole log replays and verifies on reopening.
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(store.replay_report().last_seq, last_before + 1);
    let report = store::verify::verify(
        store.log(),
        store::verify::Options {
            max_intent_age_ms: i64::MAX,
            now_ms: 0,
        },
        &mut |_, _| {},
    );
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, 3);
    store.shutdown().unwrap();
}

fn refused_text(outcome: &ExecuteOutcome) -> String {
    match outcome {
        ExecuteOutcome::Rejected(why) => why.to_string(),
        _ => String::new(),
    }
}
