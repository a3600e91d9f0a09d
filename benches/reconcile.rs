//! One reconcile tick's projection work for 1,000 connectors over 100k closed incidents (issue
//! #12: per-tick work proportional to pending work, not to all incidents), before and after the
//! pending-work index (`store::projection::index`).
//!
//! Run: `cargo bench --bench reconcile`. Figures are printed, never asserted. `S4_BENCH_TENANTS`
//! and `S4_BENCH_CLOSED` (closed incidents per tenant) change the size (defaults 1,000 and 100).
//!
//! The projection is built in memory (decide + apply, as the writer does; no disk): each tenant
//! has `S4_BENCH_CLOSED` incidents that went through a whole lifecycle (observed, paged, tagged,
//! closed in Sentinel, Signl resolved), and every tenth tenant a few with pending work (an open
//! page, an open Signl, a Signl waiting for its tag). Two ages of the closed incidents are
//! measured: older than the 24 h lookback (a connector that has run for a while), and all within
//! it (the worst case for tag candidates, which are bounded by the lookback; see
//! `Projection::paged_since`).
//!
//! A tick is what the actors ask of the projection for each connector when nothing new came in:
//! the Forwarder's `reconcile` (its open intents) and `tag_wanted` (incidents wanting the tag),
//! StatusSync's `reconcile` (its open intents, `sync_open_signls` with `desired_effects` per
//! Signl up, `sync_unseen_comments`' candidates). "before" is the scans those made until now,
//! kept here for the comparison only ([`before`]); "after" is the index queries they make now.

use std::hint::black_box;
use std::time::Instant;

use store::aggregate::{desired_effects, effect_id, Incident, Policy, SignlStatus};
use store::events::*;
use store::{Command, IncidentKey, Projection, TenantId};
use uuid::Uuid;

const LOOKBACK_MS: i64 = 24 * 3600 * 1000;
const NOW_MS: i64 = 1_764_000_000_000;

fn policy() -> Policy {
    Policy {
        page_statuses: vec!["New".into(), "Active".into()],
        page_severities: vec![],
        tag: "SIGNL4".into(),
        resolve_on_sentinel_close: true,
        ack_signl_on_sentinel_owner: true,
    }
}

fn observation(key: IncidentKey, n: i64, status: &str) -> Command {
    Command::Observe(IncidentObserved {
        source: Source::Sentinel,
        name: key.to_string(),
        etag: format!("\"{n}-{status}\""),
        incident_number: n,
        title: "Multiple failed sign-ins followed by a success".into(),
        severity: "High".into(),
        status: status.into(),
        owner: None,
        created_ms: NOW_MS,
        last_modified_ms: NOW_MS,
        incident_url: String::new(),
        labels: vec![],
        raw_json: String::new(),
    })
}

/// Every event applied, in order, to measure the fold with and without the index.
type Events = Vec<(TenantId, IncidentKey, Event, i64)>;

/// Decides and applies `commands` on one incident, as the writer does.
fn record(
    p: &mut Projection,
    log: &mut Events,
    t: TenantId,
    key: IncidentKey,
    commands: &[Command],
    at: i64,
) {
    for command in commands {
        let events = p.decide(t, key, command).expect("lifecycle step allowed");
        for event in events {
            p.last_seq += 1;
            p.apply_event(t, key, &event, at);
            log.push((t, key, event, at));
        }
    }
}

fn succeed(t: TenantId, key: IncidentKey, effect: &Effect, result: EffectResult) -> Command {
    Command::Succeed {
        effect_id: effect_id(t, key, effect),
        result,
    }
}

/// Up to and including a raised Signl (`tagged`: and its tag; `closed`: then closed in Sentinel
/// and resolved).
fn lifecycle(t: TenantId, key: IncidentKey, n: i64, tagged: bool, closed: bool) -> Vec<Command> {
    let external = store::ids::external_id(t, key);
    let raise = Effect::RaiseSignl {
        external_id: external.clone(),
        round: 1,
    };
    let tag = Effect::TagIncident {
        label: "SIGNL4".into(),
    };
    let resolve = Effect::ResolveSignl {
        external_id: external,
        round: 1,
    };
    let mut out = vec![
        observation(key, n, "New"),
        Command::Request(raise.clone()),
        succeed(
            t,
            key,
            &raise,
            EffectResult::SignlRaised {
                event_id: format!("ev{n}"),
            },
        ),
    ];
    if tagged {
        out.push(Command::Request(tag.clone()));
        out.push(succeed(
            t,
            key,
            &tag,
            EffectResult::IncidentWritten {
                etag: format!("\"own{n}\""),
            },
        ));
    }
    if closed {
        out.push(observation(key, n, "Closed"));
        out.push(Command::Request(resolve.clone()));
        out.push(succeed(
            t,
            key,
            &resolve,
            EffectResult::Signl4Accepted {
                reference: String::new(),
            },
        ));
    }
    out
}

/// `tenants` connectors with `closed` closed incidents each, last active at `closed_at`, plus
/// pending work on every tenth connector (recent).
fn world(tenants: usize, closed: usize, closed_at: i64) -> (Projection, Vec<TenantId>, Events) {
    let mut p = Projection::default();
    let mut log = Events::new();
    let ids: Vec<TenantId> = (0..tenants)
        .map(|n| TenantId::from_name(&format!("customer-{n}")))
        .collect();
    for (tn, t) in ids.iter().enumerate() {
        for n in 0..closed {
            let key = IncidentKey(Uuid::from_u64_pair(tn as u64 + 1, n as u64 + 1));
            record(
                &mut p,
                &mut log,
                *t,
                key,
                &lifecycle(*t, key, n as i64, true, true),
                closed_at,
            );
        }
        if tn % 10 == 0 {
            let pending = |n: u64| IncidentKey(Uuid::from_u64_pair(tn as u64 + 1, 1_000_000 + n));
            let (open_page, signl_up, untagged) = (pending(1), pending(2), pending(3));
            let mut page = lifecycle(*t, open_page, 1, false, false);
            page.truncate(2); // observed and the page asked for: an open intent
            record(&mut p, &mut log, *t, open_page, &page, NOW_MS);
            let up = lifecycle(*t, signl_up, 2, true, false);
            record(&mut p, &mut log, *t, signl_up, &up, NOW_MS);
            let gap = lifecycle(*t, untagged, 3, false, false);
            record(&mut p, &mut log, *t, untagged, &gap, NOW_MS); // a crash before the tag's intent
        }
    }
    (p, ids, log)
}

/// Seconds to fold `log` into a projection (index maintained), and into the incidents alone
/// (the fold as it was before the index), best of three each.
fn fold(log: &Events) -> (f64, f64) {
    let best = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let indexed = best(&|| {
        let mut p = Projection::default();
        for (t, key, event, at) in log {
            p.apply_event(*t, *key, event, *at);
        }
        black_box(p);
    });
    let bare = best(&|| {
        let mut incidents: std::collections::HashMap<
            (TenantId, IncidentKey),
            Incident,
            rustc_hash::FxBuildHasher,
        > = Default::default();
        for (t, key, event, at) in log {
            incidents
                .entry((*t, *key))
                .or_insert_with(|| Incident::new(*t, *key))
                .apply(event, *at);
        }
        black_box(incidents);
    });
    (indexed, bare)
}

fn open_on_both_sides(i: &Incident) -> bool {
    !i.closed_in_sentinel()
        && matches!(
            i.signl.status,
            SignlStatus::Open | SignlStatus::Acknowledged
        )
}

fn wants_tag(i: &Incident, policy: &Policy) -> bool {
    desired_effects(i, policy)
        .iter()
        .any(|e| matches!(e, Effect::TagIncident { .. }))
}

/// The scans the actors made per connector and tick before the index (kept for comparison).
mod before {
    use super::*;

    /// The old `Projection::open_effects`: every incident of every tenant.
    fn open_effects(p: &Projection) -> Vec<(TenantId, IncidentKey, store::EffectId, Effect)> {
        let mut out: Vec<_> = p
            .incidents
            .values()
            .flat_map(|i| {
                i.open_effects
                    .iter()
                    .map(move |(id, effect)| (i.tenant, i.key, *id, effect.clone()))
            })
            .collect();
        out.sort_by_key(|(t, i, id, _)| (*t, *i, *id));
        out
    }

    /// Returns how much was found, so nothing is optimised away.
    pub fn tick(p: &Projection, t: TenantId, policy: &Policy, since_ms: i64) -> usize {
        // Forwarder::reconcile, then tag_wanted.
        let forwarder = open_effects(p)
            .into_iter()
            .filter(|(tt, ..)| *tt == t)
            .count();
        let tags = p
            .incidents
            .values()
            .filter(|i| i.tenant == t && i.last_event_ms >= since_ms)
            .filter(|i| wants_tag(i, policy))
            .count();
        // StatusSync::reconcile: owned_open_effects, sync_open_signls, sync_unseen_comments.
        let sync = open_effects(p)
            .into_iter()
            .filter(|(tt, ..)| *tt == t)
            .count();
        let up: Vec<IncidentKey> = p
            .incidents
            .values()
            .filter(|i| {
                i.tenant == t
                    && matches!(
                        i.signl.status,
                        SignlStatus::Open | SignlStatus::Acknowledged
                    )
            })
            .map(|i| i.key)
            .collect();
        let wanted: usize = up
            .iter()
            .filter_map(|k| p.incident(t, *k))
            .map(|i| desired_effects(i, policy).len())
            .sum();
        let comments = p
            .incidents
            .values()
            .filter(|i| i.tenant == t && open_on_both_sides(i))
            .count();
        forwarder + tags + sync + wanted + comments
    }
}

/// The same tick through the index queries the actors make now.
mod after {
    use super::*;

    pub fn tick(p: &Projection, t: TenantId, policy: &Policy, since_ms: i64) -> usize {
        let forwarder = p.open_effects_of(t).len();
        let tags = p
            .paged_since(t, since_ms)
            .filter(|i| wants_tag(i, policy))
            .count();
        let sync = p.open_effects_of(t).len();
        let up: Vec<IncidentKey> = p
            .with_signl_up(t)
            .filter(|i| {
                matches!(
                    i.signl.status,
                    SignlStatus::Open | SignlStatus::Acknowledged
                )
            })
            .map(|i| i.key)
            .collect();
        let wanted: usize = up
            .iter()
            .filter_map(|k| p.incident(t, *k))
            .map(|i| desired_effects(i, policy).len())
            .sum();
        let comments = p.with_signl_up(t).filter(|i| open_on_both_sides(i)).count();
        forwarder + tags + sync + wanted + comments
    }
}

/// Runs `tick` for every tenant, `passes` times (at least once and at least 2 s, whichever is
/// more, when `passes` is 0); returns seconds per pass and what one pass found.
fn measure(
    p: &Projection,
    tenants: &[TenantId],
    passes: usize,
    tick: fn(&Projection, TenantId, &Policy, i64) -> usize,
) -> (f64, usize) {
    let policy = policy();
    let since_ms = NOW_MS - LOOKBACK_MS;
    let mut found = 0;
    let started = Instant::now();
    let mut done = 0;
    while done < passes.max(1) || (passes == 0 && started.elapsed().as_secs_f64() < 2.0) {
        found = tenants
            .iter()
            .map(|t| tick(black_box(p), *t, &policy, since_ms))
            .sum();
        done += 1;
    }
    (started.elapsed().as_secs_f64() / done as f64, found)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once, small.
    let quick = std::env::args().all(|a| a != "--bench");
    let tenants = env("S4_BENCH_TENANTS", if quick { 20 } else { 1_000 });
    let closed = env("S4_BENCH_CLOSED", if quick { 10 } else { 100 });
    println!(
        "reconcile tick: {tenants} connectors x {closed} closed incidents, pending work on every \
         tenth connector (an open page, an open Signl, a Signl without its tag)"
    );
    for (label, closed_at) in [
        (
            "closed long ago (outside the 24 h lookback)",
            NOW_MS - 30 * LOOKBACK_MS,
        ),
        (
            "closed within the lookback (worst case)",
            NOW_MS - LOOKBACK_MS / 2,
        ),
    ] {
        let started = Instant::now();
        let (p, ids, log) = world(tenants, closed, closed_at);
        let built = started.elapsed().as_secs_f64();
        let mut rebuilt = p.clone();
        let started = Instant::now();
        rebuilt.rebuild_index();
        let rebuild = started.elapsed().as_secs_f64();
        assert_eq!(
            rebuilt.index(),
            p.index(),
            "rebuilt index equals the maintained one"
        );
        let (old, found_old) = measure(&p, &ids, if quick { 1 } else { 3 }, before::tick);
        let (new, found_new) = measure(&p, &ids, if quick { 1 } else { 0 }, after::tick);
        assert_eq!(found_old, found_new, "the index finds what the scans found");
        println!(
            "\n{label}: {} incidents, built in {built:.1} s",
            p.incidents.len()
        );
        println!(
            "  one tick, all connectors: before (scans) {:>10.3} ms   after (index) {:>8.3} ms   \
             ({:.0}x)",
            old * 1e3,
            new * 1e3,
            old / new
        );
        println!(
            "  per connector:            before {:>10.1} us   after {:>8.2} us   found {} items",
            old * 1e6 / ids.len() as f64,
            new * 1e6 / ids.len() as f64,
            found_new
        );
        println!(
            "  index rebuild (snapshot load) for {} incidents: {:.1} ms",
            p.incidents.len(),
            rebuild * 1e3
        );
        let (indexed, bare) = fold(&log);
        println!(
            "  fold of its {} events: {:.0} ns/event with the index, {:.0} ns/event without \
             (+{:.0}%)",
            log.len(),
            indexed * 1e9 / log.len() as f64,
            bare * 1e9 / log.len() as f64,
            (indexed / bare - 1.0) * 100.0
        );
    }
}
