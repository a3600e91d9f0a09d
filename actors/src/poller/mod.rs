//! The Poller: lists a connector's incidents from its durable watermark and records every
//! observation in the log, then hands incidents that need a page to the Enricher.
//!
//! Invariants:
//! - Nothing is missed: each poll lists from `watermark - overlap` (or `now - lookback` on the
//!   first start) in ascending `lastModifiedTimeUtc`, follows every `nextLink`, and moves the
//!   watermark only after the whole listing is recorded, and never past the poll's start. A
//!   crash mid-poll re-lists from the old watermark; repeats are absorbed by the aggregate (same
//!   etag: no event). Paging is not a snapshot: an incident that changes while being listed
//!   moves to the end and can shift another past a page boundary, so every `sweep_interval`
//!   (and at start) a poll lists the whole lookback window again.
//! - Nothing is recorded twice: an observation is an event only when its etag is new.
//! - One poll at a time per connector; a tick during a poll is skipped, not queued.
//! - Closed incidents are listed too (whatever the status filter), so that a close and a later
//!   reopen are seen; a reopened incident starts a new round and is handed on like a new one.
//!   Only incidents in the configured statuses are paged.

mod actor;
mod handlers;

use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix::Recipient;
use store::aggregate::{desired_effects, Incident, Policy, SignlStatus};
use store::events::{Effect, WatermarkAdvanced};
use store::writer::Execution;
use store::{Command, ExecuteOutcome, IncidentKey, Store, StoreError};
use uuid::Uuid;

use crate::messages::{Enrich, SentinelChanged};
use crate::observation::observed;
use crate::ports::{ApiError, IncidentQuery, IncidentSource};
use crate::retry::retry;
use crate::settings::ConnectorSettings;
use crate::tracker::Tracker;

/// The Poller of one connector.
pub struct Poller<S: IncidentSource + 'static> {
    /// The shared state a poll needs (cloned into each poll's future).
    context: Rc<PollContext<S>>,
    /// Work in flight: 1 while a poll runs.
    tracker: Tracker,
    /// When the last successful sweep started (`None`: none yet, so the next poll is one; a
    /// failed sweep is tried again on the next tick).
    last_sweep: Option<std::time::Instant>,
    /// After a 429, no poll before this: ticks in between are skipped, so a throttled
    /// subscription is not asked again (nor the log filled) every poll interval.
    throttled_until: Option<std::time::Instant>,
}

/// Everything a poll needs; shared between the actor and its in-flight poll.
pub struct PollContext<S> {
    pub settings: Rc<ConnectorSettings>,
    pub store: Store,
    pub api: Rc<S>,
    pub enricher: Recipient<Enrich>,
    /// Told about recorded changes of incidents that have a Signl (closes to resolve).
    pub status_sync: Recipient<SentinelChanged>,
}

/// Why a poll stopped early (the next tick tries again from the same watermark).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("listing incidents failed: {0}")]
    Api(#[from] ApiError),
    #[error("recording observations failed: {0}")]
    Store(#[from] StoreError),
}

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollStats {
    pub pages: u32,
    pub listed: u32,
    pub recorded: u32,
    pub handed_on: u32,
}

impl<S: IncidentSource + 'static> Poller<S> {
    /// A Poller for one connector.
    pub fn new(context: PollContext<S>) -> Self {
        Poller {
            context: Rc::new(context),
            tracker: Tracker::default(),
            last_sweep: None,
            throttled_until: None,
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// True when the incident's current round still needs its Signl: the state wants a page
/// (`store::aggregate::wants_page`: in the statuses and severities the connector pages for, not
/// closed, nothing asked for yet in this round), evaluated on every change of the incident.
pub fn needs_page(
    store: &Store,
    settings: &ConnectorSettings,
    tenant: store::TenantId,
    incident: IncidentKey,
) -> bool {
    let policy = settings.policy();
    let candidate = store.read(|p| {
        p.incident(tenant, incident)
            .filter(|i| store::aggregate::wants_page(i, &policy))
            .cloned()
    });
    // A Defender incident another one was merged into is already paged by that one's Signl.
    candidate.is_some_and(|i| !crate::status_sync::merge::covered_by_merge(store, tenant, &i))
}

/// The resolve or acknowledge of the Signl that `observe` implies for `state`: the state after
/// the observation (decided and applied on a copy, as the writer will) wants them and nobody
/// asked for them yet.
fn implied_signl_effects(state: &Incident, observe: &Command, policy: &Policy) -> Vec<Effect> {
    let Ok(events) = state.decide(observe) else {
        return Vec::new();
    };
    let mut after = state.clone();
    for event in &events {
        after.apply(event, 0);
    }
    desired_effects(&after, policy)
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Effect::ResolveSignl { .. } | Effect::AcknowledgeSignl { .. }
            )
        })
        .collect()
}

/// The statuses listed: the configured ones plus Closed, because a close (to resolve the Signl)
/// and a later reopen (to page again) must be seen even when Closed incidents are not paged.
fn listed_statuses(settings: &ConnectorSettings) -> Vec<String> {
    let mut statuses = settings.statuses.clone();
    if !statuses.iter().any(|s| s.eq_ignore_ascii_case("closed")) {
        statuses.push("Closed".into());
    }
    statuses
}

/// One poll: list everything modified since the watermark (or, for a sweep, in the whole
/// lookback window), record it, hand it on.
pub async fn poll_once<S: IncidentSource>(
    context: &PollContext<S>,
    sweep: bool,
) -> Result<PollStats, PollError> {
    let settings = &context.settings;
    let tenant = settings.tenant();
    let started_ms = now_ms();
    let watermark = context
        .store
        .read(|p| p.tenant(tenant).map(|t| t.watermark_ms))
        .filter(|w| *w > 0);
    let since = match watermark {
        Some(w) if !sweep => w - settings.overlap.as_millis() as i64,
        _ => started_ms - settings.lookback.as_millis() as i64,
    };
    let query = IncidentQuery {
        statuses: listed_statuses(settings),
        severities: settings.severities.clone(),
        modified_since_ms: since,
        page_size: settings.page_size,
    };
    let correlation = Uuid::now_v7();
    let mut stats = PollStats::default();
    let mut next_link: Option<String> = None;
    let mut max_modified = watermark.unwrap_or(since);
    let mut max_number = context
        .store
        .read(|p| p.tenant(tenant).map_or(0, |t| t.max_incident_number));
    loop {
        let (page, _) = retry(settings.backoff, || {
            context.api.list_incidents(&query, next_link.as_deref())
        })
        .await;
        let page = page?;
        stats.pages += 1;
        stats.listed += page.incidents.len() as u32;
        // Incidents whose etag the log already holds changed nothing: skip them before the
        // writer (every poll re-lists the overlap window).
        let fresh: Vec<&crate::ports::IncidentRecord> = context.store.read(|p| {
            page.incidents
                .iter()
                .filter(|r| {
                    p.incident(tenant, IncidentKey::from_source_id(&r.name))
                        .is_none_or(|i| i.etag != r.etag)
                })
                .collect()
        });
        for record in &page.incidents {
            max_modified = max_modified.max(record.last_modified_ms);
            max_number = max_number.max(record.number);
        }
        // Each observation goes with the intents it implies (a resolve, an acknowledge of the
        // Signl), in the same commit: no crash can separate them.
        let policy = settings.policy();
        let mut executions: Vec<Execution> = Vec::new();
        let mut observation_at: Vec<usize> = Vec::new();
        for record in &fresh {
            let incident = IncidentKey::from_source_id(&record.name);
            let command = Command::Observe(observed(record, settings.source));
            let implied = context.store.read(|p| {
                p.incident(tenant, incident)
                    .map(|state| implied_signl_effects(state, &command, &policy))
                    .unwrap_or_default()
            });
            observation_at.push(executions.len());
            executions.push(Execution::incident(tenant, incident, command).correlated(correlation));
            executions.extend(implied.into_iter().map(|effect| {
                Execution::incident(tenant, incident, Command::Request(effect))
                    .correlated(correlation)
            }));
        }
        let mut outcomes = context.store.execute_many(executions).await?;
        // The hand-off: what follows (paging, syncing) must be found again from the state.
        store::crash::point("observation.after_commit");
        let outcomes: Vec<ExecuteOutcome> = observation_at
            .iter()
            .map(|at| std::mem::replace(&mut outcomes[*at], ExecuteOutcome::Unchanged))
            .collect();
        for (record, outcome) in fresh.iter().zip(outcomes) {
            if let ExecuteOutcome::Appended(_) = outcome {
                stats.recorded += 1;
                let incident = IncidentKey::from_source_id(&record.name);
                let state = context
                    .store
                    .read(|p| p.incident(tenant, incident).cloned());
                let paged = state
                    .as_ref()
                    .is_some_and(|i| i.signl.status != SignlStatus::None);
                // A Defender survivor whose page is another incident's Signl (a merge): its
                // changes concern that Signl.
                let covered = !paged
                    && state.as_ref().is_some_and(|i| {
                        crate::status_sync::merge::covered_by_merge(&context.store, tenant, i)
                    });
                if paged || covered {
                    let _ = context
                        .status_sync
                        .send(SentinelChanged { tenant, incident })
                        .await;
                } else if needs_page(&context.store, settings, tenant, incident) {
                    stats.handed_on += 1;
                    // Waits until the enrichment holds a permit: a burst is held here, not
                    // piled up in the Enricher (see `enricher/handlers.rs`).
                    let _ = context
                        .enricher
                        .send(Enrich {
                            tenant,
                            incident,
                            correlation,
                        })
                        .await;
                }
            }
        }
        next_link = page.next_link;
        if next_link.is_none() {
            break;
        }
        store::crash::point("poller.between_pages");
    }
    // Never past the poll's start: whatever changed since is listed again next time.
    let next_watermark = max_modified.min(started_ms).max(watermark.unwrap_or(0));
    let outcome = context
        .store
        .execute(
            Execution::tenant(
                tenant,
                Command::AdvanceWatermark(WatermarkAdvanced {
                    watermark_ms: next_watermark,
                    max_incident_number: max_number,
                }),
            )
            .correlated(correlation),
        )
        .await?;
    if let ExecuteOutcome::Rejected(why) = outcome {
        tracing::warn!(connector = %settings.name, %why, "watermark not advanced");
    }
    Ok(stats)
}
