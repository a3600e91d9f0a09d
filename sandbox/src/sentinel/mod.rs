//! Microsoft Sentinel incidents on ARM (`Microsoft.SecurityInsights`, paths of docs/reference/azure-apis.md
//! §2.2/2.3): list with `$filter`/`$orderby`/`$top`/`$skipToken` and an absolute `nextLink`, get,
//! PUT (full replace, etags, 409 on a stale etag, Closed ⇒ classification rules, 201/200), delete,
//! the POST list actions (alerts, entities, bookmarks) and comments (PUT by id, get, list, delete).
//!
//! Every request passes `prelude`: bearer token with the ARM audience, `api-version` among the
//! published versions ([`API_VERSIONS`]), subscription/resource group/workspace lookup (the
//! token's tenant must own the subscription) and ARM's token-bucket throttle ([`throttle`]).
//!
//! Invariants: any change to an incident (PUT, comment write/delete, alerts joining) bumps its
//! etag and `lastModifiedTimeUtc`; error bodies are ARM `CloudError`s; nothing here panics on
//! client input.

pub mod model;
pub mod throttle;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::auth::{self, AuthError};
use super::errors;
use super::odata::{self, Expr, Lit, Op};
use super::state::{Actor, Audience, Comment, Incident, Shared, TokenInfo, World};
use super::util::{body_json, pct_encode, q, query_pairs, ts7};
use model::{comment_fields, incident_fields, render_comment, render_incident};
use throttle::{OpType, Tokens};

/// The `Microsoft.SecurityInsights` api-versions published in azure-rest-api-specs (its
/// resource-manager readme, stable and preview tags) plus `2025-10-01-preview`, the default of
/// azure-mgmt-securityinsight 2.0.0b4 (docs/reference/azure-apis.md §4.6). The incident operations have the
/// same wire shape in all of them (field additions only); anything else is refused like ARM,
/// including `2019-01-01-preview`, whose incidents were still "cases".
pub const API_VERSIONS: [&str; 43] = [
    "2025-12-01",
    "2025-09-01",
    "2025-06-01",
    "2025-03-01",
    "2024-09-01",
    "2024-03-01",
    "2023-11-01",
    "2023-02-01",
    "2022-11-01",
    "2022-08-01",
    "2021-10-01",
    "2021-04-01",
    "2020-01-01",
    "2025-10-01-preview",
    "2025-07-01-preview",
    "2025-04-01-preview",
    "2025-01-01-preview",
    "2024-10-01-preview",
    "2024-04-01-preview",
    "2024-01-01-preview",
    "2023-12-01-preview",
    "2023-10-01-preview",
    "2023-09-01-preview",
    "2023-08-01-preview",
    "2023-07-01-preview",
    "2023-06-01-preview",
    "2023-05-01-preview",
    "2023-04-01-preview",
    "2023-03-01-preview",
    "2023-02-01-preview",
    "2022-12-01-preview",
    "2022-11-01-preview",
    "2022-10-01-preview",
    "2022-09-01-preview",
    "2022-08-01-preview",
    "2022-07-01-preview",
    "2022-06-01-preview",
    "2022-05-01-preview",
    "2022-04-01-preview",
    "2022-01-01-preview",
    "2021-10-01-preview",
    "2021-09-01-preview",
    "2021-03-01-preview",
];

const BASE: &str = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}/providers/Microsoft.SecurityInsights";

/// Registers the ARM routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let r = |p: &str| web::resource(format!("{BASE}{p}")).default_service(web::to(wrong_method));
    cfg.service(r("/incidents").route(web::get().to(list)))
        .service(
            r("/incidents/{id}")
                .route(web::get().to(get))
                .route(web::put().to(put))
                .route(web::delete().to(delete)),
        )
        .service(r("/incidents/{id}/alerts").route(web::post().to(alerts)))
        .service(r("/incidents/{id}/entities").route(web::post().to(entities)))
        .service(r("/incidents/{id}/bookmarks").route(web::post().to(bookmarks)))
        .service(r("/incidents/{id}/comments").route(web::get().to(list_comments)))
        .service(
            r("/incidents/{id}/comments/{cid}")
                .route(web::get().to(get_comment))
                .route(web::put().to(put_comment))
                .route(web::delete().to(delete_comment)),
        );
}

/// Unknown ARM path: what ARM says for a resource type it does not know.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    errors::arm(
        404,
        "InvalidResourceType",
        &format!(
            "The resource type could not be found in the namespace for path '{}'.",
            req.path()
        ),
    )
}

async fn wrong_method(req: HttpRequest) -> HttpResponse {
    errors::arm(
        405,
        "UnsupportedApiVersion",
        &format!(
            "The requested resource does not support http method '{}'.",
            req.method()
        ),
    )
}

/// What a request that passed the prelude may use.
struct Ctx {
    tenant: usize,
    token: TokenInfo,
    remaining: u32,
    class: OpType,
}

fn auth_error(e: AuthError, tenant_hint: &str) -> HttpResponse {
    let (code, msg) = match e {
        AuthError::Missing => (
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_string(),
        ),
        AuthError::Invalid => ("InvalidAuthenticationToken", "The access token is invalid.".to_string()),
        AuthError::Expired(at) => (
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                at.format("%-m/%-d/%Y %-I:%M:%S %p"),
                Utc::now().format("%-m/%-d/%Y %-I:%M:%S %p")
            ),
        ),
        AuthError::WrongAudience(a) => (
            "InvalidAuthenticationTokenAudience",
            format!("The access token has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.", a.as_str()),
        ),
    };
    let mut r = errors::arm(401, code, &msg);
    let www = format!(
        "Bearer authorization_uri=\"https://login.windows.net/{tenant_hint}\", error=\"invalid_token\", error_description=\"{code}\""
    );
    if let Ok(v) = HeaderValue::from_str(&www) {
        r.headers_mut()
            .insert(actix_web::http::header::WWW_AUTHENTICATE, v);
    }
    r
}

/// ARM's token bucket of the caller (subscription, app, operation type); `Ok(remaining)` or
/// `Err(retry_after_secs)`.
fn throttle(w: &mut World, sub: &str, client_id: &str, class: OpType) -> Result<u32, u64> {
    let bucket = match class {
        OpType::Read => w.opts.throttle.reads,
        OpType::Write => w.opts.throttle.writes,
        OpType::Delete => w.opts.throttle.deletes,
    };
    w.throttle
        .entry((
            sub.to_ascii_lowercase(),
            client_id.to_ascii_lowercase(),
            class,
        ))
        .or_insert_with(|| Tokens::full(bucket))
        .take(bucket, std::time::Instant::now())
}

/// Auth, api-version, scope lookup and throttling, in ARM's order.
fn prelude(w: &mut World, req: &HttpRequest, class: OpType) -> Result<Ctx, HttpResponse> {
    let mi = req.match_info();
    let (sub, rg, ws) = (
        mi.get("sub").unwrap_or_default(),
        mi.get("rg").unwrap_or_default(),
        mi.get("ws").unwrap_or_default(),
    );
    let owner_tenant = w
        .tenants
        .iter()
        .find(|t| t.subscription_id.eq_ignore_ascii_case(sub))
        .map(|t| t.tenant_id.clone())
        .unwrap_or_default();
    let token = auth::check(w, req, Audience::Arm).map_err(|e| auth_error(e, &owner_tenant))?;
    let pairs = query_pairs(req.query_string());
    match q(&pairs, "api-version") {
        None | Some("") => {
            return Err(errors::arm(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            ))
        }
        Some(v) if !API_VERSIONS.contains(&v) => {
            return Err(errors::arm(
                400,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{v}' is invalid. The supported versions are '{}'.",
                    API_VERSIONS.join(",")
                ),
            ))
        }
        _ => {}
    }
    let Some(ti) = w
        .tenants
        .iter()
        .position(|t| t.subscription_id.eq_ignore_ascii_case(sub))
    else {
        return Err(errors::arm(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        ));
    };
    let t = &w.tenants[ti];
    if !t.tenant_id.eq_ignore_ascii_case(&token.tenant_id) {
        return Err(errors::arm(401, "InvalidAuthenticationTokenTenant", &format!(
            "The access token is from the wrong issuer 'https://sts.windows.net/{}/'. It must match the tenant 'https://sts.windows.net/{}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.",
            token.tenant_id, t.tenant_id, t.tenant_id)));
    }
    if !t.resource_group.eq_ignore_ascii_case(rg) {
        return Err(errors::arm(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        ));
    }
    if !t.workspace_name.eq_ignore_ascii_case(ws) {
        return Err(errors::arm(404, "ResourceNotFound", &format!(
            "The Resource 'Microsoft.OperationalInsights/workspaces/{ws}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")));
    }
    let sub = t.subscription_id.clone();
    let remaining = throttle(w, &sub, &token.client_id, class).map_err(|retry| {
        let mut r = errors::arm(429, "TooManyRequests", &format!(
            "The request is being throttled as the limit has been reached for operation type - {}. For more information, see - https://aka.ms/srpthrottlinglimits", class.name()));
        r.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, HeaderValue::from(retry));
        r
    })?;
    Ok(Ctx {
        tenant: ti,
        token,
        remaining,
        class,
    })
}

/// Adds ARM's request-id and remaining-quota headers to a successful response.
fn arm_ok(ctx: &Ctx, status: u16, body: Option<&Value>) -> HttpResponse {
    arm_ok_raw(ctx, status, body.map(Value::to_string))
}

/// [`arm_ok`] with an already serialised JSON body.
fn arm_ok_raw(ctx: &Ctx, status: u16, body: Option<String>) -> HttpResponse {
    let mut r = match body {
        Some(b) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
                .content_type("application/json; charset=utf-8")
                .body(b)
        }
        None => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
                .finish()
        }
    };
    let h = r.headers_mut();
    h.insert(
        HeaderName::from_static(ctx.class.header()),
        HeaderValue::from(ctx.remaining),
    );
    if let Ok(v) = HeaderValue::from_str(&super::util::guid()) {
        h.insert(HeaderName::from_static("x-ms-request-id"), v.clone());
        h.insert(HeaderName::from_static("x-ms-correlation-request-id"), v);
    }
    r
}

fn odata_error() -> HttpResponse {
    errors::arm(400, "BadRequest", "OData query syntax error")
}

fn not_found_incident(id: &str) -> HttpResponse {
    errors::arm(404, "NotFound", &format!("Incident '{id}' was not found."))
}

/// Sentinel's `any()` restrictions: one `any()` at most, and it must lead its `and` chain.
fn check_any_quirks(e: &Expr) -> bool {
    let n = odata::count_any(e);
    if n == 0 {
        return true;
    }
    if n > 1 {
        return false;
    }
    let chain = odata::and_chain(e);
    matches!(chain.first(), Some(Expr::Any(..)))
}

fn mentions_undetermined(e: &Expr) -> bool {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => mentions_undetermined(a) || mentions_undetermined(b),
        Expr::Not(a) => mentions_undetermined(a),
        Expr::Any(..) => false,
        Expr::Cmp(p, Op::Eq, Lit::Str(s)) => {
            p.len() == 2 && p[1] == "classification" && s.eq_ignore_ascii_case("Undetermined")
        }
        Expr::Cmp(..) => false,
    }
}

/// The opaque `$skipToken` format: an offset in hex behind a marker.
fn encode_skip(offset: usize) -> String {
    format!("sbx{:08x}", offset)
}

fn decode_skip(s: &str) -> Option<usize> {
    usize::from_str_radix(s.strip_prefix("sbx")?, 16).ok()
}

/// Shared paging: filter/order/top/skipToken over items (`view` renders one), returning the page
/// and the absolute `nextLink`.
fn page<'v, T>(
    w: &World,
    req: &HttpRequest,
    mut items: Vec<T>,
    view: impl Fn(&T) -> &'v Value,
    fields: odata::Fields<'_>,
    default_order: &[odata::OrderKey],
    incidents: bool,
) -> Result<(Vec<T>, Option<String>), HttpResponse> {
    let pairs = query_pairs(req.query_string());
    if let Some(f) = q(&pairs, "$filter").filter(|f| !f.trim().is_empty()) {
        let e = odata::parse_filter(f, fields).map_err(|_| odata_error())?;
        if incidents && !check_any_quirks(&e) {
            return Err(odata_error());
        }
        if incidents
            && w.opts.sentinel.classification_undetermined_empty
            && mentions_undetermined(&e)
        {
            items.clear();
        }
        items.retain(|v| odata::eval(&e, view(v)));
    }
    let keys = match q(&pairs, "$orderby").filter(|o| !o.trim().is_empty()) {
        Some(o) => odata::parse_orderby(o, fields).map_err(|_| odata_error())?,
        None => default_order.to_vec(),
    };
    odata::sort_by_keys(&keys, &mut items, &view);
    let top = match q(&pairs, "$top") {
        None | Some("") => w.opts.sentinel.default_page_size,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(odata_error()),
        },
    };
    let offset = match q(&pairs, "$skipToken") {
        None => 0,
        Some(s) => decode_skip(s)
            .ok_or_else(|| errors::arm(400, "BadRequest", "The skip token is invalid."))?,
    };
    let total = items.len();
    let value: Vec<T> = items.into_iter().skip(offset).take(top).collect();
    let mut next = None;
    if offset + top < total {
        let keep = w.opts.sentinel.nextlink_literal_spaces;
        let mut qs: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skipToken"))
            .map(|(k, v)| format!("{}={}", pct_encode(k, false), pct_encode(v, keep)))
            .collect();
        qs.push(format!("$skipToken={}", encode_skip(offset + top)));
        let host = req.connection_info().host().to_string();
        next = Some(format!("http://{host}{}?{}", req.path(), qs.join("&")));
    }
    Ok((value, next))
}

/// `{"value":[...],"nextLink":...}` from already serialised items.
fn list_body<'a>(items: impl Iterator<Item = &'a str>, next: Option<String>) -> String {
    let mut out = String::from("{\"value\":[");
    for (n, s) in items.enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(s);
    }
    out.push(']');
    if let Some(link) = next {
        out.push_str(",\"nextLink\":");
        out.push_str(&Value::String(link).to_string());
    }
    out.push('}');
    out
}

async fn list(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let mut w = shared.lock();
    let ctx = match prelude(&mut w, &req, OpType::Read) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &w.tenants[ctx.tenant];
    let items: Vec<&Incident> = t.incidents.values().collect();
    let default =
        odata::parse_orderby("properties/createdTimeUtc desc, name asc", &incident_fields)
            .unwrap_or_default();
    match page(
        &w,
        &req,
        items,
        |i| model::rendered(t, i),
        &incident_fields,
        &default,
        true,
    ) {
        Ok((items, next)) => {
            let body = list_body(items.iter().map(|i| model::serialized(t, i)), next);
            arm_ok_raw(&ctx, 200, Some(body))
        }
        Err(r) => r,
    }
}

fn incident_key(req: &HttpRequest) -> String {
    req.match_info()
        .get("id")
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The incident the request's `{id}` names (case-insensitive, as ARM), or ARM's 404 naming it.
fn find_incident<'a>(
    t: &'a crate::state::Tenant,
    req: &HttpRequest,
) -> Result<&'a crate::state::Incident, HttpResponse> {
    t.incidents
        .get(&incident_key(req))
        .ok_or_else(|| not_found_incident(req.match_info().get("id").unwrap_or_default()))
}

async fn get(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let mut w = shared.lock();
    let ctx = match prelude(&mut w, &req, OpType::Read) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &w.tenants[ctx.tenant];
    match find_incident(t, &req) {
        Ok(i) => arm_ok_raw(&ctx, 200, Some(model::serialized(t, i).to_string())),
        Err(r) => r,
    }
}

/// Parses an ARM JSON body; malformed JSON gets ARM's `InvalidRequestContent`.
fn arm_body(body: &[u8]) -> Result<Map<String, Value>, HttpResponse> {
    match body_json(body) {
        Ok(Some(Value::Object(m))) => Ok(m),
        Ok(None) => Err(errors::arm(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: 'The request body is empty.'.")),
        Ok(Some(_)) => Err(errors::arm(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: 'Expected a JSON object.'.")),
        Err(e) => Err(errors::arm(400, "InvalidRequestContent", &format!(
            "The request content was invalid and could not be deserialized: 'Error parsing JSON at line {}, column {}.'.", e.line(), e.column()))),
    }
}

async fn put(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut w = shared.lock();
    let ctx = match prelude(&mut w, &req, OpType::Write) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body = match arm_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(Value::Object(props)) = body.get("properties") else {
        return errors::arm(
            400,
            "BadRequest",
            "Required property 'properties' not found in JSON.",
        );
    };
    let writable = match model::validate_incident(props) {
        Ok(p) => p,
        Err(m) => return errors::arm(400, "BadRequest", &m),
    };
    let name = req.match_info().get("id").unwrap_or_default().to_string();
    let key = name.to_ascii_lowercase();
    let if_match = req
        .headers()
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body_etag = body.get("etag").and_then(Value::as_str).map(str::to_string);
    let actor = Actor::Api {
        client_id: ctx.token.client_id.clone(),
    };
    let World { tenants, seq, .. } = &mut *w;
    let t = &mut tenants[ctx.tenant];
    let created = match t.incidents.get_mut(&key) {
        Some(inc) => {
            if let Some(e) = &body_etag {
                if !e.is_empty() && e != "*" && *e != inc.etag {
                    return errors::arm(
                        409,
                        "Conflict",
                        &format!(
                            "Newer version of resource '{}' exists. Data was not saved",
                            inc.name
                        ),
                    );
                }
            }
            if let Some(m) = &if_match {
                if m != "*" && *m != inc.etag {
                    return errors::arm(
                        412,
                        "PreconditionFailed",
                        "The specified precondition 'If-Match' failed.",
                    );
                }
            }
            let what = describe_change(&inc.writable, &writable);
            inc.writable = writable;
            inc.touch(seq, actor, what);
            false
        }
        None => {
            let now = Utc::now();
            t.next_number += 1;
            let mut inc = Incident {
                name: name.clone(),
                etag: String::new(),
                number: t.next_number,
                created: now,
                modified: now - chrono::Duration::microseconds(1),
                writable,
                provider_name: "Azure Sentinel".into(),
                rule_ids: Vec::new(),
                alerts: Vec::new(),
                entities: Vec::new(),
                comments: Vec::new(),
                history: Vec::new(),
                rendered: Default::default(),
                serialized: Default::default(),
            };
            inc.touch(seq, actor, "created");
            t.incidents.insert(key.clone(), inc);
            true
        }
    };
    let t = &w.tenants[ctx.tenant];
    let body = render_incident(t, &t.incidents[&key]);
    arm_ok(&ctx, if created { 201 } else { 200 }, Some(&body))
}

/// A one-line summary of what a PUT changed (for the change history).
pub fn describe_change(old: &Map<String, Value>, new: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    for k in [
        "status",
        "severity",
        "owner",
        "labels",
        "classification",
        "title",
    ] {
        if old.get(k) != new.get(k) {
            let show = |v: Option<&Value>| match v {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "none".into(),
            };
            parts.push(format!("{k} {} -> {}", show(old.get(k)), show(new.get(k))));
        }
    }
    if parts.is_empty() {
        "updated".into()
    } else {
        parts.join("; ")
    }
}

async fn delete(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let mut w = shared.lock();
    let ctx = match prelude(&mut w, &req, OpType::Delete) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let existed = w.tenants[ctx.tenant]
        .incidents
        .remove(&incident_key(&req))
        .is_some();
    arm_ok(&ctx, if existed { 200 } else { 204 }, None)
}

/// The POST list actions take no body; SDKs send `Content-Length: 0`, some send `{}`.
fn empty_body_ok(body: &[u8]) -> Result<(), HttpResponse> {
    match body_json(body) {
        Ok(None) | Ok(Some(Value::Object(_))) => Ok(()),
        _ => Err(errors::arm(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        )),
    }
}

async fn alerts(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    list_action(shared, req, body, |t, i| {
        let v: Vec<Value> = i.alerts.iter().map(|a| model::render_alert(t, a)).collect();
        json!({ "value": v })
    })
}

async fn entities(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    list_action(shared, req, body, model::render_entities)
}

async fn bookmarks(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    list_action(shared, req, body, |_, _| json!({ "value": [] }))
}

fn list_action(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
    render: impl Fn(&super::state::Tenant, &Incident) -> Value,
) -> HttpResponse {
    let mut w = shared.lock();
    let ctx = match prelude(&mut w, &req, OpType::Read) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = empty_body_ok(&body) {
        return r;
    }
    let t = &w.tenants[ctx.tenant];
    match find_incident(t, &req) {
        Ok(i) => arm_ok(&ctx, 200, Some(&render(t, i))),
        Err(r) => r,
    }
}

async fn list_comments(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let mut w = shared.lock();
    let ctx = match prelude(&mut w, &req, OpType::Read) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &w.tenants[ctx.tenant];
    let i = match find_incident(t, &req) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let items: Vec<Value> = i.comments.iter().map(|c| render_comment(t, i, c)).collect();
    let default =
        odata::parse_orderby("properties/createdTimeUtc asc", &comment_fields).unwrap_or_default();
    match page(
        &w,
        &req,
        items.iter().collect(),
        |v: &&Value| *v,
        &comment_fields,
        &default,
        false,
    ) {
        Ok((items, next)) => {
            let texts: Vec<String> = items.iter().map(|v| v.to_string()).collect();
            arm_ok_raw(
                &ctx,
                200,
                Some(list_body(texts.iter().map(String::as_str), next)),
            )
        }
        Err(r) => r,
    }
}

fn comment_key(req: &HttpRequest) -> String {
    req.match_info().get("cid").unwrap_or_default().to_string()
}

async fn get_comment(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let mut w = shared.lock();
    let ctx = match prelude(&mut w, &req, OpType::Read) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &w.tenants[ctx.tenant];
    let i = match find_incident(t, &req) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let cid = comment_key(&req);
    match i
        .comments
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(&cid))
    {
        Some(c) => arm_ok(&ctx, 200, Some(&render_comment(t, i, c))),
        None => errors::arm(404, "NotFound", &format!("Comment '{cid}' was not found.")),
    }
}

/// Writes a comment (create or rewrite by id) and touches the incident; returns (created, index).
pub fn upsert_comment(
    w: &mut World,
    tenant: usize,
    incident_key: &str,
    cid: &str,
    message: &str,
    author: Value,
    by: Actor,
) -> Option<(bool, usize)> {
    let World { tenants, seq, .. } = w;
    let inc = tenants[tenant].incidents.get_mut(incident_key)?;
    let now = Utc::now();
    *seq += 1;
    let etag = format!(
        "{:08x}-0000-0000-0000-{:012x}",
        *seq as u32,
        now.timestamp_micros() as u64 & 0xffff_ffff_ffff
    );
    let res = match inc
        .comments
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(cid))
    {
        Some(n) => {
            let c = &mut inc.comments[n];
            c.message = message.to_string();
            c.modified = now;
            c.etag = etag;
            (false, n)
        }
        None => {
            inc.comments.push(Comment {
                name: cid.to_string(),
                etag,
                message: message.to_string(),
                created: now,
                modified: now,
                author,
                by: by.clone(),
            });
            (true, inc.comments.len() - 1)
        }
    };
    inc.touch(
        seq,
        by,
        if res.0 {
            "comment added"
        } else {
            "comment updated"
        },
    );
    Some(res)
}

async fn put_comment(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut w = shared.lock();
    let ctx = match prelude(&mut w, &req, OpType::Write) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body = match arm_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let message = body
        .get("properties")
        .and_then(|p| p.get("message"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    let Some(message) = message else {
        return errors::arm(
            400,
            "BadRequest",
            "Required property 'message' not found in JSON. Path 'properties'.",
        );
    };
    if message.chars().count() > 30_000 {
        return errors::arm(
            400,
            "BadRequest",
            "The comment message exceeds the maximum length of 30000 characters.",
        );
    }
    let key = incident_key(&req);
    let cid = comment_key(&req);
    let t = &w.tenants[ctx.tenant];
    let author = json!({"objectId": t.sp_object_id, "name": format!("{} connector", t.name)});
    let actor = Actor::Api {
        client_id: ctx.token.client_id.clone(),
    };
    let Some((created, n)) = upsert_comment(&mut w, ctx.tenant, &key, &cid, message, author, actor)
    else {
        return not_found_incident(req.match_info().get("id").unwrap_or_default());
    };
    let t = &w.tenants[ctx.tenant];
    let i = &t.incidents[&key];
    arm_ok(
        &ctx,
        if created { 201 } else { 200 },
        Some(&render_comment(t, i, &i.comments[n])),
    )
}

async fn delete_comment(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let mut w = shared.lock();
    let ctx = match prelude(&mut w, &req, OpType::Delete) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let key = incident_key(&req);
    let cid = comment_key(&req);
    let actor = Actor::Api {
        client_id: ctx.token.client_id.clone(),
    };
    let World { tenants, seq, .. } = &mut *w;
    let Some(inc) = tenants[ctx.tenant].incidents.get_mut(&key) else {
        return not_found_incident(req.match_info().get("id").unwrap_or_default());
    };
    let before = inc.comments.len();
    inc.comments.retain(|c| !c.name.eq_ignore_ascii_case(&cid));
    if inc.comments.len() == before {
        return arm_ok(&ctx, 204, None);
    }
    inc.touch(seq, actor, "comment deleted");
    arm_ok(&ctx, 200, None)
}

/// Renders the whole incident list of a tenant (control API / state dumps).
pub fn all_incidents(w: &World, tenant: usize) -> Vec<Value> {
    let t = &w.tenants[tenant];
    t.incidents
        .values()
        .map(|i| render_incident(t, i))
        .collect()
}

/// `ts7` of now, for callers composing Sentinel-shaped timestamps.
pub fn now_ts() -> String {
    ts7(Utc::now())
}
