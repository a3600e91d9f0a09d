//! Given/when/then tests of `desired_effects`: given the commands the log recorded for one
//! incident, when the state is looked at, then these effects are still wanted. Every lifecycle
//! of issue #16: escalation into the filter, reopen, close during an outage, close before the
//! page, owner set in Sentinel, acknowledge and close arriving in any order.

mod common;

use common::{incident, observed, tenant};
use store::aggregate::{desired_effects, effect_id, Policy};
use store::events::*;
use store::{Command, Incident};

fn policy() -> Policy {
    Policy {
        page_statuses: vec!["New".into(), "Active".into()],
        page_severities: vec!["High".into(), "Medium".into()],
        tag: "SIGNL4".into(),
        resolve_on_sentinel_close: true,
        ack_signl_on_sentinel_owner: true,
    }
}

/// The incident after `commands`, each decided and applied as the writer does.
fn given(commands: Vec<Command>) -> Incident {
    let mut state = Incident::new(tenant(), incident(1));
    for (i, command) in commands.iter().enumerate() {
        let events = state
            .decide(command)
            .unwrap_or_else(|e| panic!("command {i} refused: {e}"));
        for event in events {
            state.apply(&event, 1_000 + i as i64);
        }
    }
    state
}

fn then_desired(state: &Incident, expected: Vec<Effect>) {
    assert_eq!(desired_effects(state, &policy()), expected);
}

fn observe(status: &str, severity: &str, owner: Option<&str>, etag: &str, at: i64) -> Command {
    let mut o = observed(1, status, etag, at);
    o.severity = severity.into();
    o.owner = owner.map(str::to_string);
    Command::Observe(o)
}

fn external() -> String {
    store::ids::external_id(tenant(), incident(1))
}

fn raise(round: u32) -> Effect {
    Effect::RaiseSignl {
        external_id: external(),
        round,
    }
}

fn tag() -> Effect {
    Effect::TagIncident {
        label: "SIGNL4".into(),
    }
}

fn resolve(round: u32) -> Effect {
    Effect::ResolveSignl {
        external_id: external(),
        round,
    }
}

fn acknowledge(round: u32) -> Effect {
    Effect::AcknowledgeSignl {
        external_id: external(),
        round,
    }
}

fn id(effect: &Effect) -> store::EffectId {
    effect_id(tenant(), incident(1), effect)
}

fn request(effect: Effect) -> Command {
    Command::Request(effect)
}

fn raised(round: u32) -> Command {
    Command::Succeed {
        effect_id: id(&raise(round)),
        result: EffectResult::SignlRaised {
            event_id: format!("event-{round}"),
        },
    }
}

fn user(action: Signl4Action, key: &str) -> Command {
    Command::RecordSignl4Action(Signl4ActionReceived {
        notification_id: key.into(),
        signl_id: "2518981069381242800_2ab1b5e0".into(),
        action,
        user_email: Some("rene@signl4.com".into()),
        user_name: Some("Rene".into()),
        raised_at_ms: 5_000,
    })
}

/// Paged in round 1 (asked for, raised, tagged).
fn paged() -> Vec<Command> {
    vec![
        observe("New", "High", None, "e1", 10),
        request(raise(1)),
        raised(1),
        request(tag()),
        Command::Succeed {
            effect_id: id(&tag()),
            result: EffectResult::IncidentWritten {
                etag: "\"e2\"".into(),
            },
        },
    ]
}

#[test]
fn a_new_incident_in_the_filter_is_paged_and_then_tagged() {
    let state = given(vec![observe("New", "High", None, "e1", 10)]);
    then_desired(&state, vec![raise(1)]);
    let state = given(vec![
        observe("New", "High", None, "e1", 10),
        request(raise(1)),
    ]);
    then_desired(&state, vec![]);
    let state = given(vec![
        observe("New", "High", None, "e1", 10),
        request(raise(1)),
        raised(1),
    ]);
    then_desired(&state, vec![tag()]);
    then_desired(&given(paged()), vec![]);
}

#[test]
fn a_low_incident_escalated_into_the_filter_pages() {
    let state = given(vec![observe("New", "Low", None, "e1", 10)]);
    then_desired(&state, vec![]);
    let state = given(vec![
        observe("New", "Low", None, "e1", 10),
        observe("New", "High", None, "e2", 20),
    ]);
    then_desired(&state, vec![raise(1)]);
}

#[test]
fn a_status_outside_the_filter_never_pages() {
    let state = given(vec![observe("Closed", "High", None, "e1", 10)]);
    then_desired(&state, vec![]);
    let mut only_new = policy();
    only_new.page_statuses = vec!["New".into()];
    let state = given(vec![observe("Active", "High", None, "e1", 10)]);
    assert_eq!(desired_effects(&state, &only_new), vec![]);
}

#[test]
fn an_incident_closed_before_its_page_is_never_paged() {
    let state = given(vec![
        observe("New", "High", None, "e1", 10),
        observe("Closed", "High", None, "e2", 20),
    ]);
    then_desired(&state, vec![]);
}

#[test]
fn closed_during_an_outage_with_the_page_still_open_wants_nothing_more() {
    // The raise is asked for, SIGNL4 is down, the analyst closes: no page is desired again and
    // no resolve either (nothing was raised); the open raise is cancelled by the Forwarder.
    let state = given(vec![
        observe("New", "High", None, "e1", 10),
        request(raise(1)),
        observe("Closed", "High", None, "e2", 20),
    ]);
    then_desired(&state, vec![]);
    let cancelled = given(vec![
        observe("New", "High", None, "e1", 10),
        request(raise(1)),
        observe("Closed", "High", None, "e2", 20),
        Command::Cancel {
            effect_id: id(&raise(1)),
            reason: "closed".into(),
        },
    ]);
    then_desired(&cancelled, vec![]);
    assert!(cancelled.open_effects.is_empty());
}

#[test]
fn closed_by_the_analyst_after_the_page_resolves_even_after_our_own_write() {
    let mut commands = paged();
    commands.push(observe("Closed", "High", None, "e3", 30));
    then_desired(&given(commands.clone()), vec![resolve(1)]);
    // A later write of ours (its etag is ours) does not hide the analyst's close.
    commands.push(request(Effect::WriteComment {
        comment_id: uuid::Uuid::from_u128(7),
        message: "x".into(),
    }));
    commands.push(observe("Closed", "High", None, "e2", 40));
    then_desired(&given(commands.clone()), vec![resolve(1)]);
    commands.push(request(resolve(1)));
    then_desired(&given(commands), vec![]);
}

#[test]
fn a_reopen_pages_again_in_a_new_round() {
    let mut commands = paged();
    commands.push(observe("Closed", "High", None, "e3", 30));
    commands.push(request(resolve(1)));
    commands.push(observe("Active", "High", None, "e4", 40));
    let state = given(commands.clone());
    assert_eq!(state.round, 2);
    then_desired(&state, vec![raise(2)]);
    commands.push(request(raise(2)));
    commands.push(raised(2));
    // The tag is there since round 1.
    then_desired(&given(commands), vec![]);
}

#[test]
fn an_owner_set_in_sentinel_after_the_page_acknowledges_the_signl() {
    let mut commands = paged();
    commands.push(observe("Active", "High", Some("ann@contoso.com"), "e3", 30));
    then_desired(&given(commands.clone()), vec![acknowledge(1)]);
    commands.push(request(acknowledge(1)));
    then_desired(&given(commands), vec![]);
}

#[test]
fn an_owner_already_there_when_paged_acknowledges_nothing() {
    let state = given(vec![
        observe("New", "High", Some("ann@contoso.com"), "e1", 10),
        request(raise(1)),
        raised(1),
        request(tag()),
    ]);
    then_desired(&state, vec![]);
}

#[test]
fn a_signl4_acknowledge_and_close_in_any_order_want_no_resolve_or_acknowledge() {
    for order in [["ack", "close"], ["close", "ack"]] {
        let mut commands = paged();
        for step in order {
            commands.push(match step {
                "ack" => user(Signl4Action::Acknowledged, "ack/1"),
                _ => user(Signl4Action::Closed, "close/1"),
            });
        }
        // Our write-backs: the owner and the close land in Sentinel.
        commands.push(observe("Closed", "High", Some("rene@signl4.com"), "e5", 50));
        then_desired(&given(commands), vec![]);
    }
    // Acknowledged only, then the analyst closes in Sentinel: the Signl is resolved.
    let mut commands = paged();
    commands.push(user(Signl4Action::Acknowledged, "ack/1"));
    commands.push(observe("Active", "High", Some("rene@signl4.com"), "e5", 50));
    then_desired(&given(commands.clone()), vec![]);
    commands.push(observe("Closed", "High", Some("rene@signl4.com"), "e6", 60));
    then_desired(&given(commands), vec![resolve(1)]);
}
