//! What one connector's actors need to know, independent of how it was configured.
//!
//! The binary builds this from the TOML configuration; tests build it directly. Invariant: no
//! secret lives here (credentials stay inside the HTTP clients behind the ports).

use std::collections::HashMap;
use std::time::Duration;

use store::aggregate::Policy;
use store::events::Source;
use store::TenantId;

use crate::retry::Backoff;

/// Default of [`ConnectorSettings::sweep_interval`].
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// One connector's behaviour.
#[derive(Clone, Debug)]
pub struct ConnectorSettings {
    /// The configured name; the tenant stream is derived from it.
    pub name: String,
    /// Where incidents are read.
    pub source: Source,
    /// Statuses and severities to pull.
    pub statuses: Vec<String>,
    pub severities: Vec<String>,
    /// How far back the first poll looks.
    pub lookback: Duration,
    /// Time between polls.
    pub poll_interval: Duration,
    /// How far before the watermark each poll starts again (late-arriving changes).
    pub overlap: Duration,
    /// How often a poll lists the whole lookback window instead of the time since the
    /// watermark, to catch anything a listing may have skipped (paging over incidents that
    /// change while being listed can shift items past a page boundary).
    pub sweep_interval: Duration,
    /// `$top` of each listing page.
    pub page_size: u32,
    /// Label added to an incident once its Signl exists (empty: none).
    pub tag: String,
    /// `X-S4-Service` and `X-S4-AlertingScenario` (empty: not sent).
    pub service: String,
    pub alerting_scenario: String,
    /// After this long, an incident is forwarded without what enrichment could not fetch.
    pub enrichment_deadline: Duration,
    /// Incidents enriched at once (Log Analytics allows 5 concurrent queries per principal).
    pub enrichment_concurrency: usize,
    /// Retry bounds of remote calls.
    pub backoff: Backoff,
    /// What StatusSync writes back.
    pub sync: SyncSettings,
}

/// How SIGNL4 actions are written back to Sentinel, and Sentinel changes to SIGNL4.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// Acknowledge sets a New incident Active.
    pub set_active_on_ack: bool,
    /// Acknowledge assigns the acknowledging user as owner.
    pub assign_owner_on_ack: bool,
    /// Close assigns the closing user as owner.
    pub assign_owner_on_close: bool,
    /// Close writes this classification, reason and comment.
    pub classification: String,
    pub classification_reason: Option<String>,
    pub classification_comment: String,
    /// SIGNL4 email (lowercase) -> Entra UPN or object id; unmapped emails are used as UPNs.
    pub user_map: HashMap<String, String>,
    /// An incident closed in Sentinel resolves its Signl.
    pub resolve_on_sentinel_close: bool,
    /// An owner set in Sentinel (after the page, not by the connector) acknowledges the Signl.
    pub ack_signl_on_sentinel_owner: bool,
    /// Analyst comments on a paged, open incident become annotations of its Signl (needs the
    /// SIGNL4 API key, `Signl4Api::has_rest_api`; without one nothing is read).
    pub comments_to_signl4: bool,
    /// Poll SIGNL4's REST API for status changes and annotations this often (needs the API
    /// key); `None`: rely on the outbound webhook only.
    pub signl4_poll_interval: Option<Duration>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            set_active_on_ack: true,
            assign_owner_on_ack: true,
            assign_owner_on_close: false,
            classification: "Undetermined".into(),
            classification_reason: None,
            classification_comment: "Closed in SIGNL4".into(),
            user_map: HashMap::new(),
            resolve_on_sentinel_close: true,
            ack_signl_on_sentinel_owner: true,
            comments_to_signl4: true,
            signl4_poll_interval: None,
        }
    }
}

impl SyncSettings {
    /// The Sentinel owner for a SIGNL4 user's email.
    pub fn owner_for(&self, email: &str) -> String {
        self.user_map
            .get(&email.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| email.to_string())
    }
}

impl ConnectorSettings {
    /// Defaults matching the configuration's, for connector `name`.
    pub fn new(name: &str) -> ConnectorSettings {
        ConnectorSettings {
            name: name.to_string(),
            source: Source::Sentinel,
            statuses: vec!["New".into()],
            severities: ["High", "Medium", "Low", "Informational"]
                .map(String::from)
                .to_vec(),
            lookback: Duration::from_secs(24 * 3600),
            poll_interval: Duration::from_secs(60),
            overlap: Duration::from_secs(300),
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            page_size: 200,
            tag: "SIGNL4".into(),
            service: String::new(),
            alerting_scenario: String::new(),
            enrichment_deadline: Duration::from_secs(30),
            enrichment_concurrency: 4,
            backoff: Backoff::default(),
            sync: SyncSettings::default(),
        }
    }

    /// What `store::aggregate::desired_effects` needs of these settings.
    pub fn policy(&self) -> Policy {
        Policy {
            page_statuses: self.statuses.clone(),
            page_severities: self.severities.clone(),
            tag: self.tag.clone(),
            resolve_on_sentinel_close: self.sync.resolve_on_sentinel_close,
            ack_signl_on_sentinel_owner: self.sync.ack_signl_on_sentinel_owner,
        }
    }

    /// The tenant stream of this connector.
    pub fn tenant(&self) -> TenantId {
        TenantId::from_name(&self.name)
    }
}
