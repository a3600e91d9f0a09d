//! The REST polling fallback: for deployments that cannot receive SIGNL4's outbound webhooks,
//! StatusSync lists the team's Signls modified since its last poll (with an API key) and turns
//! what changed on the Signls of its open incidents into the same notifications a webhook would
//! bring.
//!
//! Invariants:
//! - A change is described by the same key as its webhook ([`Notification::change_key`]):
//!   acknowledges per acknowledging user, the close, each annotation by its id. Whatever way it
//!   arrives first is recorded; every later sighting is a duplicate (checked with a cheap inbox
//!   read before the writer), so polls may overlap freely.
//! - Each poll starts `OVERLAP_MS` before the previous one started (clock skew between SIGNL4
//!   and this host, changes during the listing); the first one starts at the oldest open page.
//!   The start only moves after a listing that worked.
//! - Annotations are read only for Signls that have some and whose `lastModified` changed since
//!   their annotations were last read; Signls of incidents whose Signl the log has closed, or
//!   that are not the connector's, cost nothing beyond the listing.

use std::time::{SystemTime, UNIX_EPOCH};

use store::aggregate::SignlStatus;
use store::events::Signl4Action;
use store::StoreError;

use super::notification::Notification;
use super::SyncContext;
use crate::messages::Recorded;
use crate::ports::{IncidentSource, Signl4Api, SignlState, SignlUser};
use crate::retry::retry;

/// How far before the previous poll's start each poll lists.
pub const OVERLAP_MS: i64 = 60_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RestPollStats {
    /// Signls listed.
    pub listed: u32,
    /// Changes recorded for the first time.
    pub recorded: u32,
}

/// A notification for a change seen by polling; its id is its change key.
fn polled(
    signl: &SignlState,
    action: Signl4Action,
    user: Option<&SignlUser>,
    annotation_id: Option<String>,
    at_ms: i64,
) -> Notification {
    let mut n = Notification {
        id: String::new(),
        signl_id: signl.id.clone(),
        external_id: signl.external_id.clone(),
        action,
        user_email: user.and_then(|u| u.email.clone()),
        user_name: user.and_then(|u| u.name.clone()),
        user_id: user.map(|u| u.id.clone()),
        annotation_id,
        raised_at_ms: at_ms,
    };
    n.id = format!("rest/{}", n.change_key());
    n
}

/// The status changes a Signl's state shows: its acknowledges (one per user, or one without a
/// user), then its close.
pub fn status_changes(signl: &SignlState) -> Vec<Notification> {
    let mut out = Vec::new();
    if signl.status >= 2 {
        if signl.acknowledged_by.is_empty() {
            if let Some(at) = signl.acknowledged_at_ms {
                out.push(polled(signl, Signl4Action::Acknowledged, None, None, at));
            }
        }
        for user in &signl.acknowledged_by {
            let at = signl.acknowledged_at_ms.unwrap_or(0);
            out.push(polled(
                signl,
                Signl4Action::Acknowledged,
                Some(user),
                None,
                at,
            ));
        }
    }
    if signl.status == 4 {
        let at = signl.closed_at_ms.unwrap_or(0);
        out.push(polled(
            signl,
            Signl4Action::Closed,
            signl.closed_by.as_ref(),
            None,
            at,
        ));
    }
    out
}

impl<S: IncidentSource, G: Signl4Api> SyncContext<S, G> {
    /// One REST poll (see the module invariants).
    pub async fn poll_signl4(&self) -> Result<RestPollStats, StoreError> {
        let mut stats = RestPollStats::default();
        let tenant = self.tenant();
        let started = now_ms();
        let since = match self.polls.rest_since_ms.get() {
            Some(previous) => previous - OVERLAP_MS,
            None => {
                let oldest = self.store.read(|p| {
                    p.with_signl_up(tenant)
                        .filter(|i| {
                            !matches!(i.signl.status, SignlStatus::None | SignlStatus::Closed)
                        })
                        .filter_map(|i| i.signl.requested_at_ms)
                        .min()
                });
                oldest.unwrap_or(started) - OVERLAP_MS
            }
        };
        let (listed, _) = retry(self.settings.backoff, || self.signl4.changed_signls(since)).await;
        let signls = match listed {
            Ok(Some(signls)) => signls,
            Ok(None) => return Ok(stats), // no API key: nothing to poll
            Err(error) => {
                tracing::warn!(%error, "SIGNL4 not polled; the next poll tries again");
                return Ok(stats);
            }
        };
        stats.listed = signls.len() as u32;
        let mut complete = true;
        for signl in &signls {
            let Some(incident) = signl
                .external_id
                .as_deref()
                .and_then(|e| self.incident_of(e))
            else {
                continue; // not one of ours
            };
            let closed_in_log = self.store.read(|p| {
                p.incident(tenant, incident)
                    .is_none_or(|i| i.signl.status == SignlStatus::Closed)
            });
            let mut changes = Vec::new();
            if !closed_in_log {
                changes = status_changes(signl);
            }
            let annotations_stale = signl.has_annotations
                && self.polls.annotations_seen.borrow().get(&signl.id)
                    != Some(&signl.last_modified);
            if annotations_stale && !closed_in_log {
                let (read, _) =
                    retry(self.settings.backoff, || self.signl4.annotations(&signl.id)).await;
                match read {
                    Ok(Some(notes)) => {
                        let notes = notes.iter().map(|a| {
                            polled(
                                signl,
                                Signl4Action::Annotated {
                                    text: a.text.clone(),
                                },
                                a.user.as_ref(),
                                Some(a.id.clone()),
                                a.at_ms,
                            )
                        });
                        changes.extend(notes);
                        self.polls
                            .annotations_seen
                            .borrow_mut()
                            .insert(signl.id.clone(), signl.last_modified.clone());
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(%error, signl = %signl.id, "annotations not read");
                        complete = false;
                    }
                }
            }
            // In the order they happened (a note typed before the close comes before it).
            changes.sort_by_key(|c| c.raised_at_ms);
            for change in changes {
                if self.seen(&change)? {
                    continue;
                }
                let (recorded, work) = self.record(&change).await?;
                if recorded == Recorded::New {
                    stats.recorded += 1;
                }
                if let Some((incident, intents)) = work {
                    self.write_back(incident, intents).await?;
                }
            }
        }
        if complete {
            self.polls.rest_since_ms.set(Some(started));
        }
        Ok(stats)
    }
}
