//! The validated configuration the pipeline consumes: [`Config`] with its [`ConnectorConfig`]s.
//!
//! Invariants (established by the loader, relied on by the pipeline): every value here has been
//! checked: GUIDs are GUIDs, URLs are http(s) and https for any non-loopback host, durations are
//! non-zero where zero would make no sense, enums are known, connector names and webhook tokens
//! are unique, secrets have been read. Nothing here needs re-validating downstream.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;
use uuid::Uuid;

use super::endpoints::{join, Audience, Endpoints};
use super::enums::{
    AlertingScenario, Classification, ClassificationReason, IncidentStatus, ReadSource, Severity,
};
use super::secret::{Secret, SecretSource};

/// The whole file: process-wide settings and one [`ConnectorConfig`] per tenant.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from.
    pub file: PathBuf,
    /// Directory of the event log. A relative `data_dir` in the file is resolved against the
    /// file's directory; without one, [`super::DEFAULT_DATA_DIR`] in the working directory.
    pub data_dir: PathBuf,
    /// The listener for SIGNL4 outbound webhooks.
    pub webhook: WebhookListener,
    /// The operator's listener (`/healthz`, `/readyz`, `/metrics`, `/status`).
    pub admin: AdminListener,
    /// The connectors, in file order.
    pub connectors: Vec<ConnectorConfig>,
    /// Things that are allowed but probably not intended (printed by `check-config`).
    pub warnings: Vec<String>,
}

/// Where SIGNL4 outbound webhooks arrive (one listener for every connector; each connector has
/// its own unguessable path token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookListener {
    /// Address to bind; default `127.0.0.1:8080` (put a TLS reverse proxy in front).
    pub bind: SocketAddr,
    /// The public URL SIGNL4 reaches the listener at (for printing the URL to register);
    /// `None` when not configured.
    pub public_base_url: Option<Url>,
}

/// `[admin]`: where the operator's surface listens. Separate from the webhook listener so that
/// the webhook can face SIGNL4 while status and metrics stay on loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminListener {
    /// Address to bind; default [`super::DEFAULT_ADMIN_BIND`] (loopback).
    pub bind: SocketAddr,
    /// A store commit outstanding longer than this fails `/healthz` (`stall_limit`, 30 s).
    pub stall_limit: Duration,
    /// A store commit outstanding longer than this aborts the process so the supervisor
    /// restarts it (`abort_after`, 2 min; never shorter than `stall_limit`).
    pub abort_after: Duration,
}

/// A connector's heartbeat: a URL called every `interval` while the connector is healthy, so
/// that a monitor (SIGNL4's heartbeat monitoring, or any) pages when the calls stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The URL (often embeds a secret, hence a [`Secret`]).
    pub url: Secret,
    /// Time between calls; non-zero.
    pub interval: Duration,
}

/// One connector: a Sentinel workspace in one Entra tenant linked to one SIGNL4 team.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// Unique in the file; the tenant stream key in the event log.
    pub name: String,
    /// Entra tenant.
    pub tenant_id: Uuid,
    /// ARM subscription of the workspace.
    pub subscription_id: Uuid,
    /// App registration (client) id.
    pub client_id: Uuid,
    /// App client secret.
    pub client_secret: Secret,
    /// Resource group of the workspace.
    pub resource_group: String,
    /// Log Analytics workspace name (ARM paths).
    pub workspace_name: String,
    /// Workspace GUID; `Some` enables Log Analytics augmentation.
    pub workspace_id: Option<Uuid>,
    /// The API incidents are read from.
    pub read_source: ReadSource,
    /// Incident statuses to pull; never empty, no repeats.
    pub statuses: Vec<IncidentStatus>,
    /// Incident severities to pull; never empty, no repeats.
    pub severities: Vec<Severity>,
    /// How far back the first poll looks when the log has no watermark yet.
    pub lookback: Duration,
    /// Time between polls; non-zero.
    pub poll_interval: Duration,
    /// How far each poll reaches back before the watermark, so that late writes are not missed.
    pub poll_overlap: Duration,
    /// How often a poll lists the whole lookback window instead of the time since the
    /// watermark (catches what paging over changing incidents may skip); non-zero.
    pub sweep_interval: Duration,
    /// `$top` of each listing page (1-1000).
    pub page_size: u32,
    /// After this long, an incident is forwarded without what enrichment could not fetch.
    pub enrichment_deadline: Duration,
    /// Incidents enriched at once (1-5: Log Analytics allows 5 concurrent queries per
    /// principal, across all workspaces).
    pub enrichment_concurrency: usize,
    /// An incident closed in Sentinel resolves its Signl (default true).
    pub resolve_on_sentinel_close: bool,
    /// An owner set in Sentinel after the page acknowledges the Signl (default true).
    pub ack_signl_on_sentinel_owner: bool,
    /// Analyst comments become annotations of the Signl (default true; needs the API key).
    pub comments_to_signl4: bool,
    /// Tag (label) added to the incident once its Signl exists; `None` adds none (always for
    /// `read_source = "graph"`: Graph alerts have no labels).
    pub tag: Option<String>,
    /// What an acknowledgement in SIGNL4 does in Sentinel.
    pub on_acknowledge: OnAcknowledge,
    /// What closing in SIGNL4 does in Sentinel.
    pub on_close: OnClose,
    /// SIGNL4 user email (lower case) -> Entra user; unmapped emails are used as the UPN.
    pub user_map: BTreeMap<String, EntraUser>,
    /// The SIGNL4 side.
    pub signl4: Signl4Config,
    /// Service URLs and token scopes.
    pub endpoints: Endpoints,
    /// Path token of this connector's SIGNL4 outbound webhook; `None` disables the inbound
    /// webhook for this connector (Sentinel -> SIGNL4 only).
    pub webhook_token: Option<Secret>,
    /// Shipping SIGNL4 activity into `SIGNL4_CL`; `None` when not configured.
    pub signl4_cl: Option<super::signl4_cl::Signl4ClConfig>,
    /// When the client secret expires (`client_secret_expires`), for the admin surface's
    /// warning and metric; `None` when not configured.
    pub client_secret_expires: Option<chrono::NaiveDate>,
    /// `heartbeat_url` and `heartbeat_interval`; `None` without a URL.
    pub heartbeat: Option<Heartbeat>,
    /// `[connector.sentinel_budget]`: the subscription's Sentinel rate budget; `None` when not
    /// written (the process default: the planning numbers, see [`super::SentinelBudget`]).
    pub sentinel_budget: Option<super::SentinelBudget>,
}

/// What an acknowledgement in SIGNL4 does to the Sentinel incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnAcknowledge {
    /// Set the status to Active (default true).
    pub set_active: bool,
    /// Make the acknowledging user the owner (default true).
    pub assign_owner: bool,
}

/// What closing the Signl in SIGNL4 does to the Sentinel incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnClose {
    /// Classification written on close (default Undetermined).
    pub classification: Classification,
    /// Its reason; present exactly when the classification needs one (checked at load).
    pub classification_reason: Option<ClassificationReason>,
    /// Classification comment (default "Closed in SIGNL4"); `None` writes none.
    pub classification_comment: Option<String>,
    /// Make the closing user the owner (default false: whoever acknowledged stays owner).
    pub assign_owner: bool,
}

/// An Entra user as the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntraUser {
    /// By user principal name (`rene@contoso.com`).
    Upn(String),
    /// By object id.
    ObjectId(Uuid),
}

/// The SIGNL4 side of a connector.
#[derive(Debug, Clone)]
pub struct Signl4Config {
    /// Where Signls are raised.
    pub target: Signl4Target,
    /// REST API key (`X-S4-Api-Key`); `None` when not configured (no REST look-ups then).
    pub api_key: Option<Secret>,
    /// `X-S4-AlertingScenario`; `None` = the team's default.
    pub alerting_scenario: Option<AlertingScenario>,
    /// `X-S4-Service`; `None` sends none.
    pub service: Option<String>,
    /// `poll_status = true`: poll the REST API for status changes and annotations this often
    /// (`poll_interval`, default 60 s), for when outbound webhooks cannot reach the connector.
    /// Only with an API key (checked at load).
    pub status_poll: Option<Duration>,
}

/// How the connector reaches the team's inbound webhook.
#[derive(Debug, Clone)]
pub enum Signl4Target {
    /// The team (integration) secret; the URL is `{endpoints.signl4}/webhook/{secret}`.
    TeamSecret(Secret),
    /// A full webhook URL (it embeds the secret, so it is a [`Secret`] too); validated at load.
    WebhookUrl(Secret),
}

impl ConnectorConfig {
    /// The OAuth2 scope to request a token for `audience` with.
    pub fn token_scope(&self, audience: Audience) -> &'static str {
        self.endpoints.token_scope(audience)
    }

    /// `{authority_host}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> Url {
        join(
            &self.endpoints.authority_host,
            &format!("/{}/oauth2/v2.0/token", self.tenant_id),
        )
    }

    /// The Sentinel provider URL of the workspace, up to `.../providers/Microsoft.SecurityInsights`
    /// (append `/incidents...` and `?api-version=`).
    pub fn sentinel_base(&self) -> Url {
        join(
            &self.endpoints.arm,
            &format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights",
                self.subscription_id, self.resource_group, self.workspace_name
            ),
        )
    }

    /// The team's inbound webhook URL (it contains the team secret, hence a [`Secret`]).
    pub fn signl4_webhook_url(&self) -> Secret {
        match &self.signl4.target {
            Signl4Target::WebhookUrl(url) => url.clone(),
            Signl4Target::TeamSecret(secret) => {
                let mut url = self.endpoints.signl4.clone();
                if let Ok(mut segments) = url.path_segments_mut() {
                    segments
                        .pop_if_empty()
                        .push("webhook")
                        .push(secret.expose());
                }
                Secret::new(
                    String::from(url),
                    SecretSource::Derived(Box::new(secret.source().clone())),
                )
            }
        }
    }

    /// The path SIGNL4 posts this connector's outbound webhooks to,
    /// `/signl4/{name}/{webhook_token}` (the route `crate::webhook` serves); `None` without a
    /// token. A [`Secret`]: it contains the token.
    pub fn webhook_path(&self) -> Option<Secret> {
        let token = self.webhook_token.as_ref()?;
        Some(Secret::new(
            format!("/signl4/{}/{}", self.name, token.expose()),
            SecretSource::Derived(Box::new(token.source().clone())),
        ))
    }

    /// The Entra user to make owner for a SIGNL4 user's email: the mapped user, or the email
    /// itself as UPN.
    pub fn entra_user_for(&self, email: &str) -> EntraUser {
        self.user_map
            .get(&email.trim().to_lowercase())
            .cloned()
            .unwrap_or_else(|| EntraUser::Upn(email.trim().to_string()))
    }

    /// The statuses as the API spells them, for the pipeline's queries.
    pub fn status_names(&self) -> Vec<String> {
        self.statuses
            .iter()
            .map(|s| s.as_str().to_string())
            .collect()
    }

    /// The severities as the API spells them.
    pub fn severity_names(&self) -> Vec<String> {
        self.severities
            .iter()
            .map(|s| s.as_str().to_string())
            .collect()
    }
}

impl Config {
    /// The full URL to register as the SIGNL4 outbound webhook of `connector`:
    /// `{webhook.public_base_url}/signl4/{name}/{token}`; `None` without a public base URL or a
    /// token.
    pub fn webhook_url(&self, connector: &ConnectorConfig) -> Option<Secret> {
        let base = self.webhook.public_base_url.as_ref()?;
        let path = connector.webhook_path()?;
        Some(Secret::new(
            format!("{}{}", super::endpoints::base_str(base), path.expose()),
            path.source().clone(),
        ))
    }

    /// The connector called `name`.
    pub fn connector(&self, name: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|c| c.name == name)
    }
}
