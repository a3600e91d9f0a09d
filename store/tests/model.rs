//! Model test (the Vector `disk_v2` pattern): random sequences of commands, snapshots and reopens
//! run against the real store on disk and against a plain in-memory model (the aggregate folded
//! over a `Vec`), and after every step the two must agree: same outcomes, same contiguous log,
//! same projection, and a log that verifies.

mod common;

use common::{incident, observed, tenant};
use proptest::prelude::*;
use store::aggregate::effect_id;
use store::events::{
    Effect, EffectResult, Event, Signl4Action, Signl4ActionReceived, WatermarkAdvanced,
};
use store::keys::{inbox, InboxSource};
use store::verify::{self, Options};
use store::writer::Execution;
use store::{Command, ExecuteOutcome, Projection, Store, StoreConfig, StoredEvent};

#[derive(Clone, Debug)]
enum Action {
    Observe {
        incident: u8,
        status: u8,
    },
    RequestRaise {
        incident: u8,
    },
    RequestTag {
        incident: u8,
    },
    CompleteFirstOpen {
        incident: u8,
    },
    Signl4 {
        incident: u8,
        notification: u8,
        action: u8,
    },
    Watermark {
        ms: u8,
    },
    Snapshot,
    Reopen,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..4u8, 0..3u8).prop_map(|(incident, status)| Action::Observe { incident, status }),
        3 => (0..4u8).prop_map(|incident| Action::RequestRaise { incident }),
        1 => (0..4u8).prop_map(|incident| Action::RequestTag { incident }),
        3 => (0..4u8).prop_map(|incident| Action::CompleteFirstOpen { incident }),
        2 => (0..4u8, 0..6u8, 0..3u8).prop_map(|(incident, notification, action)| Action::Signl4 { incident, notification, action }),
        1 => (0..50u8).prop_map(|ms| Action::Watermark { ms }),
        1 => Just(Action::Snapshot),
        1 => Just(Action::Reopen),
    ]
}

/// The model: the log as a vector and the fold of it.
#[derive(Default)]
struct Model {
    log: Vec<StoredEvent>,
    projection: Projection,
    inbox: std::collections::HashMap<Vec<u8>, u64>,
}

fn config() -> StoreConfig {
    StoreConfig {
        snapshot_every: 7,
        ..StoreConfig::default()
    }
}

fn execution_for(action: &Action, step: usize, model: &Model) -> Option<Execution> {
    let t = tenant();
    Some(match *action {
        Action::Observe {
            incident: i,
            status,
        } => {
            let status = ["New", "Active", "Closed"][status as usize];
            Execution::incident(
                t,
                incident(i as u128),
                Command::Observe(observed(i as i64, status, &format!("e{step}"), step as i64)),
            )
        }
        Action::RequestRaise { incident: i } => {
            let round = model
                .projection
                .incident(t, incident(i as u128))
                .map_or(1, |s| s.round.max(1));
            Execution::incident(
                t,
                incident(i as u128),
                Command::Request(Effect::RaiseSignl {
                    external_id: store::ids::external_id(t, incident(i as u128)),
                    round,
                }),
            )
        }
        Action::RequestTag { incident: i } => Execution::incident(
            t,
            incident(i as u128),
            Command::Request(Effect::TagIncident {
                label: "SIGNL4".into(),
            }),
        ),
        Action::CompleteFirstOpen { incident: i } => {
            let open = model
                .projection
                .incident(t, incident(i as u128))
                .and_then(|s| s.open_effects.keys().next().copied());
            let effect_id = open.unwrap_or_else(|| {
                effect_id(
                    t,
                    incident(i as u128),
                    &Effect::TagIncident {
                        label: "never requested".into(),
                    },
                )
            });
            Execution::incident(
                t,
                incident(i as u128),
                Command::Succeed {
                    effect_id,
                    result: EffectResult::SignlRaised {
                        event_id: format!("ev-{step}"),
                    },
                },
            )
        }
        Action::Signl4 {
            incident: i,
            notification,
            action,
        } => {
            let action = match action {
                0 => Signl4Action::Acknowledged,
                1 => Signl4Action::Closed,
                _ => Signl4Action::Annotated {
                    text: format!("note {step}"),
                },
            };
            let id = format!("notification-{notification}");
            Execution::incident(
                t,
                incident(i as u128),
                Command::RecordSignl4Action(Signl4ActionReceived {
                    notification_id: id.clone(),
                    signl_id: "s".into(),
                    action,
                    user_email: Some("rene@signl4.com".into()),
                    user_name: None,
                    raised_at_ms: step as i64,
                }),
            )
            .with_inbox_key(inbox(InboxSource::Signl4Notification, t, id.as_bytes()))
        }
        Action::Watermark { ms } => Execution::tenant(
            t,
            Command::AdvanceWatermark(WatermarkAdvanced {
                watermark_ms: ms as i64,
                max_incident_number: 0,
            }),
        ),
        Action::Snapshot | Action::Reopen => return None,
    })
}

/// What the model expects the store to answer.
fn expected_outcome(model: &Model, execution: &Execution) -> Result<Vec<Event>, ExecuteOutcome> {
    if let Some(key) = &execution.meta.inbox_key {
        if let Some(seq) = model.inbox.get(key) {
            return Err(ExecuteOutcome::Duplicate { seq: *seq });
        }
    }
    match model
        .projection
        .decide(execution.tenant, execution.incident, &execution.command)
    {
        Err(rejection) => Err(ExecuteOutcome::Rejected(rejection)),
        Ok(events) if events.is_empty() => Err(ExecuteOutcome::Unchanged),
        Ok(events) => Ok(events),
    }
}

fn run(actions: Vec<Action>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config()).unwrap();
    let mut model = Model::default();
    for (step, action) in actions.iter().enumerate() {
        match action {
            Action::Snapshot => {
                let seq = store.snapshot_now().unwrap();
                prop_assert_eq!(seq, model.log.len() as u64);
            }
            Action::Reopen => {
                store.shutdown().unwrap();
                store = Store::open(dir.path(), config()).unwrap();
            }
            _ => {
                let execution = execution_for(action, step, &model).unwrap();
                let expected = expected_outcome(&model, &execution);
                let outcome = store.execute_blocking(execution.clone()).unwrap();
                match (expected, outcome) {
                    (Ok(events), ExecuteOutcome::Appended(stored)) => {
                        let got: Vec<Event> = stored.iter().map(|s| s.event.clone()).collect();
                        prop_assert_eq!(events, got);
                        for (i, record) in stored.into_iter().enumerate() {
                            prop_assert_eq!(record.seq, model.log.len() as u64 + 1);
                            if i == 0 {
                                if let Some(key) = &execution.meta.inbox_key {
                                    model.inbox.insert(key.clone(), record.seq);
                                }
                            }
                            model.projection.apply(&record);
                            model.log.push(record);
                        }
                    }
                    (Err(expected), got) => prop_assert_eq!(expected, got),
                    (Ok(events), got) => {
                        prop_assert!(false, "expected {:?}, store answered {:?}", events, got)
                    }
                }
            }
        }
        let live = store.read(|p| p.clone());
        prop_assert_eq!(
            &live,
            &model.projection,
            "projection differs after {:?}",
            action
        );
    }
    let log: Vec<StoredEvent> = store
        .log()
        .events_from(1)
        .collect::<Result<_, _>>()
        .unwrap();
    prop_assert_eq!(&log, &model.log);
    let report = verify::verify(
        store.log(),
        Options {
            max_intent_age_ms: i64::MAX,
            now_ms: 0,
        },
        &mut |_, _| {},
    );
    prop_assert!(report.is_ok(), "verify: {:?}", report.problems);
    let (genesis, _) =
        store::replay::rebuild(store.log(), store::replay::From::Genesis, &mut |_, _| {}).unwrap();
    prop_assert_eq!(&genesis, &model.projection);
    store.shutdown().unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_store_behaves_like_the_model(actions in prop::collection::vec(action(), 1..60)) {
        run(actions)?;
    }
}
