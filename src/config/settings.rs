//! From configuration to the actors: [`ConnectorConfig::settings`] builds the
//! `actors::settings::ConnectorSettings` one connector's pipeline runs with.
//!
//! Why here: the actors crate knows nothing of TOML or secrets (its settings hold none); this
//! is the one place that maps the validated file onto them, so a new key is wired in one spot.
//! Invariant: no secret is copied into the settings.

use actors::retry::Backoff;
use actors::settings::{ConnectorSettings, SyncSettings};
use store::events::Source;

use super::enums::ReadSource;
use super::model::{ConnectorConfig, EntraUser};

impl ConnectorConfig {
    /// The pipeline settings of this connector (retry bounds: the actors' defaults).
    pub fn settings(&self) -> ConnectorSettings {
        ConnectorSettings {
            name: self.name.clone(),
            source: match self.read_source {
                ReadSource::Sentinel => Source::Sentinel,
                // Defender incidents are read from Microsoft Graph too; the log's `Source` has
                // no third value (it is a frozen format), and the Enricher tells the two apart
                // by the recorded view (`alert` vs `incident`).
                ReadSource::Graph | ReadSource::Defender => Source::Graph,
            },
            statuses: self.status_names(),
            severities: self.severity_names(),
            lookback: self.lookback,
            poll_interval: self.poll_interval,
            overlap: self.poll_overlap,
            sweep_interval: self.sweep_interval,
            page_size: self.page_size,
            tag: self.tag.clone().unwrap_or_default(),
            service: self.signl4.service.clone().unwrap_or_default(),
            alerting_scenario: self
                .signl4
                .alerting_scenario
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
            enrichment_deadline: self.enrichment_deadline,
            enrichment_concurrency: self.enrichment_concurrency,
            backoff: Backoff::default(),
            sync: SyncSettings {
                set_active_on_ack: self.on_acknowledge.set_active,
                assign_owner_on_ack: self.on_acknowledge.assign_owner,
                assign_owner_on_close: self.on_close.assign_owner,
                classification: self.on_close.classification.as_str().to_string(),
                classification_reason: self
                    .on_close
                    .classification_reason
                    .map(|r| r.as_str().to_string()),
                classification_comment: self
                    .on_close
                    .classification_comment
                    .clone()
                    .unwrap_or_default(),
                user_map: self
                    .user_map
                    .iter()
                    .map(|(email, user)| {
                        let target = match user {
                            EntraUser::Upn(upn) => upn.clone(),
                            EntraUser::ObjectId(id) => id.to_string(),
                        };
                        (email.clone(), target)
                    })
                    .collect(),
                resolve_on_sentinel_close: self.resolve_on_sentinel_close,
                ack_signl_on_sentinel_owner: self.ack_signl_on_sentinel_owner,
                comments_to_signl4: self.comments_to_signl4,
                signl4_poll_interval: self.signl4.status_poll,
            },
        }
    }
}
