//! Ports: what the actors need from the remote services, as traits.
//!
//! The actors never speak HTTP. They call these traits; the binary plugs in the reqwest clients
//! (`src/http/`), tests plug in the sandbox through the same clients, or in-memory fakes. This
//! keeps the pipeline's logic testable without a network and lets the read source (Sentinel or
//! Graph) change underneath it.
//!
//! Invariants:
//! - Ports speak the domain: an incident write is an [`IncidentChange`] (add a label,
//!   acknowledge, close with a classification), never a service's JSON; each adapter owns its
//!   read-modify-write (Sentinel's etag loop, Graph's read-then-PATCH), and "already done" has
//!   one definition ([`IncidentUpdate::is_done`]).
//! - No default methods: every implementation states what each operation does for it (a
//!   default once silently switched a feature off for a source that never said so).
//! - Every failure is classified as an [`ApiError`] so that callers decide retries from the kind,
//!   never from message text: throttling carries the server's `Retry-After` (429 `Throttled`,
//!   503 `Unavailable`), 409 is `Conflict`, refusals an operator can fix park an effect
//!   ([`ApiError::disposition`]), other 4xx are permanent (`Rejected`), 5xx, timeouts, resets and
//!   unparsable bodies are `Transient`.
//! - Calls that cause side effects take the effect's id as `request_id`; implementations send it
//!   as `x-ms-client-request-id` (or log it), so remote logs join the event log.
//! - Futures are not required to be `Send`: actix runs each actor on one thread.

use std::future::Future;
use std::time::Duration;

use uuid::Uuid;

/// Why a call to a remote service failed, classified for the retry policy.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 429: wait at least this long before the next call to that service.
    #[error("throttled; retry after {retry_after:?}")]
    Throttled { retry_after: Duration },
    /// 503 with a `Retry-After`: wait at least this long. Unlike a 429, the request may have
    /// been processed behind the gateway that answered, so a non-idempotent call (a page) is
    /// not repeated in place after it.
    #[error("unavailable; retry after {retry_after:?}: {message}")]
    Unavailable {
        retry_after: Duration,
        message: String,
    },
    /// Not sent: the connector's own rate budget keeps its room for more urgent calls and
    /// background work (a tag) yields instead of waiting. Nothing reached the service; the
    /// intent stays open and is tried again by a later reconcile, never in place.
    #[error("deferred by the rate budget for {retry_after:?} (nothing sent)")]
    Deferred { retry_after: Duration },
    /// 5xx, timeout, connection reset, an HTML error page or a body that does not parse.
    #[error("transient failure: {0}")]
    Transient(String),
    /// 409: the resource changed since it was read (stale etag).
    #[error("conflict: the resource changed since it was read")]
    Conflict,
    /// 404.
    #[error("not found")]
    NotFound,
    /// Another 4xx: retrying the same request cannot help.
    #[error("rejected with {status}: {message}")]
    Rejected { status: u16, message: String },
    /// No token could be obtained (wrong secret, unknown app or tenant).
    #[error("authentication failed: {0}")]
    Auth(String),
}

impl ApiError {
    /// True when the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::Throttled { .. }
                | ApiError::Unavailable { .. }
                | ApiError::Deferred { .. }
                | ApiError::Transient(_)
                | ApiError::Conflict
        )
    }

    /// The wait the server asked for (429, or 503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Throttled { retry_after } | ApiError::Unavailable { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// True for a refusal an operator can fix: no token (a revoked or expired client secret),
    /// 401, 403 (a missing role), and the 404s that name the configuration rather than an item
    /// (an unknown SIGNL4 team secret, a workspace or subscription that does not exist, which
    /// classify as `Rejected` 404; a missing item is `NotFound`). The effect is parked: its
    /// intent stays open and is tried again with a capped backoff, never failed for good.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            ApiError::Auth(_)
                | ApiError::Rejected {
                    status: 401 | 403 | 404,
                    ..
                }
        )
    }

    /// What becomes of an effect whose call ended with this error (see [`Disposition`]).
    pub fn disposition(&self) -> Disposition {
        if self.needs_operator() {
            Disposition::Park
        } else if self.is_retryable() {
            Disposition::Retry
        } else {
            Disposition::Fail
        }
    }
}

/// What an error means for the intent of the effect that met it. Exists so that every actor
/// decides the same way: only a final answer fails an effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Passing trouble (throttling, 5xx, timeouts, conflicts): the intent stays open and the
    /// next reconcile tries again.
    Retry,
    /// An operator must act (see [`ApiError::needs_operator`]): the intent stays open, is
    /// recorded as parked and tried again with a capped backoff until the fix lands.
    Park,
    /// A final answer (our request refused as such, the item gone): the intent is closed as
    /// failed.
    Fail,
}

/// Whose write a remote call serves, in the order a shared rate budget serves them: what an
/// analyst waits for (an acknowledge or close from SIGNL4) before comments, comments before
/// background work (tags). Exists because under a burst, acknowledges and closes waited minutes
/// behind tag writes in the same Sentinel budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WritePriority {
    /// SIGNL4 actions written back (acknowledge, close, owner): what people watch.
    Human = 0,
    /// Comments, and reads nobody is waiting on this instant (enrichment): served after
    /// people's calls, and in the read budget they leave a share to the Poller's listings.
    Comment = 1,
    /// Work nobody waits for (the tag); yields budget while others could need it.
    Background = 2,
}

tokio::task_local! {
    static PRIORITY: WritePriority;
}

/// Runs `work` with every remote call in it drawn from the budget at `priority`. A task-local
/// rather than a parameter, so that the ports keep their shape; calls outside any scope are
/// [`WritePriority::Human`] (never slowed by this).
pub async fn with_priority<F: Future>(priority: WritePriority, work: F) -> F::Output {
    PRIORITY.scope(priority, work).await
}

/// The priority of the calling task (see [`with_priority`]).
pub fn current_priority() -> WritePriority {
    PRIORITY.try_with(|p| *p).unwrap_or(WritePriority::Human)
}

/// What the Poller lists: incidents in these statuses and severities modified since a time.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentQuery {
    /// Statuses to pull (e.g. New, Active).
    pub statuses: Vec<String>,
    /// Severities to pull.
    pub severities: Vec<String>,
    /// Only incidents with `lastModifiedTimeUtc` at or after this (ms since the epoch).
    pub modified_since_ms: i64,
    /// Page size (`$top`, at most 1000).
    pub page_size: u32,
}

/// One incident as the service returned it: the fields the connector reads, and the raw JSON.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentRecord {
    /// The incident id (`name`, a GUID for Sentinel).
    pub name: String,
    /// The resource etag, quotes included (a Graph alert has none: its quoted
    /// `lastUpdateDateTime`, which every change moves).
    pub etag: String,
    pub number: i64,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub status: String,
    /// Owner as shown (UPN, else email, else assignedTo).
    pub owner: Option<String>,
    pub created_ms: i64,
    pub last_modified_ms: i64,
    /// Portal deep link.
    pub url: String,
    pub labels: Vec<String>,
    /// `additionalData.alertProductNames`.
    pub products: Vec<String>,
    /// `additionalData.tactics`.
    pub tactics: Vec<String>,
    /// The resource exactly as received. For a Microsoft Graph alert: its incident view (the
    /// alert in this record's Sentinel shape, `properties` and all) with the alert as received
    /// under `alert`; see the binary's `http::graph::view`.
    pub raw_json: String,
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentPage {
    pub incidents: Vec<IncidentRecord>,
    /// The absolute `nextLink`, followed verbatim; `None` on the last page.
    pub next_link: Option<String>,
}

/// Where a connector reads its incidents and writes them back: the incident port of every actor.
/// Named for its role, not for one service: Microsoft Sentinel (ARM) is one source; Microsoft
/// Graph alerts_v2 and Defender XDR incidents plug in adapters that present each alert or
/// incident in this shape and translate writes into PATCHes and comments (labels: none).
pub trait IncidentSource {
    /// One page of incidents matching `query` (the first when `next_link` is `None`), ordered by
    /// `lastModifiedTimeUtc` ascending.
    fn list_incidents(
        &self,
        query: &IncidentQuery,
        next_link: Option<&str>,
    ) -> impl Future<Output = Result<IncidentPage, ApiError>>;

    /// The incident's current state.
    fn get_incident(&self, name: &str) -> impl Future<Output = Result<IncidentRecord, ApiError>>;

    /// Carries out `update` (see [`IncidentUpdate`]) and answers the incident as it then is.
    /// Each adapter owns its read-modify-write: Sentinel starts from `known` when given (its
    /// PUT is etag-checked, so a stale start costs one 409 and a read, never a lost change) and
    /// reads again at once on a 409, a bounded number of times, before it answers `Conflict`;
    /// sources whose writes carry no etag (Graph PATCH) ignore `known` and read first, so that
    /// nothing stale is written back. An incident already in the target state is answered
    /// [`UpdateOutcome::AlreadyDone`] without a write. Other errors are returned as they came,
    /// for the caller's retry policy.
    fn update_incident(
        &self,
        name: &str,
        update: &IncidentUpdate,
        known: Option<IncidentRecord>,
        request_id: Uuid,
    ) -> impl Future<Output = Result<UpdateOutcome, ApiError>>;

    /// The incident's alerts (`POST .../alerts`), as JSON objects.
    fn list_alerts(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<serde_json::Value>, ApiError>>;

    /// The incident's entities (`POST .../entities`), as JSON objects.
    fn list_entities(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<serde_json::Value>, ApiError>>;

    /// Creates or rewrites comment `comment_id`; returns its etag.
    fn put_comment(
        &self,
        name: &str,
        comment_id: Uuid,
        message: &str,
        request_id: Uuid,
    ) -> impl Future<Output = Result<String, ApiError>>;

    /// The comment's message, or `None` if it does not exist.
    fn get_comment(
        &self,
        name: &str,
        comment_id: Uuid,
    ) -> impl Future<Output = Result<Option<String>, ApiError>>;

    /// Every comment of the incident, oldest first (all pages). No default: a default of "none"
    /// once silently turned analyst-comment mirroring off for a read source that forgot it.
    fn list_comments(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<CommentRecord>, ApiError>>;
}

/// One write-back to an incident, in the domain's terms: what the connector means to change,
/// never a service's body. Exists so that every read source carries out the same operations
/// its own way (an etag-checked ARM PUT of the whole resource, a Graph PATCH of the fields that
/// change) and the actors never build or re-parse a service's JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum IncidentChange {
    /// Add this label (the connector's tag) unless the incident has it (any case).
    AddLabel(String),
    /// Assign `owner` (a UPN or an Entra object id), if given, and set the status Active while
    /// it is New, if `activate`. Nothing is left to do once the incident is closed.
    Acknowledge {
        owner: Option<String>,
        activate: bool,
    },
    /// Close with the classification, its reason and comment; assign `owner`, if given.
    Close {
        owner: Option<String>,
        classification: String,
        reason: Option<String>,
        comment: String,
    },
}

/// An [`IncidentChange`] and a label to add with it when a write happens anyway: a pending tag
/// folded into an acknowledge or close costs no write of its own under the incident-write
/// budget (and is never a reason to write).
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentUpdate {
    pub change: IncidentChange,
    /// Added with the write if missing; empty or `None` adds nothing.
    pub fold_label: Option<String>,
}

impl IncidentUpdate {
    /// `change` alone.
    pub fn only(change: IncidentChange) -> Self {
        IncidentUpdate {
            change,
            fold_label: None,
        }
    }

    /// True when the incident read as `record` is already in the state `change` asks for. The
    /// one definition every adapter uses, so that "already done" means the same everywhere.
    pub fn is_done(&self, record: &IncidentRecord) -> bool {
        let closed = record.status.eq_ignore_ascii_case("closed");
        match &self.change {
            IncidentChange::AddLabel(label) => has_label(record, label),
            IncidentChange::Acknowledge { owner, activate } => {
                let owner_done = owner.as_deref().is_none_or(|o| {
                    record
                        .owner
                        .as_deref()
                        .is_some_and(|r| r.eq_ignore_ascii_case(o))
                });
                let active_done = !activate || !record.status.eq_ignore_ascii_case("new");
                closed || (owner_done && active_done)
            }
            IncidentChange::Close { .. } => closed,
        }
    }

    /// The labels to add to `record` with this write (the change's and the folded one), each
    /// once and only when missing.
    pub fn labels_to_add(&self, record: &IncidentRecord) -> Vec<String> {
        let mut add: Vec<String> = Vec::new();
        let wanted = match &self.change {
            IncidentChange::AddLabel(label) => Some(label),
            _ => None,
        };
        for label in wanted.into_iter().chain(self.fold_label.as_ref()) {
            if !label.is_empty()
                && !has_label(record, label)
                && !add.iter().any(|a| a.eq_ignore_ascii_case(label))
            {
                add.push(label.clone());
            }
        }
        add
    }

    /// The status to write: Closed for a close, Active for an acknowledge of a New incident
    /// that asks for it, else `None` (left as it is).
    pub fn status_to_write(&self, record: &IncidentRecord) -> Option<&'static str> {
        match &self.change {
            IncidentChange::Close { .. } => Some("Closed"),
            IncidentChange::Acknowledge { activate: true, .. }
                if record.status.eq_ignore_ascii_case("new") =>
            {
                Some("Active")
            }
            _ => None,
        }
    }

    /// The owner to write, when one is asked for and differs from the record's.
    pub fn owner_to_write(&self, record: &IncidentRecord) -> Option<&str> {
        let owner = match &self.change {
            IncidentChange::Acknowledge { owner, .. } | IncidentChange::Close { owner, .. } => {
                owner.as_deref()
            }
            IncidentChange::AddLabel(_) => None,
        }?;
        let same = record
            .owner
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(owner));
        (!same).then_some(owner)
    }
}

fn has_label(record: &IncidentRecord, label: &str) -> bool {
    record.labels.iter().any(|l| l.eq_ignore_ascii_case(label))
}

/// What [`IncidentSource::update_incident`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateOutcome {
    /// Written; the incident as the service answered the write.
    Written(IncidentRecord),
    /// Nothing written: the incident was already in the target state, as read (or as known).
    AlreadyDone(IncidentRecord),
}

impl UpdateOutcome {
    /// The incident as it is after the call.
    pub fn record(&self) -> &IncidentRecord {
        match self {
            UpdateOutcome::Written(r) | UpdateOutcome::AlreadyDone(r) => r,
        }
    }
}

/// One incident comment as the service returned it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommentRecord {
    /// The comment id (`name`); the connector's own are uuid v5 it derived.
    pub id: String,
    pub message: String,
    /// Who wrote it, as shown (name, else email, else UPN, else object id).
    pub author: String,
    /// `properties.createdTimeUtc` in ms.
    pub created_ms: i64,
}

/// A Signl as the SIGNL4 REST API reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct SignlSummary {
    /// `id` (the Signl id).
    pub id: String,
    /// `eventId` of the event that raised it, if reported.
    pub event_id: Option<String>,
    /// `status`: 1 open, 2 acknowledged, 4 closed.
    pub status: u32,
    /// `history.created` in ms, when reported: tells this round's Signl from an earlier
    /// round's (both carry the incident's ExternalID).
    pub created_ms: Option<i64>,
}

/// SIGNL4.
pub trait Signl4Api {
    /// POSTs an event to the team's inbound webhook (`X-S4-*` fields in `body`); returns the
    /// `eventId` of the 201 response.
    fn send_event(
        &self,
        body: &serde_json::Value,
        request_id: Uuid,
    ) -> impl Future<Output = Result<String, ApiError>>;

    /// The Signls raised with this ExternalID, or `None` when no API key is configured and so
    /// nothing can be checked.
    fn find_signls(
        &self,
        external_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<SignlSummary>>, ApiError>>;

    /// True when the REST API can be used (an API key is configured).
    fn has_rest_api(&self) -> bool;

    /// Adds an annotation to Signl `signl_id` (REST, no acting user, so SIGNL4 attributes it to
    /// the integration); returns the annotation's id. `None` when no API key is configured.
    fn annotate(
        &self,
        signl_id: &str,
        text: &str,
        request_id: Uuid,
    ) -> impl Future<Output = Result<Option<String>, ApiError>>;

    /// The team's Signls modified at or after `modified_since_ms` (REST polling, the fallback
    /// for deployments that cannot receive outbound webhooks); `None` without an API key.
    fn changed_signls(
        &self,
        modified_since_ms: i64,
    ) -> impl Future<Output = Result<Option<Vec<SignlState>>, ApiError>>;

    /// The annotations of Signl `signl_id`, oldest first; `None` without an API key, or while
    /// the service does not serve the route they are read from (the adapter reports that).
    fn annotations(
        &self,
        signl_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<SignlAnnotation>>, ApiError>>;
}

/// A SIGNL4 user as REST reports an actor: the id, and the email and name when the user list
/// knows them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignlUser {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// A Signl's state as REST reports it, for polling status changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignlState {
    /// `id` (the Signl id, `alert.id` in webhooks).
    pub id: String,
    /// `externalId`: the connector's ExternalID, if it raised the Signl.
    pub external_id: Option<String>,
    /// 1 open, 2 acknowledged, 4 closed.
    pub status: u32,
    /// `lastModified` as sent (changes with every status change and annotation).
    pub last_modified: String,
    /// `history.acknowledgements[].userId`, resolved; empty for an acknowledge without a user.
    pub acknowledged_by: Vec<SignlUser>,
    /// `history.acknowledgedAt` in ms.
    pub acknowledged_at_ms: Option<i64>,
    /// `history.closedBy`, resolved.
    pub closed_by: Option<SignlUser>,
    /// `history.closedAt` in ms.
    pub closed_at_ms: Option<i64>,
    /// `flags` has HasAnnotations (2).
    pub has_annotations: bool,
}

/// One annotation of a Signl.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignlAnnotation {
    /// Its id (the same as `annotation.id` of the 203 webhook).
    pub id: String,
    pub text: String,
    /// The author, `None` for one added through the API without a user.
    pub user: Option<SignlUser>,
    /// `timestamp` in ms.
    pub at_ms: i64,
}

/// The result of a Log Analytics query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryResult {
    /// The `tables` array as received.
    pub tables: serde_json::Value,
    /// A `PartialError` message when the service returned partial results.
    pub partial_error: Option<String>,
}

/// The Log Analytics query API of the connector's workspace.
pub trait LogAnalyticsApi {
    /// Runs `query` over `timespan` (ISO 8601, e.g. `P2D` or `start/end`).
    fn query(
        &self,
        query: &str,
        timespan: &str,
    ) -> impl Future<Output = Result<QueryResult, ApiError>>;
}

/// The Azure Monitor Logs Ingestion API, bound to one data collection rule and stream (the
/// connector's `SIGNL4_CL` table).
pub trait LogsIngestionApi {
    /// POSTs `body`, a JSON array of rows already serialised (the caller sizes its batches in
    /// bytes), with `request_id` as `x-ms-client-request-id`. `Ok` means 204: the rows were
    /// accepted. A too-large call is `Rejected { status: 413, .. }`, rows the rule refuses are
    /// `Rejected { status: 400, .. }`.
    fn upload(&self, body: &[u8], request_id: Uuid) -> impl Future<Output = Result<(), ApiError>>;
}
