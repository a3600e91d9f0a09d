//! The pending-work index against full scans: random command sequences over a few tenants and
//! incidents are decided and applied to a projection as the writer does, and after every step
//! each index-based query, filtered as the actors filter it, must answer exactly what a scan of
//! every incident with the same filter answers (the level-triggered guarantee: nothing the old
//! scans found is missed), the incrementally maintained index must equal one rebuilt from
//! scratch, and a snapshot round trip must give the same projection, index included.
//!
//! Then given/when/then tests of one lifecycle each: which queries an incident is found by.

mod common;

use std::collections::BTreeSet;

use common::{incident, observed, tenant};
use proptest::prelude::*;
use store::aggregate::{desired_effects, wants_page, Policy, SignlStatus};
use store::events::{Effect, EffectResult, IncidentMerged, Signl4Action, Signl4ActionReceived};
use store::{snapshot, Command, Incident, IncidentKey, Projection, TenantId};

fn tenants() -> [TenantId; 2] {
    [tenant(), TenantId::from_name("fabrikam")]
}

#[derive(Clone, Debug)]
enum Step {
    Observe {
        incident: u8,
        status: u8,
        severity: u8,
        owner: u8,
        /// A Defender redirect to incident `n` (only meaningful when closed).
        redirect: Option<u8>,
    },
    Request {
        incident: u8,
        effect: u8,
    },
    /// Outcome of the first open intent: 0 success, 1 failure, 2 cancel, 3 park.
    Outcome {
        incident: u8,
        how: u8,
    },
    Signl4 {
        incident: u8,
        action: u8,
    },
    Merge {
        incident: u8,
        into: u8,
        survivor_paged: bool,
    },
}

/// Steps on one of the two tenants (`tenant`) and four incidents.
fn step() -> impl Strategy<Value = (u8, Step)> {
    let step = prop_oneof![
        4 => (0..4u8, 0..4u8, 0..2u8, 0..3u8, prop::option::of(0..4u8)).prop_map(
            |(incident, status, severity, owner, redirect)| Step::Observe {
                incident, status, severity, owner, redirect
            }
        ),
        4 => (0..4u8, 0..6u8).prop_map(|(incident, effect)| Step::Request { incident, effect }),
        4 => (0..4u8, 0..4u8).prop_map(|(incident, how)| Step::Outcome { incident, how }),
        2 => (0..4u8, 0..3u8).prop_map(|(incident, action)| Step::Signl4 { incident, action }),
        1 => (0..4u8, 0..4u8, any::<bool>()).prop_map(|(incident, into, survivor_paged)| {
            Step::Merge { incident, into, survivor_paged }
        }),
    ];
    (0..2u8, step)
}

fn name(n: u8) -> String {
    incident(n as u128).to_string()
}

/// The command a step stands for in the current state (`None`: nothing applies).
fn command(p: &Projection, t: TenantId, step: &Step, at: i64) -> Option<(IncidentKey, Command)> {
    let state = |n: u8| p.incident(t, incident(n as u128));
    Some(match step {
        Step::Observe {
            incident: n,
            status,
            severity,
            owner,
            redirect,
        } => {
            let status = ["New", "Active", "Closed", "Resolved"][*status as usize];
            let mut o = observed(*n as i64, status, &format!("e{at}"), at);
            o.severity = ["High", "Low"][*severity as usize].into();
            o.owner = [None, Some("alice"), Some("bob")][*owner as usize].map(str::to_string);
            if let Some(r) = redirect {
                o.raw_json = format!(
                    "{{\"properties\":{{\"status\":\"{status}\",\"redirectIncidentId\":\"{}\"}}}}",
                    name(*r)
                );
            }
            (incident(*n as u128), Command::Observe(o))
        }
        Step::Request {
            incident: n,
            effect,
        } => {
            let key = incident(*n as u128);
            let i = state(*n)?;
            let external = store::ids::external_id(t, key);
            let effect = match effect {
                0 => Effect::RaiseSignl {
                    external_id: external,
                    round: i.round,
                },
                1 => Effect::TagIncident { label: "A".into() },
                2 => Effect::TagIncident { label: "B".into() },
                3 => Effect::ResolveSignl {
                    external_id: external,
                    round: i.round,
                },
                4 => Effect::AcknowledgeSignl {
                    external_id: external,
                    round: i.round,
                },
                _ => Effect::WriteComment {
                    comment_id: uuid::Uuid::from_u128(at as u128),
                    message: "note".into(),
                },
            };
            (key, Command::Request(effect))
        }
        Step::Outcome { incident: n, how } => {
            let key = incident(*n as u128);
            let (effect_id, effect) = state(*n)?
                .open_effects
                .iter()
                .next()
                .map(|(id, e)| (*id, e.clone()))?;
            let result = match effect {
                Effect::RaiseSignl { .. } => EffectResult::SignlRaised {
                    event_id: format!("ev{at}"),
                },
                Effect::TagIncident { .. } => EffectResult::IncidentWritten {
                    etag: format!("\"own{at}\""),
                },
                _ => EffectResult::AlreadyDone {
                    detail: "done".into(),
                },
            };
            let command = match how {
                0 => Command::Succeed { effect_id, result },
                1 => Command::Fail {
                    effect_id,
                    reason: "refused".into(),
                    attempts: 1,
                },
                2 => Command::Cancel {
                    effect_id,
                    reason: "closed".into(),
                },
                _ => Command::Park {
                    effect_id,
                    reason: format!("401 at {at}"),
                    attempts: 1,
                },
            };
            (key, command)
        }
        Step::Signl4 {
            incident: n,
            action,
        } => (
            incident(*n as u128),
            Command::RecordSignl4Action(Signl4ActionReceived {
                notification_id: format!("n{at}"),
                signl_id: format!("s{n}"),
                action: match action {
                    0 => Signl4Action::Acknowledged,
                    1 => Signl4Action::Closed,
                    _ => Signl4Action::Annotated {
                        text: "on my way".into(),
                    },
                },
                user_email: Some("oncall@example.com".into()),
                user_name: None,
                raised_at_ms: at,
            }),
        ),
        Step::Merge {
            incident: n,
            into,
            survivor_paged,
        } => (
            incident(*n as u128),
            Command::RecordMerge(IncidentMerged {
                into_name: name(*into),
                into_number: *into as i64,
                survivor_paged: *survivor_paged,
            }),
        ),
    })
}

/// The policies the actors could run with: every tag label seen, none, and both page filters.
fn policies() -> Vec<Policy> {
    let mut out = Vec::new();
    for tag in ["", "A", "B", "C"] {
        for severities in [vec![], vec!["High".to_string()]] {
            for flags in [true, false] {
                out.push(Policy {
                    page_statuses: vec!["New".into(), "Active".into()],
                    page_severities: severities.clone(),
                    tag: tag.into(),
                    resolve_on_sentinel_close: flags,
                    ack_signl_on_sentinel_owner: flags,
                });
            }
        }
    }
    out
}

/// The incidents of one tenant, as the old scans visited them.
fn scan(p: &Projection, t: TenantId) -> impl Iterator<Item = &Incident> {
    p.incidents.values().filter(move |i| i.tenant == t)
}

fn keys<'a>(incidents: impl IntoIterator<Item = &'a Incident>) -> BTreeSet<IncidentKey> {
    incidents.into_iter().map(|i| i.key).collect()
}

fn wants_tag(i: &Incident, policy: &Policy) -> bool {
    desired_effects(i, policy)
        .iter()
        .any(|e| matches!(e, Effect::TagIncident { .. }))
}

fn signl_up(i: &Incident) -> bool {
    matches!(
        i.signl.status,
        SignlStatus::Open | SignlStatus::Acknowledged
    )
}

/// Every query against its scan (see the module docs).
fn check(p: &Projection, now: i64) -> Result<(), TestCaseError> {
    let mut rebuilt = p.clone();
    rebuilt.rebuild_index();
    prop_assert_eq!(p.index(), rebuilt.index(), "incremental index != rebuilt");
    let decoded = snapshot::decode(p.last_seq, &snapshot::encode(p)).unwrap();
    prop_assert_eq!(&decoded, p, "snapshot round trip changed the projection");

    // The old `Projection::open_effects`, a scan of every incident.
    let mut all: Vec<_> = p
        .incidents
        .values()
        .flat_map(|i| {
            i.open_effects
                .iter()
                .map(move |(id, e)| (i.tenant, i.key, *id, e.clone()))
        })
        .collect();
    all.sort_by_key(|(t, i, id, _)| (*t, *i, *id));
    prop_assert_eq!(p.open_effects(), all.clone());

    for t in tenants() {
        let of: Vec<_> = all
            .iter()
            .filter(|(tt, ..)| *tt == t)
            .map(|(_, i, id, e)| (*i, *id, e.clone()))
            .collect();
        prop_assert_eq!(p.open_effects_of(t), of);
        prop_assert_eq!(keys(p.incidents_of(t)), keys(scan(p, t)));
        prop_assert_eq!(p.incident_count(t), scan(p, t).count());

        // StatusSync: Signls up (`sync_open_signls`, `sync_unseen_comments`, the REST poll).
        let up = |i: &&Incident| {
            matches!(
                i.signl.status,
                SignlStatus::Requested | SignlStatus::Open | SignlStatus::Acknowledged
            )
        };
        prop_assert_eq!(keys(p.with_signl_up(t)), keys(scan(p, t).filter(up)));

        for policy in policies() {
            // Paging at start (`connector::start`): wants_page.
            prop_assert_eq!(
                keys(p.unpaged(t).filter(|i| wants_page(i, &policy))),
                keys(scan(p, t).filter(|i| wants_page(i, &policy)))
            );
            // Everything but tags is among the incidents with pending work.
            let non_tag = |i: &&Incident| {
                desired_effects(i, &policy)
                    .iter()
                    .any(|e| !matches!(e, Effect::TagIncident { .. }))
            };
            prop_assert_eq!(
                keys(p.with_pending_work(t).into_iter().filter(non_tag)),
                keys(scan(p, t).filter(non_tag))
            );
            // Tags (`tag_wanted`), with its lookback, at several cut-offs.
            for since in [i64::MIN, now - 20, now - 5, now] {
                prop_assert_eq!(
                    keys(p.paged_since(t, since).filter(|i| wants_tag(i, &policy))),
                    keys(scan(p, t).filter(|i| i.last_event_ms >= since && wants_tag(i, &policy)))
                );
            }
        }

        // Defender merges (`covered_by_merge`, `resolve_followers`).
        for n in 0..5u8 {
            let survivor = name(n);
            prop_assert_eq!(
                keys(p.followers_of(t, &survivor).filter(|i| signl_up(i))),
                keys(scan(p, t).filter(|i| {
                    i.merged_into.as_deref() == Some(survivor.as_str()) && signl_up(i)
                }))
            );
        }
    }
    Ok(())
}

fn run(steps: Vec<(u8, Step)>) -> Result<(), TestCaseError> {
    let mut p = Projection::default();
    for (at, (t, step)) in steps.iter().enumerate() {
        let at = 1_000 + at as i64;
        let t = tenants()[*t as usize];
        let Some((key, command)) = command(&p, t, step, at) else {
            continue;
        };
        let Ok(events) = p.decide(t, key, &command) else {
            continue; // refused, as the writer would refuse it
        };
        for event in &events {
            p.last_seq += 1;
            p.apply_event(t, key, event, at);
        }
        check(&p, at)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn index_queries_find_what_full_scans_find(steps in prop::collection::vec(step(), 1..80)) {
        run(steps)?;
    }
}

// Given/when/then: one lifecycle each, and which queries find the incident.

/// The projection after `commands` on incident 1 of the first tenant, each decided and applied
/// as the writer does, one millisecond apart from 1,000.
fn given(commands: Vec<Command>) -> Projection {
    let mut p = Projection::default();
    for (n, command) in commands.iter().enumerate() {
        let events = p
            .decide(tenant(), incident(1), command)
            .unwrap_or_else(|e| panic!("command {n} refused: {e}"));
        for event in &events {
            p.last_seq += 1;
            p.apply_event(tenant(), incident(1), event, 1_000 + n as i64);
        }
    }
    p
}

fn raise(round: u32) -> Effect {
    Effect::RaiseSignl {
        external_id: store::ids::external_id(tenant(), incident(1)),
        round,
    }
}

fn raised() -> Command {
    Command::Succeed {
        effect_id: store::aggregate::effect_id(tenant(), incident(1), &raise(1)),
        result: EffectResult::SignlRaised {
            event_id: "ev".into(),
        },
    }
}

fn observe(status: &str, etag: &str) -> Command {
    Command::Observe(observed(1, status, etag, 1_000))
}

#[test]
fn a_new_incident_is_unpaged_until_its_page_is_asked_for() {
    let p = given(vec![observe("New", "1")]);
    assert_eq!(keys(p.unpaged(tenant())), BTreeSet::from([incident(1)]));
    assert!(p.open_effects_of(tenant()).is_empty());

    let p = given(vec![observe("New", "1"), Command::Request(raise(1))]);
    assert!(keys(p.unpaged(tenant())).is_empty());
    assert_eq!(
        keys(p.with_signl_up(tenant())),
        BTreeSet::from([incident(1)])
    );
    assert_eq!(p.open_effects_of(tenant()).len(), 1);
}

#[test]
fn a_closed_and_resolved_incident_leaves_every_set_but_paged() {
    let resolve = Effect::ResolveSignl {
        external_id: store::ids::external_id(tenant(), incident(1)),
        round: 1,
    };
    let p = given(vec![
        observe("New", "1"),
        Command::Request(raise(1)),
        raised(),
        observe("Closed", "2"),
        Command::Request(resolve.clone()),
        Command::Succeed {
            effect_id: store::aggregate::effect_id(tenant(), incident(1), &resolve),
            result: EffectResult::Signl4Accepted {
                reference: "r".into(),
            },
        },
    ]);
    assert!(p.with_pending_work(tenant()).is_empty());
    assert!(p.open_effects().is_empty());
    // Still a tag candidate while active within the lookback, and not after it.
    assert_eq!(
        keys(p.paged_since(tenant(), 1_000)),
        BTreeSet::from([incident(1)])
    );
    assert!(keys(p.paged_since(tenant(), 1_006)).is_empty());
}

#[test]
fn a_merged_incident_is_found_by_its_survivors_name() {
    let p = given(vec![
        observe("New", "1"),
        Command::RecordMerge(IncidentMerged {
            into_name: "survivor".into(),
            into_number: 7,
            survivor_paged: false,
        }),
    ]);
    assert_eq!(
        keys(p.followers_of(tenant(), "survivor")),
        BTreeSet::from([incident(1)])
    );
    assert!(keys(p.followers_of(tenant(), "other")).is_empty());
    assert!(keys(p.followers_of(TenantId::from_name("fabrikam"), "survivor")).is_empty());
}

#[test]
fn a_snapshot_rebuilds_the_index_it_does_not_hold() {
    let p = given(vec![observe("New", "1"), Command::Request(raise(1))]);
    let bytes = snapshot::encode(&p);
    // The index adds no bytes: a projection's snapshot is its incidents and tenants only.
    let mut bare = Projection::default();
    bare.last_seq = p.last_seq;
    bare.incidents = p.incidents.clone();
    assert_eq!(snapshot::encode(&bare), bytes);
    let decoded = snapshot::decode(p.last_seq, &bytes).unwrap();
    assert_eq!(decoded, p);
    assert_eq!(decoded.open_effects_of(tenant()).len(), 1);
}
