//! Sentinel -> SIGNL4: an analyst's close resolves the Signl, an owner set after the page
//! acknowledges it, and analyst comments become annotations.
//!
//! Invariants:
//! - Resolve and acknowledge follow the incident's state (`store::aggregate::desired_effects`),
//!   looked at after each change the Poller recorded and again by every reconcile for the
//!   incidents whose Signl is open, so a lost hand-off only delays them. Our own writes never
//!   trigger them (we close only after the Signl was closed, set an owner only after it was
//!   acknowledged); comments of an incident are still looked at after our own write (an
//!   analyst's may precede it).
//! - Comments are read only for incidents that are paged and open on both sides (not closed in
//!   Sentinel, Signl open or acknowledged), only when the SIGNL4 API key makes annotations
//!   possible, and only once per incident etag: a listing that fails is tried again by the
//!   next reconcile, one that succeeds is not repeated until the incident changes, and none is
//!   made while the freshest state known counts no comment (`commentsCount` 0).
//! - Our own comments are recognised by provenance: their ids are the ids of our
//!   `WriteComment` effects. Comments older than the page (minus a clock-skew margin) are
//!   context, not news. Each comment is annotated at most once: the annotation's effect id is
//!   derived from the comment id, and the log refuses a second request.

use store::aggregate::{desired_effects, Incident, SignlStatus};
use store::events::{Effect, Source};
use store::ids::external_id;
use store::{IncidentKey, StoreError};
use uuid::Uuid;

use super::SyncContext;
use crate::ports::{CommentRecord, IncidentSource, Signl4Api};
use crate::retry::retry;

/// How much older than the page a comment may look (clocks of Sentinel and of this host differ)
/// and still be sent.
const CLOCK_SKEW_MS: i64 = 60_000;

/// Longest annotation text sent (SIGNL4 documents no limit; a Sentinel comment can be 30,000
/// characters, which is not useful on a phone).
const MAX_ANNOTATION_CHARS: usize = 2_000;

/// True when both sides are open: the Signl is up and the incident is not closed.
fn open_on_both_sides(state: &Incident) -> bool {
    !state.closed_in_sentinel()
        && matches!(
            state.signl.status,
            SignlStatus::Open | SignlStatus::Acknowledged
        )
}

impl<S: IncidentSource, G: Signl4Api> SyncContext<S, G> {
    /// A recorded change of a paged incident: resolve, acknowledge, mirror comments.
    pub async fn sentinel_changed(&self, incident: IncidentKey) -> Result<(), StoreError> {
        // The Poller recorded the resolve or acknowledge with the observation: perform them.
        let owned = super::owned_open_effects(&self.store, self.tenant());
        for (key, effect_id, effect) in owned {
            if key == incident
                && matches!(
                    effect,
                    Effect::ResolveSignl { .. } | Effect::AcknowledgeSignl { .. }
                )
            {
                self.run(incident, effect_id, &effect).await?;
            }
        }
        // A Defender merge is recorded (and annotated) before the state decides the Signl's
        // fate: `desired_effects` holds a redirected incident's resolve until then.
        self.sync_merge(incident).await?;
        self.sync_signl(incident).await?;
        self.sync_comments(incident).await
    }

    /// Records the Defender merge of a redirected incident whose Signl is up (see `merge`), and
    /// resolves the Signls that stood for this incident once it is closed itself.
    async fn sync_merge(&self, incident: IncidentKey) -> Result<(), StoreError> {
        let tenant = self.tenant();
        let Some(state) = self.store.read(|p| p.incident(tenant, incident).cloned()) else {
            return Ok(());
        };
        let signl_up = matches!(
            state.signl.status,
            SignlStatus::Open | SignlStatus::Acknowledged
        );
        if signl_up && state.redirected_to.is_some() && state.merged_into != state.redirected_to {
            self.follow_merge(incident, &state).await?;
        }
        if state.closed_in_sentinel() && state.redirected_to.is_none() {
            self.resolve_followers(&state).await?;
        }
        Ok(())
    }

    /// Performs the resolve or acknowledge the incident's state wants and the log has not asked
    /// for (`desired_effects`): level-triggered, so the reconcile finds what a lost hand-off
    /// (a crash between an observation's commit and its intent) left undone.
    pub(super) async fn sync_signl(&self, incident: IncidentKey) -> Result<(), StoreError> {
        let policy = self.settings.policy();
        let tenant = self.tenant();
        let wanted: Vec<Effect> = self.store.read(|p| {
            p.incident(tenant, incident)
                .map(|state| desired_effects(state, &policy))
                .unwrap_or_default()
        });
        for effect in wanted {
            if matches!(
                effect,
                Effect::ResolveSignl { .. } | Effect::AcknowledgeSignl { .. }
            ) {
                self.perform(incident, effect).await?;
            }
        }
        Ok(())
    }

    /// [`SyncContext::sync_signl`] for every incident of the tenant whose Signl is open: the
    /// only ones that can want a resolve or an acknowledge.
    pub(super) async fn sync_open_signls(&self) -> Result<(), StoreError> {
        let tenant = self.tenant();
        let open: Vec<IncidentKey> = self.store.read(|p| {
            p.with_signl_up(tenant)
                .filter(|i| {
                    matches!(
                        i.signl.status,
                        SignlStatus::Open | SignlStatus::Acknowledged
                    )
                })
                .map(|i| i.key)
                .collect()
        });
        for incident in open {
            self.sync_signl(incident).await?;
        }
        Ok(())
    }

    /// Comments are mirrored when configured and annotations are possible (an API key): without
    /// one no comment is even read.
    fn mirrors_comments(&self) -> bool {
        self.settings.sync.comments_to_signl4 && self.signl4.has_rest_api()
    }

    /// Looks at the comments of every open incident whose current etag was not looked at yet
    /// (after a start, or after a listing failed).
    pub(super) async fn sync_unseen_comments(&self) -> Result<(), StoreError> {
        if !self.mirrors_comments() {
            return Ok(());
        }
        let tenant = self.tenant();
        let candidates: Vec<(IncidentKey, String)> = self.store.read(|p| {
            p.with_signl_up(tenant)
                .filter(|i| open_on_both_sides(i))
                .map(|i| (i.key, i.etag.clone()))
                .collect()
        });
        for (incident, etag) in candidates {
            let seen = self.polls.comments_seen.borrow().get(&incident) == Some(&etag);
            if !seen {
                self.sync_comments(incident).await?;
            }
        }
        Ok(())
    }

    /// Sends the analyst comments of an open incident not sent yet as annotations.
    async fn sync_comments(&self, incident: IncidentKey) -> Result<(), StoreError> {
        if !self.mirrors_comments() {
            return Ok(());
        }
        let tenant = self.tenant();
        let Some(state) = self.store.read(|p| p.incident(tenant, incident).cloned()) else {
            return Ok(());
        };
        if !open_on_both_sides(&state)
            || self.polls.comments_seen.borrow().get(&incident) == Some(&state.etag)
        {
            return Ok(());
        }
        if self.has_no_comments(incident) {
            // Nothing to mirror, and no listing spent from the read budget the write-backs
            // need (before this, every paged incident was listed once after our own tag moved
            // its etag).
            self.polls
                .comments_seen
                .borrow_mut()
                .insert(incident, state.etag.clone());
            return Ok(());
        }
        let (listed, _) = retry(self.settings.backoff, || {
            self.sentinel.list_comments(&state.name)
        })
        .await;
        let comments = match listed {
            Ok(comments) => comments,
            Err(error) => {
                tracing::warn!(%error, %incident, "comments not read; the next reconcile tries again");
                return Ok(());
            }
        };
        let since = state.signl.requested_at_ms.unwrap_or(0) - CLOCK_SKEW_MS;
        let news: Vec<&CommentRecord> = comments
            .iter()
            .filter(|c| c.created_ms >= since && !c.message.trim().is_empty())
            .filter(|c| !is_ours(&state, c) && !state.requested(&annotate_probe(c)))
            .collect();
        if !news.is_empty() {
            let Some(signl_id) = self.signl_id(&state).await else {
                return Ok(()); // not known yet: the next reconcile tries again
            };
            for comment in news {
                self.perform(
                    incident,
                    Effect::AnnotateSignl {
                        signl_id: signl_id.clone(),
                        text: annotation_text(comment, self.settings.source),
                        cause: comment.id.clone(),
                    },
                )
                .await?;
            }
        }
        self.polls
            .comments_seen
            .borrow_mut()
            .insert(incident, state.etag.clone());
        Ok(())
    }

    /// True when the freshest state known of the incident (our last write's answer or the last
    /// listing, whichever is newer) counts no comment at all: Sentinel's
    /// `additionalData.commentsCount`. A comment made after that state moved the etag past it,
    /// so the incident is looked at again. Sources without the count (Graph) always list.
    fn has_no_comments(&self, incident: IncidentKey) -> bool {
        let known = self
            .known
            .freshest(&self.store, self.tenant(), incident)
            .ok()
            .flatten();
        known.is_some_and(|record| comments_count(&record.raw_json) == Some(0))
    }

    /// The id of the incident's current Signl: learnt from a notification, else looked up by
    /// ExternalID (the open one raised by this round's event, else the newest open one).
    pub(super) async fn signl_id(&self, state: &Incident) -> Option<String> {
        if let Some(id) = &state.signl.signl_id {
            return Some(id.clone());
        }
        let external = external_id(state.tenant, state.key);
        let (found, _) = retry(self.settings.backoff, || self.signl4.find_signls(&external)).await;
        let signls = match found {
            Ok(Some(signls)) => signls,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!(%error, incident = %state.key, "Signl not looked up");
                return None;
            }
        };
        let open = |s: &&crate::ports::SignlSummary| s.status == 1 || s.status == 2;
        signls
            .iter()
            .filter(open)
            .find(|s| s.event_id.is_some() && s.event_id == state.signl.event_id)
            .or_else(|| signls.iter().find(open))
            .map(|s| s.id.clone())
    }
}

/// `properties.additionalData.commentsCount` of an incident resource, if it has one.
fn comments_count(raw_json: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Resource {
        properties: Properties,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Properties {
        additional_data: Option<AdditionalData>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct AdditionalData {
        comments_count: Option<u64>,
    }
    let r: Resource = serde_json::from_str(raw_json).ok()?;
    r.properties.additional_data?.comments_count
}

/// True when the comment is one the connector wrote (its id is one of our comment effects).
fn is_ours(state: &Incident, comment: &CommentRecord) -> bool {
    Uuid::parse_str(&comment.id).is_ok_and(|comment_id| {
        state.requested(&Effect::WriteComment {
            comment_id,
            message: String::new(),
        })
    })
}

/// An annotate effect with the comment as cause: its id is what matters (see `effect_id`).
fn annotate_probe(comment: &CommentRecord) -> Effect {
    Effect::AnnotateSignl {
        signl_id: String::new(),
        text: String::new(),
        cause: comment.id.clone(),
    }
}

/// "<author> via Sentinel: <message>" ("via Defender" for a Microsoft Graph source), bounded.
pub fn annotation_text(comment: &CommentRecord, source: Source) -> String {
    let author = if comment.author.is_empty() {
        "An analyst"
    } else {
        comment.author.as_str()
    };
    let product = match source {
        Source::Sentinel => "Sentinel",
        Source::Graph => "Defender",
    };
    let mut text = format!("{author} via {product}: {}", comment.message.trim());
    if text.chars().count() > MAX_ANNOTATION_CHARS {
        text = text.chars().take(MAX_ANNOTATION_CHARS - 1).collect();
        text.push('…');
    }
    text
}
