//! Given/when/then tests of the incident aggregate (the cqrs-es `TestFramework` shape): given the
//! events already in the log, when a command arrives, then these events (or this error) follow.

mod common;

use common::{incident, observed, tenant};
use store::aggregate::{effect_id, SignlStatus, TenantState};
use store::events::*;
use store::{Command, DecideError, Incident};

/// The incident under test, built by folding `events`.
struct Given(Incident);

fn given(events: Vec<Event>) -> Given {
    let mut state = Incident::new(tenant(), incident(1));
    for (i, event) in events.iter().enumerate() {
        state.apply(event, 1_000 + i as i64);
    }
    Given(state)
}

struct Then {
    state: Incident,
    result: Result<Vec<Event>, DecideError>,
}

impl Given {
    fn when(self, command: Command) -> Then {
        Then {
            result: self.0.decide(&command),
            state: self.0,
        }
    }
}

impl Then {
    fn then_expect_events(self, expected: Vec<Event>) -> Incident {
        assert_eq!(self.result, Ok(expected));
        let mut state = self.state;
        for event in self.result.unwrap() {
            state.apply(&event, 9_999);
        }
        state
    }

    fn then_expect_error(self, expected: DecideError) {
        assert_eq!(self.result, Err(expected));
    }
}

fn observe(n: i64, status: &str, etag: &str, at: i64) -> Event {
    Event::IncidentObserved(observed(n, status, etag, at))
}

fn raise(round: u32) -> Effect {
    Effect::RaiseSignl {
        external_id: store::ids::external_id(tenant(), incident(1)),
        round,
    }
}

fn requested(effect: Effect) -> Event {
    Event::EffectRequested(EffectRequested {
        effect_id: effect_id(tenant(), incident(1), &effect),
        effect,
    })
}

fn raised(effect: &Effect) -> Event {
    Event::EffectSucceeded(EffectSucceeded {
        effect_id: effect_id(tenant(), incident(1), effect),
        result: EffectResult::SignlRaised {
            event_id: "2518583650940558238_7647c33f".into(),
        },
    })
}

fn signl4(action: Signl4Action, id: &str) -> Event {
    Event::Signl4ActionReceived(Signl4ActionReceived {
        notification_id: id.into(),
        signl_id: "2518981069381242800_2ab1b5e0".into(),
        action,
        user_email: Some("rene@signl4.com".into()),
        user_name: Some("Rene".into()),
        raised_at_ms: 5_000,
    })
}

#[test]
fn a_first_observation_is_recorded() {
    given(vec![])
        .when(Command::Observe(observed(1, "New", "e1", 10)))
        .then_expect_events(vec![observe(1, "New", "e1", 10)]);
}

#[test]
fn a_repeated_or_older_observation_records_nothing() {
    given(vec![observe(1, "New", "e2", 20)])
        .when(Command::Observe(observed(1, "New", "e2", 20)))
        .then_expect_events(vec![]);
    given(vec![observe(1, "Active", "e2", 20)])
        .when(Command::Observe(observed(1, "New", "e1", 10)))
        .then_expect_events(vec![]);
}

#[test]
fn closing_in_sentinel_is_its_own_transition() {
    let state = given(vec![observe(1, "New", "e1", 10)])
        .when(Command::Observe(observed(1, "Closed", "e2", 20)))
        .then_expect_events(vec![
            observe(1, "Closed", "e2", 20),
            Event::ClosedInSentinel(ClosedInSentinel {
                owner: None,
                etag: "\"e2\"".into(),
            }),
        ]);
    assert!(state.closed_in_sentinel());
}

#[test]
fn a_reopened_incident_starts_a_new_round_and_may_page_again() {
    let history = vec![
        observe(1, "New", "e1", 10),
        requested(raise(1)),
        raised(&raise(1)),
        observe(1, "Closed", "e2", 20),
    ];
    let state = given(history.clone())
        .when(Command::Observe(observed(1, "Active", "e3", 30)))
        .then_expect_events(vec![
            observe(1, "Active", "e3", 30),
            Event::Reopened(Reopened {
                round: 2,
                status: "Active".into(),
            }),
        ]);
    assert_eq!(state.round, 2);
    assert_eq!(state.signl.status, SignlStatus::None);

    let mut reopened = history;
    reopened.push(observe(1, "Active", "e3", 30));
    reopened.push(Event::Reopened(Reopened {
        round: 2,
        status: "Active".into(),
    }));
    given(reopened.clone())
        .when(Command::Request(raise(2)))
        .then_expect_events(vec![requested(raise(2))]);
    given(reopened)
        .when(Command::Request(raise(3)))
        .then_expect_error(DecideError::RoundMismatch { current: 2, got: 3 });
}

#[test]
fn nothing_but_an_observation_may_come_first() {
    given(vec![])
        .when(Command::Request(raise(1)))
        .then_expect_error(DecideError::NotObserved);
    given(vec![])
        .when(Command::RecordSignl4Action(Signl4ActionReceived {
            notification_id: "n".into(),
            signl_id: "s".into(),
            action: Signl4Action::Closed,
            user_email: None,
            user_name: None,
            raised_at_ms: 0,
        }))
        .then_expect_error(DecideError::NotObserved);
}

#[test]
fn a_signl_is_requested_once_per_round() {
    let state = given(vec![observe(1, "New", "e1", 10)])
        .when(Command::Request(raise(1)))
        .then_expect_events(vec![requested(raise(1))]);
    assert_eq!(state.signl.status, SignlStatus::Requested);

    let id = effect_id(tenant(), incident(1), &raise(1));
    given(vec![observe(1, "New", "e1", 10), requested(raise(1))])
        .when(Command::Request(raise(1)))
        .then_expect_error(DecideError::EffectAlreadyOpen(id));
    given(vec![
        observe(1, "New", "e1", 10),
        requested(raise(1)),
        raised(&raise(1)),
    ])
    .when(Command::Request(raise(1)))
    .then_expect_error(DecideError::EffectAlreadyDone(id));
}

#[test]
fn a_closed_incident_is_not_paged() {
    given(vec![observe(1, "Closed", "e1", 10)])
        .when(Command::Request(raise(1)))
        .then_expect_error(DecideError::IncidentClosed);
}

#[test]
fn an_outcome_needs_its_open_intent() {
    let id = effect_id(tenant(), incident(1), &raise(1));
    given(vec![observe(1, "New", "e1", 10)])
        .when(Command::Succeed {
            effect_id: id,
            result: EffectResult::SignlRaised {
                event_id: "x".into(),
            },
        })
        .then_expect_error(DecideError::UnknownEffect(id));
    let state = given(vec![observe(1, "New", "e1", 10), requested(raise(1))])
        .when(Command::Succeed {
            effect_id: id,
            result: EffectResult::SignlRaised {
                event_id: "2518583650940558238_7647c33f".into(),
            },
        })
        .then_expect_events(vec![raised(&raise(1))]);
    assert_eq!(state.signl.status, SignlStatus::Open);
    assert!(state.open_effects.is_empty());
    assert_eq!(state.signls_raised, 1);
}

#[test]
fn a_failed_raise_closes_the_intent_and_leaves_no_signl() {
    let id = effect_id(tenant(), incident(1), &raise(1));
    let state = given(vec![observe(1, "New", "e1", 10), requested(raise(1))])
        .when(Command::Fail {
            effect_id: id,
            reason: "404 code 3004: unknown team secret".into(),
            attempts: 3,
        })
        .then_expect_events(vec![Event::EffectFailed(EffectFailed {
            effect_id: id,
            reason: "404 code 3004: unknown team secret".into(),
            attempts: 3,
        })]);
    assert_eq!(state.signl.status, SignlStatus::None);
    assert!(state.done_effects.contains(&id));
}

#[test]
fn resolving_needs_a_signl_in_this_round() {
    let resolve = Effect::ResolveSignl {
        external_id: "x".into(),
        round: 1,
    };
    given(vec![observe(1, "Closed", "e1", 10)])
        .when(Command::Request(resolve.clone()))
        .then_expect_error(DecideError::SignlNotRaised);
    let state = given(vec![
        observe(1, "New", "e1", 10),
        requested(raise(1)),
        raised(&raise(1)),
        observe(1, "Closed", "e2", 20),
    ])
    .when(Command::Request(resolve.clone()))
    .then_expect_events(vec![requested(resolve.clone())]);
    assert_eq!(state.open_effects.len(), 1);
}

#[test]
fn signl4_actions_move_the_signl_and_a_late_acknowledge_does_not_reopen_it() {
    let paged = vec![
        observe(1, "New", "e1", 10),
        requested(raise(1)),
        raised(&raise(1)),
    ];
    let state = given(paged.clone())
        .when(Command::RecordSignl4Action(Signl4ActionReceived {
            notification_id: "n1".into(),
            signl_id: "2518981069381242800_2ab1b5e0".into(),
            action: Signl4Action::Acknowledged,
            user_email: Some("rene@signl4.com".into()),
            user_name: Some("Rene".into()),
            raised_at_ms: 5_000,
        }))
        .then_expect_events(vec![signl4(Signl4Action::Acknowledged, "n1")]);
    assert_eq!(state.signl.status, SignlStatus::Acknowledged);
    assert_eq!(
        state.signl.acknowledged_by.as_deref(),
        Some("rene@signl4.com")
    );

    let mut closed_first = paged;
    closed_first.push(signl4(Signl4Action::Closed, "n2"));
    closed_first.push(signl4(Signl4Action::Acknowledged, "n1"));
    let state = given(closed_first).0;
    assert_eq!(state.signl.status, SignlStatus::Closed);
    assert_eq!(state.signl.closed_by.as_deref(), Some("rene@signl4.com"));
}

#[test]
fn our_own_writes_are_remembered_for_loop_prevention() {
    let tag = Effect::TagIncident {
        label: "SIGNL4".into(),
    };
    let id = effect_id(tenant(), incident(1), &tag);
    let state = given(vec![observe(1, "New", "e1", 10), requested(tag)])
        .when(Command::Succeed {
            effect_id: id,
            result: EffectResult::IncidentWritten {
                etag: "\"e2\"".into(),
            },
        })
        .then_expect_events(vec![Event::EffectSucceeded(EffectSucceeded {
            effect_id: id,
            result: EffectResult::IncidentWritten {
                etag: "\"e2\"".into(),
            },
        })]);
    assert!(state.is_own_etag("\"e2\""));
    assert!(!state.is_own_etag("\"e1\""));
}

#[test]
fn tenant_commands_belong_to_the_tenant_stream() {
    given(vec![observe(1, "New", "e1", 10)])
        .when(Command::AdvanceWatermark(WatermarkAdvanced {
            watermark_ms: 1,
            max_incident_number: 1,
        }))
        .then_expect_error(DecideError::WrongStream);
}

#[test]
fn the_watermark_only_moves_forward() {
    let mut tenant_state = TenantState::default();
    let forward = Command::AdvanceWatermark(WatermarkAdvanced {
        watermark_ms: 100,
        max_incident_number: 7,
    });
    let events = tenant_state.decide(&forward).unwrap();
    assert_eq!(events.len(), 1);
    tenant_state.apply(&events[0]);
    assert_eq!(tenant_state.decide(&forward), Ok(vec![]));
    assert_eq!(
        tenant_state.decide(&Command::AdvanceWatermark(WatermarkAdvanced {
            watermark_ms: 99,
            max_incident_number: 8,
        })),
        Err(DecideError::WatermarkRegressed {
            current: 100,
            proposed: 99
        })
    );
    assert_eq!(
        tenant_state.decide(&Command::Observe(observed(1, "New", "e", 1))),
        Err(DecideError::WrongStream)
    );
}
