//! `/control/...` over HTTP: each route parses its JSON body, calls the [`Control`] method of the
//! same name and answers with its result as JSON (errors as `{"error": ...}` with 404, 400 or
//! 409; see [`ControlError`]).
//!
//! Invariant: routes add no behaviour of their own; anything a test can do over HTTP it can do
//! through [`Control`] and the other way round.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Control, ControlError, Credential, UserAction};
use crate::util::json as json_resp;

/// Registers `/control/...`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    crate::defender::control_routes(cfg);
    cfg.route("/control/tenants", web::post().to(h_create_tenant))
        .route("/control/tenants", web::get().to(h_tenants))
        .route(
            "/control/tenants/{t}/incidents",
            web::post().to(h_create_incident),
        )
        .route("/control/tenants/{t}/incidents", web::get().to(h_incidents))
        .route(
            "/control/tenants/{t}/incidents/{id}",
            web::get().to(h_incident),
        )
        .route(
            "/control/tenants/{t}/incidents/{id}/alerts",
            web::post().to(h_add_alert),
        )
        .route(
            "/control/tenants/{t}/incidents/{id}/analyst",
            web::post().to(h_analyst),
        )
        .route(
            "/control/tenants/{t}/incidents/{id}/comments",
            web::get().to(h_comments),
        )
        .route(
            "/control/tenants/{t}/incidents/{id}/history",
            web::get().to(h_history),
        )
        .route(
            "/control/tenants/{t}/security-alerts",
            web::post().to(h_rows),
        )
        .route(
            "/control/tenants/{t}/graph-alerts",
            web::post().to(h_graph_alert),
        )
        .route("/control/tenants/{t}/signls", web::get().to(h_signls))
        .route(
            "/control/tenants/{t}/signls/{id}/user",
            web::post().to(h_user_action),
        )
        .route(
            "/control/tenants/{t}/outbound-url",
            web::put().to(h_outbound_url),
        )
        .route(
            "/control/tenants/{t}/credentials/{credential}/revoke",
            web::post().to(h_revoke),
        )
        .route(
            "/control/tenants/{t}/credentials/{credential}/restore",
            web::post().to(h_restore),
        )
        .route("/control/outbound", web::get().to(h_outbound))
        .route("/control/faults", web::post().to(h_add_fault))
        .route("/control/faults", web::get().to(h_faults))
        .route("/control/faults", web::delete().to(h_clear_faults))
        .route("/control/log-analytics", web::put().to(h_la_knobs))
        .route("/control/requests", web::get().to(h_requests))
        .route("/control/requests", web::delete().to(h_clear_requests))
        .route("/control/state", web::get().to(h_state))
        .route("/control/scenario", web::post().to(h_scenario))
        .route("/control/config", web::get().to(h_config));
}

type C = web::Data<Control>;
type P2 = web::Path<(String, String)>;

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ControlError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ControlError::Invalid(format!("bad JSON: {e}")))
}

fn ok<T: Serialize>(v: T) -> HttpResponse {
    json_resp(200, &json!(v))
}

fn credential(name: &str) -> Result<Credential, ControlError> {
    match name {
        "client_secret" => Ok(Credential::ClientSecret),
        "team_secret" => Ok(Credential::TeamSecret),
        other => Err(ControlError::Invalid(format!(
            "credential '{other}': expected client_secret or team_secret"
        ))),
    }
}
async fn h_revoke(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    c.revoke(&p.0, credential(&p.1)?)?;
    Ok(ok(json!({"revoked": p.1})))
}
async fn h_restore(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    c.restore(&p.0, credential(&p.1)?)?;
    Ok(ok(json!({"restored": p.1})))
}
async fn h_create_tenant(c: C, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &json!(c.create_tenant(parse(&b)?)?)))
}
async fn h_tenants(c: C) -> HttpResponse {
    ok(c.tenants())
}
async fn h_create_incident(
    c: C,
    t: web::Path<String>,
    b: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &c.create_incident(&t, parse(&b)?)?))
}
async fn h_incidents(c: C, t: web::Path<String>) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.incidents(&t)?))
}
async fn h_incident(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.incident(&p.0, &p.1)?))
}
async fn h_add_alert(c: C, p: P2, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &c.add_alert(&p.0, &p.1, parse(&b)?)?))
}
async fn h_analyst(c: C, p: P2, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.analyst(&p.0, &p.1, parse(&b)?)?))
}
async fn h_comments(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.comments(&p.0, &p.1)?))
}
async fn h_history(c: C, p: P2) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.incident_history(&p.0, &p.1)?))
}
async fn h_rows(c: C, t: web::Path<String>, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(ok(
        json!({"added": c.add_security_alert_rows(&t, parse(&b)?)?}),
    ))
}
async fn h_graph_alert(
    c: C,
    t: web::Path<String>,
    b: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &c.add_graph_alert(&t, parse(&b)?)?))
}
async fn h_signls(c: C, t: web::Path<String>) -> Result<HttpResponse, ControlError> {
    Ok(ok(c.signls(&t)?))
}

/// Body of `POST /control/tenants/{t}/signls/{id}/user`.
#[derive(Deserialize)]
struct UserActionBody {
    #[serde(default)]
    user: Option<String>,
    #[serde(flatten)]
    action: UserAction,
}

async fn h_user_action(c: C, p: P2, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    let body: UserActionBody = parse(&b)?;
    Ok(ok(c.user_action(
        &p.0,
        &p.1,
        body.user.as_deref(),
        body.action,
    )?))
}

/// Body of `PUT /control/tenants/{t}/outbound-url`.
#[derive(Deserialize)]
struct UrlBody {
    url: Option<String>,
}

async fn h_outbound_url(
    c: C,
    t: web::Path<String>,
    b: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    let body: UrlBody = parse(&b)?;
    c.set_outbound_url(&t, body.url)?;
    Ok(HttpResponse::NoContent().finish())
}
async fn h_outbound(c: C) -> HttpResponse {
    ok(c.outbound())
}
async fn h_add_fault(c: C, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    Ok(json_resp(201, &json!({"id": c.add_fault(parse(&b)?)})))
}
async fn h_faults(c: C) -> HttpResponse {
    ok(c.faults())
}
async fn h_clear_faults(c: C) -> HttpResponse {
    c.clear_faults();
    HttpResponse::NoContent().finish()
}

/// Body of `PUT /control/log-analytics`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LaKnobs {
    query_delay_ms: Option<u64>,
    partial_errors: Option<u32>,
}

async fn h_la_knobs(c: C, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    let k: LaKnobs = parse(&b)?;
    if let Some(ms) = k.query_delay_ms {
        c.set_la_query_delay_ms(ms);
    }
    if let Some(n) = k.partial_errors {
        c.set_la_partial_errors(n);
    }
    Ok(HttpResponse::NoContent().finish())
}
async fn h_requests(c: C) -> HttpResponse {
    ok(c.requests())
}
async fn h_clear_requests(c: C) -> HttpResponse {
    c.clear_requests();
    HttpResponse::NoContent().finish()
}
async fn h_state(c: C) -> HttpResponse {
    ok(c.state())
}
async fn h_scenario(c: C, b: web::Bytes) -> Result<HttpResponse, ControlError> {
    let spec: crate::scenario::ScenarioSpec = parse(&b)?;
    Ok(json_resp(
        201,
        &json!(crate::scenario::generate(&c, &spec)?),
    ))
}
async fn h_config(c: C, urls: web::Data<crate::SandboxUrls>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/toml")
        .body(crate::config::connector_toml(&c.tenants(), &urls))
}

/// Unknown control path.
pub async fn not_found() -> HttpResponse {
    json_resp(404, &json!({"error": "no such control route"}))
}
