//! SIGNL4 REST API v2 subset with `X-S4-Api-Key`: `POST /api/v2/alerts/paged` (filter incl.
//! `externalId`, `alertStatusCodes` bit flags, `modifiedSince`, continuation), `GET
//! /api/v2/alerts/{id}`, `POST .../acknowledge|close` (409 on an illegal transition),
//! `POST .../annotate`, `GET .../timeline` (where v2 carries annotations),
//! `GET /api/v2/users[/{idOrEmail}]`, `POST /api/v2/events/{team}`: documented v2 routes only
//! (docs/reference/signl4-api.md §2.3); v1's `GET .../annotations` is not served (404 like any unknown path).
//!
//! The timeline is an array of entries `{annotationtype, creatorId, creatorType, entrytype, id,
//! order, remoteActionId, remoteJobId, teamId, text, timestamp, userId}`, oldest first. SIGNL4
//! publishes neither the envelope nor the `entrytype`/`creatorType` codes; the sandbox's choice:
//! a plain array, `entrytype` 0 for status entries and 1 for annotations, `annotationtype` 0
//! (None) for status entries and 1 (Text) for annotations, `creatorType` 1 for a user and 0 for
//! the system or an API call.
//!
//! Invariants: the API key selects the team; a key never sees another team's Signls or users.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{annotate, find_user, render_alert, set_status, ACKNOWLEDGED, CLOSED};
use crate::errors;
use crate::state::{Actor, Shared, World};
use crate::util::{body_json, json as json_resp, parse_ts, q, query_pairs, ts7};

/// Registers the REST routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v2/alerts/paged").route(web::post().to(paged)))
        .service(web::resource("/api/v2/alerts/{id}").route(web::get().to(get_alert)))
        .service(
            web::resource("/api/v2/alerts/{id}/acknowledge").route(web::post().to(acknowledge)),
        )
        .service(web::resource("/api/v2/alerts/{id}/close").route(web::post().to(close)))
        .service(
            web::resource("/api/v2/alerts/{id}/annotate").route(web::post().to(annotate_route)),
        )
        .service(web::resource("/api/v2/alerts/{id}/timeline").route(web::get().to(timeline)))
        .service(web::resource("/api/v2/users").route(web::get().to(users)))
        .service(web::resource("/api/v2/users/{id}").route(web::get().to(user)))
        .service(web::resource("/api/v2/events/{team}").route(web::post().to(events)));
}

/// Unknown path or method on the SIGNL4 host.
pub async fn not_found() -> HttpResponse {
    errors::signl4(
        404,
        404,
        "Required entities could not be found in the database.",
        "The requested resource does not exist.",
    )
}

fn team_by_key(w: &World, req: &HttpRequest) -> Result<usize, HttpResponse> {
    let key = req
        .headers()
        .get("x-s4-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if key.is_empty() {
        return Err(errors::signl4(
            401,
            401,
            "Authorization failed",
            "The X-S4-Api-Key header is missing.",
        ));
    }
    w.tenants
        .iter()
        .position(|t| t.team.api_key == key)
        .ok_or_else(|| {
            errors::signl4(
                401,
                401,
                "Authorization failed",
                "The provided API key is not valid.",
            )
        })
}

fn signl_index(w: &World, ti: usize, id: &str) -> Result<usize, HttpResponse> {
    w.tenants[ti]
        .team
        .signls
        .iter()
        .position(|s| s.id == id)
        .ok_or_else(|| {
            errors::signl4(
                404,
                404,
                "Required entities could not be found in the database.",
                "No alert with id was found.",
            )
        })
}

fn bad_json() -> HttpResponse {
    errors::signl4(
        400,
        400,
        "Required information could not be found in the request/claims.",
        "The request body is not valid JSON.",
    )
}

async fn paged(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let filter = match body_json(&body) {
        Ok(Some(v @ Value::Object(_))) => v,
        Ok(None) => json!({}),
        _ => return bad_json(),
    };
    let w = shared.lock();
    let ti = match team_by_key(&w, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let pairs = query_pairs(req.query_string());
    let max = q(&pairs, "maxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let ext = filter.get("externalId").and_then(Value::as_str);
    let codes = filter
        .get("alertStatusCodes")
        .and_then(Value::as_u64)
        .filter(|c| *c != 0);
    let since = filter
        .get("modifiedSince")
        .and_then(Value::as_str)
        .and_then(parse_ts);
    let ids: Option<Vec<&str>> = filter
        .get("alertIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let offset = filter
        .get("continuationToken")
        .and_then(|c| c.get("nextRowKey"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let team = &w.tenants[ti].team;
    // Newest first, like SIGNL4's reverse-tick ids.
    let matching: Vec<&crate::state::Signl> = team
        .signls
        .iter()
        .rev()
        .filter(|s| ext.is_none_or(|e| s.external_id.as_deref() == Some(e)))
        .filter(|s| codes.is_none_or(|c| c & u64::from(s.status) != 0))
        .filter(|s| since.is_none_or(|t| s.modified >= t))
        .filter(|s| ids.as_ref().is_none_or(|ids| ids.contains(&s.id.as_str())))
        .collect();
    let results: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(max)
        .map(|s| render_alert(&w, ti, s))
        .collect();
    if results.is_empty() && w.opts.signl4.paged_empty_204 {
        return HttpResponse::NoContent().finish();
    }
    let has_more = offset + max < matching.len();
    let token = has_more.then(|| json!({"nextPartitionKey": team.id, "nextRowKey": (offset + max).to_string(), "nextTableName": "Alerts"}));
    json_resp(
        200,
        &json!({"results": results, "continuationToken": token, "hasMore": has_more}),
    )
}

async fn get_alert(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let w = shared.lock();
    let ti = match team_by_key(&w, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let id = req.match_info().get("id").unwrap_or_default();
    match signl_index(&w, ti, id) {
        Ok(si) => json_resp(200, &render_alert(&w, ti, &w.tenants[ti].team.signls[si])),
        Err(r) => r,
    }
}

async fn acknowledge(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    transition(
        shared,
        req,
        body,
        ACKNOWLEDGED,
        "Alert can't be acknowledged because it is against the defined alert lifecycle.",
    )
}

async fn close(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    transition(
        shared,
        req,
        body,
        CLOSED,
        "Alert can't be closed because it is against the defined alert lifecycle.",
    )
}

/// The acting user of an ack/close/annotate body: `uid` (v2) or `userId` (v1).
fn body_user(body: &Value) -> Option<String> {
    ["uid", "userId"].iter().find_map(|k| {
        body.get(*k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    })
}

fn transition(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
    to: u8,
    conflict: &str,
) -> HttpResponse {
    let b = match body_json(&body) {
        Ok(Some(v @ Value::Object(_))) => v,
        Ok(None) => json!({}),
        _ => return bad_json(),
    };
    let mut w = shared.lock();
    let ti = match team_by_key(&w, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let si = match signl_index(&w, ti, req.match_info().get("id").unwrap_or_default()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let uid = body_user(&b);
    if uid.is_none() && w.opts.signl4.require_uid {
        return errors::signl4(
            400,
            400,
            "Required information could not be found in the request/claims.",
            "uid is required when using an API key.",
        );
    }
    let user = match &uid {
        Some(u) => match find_user(&w, ti, u) {
            Some(u) => Some(u),
            None => {
                return errors::signl4(
                    404,
                    404,
                    "Required entities could not be found in the database.",
                    "No user with id was found.",
                )
            }
        },
        None => None,
    };
    if set_status(&mut w, ti, si, to, user, Actor::RestApi).is_err() {
        return errors::signl4(409, 409, conflict, "");
    }
    json_resp(200, &render_alert(&w, ti, &w.tenants[ti].team.signls[si]))
}

async fn annotate_route(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let b = match body_json(&body) {
        Ok(Some(v @ Value::Object(_))) => v,
        _ => return bad_json(),
    };
    let Some(text) = b
        .get("text")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return errors::signl4(
            400,
            400,
            "Required information could not be found in the request/claims.",
            "text is required.",
        );
    };
    let mut w = shared.lock();
    let ti = match team_by_key(&w, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let si = match signl_index(&w, ti, req.match_info().get("id").unwrap_or_default()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let user = body_user(&b).and_then(|u| find_user(&w, ti, &u));
    let team_id = w.tenants[ti].team.id.clone();
    let a = annotate(&mut w, ti, si, text, user, Actor::RestApi);
    json_resp(
        200,
        &json!({"id": a.id, "teamId": team_id, "text": a.text, "timestamp": ts7(a.at), "type": 1, "userId": a.user_id}),
    )
}

async fn timeline(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let w = shared.lock();
    let ti = match team_by_key(&w, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let si = match signl_index(&w, ti, req.match_info().get("id").unwrap_or_default()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let team_id = &w.tenants[ti].team.id;
    let s = &w.tenants[ti].team.signls[si];
    let entry = |annotation: u8, id: &str, text: &str, user: Option<&str>, at| {
        json!({"annotationtype": annotation, "creatorId": user, "creatorType": u8::from(user.is_some()),
            "entrytype": annotation, "id": id, "order": 0, "remoteActionId": null, "remoteJobId": null,
            "teamId": team_id, "text": text, "timestamp": ts7(at), "userId": user})
    };
    let mut entries: Vec<(chrono::DateTime<chrono::Utc>, Value)> = Vec::new();
    for (n, change) in s.history.iter().enumerate() {
        if change.what == "annotated" {
            continue;
        }
        let user = match &change.by {
            Actor::User { user_id } => Some(user_id.as_str()),
            _ => None,
        };
        let id = format!("{}_{n}", s.id);
        entries.push((change.at, entry(0, &id, &change.what, user, change.at)));
    }
    for a in &s.annotations {
        entries.push((a.at, entry(1, &a.id, &a.text, a.user_id.as_deref(), a.at)));
    }
    entries.sort_by_key(|(at, _)| *at);
    let items: Vec<Value> = entries
        .into_iter()
        .enumerate()
        .map(|(order, (_, mut e))| {
            e["order"] = json!(order);
            e
        })
        .collect();
    json_resp(200, &Value::Array(items))
}

fn render_user(w: &World, ti: usize, u: &crate::state::S4User) -> Value {
    let team = &w.tenants[ti].team;
    json!({"id": u.id, "name": u.name, "mail": u.mail, "colorIndex": 0, "isDeactivated": false,
        "isEnabled": true, "isInvite": false, "subscriptionId": team.subscription_id, "timeZone": "UTC",
        "dutyInfos": [{"dutyMode": 1, "teamId": team.id, "userId": u.id, "overdue": false}]})
}

async fn users(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let w = shared.lock();
    let ti = match team_by_key(&w, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let v: Vec<Value> = w.tenants[ti]
        .team
        .users
        .iter()
        .map(|u| render_user(&w, ti, u))
        .collect();
    json_resp(200, &Value::Array(v))
}

async fn user(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let w = shared.lock();
    let ti = match team_by_key(&w, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let id = req.match_info().get("id").unwrap_or_default();
    if id.eq_ignore_ascii_case("me") {
        return errors::signl4(
            400,
            400,
            "Required information could not be found in the request/claims.",
            "'Me' is not possible with an api key.",
        );
    }
    match find_user(&w, ti, id) {
        Some(u) => json_resp(200, &render_user(&w, ti, &u)),
        None => errors::signl4(
            404,
            404,
            "Required entities could not be found in the database.",
            "No user with id was found.",
        ),
    }
}

async fn events(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let params = super::webhook::parse_event_body(&req, &body);
    let mut w = shared.lock();
    let ti = match team_by_key(&w, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let target = req.match_info().get("team").unwrap_or_default();
    let team = &w.tenants[ti].team;
    if !(team.id.eq_ignore_ascii_case(target) || team.secret == target) {
        return errors::signl4(
            404,
            3004,
            "Error raising event.",
            "An event source with this ID was not found.",
        );
    }
    super::webhook::handle_event(&mut w, ti, req.query_string(), params)
}
