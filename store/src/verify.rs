//! Integrity check of a log: everything an auditor needs to trust it, reported precisely.
//!
//! Checks, each reported as a [`Problem`] naming the seq and key involved:
//! - the meta format is readable (done by [`EventLog::open`]);
//! - `events` keys are 8 bytes, contiguous from 1 to the last, every record decodes and its header
//!   seq equals its key;
//! - every event has its `by_incident` entry and every entry points at an event of that incident;
//! - every outcome has exactly one earlier intent, no effect has two outcomes, the `outbox` holds
//!   exactly the intents without outcome (pointing at their seq);
//! - every `inbox` entry points at an existing event;
//! - snapshots decode and agree with a replay from seq 1;
//! - open intents older than a threshold are reported: a side effect that was asked for and never
//!   confirmed needs someone's attention.
//!
//! Invariant: verification only reads; it scans everything and reports every problem it finds
//! instead of stopping at the first.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::envelope::{Header, StoredEvent};
use crate::error::StoreError;
use crate::ids::{EffectId, IncidentKey, TenantId};
use crate::keys;
use crate::log::{decode_record_with, EventLog};
use crate::projection::Projection;
use crate::snapshot;

/// Something wrong with a log.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// A key of `events` is not a sequence number.
    BadEventKey { key_hex: String },
    /// Seq `expected` is missing; the next present one is `found`.
    Gap { expected: u64, found: u64 },
    /// A record does not decode (or its header disagrees with its key).
    Undecodable {
        seq: u64,
        key_hex: String,
        reason: String,
    },
    /// An event has no `by_incident` entry.
    IndexMissing { seq: u64, key_hex: String },
    /// A `by_incident` entry points at no event, or at an event of another incident.
    IndexDangling { key_hex: String, seq: u64 },
    /// An outcome whose effect has no earlier intent.
    OutcomeWithoutIntent { seq: u64, effect: EffectId },
    /// A second outcome for one effect.
    DuplicateOutcome {
        seq: u64,
        effect: EffectId,
        first_seq: u64,
    },
    /// A second intent for one effect.
    DuplicateIntent {
        seq: u64,
        effect: EffectId,
        first_seq: u64,
    },
    /// An intent without outcome that is missing from the outbox.
    OutboxMissing { effect: EffectId, intent_seq: u64 },
    /// An outbox entry that is not an open intent (closed, unknown, or pointing elsewhere).
    OutboxStale { effect: EffectId, seq: u64 },
    /// An inbox entry pointing at no event.
    InboxDangling { key_hex: String, seq: u64 },
    /// A snapshot that does not decode or disagrees with the replay.
    BadSnapshot { seq: u64, reason: String },
    /// An intent open for longer than the threshold.
    StaleIntent {
        effect: EffectId,
        seq: u64,
        tenant: TenantId,
        incident: IncidentKey,
        age_ms: i64,
    },
    /// sled failed while reading.
    Io { doing: String, reason: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BadEventKey { key_hex } => write!(f, "events key {key_hex} is not a seq"),
            Problem::Gap { expected, found } => {
                write!(f, "gap: seq {expected} missing, next present is {found}")
            }
            Problem::Undecodable {
                seq,
                key_hex,
                reason,
            } => write!(f, "seq {seq} (key {key_hex}) cannot be read: {reason}"),
            Problem::IndexMissing { seq, key_hex } => {
                write!(f, "seq {seq} has no by_incident entry (expected key {key_hex})")
            }
            Problem::IndexDangling { key_hex, seq } => write!(
                f,
                "by_incident entry {key_hex} points at seq {seq}, which is missing or belongs to another incident"
            ),
            Problem::OutcomeWithoutIntent { seq, effect } => {
                write!(f, "seq {seq}: outcome of effect {effect} without an earlier intent")
            }
            Problem::DuplicateOutcome {
                seq,
                effect,
                first_seq,
            } => write!(
                f,
                "seq {seq}: second outcome of effect {effect} (first at seq {first_seq})"
            ),
            Problem::DuplicateIntent {
                seq,
                effect,
                first_seq,
            } => write!(
                f,
                "seq {seq}: second intent of effect {effect} (first at seq {first_seq})"
            ),
            Problem::OutboxMissing { effect, intent_seq } => write!(
                f,
                "open intent {effect} (seq {intent_seq}) is missing from the outbox"
            ),
            Problem::OutboxStale { effect, seq } => write!(
                f,
                "outbox entry {effect} -> seq {seq} is not an open intent"
            ),
            Problem::InboxDangling { key_hex, seq } => {
                write!(f, "inbox entry {key_hex} points at missing seq {seq}")
            }
            Problem::BadSnapshot { seq, reason } => write!(f, "snapshot at seq {seq}: {reason}"),
            Problem::StaleIntent {
                effect,
                seq,
                tenant,
                incident,
                age_ms,
            } => write!(
                f,
                "intent {effect} (seq {seq}, tenant {tenant}, incident {incident}) open for {}s",
                age_ms / 1000
            ),
            Problem::Io { doing, reason } => write!(f, "I/O error while {doing}: {reason}"),
        }
    }
}

/// The result of a verification.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Records scanned.
    pub events: u64,
    /// First and last seq present.
    pub first_seq: u64,
    pub last_seq: u64,
    /// Distinct incidents seen.
    pub incidents: usize,
    /// Intents without outcome (not necessarily a problem).
    pub open_intents: usize,
    /// Open intents parked on a refusal an operator can fix (a revoked secret, a missing role,
    /// an unknown SIGNL4 team): not a problem of the log, but work waiting for a person.
    pub parked: Vec<ParkedIntent>,
    /// What is wrong; empty means the log is sound.
    pub problems: Vec<Problem>,
}

impl Report {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One parked intent, as `verify` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedIntent {
    pub tenant: TenantId,
    pub incident: IncidentKey,
    pub effect: EffectId,
    /// The reason last recorded.
    pub reason: String,
}

/// Options of a verification.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Report intents open for longer than this (ms).
    pub max_intent_age_ms: i64,
    /// "Now", for intent ages (ms since the epoch).
    pub now_ms: i64,
}

struct EffectTrack {
    intent_seq: u64,
    tenant: TenantId,
    incident: IncidentKey,
    recorded_at_ms: i64,
    outcome_seq: Option<u64>,
}

/// Verifies `log`. `progress(done, total)` is called now and then.
pub fn verify(log: &EventLog, options: Options, progress: &mut dyn FnMut(u64, u64)) -> Report {
    let mut report = Report::default();
    let total = log.expected_len().unwrap_or(0);
    let mut expected: Option<u64> = None;
    let mut bases = log.bases();
    let mut effects: HashMap<EffectId, EffectTrack> = HashMap::new();
    let mut incidents: HashSet<(TenantId, IncidentKey)> = HashSet::new();
    let mut owners: HashMap<u64, (TenantId, IncidentKey)> = HashMap::new();
    let mut replayed = Projection::default();
    let mut replay_ok = true;
    let mut snapshot_seqs: Vec<u64> = Vec::new();
    let snapshots = match log.snapshots_newest_first() {
        Ok(list) => list,
        Err(e) => {
            report.problems.push(io_problem("listing snapshots", e));
            Vec::new()
        }
    };
    let snapshot_at: HashMap<u64, sled::IVec> = snapshots.into_iter().collect();
    snapshot_seqs.extend(snapshot_at.keys().copied());

    for entry in log.events.iter() {
        let (key, bytes) = match entry {
            Ok(kv) => kv,
            Err(e) => {
                report
                    .problems
                    .push(io_problem("scanning events", e.into()));
                break;
            }
        };
        let Some(seq) = keys::event_seq(&key) else {
            report.problems.push(Problem::BadEventKey {
                key_hex: keys::hex(&key),
            });
            continue;
        };
        report.events += 1;
        if report.first_seq == 0 {
            report.first_seq = seq;
            if seq != 1 {
                report.problems.push(Problem::Gap {
                    expected: 1,
                    found: seq,
                });
                replay_ok = false;
            }
        }
        if let Some(expected) = expected {
            if seq != expected {
                report.problems.push(Problem::Gap {
                    expected,
                    found: seq,
                });
                replay_ok = false;
            }
        }
        expected = Some(seq + 1);
        report.last_seq = seq;
        if report.events.is_multiple_of(4_096) {
            progress(report.events, total);
        }

        let event = match decode_record_with(seq, &key, &bytes, &mut bases) {
            Ok(event) => event,
            Err(e) => {
                report.problems.push(Problem::Undecodable {
                    seq,
                    key_hex: keys::hex(&key),
                    reason: e.source.to_string(),
                });
                replay_ok = false;
                // The header may still name the incident, for the index check.
                if let Ok((header, _)) = Header::read(&bytes) {
                    owners.insert(seq, (header.tenant, header.incident));
                }
                continue;
            }
        };
        owners.insert(seq, (event.tenant, event.incident));
        if !event.incident.is_tenant_stream() {
            incidents.insert((event.tenant, event.incident));
        }
        check_index(log, &event, &mut report);
        track_effects(&event, &mut effects, &mut report);
        if replay_ok {
            replayed.apply(&event);
            if let Some(bytes) = snapshot_at.get(&seq) {
                match snapshot::decode(seq, bytes) {
                    Ok(snap) if snap == replayed => {}
                    Ok(_) => report.problems.push(Problem::BadSnapshot {
                        seq,
                        reason: "differs from the state replayed from seq 1".into(),
                    }),
                    Err(reason) => report.problems.push(Problem::BadSnapshot { seq, reason }),
                }
            }
        }
    }
    progress(report.events, total);
    for seq in snapshot_seqs {
        if seq > report.last_seq {
            report.problems.push(Problem::BadSnapshot {
                seq,
                reason: format!("newer than the log's last seq {}", report.last_seq),
            });
        }
    }
    report.incidents = incidents.len();
    if replay_ok {
        report.parked = replayed
            .incidents
            .values()
            .flat_map(|i| {
                i.parked.iter().map(|(effect, reason)| ParkedIntent {
                    tenant: i.tenant,
                    incident: i.key,
                    effect: *effect,
                    reason: reason.clone(),
                })
            })
            .collect();
    }
    check_by_incident(log, &owners, &mut report, progress);
    check_outbox(log, &effects, options, &mut report);
    check_inbox(log, &owners, &mut report, progress);
    report
}

fn io_problem(doing: &str, error: StoreError) -> Problem {
    Problem::Io {
        doing: doing.to_string(),
        reason: error.to_string(),
    }
}

fn check_index(log: &EventLog, event: &StoredEvent, report: &mut Report) {
    let key = keys::by_incident(event.tenant, event.incident, event.seq);
    match log.by_incident.contains_key(key) {
        Ok(true) => {}
        Ok(false) => report.problems.push(Problem::IndexMissing {
            seq: event.seq,
            key_hex: keys::hex(&key),
        }),
        Err(e) => report
            .problems
            .push(io_problem("reading by_incident", e.into())),
    }
}

fn track_effects(
    event: &StoredEvent,
    effects: &mut HashMap<EffectId, EffectTrack>,
    report: &mut Report,
) {
    if let Some(effect) = event.event.opens_effect() {
        if let Some(first) = effects.get(&effect) {
            report.problems.push(Problem::DuplicateIntent {
                seq: event.seq,
                effect,
                first_seq: first.intent_seq,
            });
        } else {
            effects.insert(
                effect,
                EffectTrack {
                    intent_seq: event.seq,
                    tenant: event.tenant,
                    incident: event.incident,
                    recorded_at_ms: event.recorded_at_ms,
                    outcome_seq: None,
                },
            );
        }
    }
    if let Some(effect) = event.event.closes_effect() {
        match effects.get_mut(&effect) {
            None => report.problems.push(Problem::OutcomeWithoutIntent {
                seq: event.seq,
                effect,
            }),
            Some(track) => match track.outcome_seq {
                Some(first_seq) => report.problems.push(Problem::DuplicateOutcome {
                    seq: event.seq,
                    effect,
                    first_seq,
                }),
                None => track.outcome_seq = Some(event.seq),
            },
        }
    }
}

fn check_by_incident(
    log: &EventLog,
    owners: &HashMap<u64, (TenantId, IncidentKey)>,
    report: &mut Report,
    progress: &mut dyn FnMut(u64, u64),
) {
    for (n, entry) in log.by_incident.iter().keys().enumerate() {
        // The index is as long as the log: keep reporting progress (a watched caller gives
        // up on work that stops reporting it).
        if n % 4_096 == 4_095 {
            progress(report.events, report.events);
        }
        let key = match entry {
            Ok(key) => key,
            Err(e) => {
                report
                    .problems
                    .push(io_problem("scanning by_incident", e.into()));
                return;
            }
        };
        let Some((tenant, incident, seq)) = keys::split_by_incident(&key) else {
            report.problems.push(Problem::IndexDangling {
                key_hex: keys::hex(&key),
                seq: 0,
            });
            continue;
        };
        if owners.get(&seq) != Some(&(tenant, incident)) {
            report.problems.push(Problem::IndexDangling {
                key_hex: keys::hex(&key),
                seq,
            });
        }
    }
}

fn check_outbox(
    log: &EventLog,
    effects: &HashMap<EffectId, EffectTrack>,
    options: Options,
    report: &mut Report,
) {
    let outbox: HashMap<EffectId, u64> = match log.outbox() {
        Ok(entries) => entries.into_iter().collect(),
        Err(e) => {
            report.problems.push(io_problem("reading the outbox", e));
            return;
        }
    };
    let mut open: Vec<(&EffectId, &EffectTrack)> = effects
        .iter()
        .filter(|(_, t)| t.outcome_seq.is_none())
        .collect();
    open.sort_by_key(|(_, t)| t.intent_seq);
    report.open_intents = open.len();
    for (effect, track) in open {
        if outbox.get(effect) != Some(&track.intent_seq) {
            report.problems.push(Problem::OutboxMissing {
                effect: *effect,
                intent_seq: track.intent_seq,
            });
        }
        let age_ms = options.now_ms - track.recorded_at_ms;
        if age_ms > options.max_intent_age_ms {
            report.problems.push(Problem::StaleIntent {
                effect: *effect,
                seq: track.intent_seq,
                tenant: track.tenant,
                incident: track.incident,
                age_ms,
            });
        }
    }
    let mut stale: Vec<_> = outbox
        .iter()
        .filter(|(effect, seq)| {
            !matches!(effects.get(effect),
                Some(t) if t.outcome_seq.is_none() && t.intent_seq == **seq)
        })
        .collect();
    stale.sort();
    for (effect, seq) in stale {
        report.problems.push(Problem::OutboxStale {
            effect: *effect,
            seq: *seq,
        });
    }
}

fn check_inbox(
    log: &EventLog,
    owners: &HashMap<u64, (TenantId, IncidentKey)>,
    report: &mut Report,
    progress: &mut dyn FnMut(u64, u64),
) {
    for (n, entry) in log.inbox.iter().enumerate() {
        if n % 4_096 == 4_095 {
            progress(report.events, report.events);
        }
        match entry {
            Ok((key, value)) => {
                let seq = keys::event_seq(&value).unwrap_or(0);
                if !owners.contains_key(&seq) {
                    report.problems.push(Problem::InboxDangling {
                        key_hex: keys::hex(&key),
                        seq,
                    });
                }
            }
            Err(e) => {
                report
                    .problems
                    .push(io_problem("scanning the inbox", e.into()));
                return;
            }
        }
    }
}
