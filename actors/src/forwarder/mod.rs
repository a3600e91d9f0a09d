//! The Forwarder: one Signl per incident round, then the tag on the Sentinel incident.
//!
//! Invariants:
//! - Intent before effect: `RaiseSignl` and `TagIncident` are recorded (and flushed) before the
//!   call; the outcome is recorded after it. The aggregate refuses a second intent for the same
//!   effect, so two paths (a forward and a reconcile) can never both send.
//! - A page is at-most-once: it is sent once, and again in place only after a 429 (proof it was
//!   not processed). After an ambiguous failure (a reset, a timeout, a 5xx) or a crash, the
//!   open intent is settled by the reconcile: with an API key SIGNL4 is asked for the Signls of
//!   the incident's ExternalID, and one of this round (told apart by creation time against the
//!   intent, [`this_rounds_signl`]; in any status, closed included) settles it without a send;
//!   without an API key it is sent again and recorded as `SignlRaisedUnverified` (the one
//!   at-least-once edge, counted in the log). A page whose last attempt was refused (nothing
//!   was done) is sent again without a lookup.
//! - Never a page for a closed incident: an open page of an incident closed in Sentinel since
//!   is cancelled (`EffectCancelled`), and if it may have gone out its resolve is asked for in
//!   the same commit.
//! - Tagging is read, modify, PUT with the etag, read again at once on 409 (one PUT per etag),
//!   and sends back every field it read, so nothing set by someone else is dropped. The first
//!   attempt uses the freshest state known without a read (`known`: the Poller's last listing
//!   or our own last write's answer), which saves a read per incident.
//! - Tags yield: they are background work in the Sentinel budget, which admits them only in the
//!   first fifth of its window and never makes them wait (`ApiError::Deferred`: nothing sent,
//!   the intent stays open). A tag left pending is carried by the next acknowledge or close
//!   write and recorded done with that write's outcome (StatusSync), so most tags of a burst
//!   cost no write of their own.
//! - Outcomes follow `parking::settle`: a final answer fails the effect; a refusal an operator
//!   can fix (401, 403, no token, an unknown team secret) parks it, open, retried with a
//!   capped backoff; passing trouble leaves it open for the next reconcile.

mod actor;
mod handlers;
pub mod render;

use std::rc::Rc;

use serde_json::Value;
use store::aggregate::{desired_effects, SignlStatus};
use store::events::{Effect, EffectResult, Event};
use store::ids::external_id;
use store::writer::Execution;
use store::{
    Command, EffectId, ExecuteOutcome, Incident, IncidentKey, Store, StoreError, TenantId,
};
use uuid::Uuid;

use crate::enricher::search_lines;
use crate::known::{IncidentWrite, KnownIncidents};
use crate::parking::{log_parked, settle, Parking, Settled};
use crate::poller::needs_page;
use crate::ports::{
    with_priority, ApiError, IncidentChange, IncidentSource, IncidentUpdate, Signl4Api,
    WritePriority,
};
use crate::retry::{retry, retry_unprocessed};
use crate::settings::ConnectorSettings;
use crate::tracker::{Claims, Exclusive, Tracker};
use render::{signl_body, EnrichmentView, IncidentView, SignlContext};

/// The Forwarder of one connector.
pub struct Forwarder<S: IncidentSource + 'static, G: Signl4Api + 'static> {
    context: Rc<ForwardContext<S, G>>,
    tracker: Tracker,
    /// The reconcile pass in flight (at most one; see `tracker::spawn_exclusive`).
    reconciling: Exclusive,
}

/// Everything forwarding needs; shared with in-flight work.
pub struct ForwardContext<S, G> {
    pub settings: Rc<ConnectorSettings>,
    pub store: Store,
    pub sentinel: Rc<S>,
    pub signl4: Rc<G>,
    /// Effects being performed right now, so a reconcile never races a forward.
    pub busy: Claims,
    /// Effects waiting for an operator, and when to try each again.
    pub parking: Parking,
    /// What our own writes and reads of incidents answered (shared with StatusSync).
    pub known: Rc<KnownIncidents>,
}

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Forwarder<S, G> {
    /// A Forwarder for one connector.
    pub fn new(context: ForwardContext<S, G>) -> Self {
        Forwarder {
            context: Rc::new(context),
            tracker: Tracker::default(),
            reconciling: Exclusive::default(),
        }
    }
}

/// How a Signl is sent (not `Send`, which would shadow `std::marker::Send`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendMode {
    /// The intent was just recorded: nothing can have been sent yet.
    First,
    /// Re-sent while reconciling without a way to check SIGNL4.
    Unverified,
}

impl<S: IncidentSource, G: Signl4Api> ForwardContext<S, G> {
    fn incident(&self, tenant: TenantId, incident: IncidentKey) -> Option<Incident> {
        self.store.read(|p| p.incident(tenant, incident).cloned())
    }

    async fn record(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        command: Command,
        correlation: Uuid,
    ) -> Result<ExecuteOutcome, StoreError> {
        self.store
            .execute(Execution::incident(tenant, incident, command).correlated(correlation))
            .await
    }

    /// Pages the incident's current round if it still needs it, then tags it.
    pub async fn forward(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        let Some(state) = self.incident(tenant, incident) else {
            return Ok(());
        };
        if needs_page(&self.store, &self.settings, tenant, incident) {
            let effect = Effect::RaiseSignl {
                external_id: external_id(tenant, incident),
                round: state.round,
            };
            let outcome = self
                .record(tenant, incident, Command::Request(effect), correlation)
                .await?;
            if let Some(effect_id) = outcome
                .events()
                .first()
                .and_then(|e| e.event.opens_effect())
            {
                if let Some(_busy) = self.busy.claim(effect_id) {
                    self.raise(tenant, incident, effect_id, SendMode::First, correlation)
                        .await?;
                }
            }
        }
        self.tag(tenant, incident, correlation).await
    }

    /// Sends the Signl of an open `RaiseSignl` intent and records the outcome. Sent once: only
    /// a 429 (proof the request was not processed) is waited out and sent again in place; after
    /// a reset, a timeout or a 5xx the intent stays open as unknown and the reconcile settles it
    /// by ExternalID (see [`this_rounds_signl`]). An incident closed in Sentinel meanwhile is
    /// never paged: the intent is cancelled instead.
    async fn raise(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        effect_id: EffectId,
        how: SendMode,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        if self
            .incident(tenant, incident)
            .is_some_and(|i| i.closed_in_sentinel())
        {
            return self
                .cancel_page(tenant, incident, effect_id, false, correlation)
                .await;
        }
        let body = self.body(tenant, incident)?;
        store::crash::point("effect.after_intent");
        let (result, attempts) = retry_unprocessed(self.settings.backoff, || {
            self.signl4.send_event(&body, effect_id.0)
        })
        .await;
        if result.is_ok() {
            store::crash::point("effect.after_call");
        }
        let result = result
            .map(|event_id| match how {
                SendMode::First => EffectResult::SignlRaised { event_id },
                SendMode::Unverified => EffectResult::SignlRaisedUnverified { event_id },
            })
            .map_err(|e| (e, attempts));
        self.settle(tenant, incident, effect_id, result, "Signl", correlation)
            .await
    }

    /// Records what the result of an effect's call means (see `parking::settle`).
    async fn settle(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        effect_id: EffectId,
        result: Result<EffectResult, (ApiError, u32)>,
        what: &str,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        let interval = self.settings.poll_interval;
        match settle(&self.parking, effect_id, result, interval, what) {
            Settled::Outcome(command) => {
                self.record(tenant, incident, command, correlation).await?;
            }
            Settled::Park(command) => {
                let outcome = self
                    .record(tenant, incident, command.clone(), correlation)
                    .await?;
                if !outcome.events().is_empty() {
                    log_parked(&command, what);
                }
            }
            Settled::Open => {}
        }
        Ok(())
    }

    /// Cancels the open page of an incident closed in Sentinel since it was asked for. When a
    /// Signl may exist all the same (`maybe_sent`: an earlier attempt's answer was lost), its
    /// resolve is asked for in the same commit, so nobody stays paged for a closed incident.
    async fn cancel_page(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        effect_id: EffectId,
        maybe_sent: bool,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        let Some(state) = self.incident(tenant, incident) else {
            return Ok(());
        };
        let mut executions = Vec::new();
        if maybe_sent && self.settings.sync.resolve_on_sentinel_close {
            // Asked for while the raise is still open (a resolve needs a page in this round).
            executions.push(
                Execution::incident(
                    tenant,
                    incident,
                    Command::Request(Effect::ResolveSignl {
                        external_id: external_id(tenant, incident),
                        round: state.round,
                    }),
                )
                .correlated(correlation),
            );
        }
        executions.push(
            Execution::incident(
                tenant,
                incident,
                Command::Cancel {
                    effect_id,
                    reason: "the incident was closed in Sentinel before its page went out".into(),
                },
            )
            .correlated(correlation),
        );
        self.parking.clear(effect_id);
        self.store.execute_many(executions).await?;
        tracing::info!(%incident, "page cancelled: the incident is closed in Sentinel");
        Ok(())
    }

    /// The Signl body from what the log holds about the incident.
    fn body(&self, tenant: TenantId, incident: IncidentKey) -> Result<Value, StoreError> {
        let events = self.store.log().incident_events(tenant, incident)?;
        let observed = events.iter().rev().find_map(|e| match &e.event {
            Event::IncidentObserved(o) => Some(o),
            _ => None,
        });
        let enriched = events.iter().rev().find_map(|e| match &e.event {
            Event::IncidentEnriched(o) => Some(o),
            _ => None,
        });
        let raw: Value = observed
            .and_then(|o| serde_json::from_str(&o.raw_json).ok())
            .unwrap_or(Value::Null);
        let props = &raw["properties"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let products = strings(&props["additionalData"]["alertProductNames"]);
        let mut tactics = strings(&props["additionalData"]["tactics"]);
        let parse_list = |json: Option<&String>| -> Vec<Value> {
            json.and_then(|j| serde_json::from_str::<Vec<Value>>(j).ok())
                .unwrap_or_default()
        };
        let alerts = parse_list(enriched.map(|e| &e.alerts_json));
        let entities = parse_list(enriched.map(|e| &e.entities_json));
        let search = enriched.map_or_else(Vec::new, |e| search_lines(&e.search_json));
        if let Some(e) = enriched {
            for tactic in &e.tactics {
                if !tactics.contains(tactic) {
                    tactics.push(tactic.clone());
                }
            }
        }
        let missing = enriched.map_or_else(Vec::new, |e| e.missing.clone());
        let external = external_id(tenant, incident);
        let Some(observed) = observed else {
            return Ok(Value::Null);
        };
        Ok(signl_body(
            &SignlContext {
                external_id: &external,
                service: &self.settings.service,
                alerting_scenario: &self.settings.alerting_scenario,
            },
            &IncidentView {
                number: observed.incident_number,
                title: &observed.title,
                description: props["description"].as_str().unwrap_or(""),
                severity: &observed.severity,
                status: &observed.status,
                owner: observed.owner.as_deref(),
                url: &observed.incident_url,
                products: &products,
                tactics: &tactics,
                resource: Some(&raw),
            },
            &EnrichmentView {
                alerts: &alerts,
                entities: &entities,
                search: &search,
                missing: &missing,
            },
        ))
    }

    /// Adds the configured label once the incident's Signl exists.
    async fn tag(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        let label = self.settings.tag.clone();
        if label.is_empty() {
            return Ok(());
        }
        let Some(state) = self.incident(tenant, incident) else {
            return Ok(());
        };
        if matches!(
            state.signl.status,
            SignlStatus::None | SignlStatus::Requested
        ) {
            return Ok(()); // tag only what was paged
        }
        let outcome = self
            .record(
                tenant,
                incident,
                Command::Request(Effect::TagIncident { label }),
                correlation,
            )
            .await?;
        if let Some(effect_id) = outcome
            .events()
            .first()
            .and_then(|e| e.event.opens_effect())
        {
            if let Some(_busy) = self.busy.claim(effect_id) {
                self.write_tag(tenant, incident, &state.name, effect_id, correlation)
                    .await?;
            }
        }
        Ok(())
    }

    /// [`ForwardContext::write_tag_now`] as background work: the tag yields the Sentinel budget
    /// to the write-backs people wait for.
    async fn write_tag(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        name: &str,
        effect_id: EffectId,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        with_priority(
            WritePriority::Background,
            self.write_tag_now(tenant, incident, name, effect_id, correlation),
        )
        .await
    }

    /// The tag as an incident update; the adapter's read-modify-write starts from the freshest
    /// state this process knows (its etag is usually still current, which saves a read per
    /// incident). A `Deferred` (the tag yielding the budget) is not retried in place.
    async fn write_tag_now(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        name: &str,
        effect_id: EffectId,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        let label = self.settings.tag.clone();
        let update = IncidentUpdate::only(IncidentChange::AddLabel(label));
        store::crash::point("effect.after_intent");
        let write = IncidentWrite {
            tenant,
            incident,
            name,
            update,
            request_id: effect_id.0,
        };
        let outcome = self
            .known
            .write(&self.store, &*self.sentinel, self.settings.backoff, write)
            .await;
        if outcome.is_ok() {
            store::crash::point("effect.after_call");
        }
        self.settle(tenant, incident, effect_id, outcome, "tag", correlation)
            .await
    }

    /// Finishes this connector's open raise and tag intents (see the module invariants).
    pub async fn reconcile(&self) -> Result<(), StoreError> {
        let tenant = self.settings.tenant();
        let open = self.store.read(|p| p.open_effects_of(tenant));
        for (incident, effect_id, effect) in open {
            let Some(_busy) = self.busy.claim(effect_id) else {
                continue; // being performed right now
            };
            // The list was read once; a forward may have finished this intent since.
            let still_open = self.store.read(|p| {
                p.incident(tenant, incident)
                    .is_some_and(|i| i.open_effects.contains_key(&effect_id))
            });
            if !still_open {
                continue;
            }
            if !self.parking.ready(effect_id) {
                continue; // parked, and its wait is not over
            }
            store::crash::point("reconcile.open_intent");
            let correlation = Uuid::now_v7();
            match effect {
                Effect::RaiseSignl { external_id, .. } => {
                    self.settle_page(tenant, incident, effect_id, &external_id, correlation)
                        .await?;
                    self.tag(tenant, incident, correlation).await?;
                }
                Effect::TagIncident { .. } => {
                    let name = self.incident(tenant, incident).map(|i| i.name);
                    if let Some(name) = name {
                        self.write_tag(tenant, incident, &name, effect_id, correlation)
                            .await?;
                    }
                }
                _ => {} // other effects belong to StatusSync
            }
        }
        self.tag_wanted(tenant).await
    }

    /// Settles an open page whose outcome is unknown (see the module invariants): sent again
    /// at once when its last attempt was refused (nothing was done); otherwise looked up by
    /// ExternalID when an API key allows it, and only sent again when this round has no Signl;
    /// without an API key sent again and counted as at-least-once. A page for an incident
    /// closed in Sentinel since is cancelled, and resolved if it may have gone out.
    async fn settle_page(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        effect_id: EffectId,
        external_id: &str,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        let Some(state) = self.incident(tenant, incident) else {
            return Ok(());
        };
        let refused = self.parking.refused(effect_id);
        if refused {
            return self
                .raise(tenant, incident, effect_id, SendMode::First, correlation)
                .await;
        }
        let (found, _) = retry(self.settings.backoff, || {
            self.signl4.find_signls(external_id)
        })
        .await;
        match found {
            Ok(Some(signls)) => match this_rounds_signl(&state, &signls) {
                Some(signl) => {
                    let detail = format!("Signl {} found by ExternalID", signl.id);
                    let done = Command::Succeed {
                        effect_id,
                        result: EffectResult::AlreadyDone { detail },
                    };
                    let mut executions =
                        vec![Execution::incident(tenant, incident, done).correlated(correlation)];
                    let open = signl.status == 1 || signl.status == 2;
                    if state.closed_in_sentinel()
                        && open
                        && self.settings.sync.resolve_on_sentinel_close
                    {
                        // Paged after all, for an incident closed since: resolve it (StatusSync
                        // performs the intent), in the same commit as the page's outcome.
                        executions.push(
                            Execution::incident(
                                tenant,
                                incident,
                                Command::Request(Effect::ResolveSignl {
                                    external_id: external_id.to_string(),
                                    round: state.round,
                                }),
                            )
                            .correlated(correlation),
                        );
                    }
                    self.parking.clear(effect_id);
                    self.store.execute_many(executions).await?;
                    Ok(())
                }
                None if state.closed_in_sentinel() => {
                    self.cancel_page(tenant, incident, effect_id, false, correlation)
                        .await
                }
                None => {
                    self.raise(tenant, incident, effect_id, SendMode::First, correlation)
                        .await
                }
            },
            Ok(None) if state.closed_in_sentinel() => {
                self.cancel_page(tenant, incident, effect_id, true, correlation)
                    .await
            }
            Ok(None) => {
                self.raise(
                    tenant,
                    incident,
                    effect_id,
                    SendMode::Unverified,
                    correlation,
                )
                .await
            }
            Err(error) => {
                tracing::warn!(%error, %incident, "cannot look the page up in SIGNL4 yet");
                Ok(())
            }
        }
    }

    /// Tags every recent incident whose state wants its tag and nobody asked for it
    /// (`desired_effects`): a crash between a Signl's outcome and the tag's intent leaves no
    /// open intent behind, so only the state shows it (the chaos run found five such incidents
    /// in 200 kills before this existed).
    async fn tag_wanted(&self, tenant: TenantId) -> Result<(), StoreError> {
        if self.settings.tag.is_empty() {
            return Ok(());
        }
        let policy = self.settings.policy();
        // Only incidents active within the lookback window: the gap comes from a recent crash,
        // and a changed `tag` setting must not rewrite every incident the log ever held. The
        // index does not make this unnecessary: whether a label was asked for depends on the
        // label, which the store does not know, so its candidates are every paged incident;
        // the window is what bounds them (`Projection::paged_since` visits only those active
        // since `since_ms`, not every paged incident the log holds).
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let since_ms =
            now_ms.saturating_sub(i64::try_from(self.settings.lookback.as_millis()).unwrap_or(0));
        let wanted: Vec<IncidentKey> = self.store.read(|p| {
            p.paged_since(tenant, since_ms)
                .filter(|i| {
                    desired_effects(i, &policy)
                        .iter()
                        .any(|e| matches!(e, Effect::TagIncident { .. }))
                })
                .map(|i| i.key)
                .collect()
        });
        for incident in wanted {
            self.tag(tenant, incident, Uuid::now_v7()).await?;
        }
        Ok(())
    }
}

/// How much older than the page's intent a Signl of this round may look (the clocks of SIGNL4
/// and of this host differ).
const CLOCK_SKEW_MS: i64 = 30_000;

/// The Signl of the incident's current round among those found by its ExternalID, in any
/// status (one already closed by the on-call person exists all the same).
///
/// Every round of an incident shares its ExternalID (a resolve must reach all of them), so rounds
/// are told apart by creation time: a Signl created before this round's page was asked for
/// (minus [`CLOCK_SKEW_MS`]) belongs to an earlier round. A Signl without a creation time counts
/// for round 1 (there is no earlier one), and in later rounds only while open.
pub fn this_rounds_signl<'a>(
    state: &Incident,
    signls: &'a [crate::ports::SignlSummary],
) -> Option<&'a crate::ports::SignlSummary> {
    let since = state.signl.requested_at_ms.map(|at| at - CLOCK_SKEW_MS);
    signls.iter().find(|s| match (s.created_ms, since) {
        (Some(created), Some(since)) => created >= since,
        _ => state.round <= 1 || s.status == 1 || s.status == 2,
    })
}
