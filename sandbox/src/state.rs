//! The sandbox's whole world: tenants (Entra app, ARM subscription, workspace, SIGNL4 team),
//! issued tokens, incidents with comments/alerts/entities, Log Analytics rows, Graph alerts,
//! Signls, outbound webhook records, faults, the request log and the request bodies.
//!
//! Invariants: one `std::sync::Mutex<World>` guards everything; no lock is held across an
//! `.await`; every mutation of an incident (including comments, labels and alerts joining) goes
//! through [`Incident::touch`], which sets a new quoted etag and a new `lastModifiedTimeUtc`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::faults::FaultRule;
use super::options::SandboxOptions;

/// Shared handle on the world; cheap to clone into every actix app.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<World>>);

impl Shared {
    /// Wraps a fresh world.
    pub fn new(world: World) -> Self {
        Shared(Arc::new(Mutex::new(world)))
    }

    /// Locks the world. A panic while holding the lock would poison it; the sandbox keeps serving
    /// (the data is still consistent enough for a test emulator), so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Which resource a token was issued for (its `aud`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// `https://management.azure.com/` (or `https://management.core.windows.net/`).
    Arm,
    /// `https://api.loganalytics.io`.
    LogAnalytics,
    /// `https://graph.microsoft.com`.
    Graph,
    /// `https://monitor.azure.com` (Logs Ingestion API).
    Monitor,
}

impl Audience {
    /// The `aud` string as Entra would put it into the token.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Arm => "https://management.azure.com/",
            Audience::LogAnalytics => "https://api.loganalytics.io",
            Audience::Graph => "https://graph.microsoft.com",
            Audience::Monitor => "https://monitor.azure.com",
        }
    }

    /// Maps a `.default` scope to its audience; `None` for scopes Entra rejects (70011).
    pub fn from_scope(scope: &str) -> Option<Audience> {
        let s = scope.trim().to_ascii_lowercase();
        let resource = s.strip_suffix("/.default")?;
        match resource.trim_end_matches('/') {
            "https://management.azure.com" | "https://management.core.windows.net" => {
                Some(Audience::Arm)
            }
            "https://api.loganalytics.io" | "https://api.loganalytics.azure.com" => {
                Some(Audience::LogAnalytics)
            }
            "https://graph.microsoft.com" => Some(Audience::Graph),
            "https://monitor.azure.com" => Some(Audience::Monitor),
            _ => None,
        }
    }
}

/// What an opaque access token stands for.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Tenant the token was issued in.
    pub tenant_id: String,
    /// The app (client id) it was issued to.
    pub client_id: String,
    /// Resource it is valid for.
    pub audience: Audience,
    /// Expiry; after it the services answer with their "expired" error.
    pub expires_at: DateTime<Utc>,
}

/// Who caused a change; recorded so loop tests can tell the connector's writes from users'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A call to a service API with a token issued to `client_id` (the connector).
    Api {
        /// The calling app.
        client_id: String,
    },
    /// A simulated analyst in the Sentinel portal (control API).
    Analyst {
        /// The analyst's display name or UPN.
        name: String,
    },
    /// SIGNL4 inbound webhook call.
    Webhook,
    /// SIGNL4 REST API call with an API key.
    RestApi,
    /// A simulated SIGNL4 app user (control API).
    User {
        /// SIGNL4 user id.
        user_id: String,
    },
    /// Seeding through the control API or the scenario generator.
    Control,
}

/// One recorded change of an incident or Signl.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub by: Actor,
    /// Short human description (`"status New -> Active"`, `"comment added"`).
    pub what: String,
}

/// A Sentinel incident comment.
#[derive(Debug, Clone, Serialize)]
pub struct Comment {
    /// Comment id (client-chosen on PUT).
    pub name: String,
    /// Unquoted etag (spec examples print comment etags unquoted).
    pub etag: String,
    /// The text.
    pub message: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last rewrite time.
    pub modified: DateTime<Utc>,
    /// `ClientInfo` of the author (the caller's service principal or the analyst).
    pub author: Value,
    /// Who wrote it (for loop tests).
    pub by: Actor,
}

/// A Sentinel incident as stored: the writable properties exactly as the last PUT set them, the
/// read-only ones kept beside them.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// Incident id (`name`), as first written (lookups are case-insensitive).
    pub name: String,
    /// Current quoted etag.
    pub etag: String,
    /// Sequential per workspace.
    pub number: i64,
    /// `createdTimeUtc`.
    pub created: DateTime<Utc>,
    /// `lastModifiedTimeUtc`; bumped by every change.
    pub modified: DateTime<Utc>,
    /// Writable properties (title, severity, status, owner, labels, ...).
    pub writable: Map<String, Value>,
    /// `providerName`.
    pub provider_name: String,
    /// `relatedAnalyticRuleIds`.
    pub rule_ids: Vec<String>,
    /// Alerts: `SecurityAlertProperties` objects (each with `systemAlertId`).
    pub alerts: Vec<Value>,
    /// Entities: (`kind`, properties).
    pub entities: Vec<(String, Value)>,
    /// Comments in creation order.
    pub comments: Vec<Comment>,
    /// Change history.
    pub history: Vec<Change>,
    /// The rendered ARM JSON, built on first read and dropped by [`Incident::touch`]; reads
    /// (GET and list) dominate the connector's traffic.
    #[serde(skip)]
    pub rendered: std::sync::OnceLock<Value>,
    /// `rendered` serialised, so list pages are concatenations rather than re-serialisations.
    #[serde(skip)]
    pub serialized: std::sync::OnceLock<String>,
}

impl Incident {
    /// Records a change: new etag, new `lastModifiedTimeUtc` (strictly increasing), history entry.
    pub fn touch(&mut self, seq: &mut u64, by: Actor, what: impl Into<String>) {
        let mut now = Utc::now();
        if now <= self.modified {
            now = self.modified + chrono::Duration::microseconds(1);
        }
        self.modified = now;
        self.etag = next_etag(seq, now);
        self.rendered = std::sync::OnceLock::new();
        self.serialized = std::sync::OnceLock::new();
        self.history.push(Change {
            at: now,
            by,
            what: what.into(),
        });
    }

    /// A writable property as a string (`status`, `severity`, ...).
    pub fn prop_str(&self, key: &str) -> Option<&str> {
        self.writable.get(key).and_then(Value::as_str)
    }
}

/// An etag in Sentinel's shape (`"0300bf09-0000-0000-0000-5c37296e0000"`, quotes included).
pub fn next_etag(seq: &mut u64, now: DateTime<Utc>) -> String {
    *seq += 1;
    format!(
        "\"{:08x}-0000-0000-0000-{:012x}\"",
        *seq as u32,
        now.timestamp_micros() as u64 & 0xffff_ffff_ffff
    )
}

/// A SIGNL4 user (REST `mail`, outbound webhook `mailaddress`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S4User {
    /// User GUID.
    pub id: String,
    /// Display name (outbound `username`).
    pub name: String,
    /// Email address.
    pub mail: String,
}

/// A Signl annotation.
#[derive(Debug, Clone, Serialize)]
pub struct Annotation {
    /// `<ticks>_<guid>` id.
    pub id: String,
    /// Text.
    pub text: String,
    /// Author (SIGNL4 user id), if any.
    pub user_id: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Who caused it.
    pub by: Actor,
}

/// A Signl (SIGNL4 alert).
#[derive(Debug, Clone, Serialize)]
pub struct Signl {
    /// Alert id `<ticks>_<guid>` (REST `/alerts/{id}`, outbound `alert.id`).
    pub id: String,
    /// The inbound event id returned by the webhook (outbound `alert.eventId`).
    pub event_id: String,
    /// Owning team.
    pub team_id: String,
    /// `X-S4-ExternalID`.
    pub external_id: Option<String>,
    /// Title parameter.
    pub title: String,
    /// Text parameter.
    pub text: String,
    /// All other (flattened) parameters, X-S4-* included.
    pub params: Map<String, Value>,
    /// 1 open, 2 acknowledged, 4 closed.
    pub status: u8,
    /// `X-S4-AlertingScenario`.
    pub scenario: Option<String>,
    /// `X-S4-Service` (category).
    pub service: Option<String>,
    /// Users who acknowledged.
    pub ack_user_ids: Vec<String>,
    /// Creation.
    pub created: DateTime<Utc>,
    /// Last change.
    pub modified: DateTime<Utc>,
    /// When acknowledged first.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who closed (user id).
    pub closed_by: Option<String>,
    /// Notes.
    pub annotations: Vec<Annotation>,
    /// Status history with causes.
    pub history: Vec<Change>,
}

/// A SIGNL4 team with its inbound secret, API key and outbound webhook target.
#[derive(Debug, Clone, Serialize)]
pub struct Team {
    /// Team GUID.
    pub id: String,
    /// Team name.
    pub name: String,
    /// SIGNL4 subscription (account) GUID the team belongs to.
    pub subscription_id: String,
    /// Inbound webhook secret (path segment).
    #[serde(skip)]
    pub secret: String,
    /// REST API key (`X-S4-Api-Key`).
    #[serde(skip)]
    pub api_key: String,
    /// Where outbound webhooks go (the connector's receiver), settable at runtime.
    pub outbound_url: Option<String>,
    /// Users.
    pub users: Vec<S4User>,
    /// Signls, oldest first.
    pub signls: Vec<Signl>,
}

/// One delivery record of an outbound webhook.
#[derive(Debug, Clone, Serialize)]
pub struct OutboundRecord {
    /// Top-level `id` of the notification.
    pub id: String,
    /// Team.
    pub team_id: String,
    /// 200/201/203.
    pub event_type: u16,
    /// The JSON that is (re)sent.
    pub payload: Value,
    /// What caused the notification.
    pub cause: Actor,
    /// Attempts made so far.
    pub attempts: u32,
    /// HTTP POSTs that reached the receiver with a 2xx (2 when duplicated).
    pub deliveries: u32,
    /// Last status or transport error.
    pub last_result: Option<String>,
}

/// One tenant: Entra app + ARM subscription/RG/workspace + LA + Graph + SIGNL4 team.
#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    /// Friendly name (`tenant-1`).
    pub name: String,
    /// Entra tenant GUID.
    pub tenant_id: String,
    /// App (client) id.
    pub client_id: String,
    /// App secret; never logged or serialised.
    #[serde(skip)]
    pub client_secret: String,
    /// Object id of the app's service principal (comment author).
    pub sp_object_id: String,
    /// ARM subscription.
    pub subscription_id: String,
    /// Resource group.
    pub resource_group: String,
    /// Workspace name (ARM path).
    pub workspace_name: String,
    /// Workspace GUID (Log Analytics, `customerId`).
    pub workspace_id: String,
    /// Whether the LA workspace has any data at all (204 quirk when false and empty).
    pub dcr_immutable_id: String,
    /// Next `incidentNumber`.
    pub next_number: i64,
    /// Incidents by lowercase name.
    pub incidents: std::collections::BTreeMap<String, Incident>,
    /// `SecurityAlert` table rows (column → cell).
    pub security_alert_rows: Vec<Map<String, Value>>,
    /// `SIGNL4_CL` rows received through the Logs Ingestion API.
    pub signl4_cl_rows: Vec<Map<String, Value>>,
    /// Graph security alerts_v2 objects.
    pub graph_alerts: Vec<Value>,
    /// Render unset owner fields as explicit nulls ([`SentinelQuirks::owner_nulls`]).
    ///
    /// [`SentinelQuirks::owner_nulls`]: super::options::SentinelQuirks::owner_nulls
    pub owner_nulls: bool,
    /// Graph security incidents (Defender XDR); their alerts are in `graph_alerts`.
    pub graph_incidents: Vec<Value>,
    /// SIGNL4 team.
    pub team: Team,
}

impl Tenant {
    /// ARM id of the workspace, the prefix of every Sentinel resource id.
    pub fn workspace_arm_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}",
            self.subscription_id, self.resource_group, self.workspace_name
        )
    }
}

/// One served request, for the control API's request log.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// Which emulator served it.
    pub service: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// `x-ms-client-request-id` header, if sent.
    pub client_request_id: Option<String>,
    /// Arrival time.
    pub at: DateTime<Utc>,
}

/// Everything the emulators share.
pub struct World {
    /// Options the sandbox was started with.
    pub opts: SandboxOptions,
    /// Tenants in creation order.
    pub tenants: Vec<Tenant>,
    /// Issued tokens.
    pub tokens: HashMap<String, TokenInfo>,
    /// Request log (bounded).
    pub requests: VecDeque<RequestRecord>,
    /// Bodies of the PUT/POST/PATCH requests (bounded like the request log).
    pub bodies: VecDeque<super::capture::BodyRecord>,
    /// Active fault rules.
    pub faults: Vec<FaultRule>,
    /// ARM token buckets keyed by (subscription, client id, operation type), lowercase ids.
    pub throttle: HashMap<
        (String, String, super::sentinel::throttle::OpType),
        super::sentinel::throttle::Tokens,
    >,
    /// Graph `/security` requests in the sliding minute, keyed by (tenant, app).
    pub graph_throttle: HashMap<(String, String), VecDeque<Instant>>,
    /// Log Analytics queries in flight keyed by (client id, workspace id).
    pub la_inflight: HashMap<(String, String), usize>,
    /// Artificial Log Analytics query latency (ms), to provoke 429 on concurrency.
    pub la_query_delay_ms: u64,
    /// Log Analytics PartialError injection: remaining count.
    pub la_partial_errors: u32,
    /// Outbound webhook records.
    pub outbound: VecDeque<OutboundRecord>,
    /// Queue to the outbound dispatcher (record ids); `None` until the sandbox runs.
    pub outbound_tx: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    /// Etag counter.
    pub seq: u64,
    /// Credentials revoked through the control API, kept for their restore: key
    /// `"{tenant}/{credential}"` → the secret (never serialised or logged).
    pub revoked: HashMap<String, String>,
}

impl World {
    /// An empty world.
    pub fn new(opts: SandboxOptions) -> Self {
        World {
            opts,
            tenants: Vec::new(),
            tokens: HashMap::new(),
            requests: VecDeque::new(),
            bodies: VecDeque::new(),
            faults: Vec::new(),
            throttle: HashMap::new(),
            graph_throttle: HashMap::new(),
            la_inflight: HashMap::new(),
            la_query_delay_ms: 0,
            la_partial_errors: 0,
            revoked: HashMap::new(),
            outbound: VecDeque::new(),
            outbound_tx: None,
            seq: 0,
        }
    }

    /// Tenant by GUID or name (case-insensitive).
    pub fn tenant_mut(&mut self, key: &str) -> Option<&mut Tenant> {
        self.tenants
            .iter_mut()
            .find(|t| t.tenant_id.eq_ignore_ascii_case(key) || t.name.eq_ignore_ascii_case(key))
    }

    /// Tenant by GUID or name (case-insensitive).
    pub fn tenant(&self, key: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.tenant_id.eq_ignore_ascii_case(key) || t.name.eq_ignore_ascii_case(key))
    }

    /// Appends to the bounded request log.
    pub fn log_request(&mut self, rec: RequestRecord) {
        if self.requests.len() >= self.opts.request_log_capacity.max(1) {
            self.requests.pop_front();
        }
        self.requests.push_back(rec);
    }
}
