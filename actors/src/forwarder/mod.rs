//! The Forwarder: one Signl per incident round, then the tag on the Sentinel incident.
//!
//! Invariants:
//! - Intent before effect: `RaiseSignl` and `TagIncident` are recorded (and flushed) before the
//!   call; the outcome is recorded after it. The aggregate refuses a second intent for the same
//!   effect, so two paths (a forward and a reconcile) can never both send.
//! - An open intent found later (after a crash, or after retries ran out) is reconciled: for a
//!   Signl, SIGNL4 is asked for Signls with the incident's ExternalID when an API key exists, and
//!   the Signl is only sent again when none is open; without an API key it is sent again and
//!   recorded as `SignlRaisedUnverified` (the one at-least-once edge, counted in the log).
//! - Tagging is read, modify, PUT with the etag, retried on 409 with a fresh read, and sends
//!   back every field it read, so nothing set by someone else is dropped. The first attempt
//!   uses the incident as the Poller last recorded it, which saves a read per incident.
//! - A permanent refusal (a 4xx other than 409/429) closes the intent as failed with the reason.

mod actor;
mod handlers;
pub mod render;

use std::rc::Rc;

use serde_json::Value;
use store::aggregate::SignlStatus;
use store::events::{Effect, EffectResult, Event};
use store::ids::external_id;
use store::writer::Execution;
use store::{
    Command, EffectId, ExecuteOutcome, Incident, IncidentKey, Store, StoreError, TenantId,
};
use uuid::Uuid;

use crate::enricher::search_lines;
use crate::observation::with_label;
use crate::poller::needs_page;
use crate::ports::{ApiError, IncidentRecord, SentinelApi, Signl4Api};
use crate::retry::retry;
use crate::settings::ConnectorSettings;
use crate::tracker::{Claims, Tracker};
use render::{signl_body, EnrichmentView, IncidentView, SignlContext};

/// Most read-modify-write rounds of one tag before giving up until the next reconcile.
const MAX_CONFLICTS: u32 = 8;

/// The Forwarder of one connector.
pub struct Forwarder<S: SentinelApi + 'static, G: Signl4Api + 'static> {
    context: Rc<ForwardContext<S, G>>,
    tracker: Tracker,
    /// The reconcile pass in flight (at most one; see `tracker::spawn_exclusive`).
    reconciling: Tracker,
}

/// Everything forwarding needs; shared with in-flight work.
pub struct ForwardContext<S, G> {
    pub settings: Rc<ConnectorSettings>,
    pub store: Store,
    pub sentinel: Rc<S>,
    pub signl4: Rc<G>,
    /// Effects being performed right now, so a reconcile never races a forward.
    pub busy: Claims,
}

impl<S: SentinelApi + 'static, G: Signl4Api + 'static> Forwarder<S, G> {
    /// A Forwarder for one connector.
    pub fn new(context: ForwardContext<S, G>) -> Self {
        Forwarder {
            context: Rc::new(context),
            tracker: Tracker::default(),
            reconciling: Tracker::default(),
        }
    }
}

/// How a Signl is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Send {
    /// The intent was just recorded: nothing can have been sent yet.
    First,
    /// Re-sent while reconciling without a way to check SIGNL4.
    Unverified,
}

impl<S: SentinelApi, G: Signl4Api> ForwardContext<S, G> {
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
                    self.raise(tenant, incident, effect_id, Send::First, correlation)
                        .await?;
                }
            }
        }
        self.tag(tenant, incident, correlation).await
    }

    /// Sends the Signl of an open `RaiseSignl` intent and records the outcome.
    async fn raise(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        effect_id: EffectId,
        how: Send,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        let body = self.body(tenant, incident)?;
        store::crash::point("effect.after_intent");
        let (result, attempts) = retry(self.settings.backoff, || {
            self.signl4.send_event(&body, effect_id.0)
        })
        .await;
        if result.is_ok() {
            store::crash::point("effect.after_call");
        }
        let command = match result {
            Ok(event_id) => Command::Succeed {
                effect_id,
                result: match how {
                    Send::First => EffectResult::SignlRaised { event_id },
                    Send::Unverified => EffectResult::SignlRaisedUnverified { event_id },
                },
            },
            Err(error) if !error.is_retryable() => Command::Fail {
                effect_id,
                reason: error.to_string(),
                attempts,
            },
            Err(error) => {
                tracing::warn!(%error, %incident, "Signl not sent yet; the intent stays open");
                return Ok(());
            }
        };
        self.record(tenant, incident, command, correlation).await?;
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

    /// Read, modify, PUT with the etag; again on 409.
    async fn write_tag(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        name: &str,
        effect_id: EffectId,
        correlation: Uuid,
    ) -> Result<(), StoreError> {
        let backoff = self.settings.backoff;
        let mut conflicts = 0;
        // First try with the incident as last listed (its etag is usually still current), which
        // saves a read per incident; read it fresh only after a 409.
        let mut listed = self.last_listed(tenant, incident)?;
        store::crash::point("effect.after_intent");
        let outcome: Result<EffectResult, (ApiError, u32)> = loop {
            let (read, attempts) = match listed.take() {
                Some(record) => (Ok(record), 0),
                None => retry(backoff, || self.sentinel.get_incident(name)).await,
            };
            let record = match read {
                Ok(record) => record,
                Err(error) => break Err((error, attempts)),
            };
            let body = match with_label(&record, &self.settings.tag) {
                Ok(None) => {
                    break Ok(EffectResult::AlreadyDone {
                        detail: format!("label {:?} present", self.settings.tag),
                    })
                }
                Ok(Some(body)) => body,
                Err(reason) => break Err((ApiError::Transient(reason), attempts)),
            };
            match self.sentinel.put_incident(name, &body, effect_id.0).await {
                Ok(written) => break Ok(EffectResult::IncidentWritten { etag: written.etag }),
                Err(ApiError::Conflict) if conflicts < MAX_CONFLICTS => conflicts += 1,
                Err(error) if error.is_retryable() => {
                    let (again, attempts) = retry(backoff, || {
                        self.sentinel.put_incident(name, &body, effect_id.0)
                    })
                    .await;
                    match again {
                        Ok(written) => {
                            break Ok(EffectResult::IncidentWritten { etag: written.etag })
                        }
                        Err(ApiError::Conflict) if conflicts < MAX_CONFLICTS => conflicts += 1,
                        Err(error) => break Err((error, attempts)),
                    }
                }
                Err(error) => break Err((error, 1)),
            }
        };
        let command = match outcome {
            Ok(result) => {
                store::crash::point("effect.after_call");
                Command::Succeed { effect_id, result }
            }
            Err((error, attempts)) if !error.is_retryable() => Command::Fail {
                effect_id,
                reason: error.to_string(),
                attempts,
            },
            Err((error, _)) => {
                tracing::warn!(%error, %incident, "tag not written yet; the intent stays open");
                return Ok(());
            }
        };
        self.record(tenant, incident, command, correlation).await?;
        Ok(())
    }

    /// The incident as the Poller last recorded it, in the shape a read returns.
    fn last_listed(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        let events = self.store.log().incident_events(tenant, incident)?;
        Ok(events.into_iter().rev().find_map(|e| match e.event {
            Event::IncidentObserved(o) => Some(IncidentRecord {
                name: o.name,
                etag: o.etag,
                labels: o.labels,
                raw_json: o.raw_json,
                ..IncidentRecord::default()
            }),
            _ => None,
        }))
    }

    /// Finishes this connector's open raise and tag intents (see the module invariants).
    pub async fn reconcile(&self) -> Result<(), StoreError> {
        let tenant = self.settings.tenant();
        let open: Vec<_> = self
            .store
            .read(|p| p.open_effects())
            .into_iter()
            .filter(|(t, ..)| *t == tenant)
            .collect();
        for (_, incident, effect_id, effect) in open {
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
            store::crash::point("reconcile.open_intent");
            let correlation = Uuid::now_v7();
            match effect {
                Effect::RaiseSignl { external_id, .. } => {
                    let (found, _) = retry(self.settings.backoff, || {
                        self.signl4.find_signls(&external_id)
                    })
                    .await;
                    match found {
                        Ok(Some(signls)) => {
                            match signls.iter().find(|s| s.status == 1 || s.status == 2) {
                                Some(signl) => {
                                    let detail = format!("Signl {} found by ExternalID", signl.id);
                                    self.record(
                                        tenant,
                                        incident,
                                        Command::Succeed {
                                            effect_id,
                                            result: EffectResult::AlreadyDone { detail },
                                        },
                                        correlation,
                                    )
                                    .await?;
                                }
                                None => {
                                    self.raise(
                                        tenant,
                                        incident,
                                        effect_id,
                                        Send::First,
                                        correlation,
                                    )
                                    .await?
                                }
                            }
                        }
                        Ok(None) => {
                            self.raise(tenant, incident, effect_id, Send::Unverified, correlation)
                                .await?
                        }
                        Err(error) => {
                            tracing::warn!(%error, %incident, "cannot check SIGNL4 yet");
                            continue;
                        }
                    }
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
        self.tag_untagged(tenant).await
    }

    /// Tags every paged incident whose tag was never asked for: a crash between a Signl's
    /// outcome and the tag's intent leaves no open intent behind, so only this finds it (the
    /// chaos run found five such incidents in 200 kills before this existed).
    async fn tag_untagged(&self, tenant: TenantId) -> Result<(), StoreError> {
        let label = &self.settings.tag;
        if label.is_empty() {
            return Ok(());
        }
        let tag = Effect::TagIncident {
            label: label.clone(),
        };
        // Only incidents active within the lookback window: the gap comes from a recent crash,
        // and a changed `tag` setting must not rewrite every incident the log ever held.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let since_ms =
            now_ms.saturating_sub(i64::try_from(self.settings.lookback.as_millis()).unwrap_or(0));
        let untagged: Vec<IncidentKey> = self.store.read(|p| {
            p.incidents
                .values()
                .filter(|i| i.tenant == tenant && i.last_event_ms >= since_ms)
                .filter(|i| !matches!(i.signl.status, SignlStatus::None | SignlStatus::Requested))
                .filter(|i| {
                    let id = store::aggregate::effect_id(tenant, i.key, &tag);
                    !i.done_effects.contains(&id) && !i.open_effects.contains_key(&id)
                })
                .map(|i| i.key)
                .collect()
        });
        for incident in untagged {
            self.tag(tenant, incident, Uuid::now_v7()).await?;
        }
        Ok(())
    }
}
