//! The control surface: seed tenants, incidents, alerts and Log Analytics rows; act as a Sentinel
//! analyst or a SIGNL4 app user; install faults; read state, outbound deliveries and the request
//! log. [`Control`] is the Rust API; [`routes`] exposes the same operations as JSON over HTTP on
//! the control port (`/control/...`).
//!
//! | HTTP | Rust |
//! |---|---|
//! | `POST /control/tenants` [`TenantSpec`] → 201 [`TenantInfo`]; `GET /control/tenants` | [`Control::create_tenant`], [`Control::tenants`] |
//! | `POST /control/tenants/{t}/incidents` [`IncidentSpec`]; `GET .../incidents[/{id}]` | [`Control::create_incident`], [`Control::incidents`], [`Control::incident`] |
//! | `POST .../incidents/{id}/alerts` [`AlertSpec`] | [`Control::add_alert`] |
//! | `POST .../incidents/{id}/analyst` [`AnalystAction`] | [`Control::analyst`] |
//! | `GET .../incidents/{id}/comments`, `GET .../incidents/{id}/history` | [`Control::comments`], [`Control::incident_history`] |
//! | `POST /control/tenants/{t}/security-alerts` (rows) | [`Control::add_security_alert_rows`] |
//! | `POST /control/tenants/{t}/graph-alerts` (fields) | [`Control::add_graph_alert`] |
//! | `/control/tenants/{t}/graph-incidents[/{id}[/comments\|/merge]]` | [`super::defender::control_routes`] |
//! | `GET /control/tenants/{t}/signls`; `POST .../signls/{id}/user` `{"action":"acknowledge"\|"close"\|"annotate","text"?,"user"?}` | [`Control::signls`], [`Control::user_action`] |
//! | `PUT /control/tenants/{t}/outbound-url` `{"url": ...}`; `GET /control/outbound` | [`Control::set_outbound_url`], [`Control::outbound`] |
//! | `POST/GET/DELETE /control/faults` [`FaultSpec`](crate::faults::FaultSpec) | [`Control::add_fault`], [`Control::faults`], [`Control::clear_faults`] |
//! | `PUT /control/log-analytics` `{"query_delay_ms"?, "partial_errors"?}` | [`Control::set_la_query_delay_ms`], [`Control::set_la_partial_errors`] |
//! | `GET/DELETE /control/requests` | [`Control::requests`], [`Control::clear_requests`] |
//! | `GET /control/state` | [`Control::state`] |
//! | `POST /control/scenario` [`ScenarioSpec`](super::scenario::ScenarioSpec) | [`generate`](super::scenario::generate) |
//! | `GET /control/config` (TOML) | [`SandboxHandle::connector_toml`](super::SandboxHandle::connector_toml) |
//!
//! Invariants: every operation goes through the same state functions the emulators use, so an
//! analyst edit bumps etags exactly like a PUT and a user acknowledge fires outbound webhooks like
//! SIGNL4; control responses carry credentials (this is a sandbox), logs never do.
//!
//! The module is split along its seams: `spec` holds what callers send and get back (tenant,
//! incident, alert and action specs), `api` the [`Control`] operations on the world, `fixtures`
//! how a seeded alert becomes the ARM record and its `SecurityAlert` row, and `routes` the HTTP
//! face of the same operations.

mod api;
mod fixtures;
mod routes;
mod spec;

use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::util::json as json_resp;

pub use api::Control;
pub use routes::{not_found, routes};
pub use spec::{
    AlertSpec, AnalystAction, Credential, EntitySpec, IncidentSpec, TenantInfo, TenantSpec,
    UserAction,
};

/// Control-operation failures.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Unknown tenant/incident/Signl/user.
    #[error("not found: {0}")]
    NotFound(String),
    /// Invalid input (bad incident properties, duplicate tenant, ...).
    #[error("invalid: {0}")]
    Invalid(String),
    /// Illegal Signl transition.
    #[error("conflict: {0}")]
    Conflict(String),
}

impl ResponseError for ControlError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            ControlError::NotFound(_) => actix_web::http::StatusCode::NOT_FOUND,
            ControlError::Invalid(_) => actix_web::http::StatusCode::BAD_REQUEST,
            ControlError::Conflict(_) => actix_web::http::StatusCode::CONFLICT,
        }
    }
    fn error_response(&self) -> HttpResponse {
        json_resp(
            self.status_code().as_u16(),
            &json!({"error": self.to_string()}),
        )
    }
}
