//! Entra ID v2.0 client-credentials token endpoint (`POST /{tenant}/oauth2/v2.0/token`) and the
//! OpenID discovery document MSAL-based SDKs fetch first.
//!
//! Credentials come in the form (`client_secret_post`) or as HTTP Basic (`client_secret_basic`).
//! Checks run in Entra's order: tenant (90002), grant type (70003/900144), app (700016), secret
//! (7000216 missing / 7000215 wrong, 401), scope (70011). Issued tokens are opaque; the world maps
//! them to (tenant, app, audience, expiry).
//!
//! Invariant: secrets are compared, never echoed; error texts name only the app id and tenant.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::json;

use super::errors;
use super::state::{Audience, Shared, TokenInfo};
use super::util::{guid, json};

/// Registers the Entra routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/{tenant}/oauth2/v2.0/token")
            .route(web::post().to(token))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/{tenant}/v2.0/.well-known/openid-configuration")
            .route(web::get().to(discovery)),
    );
}

async fn method_not_allowed() -> HttpResponse {
    errors::entra(
        405,
        "invalid_request",
        900561,
        "The endpoint only accepts POST requests.",
    )
}

/// Form bodies use the query-string encoding (`+` is a space).
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    super::util::query_pairs(&String::from_utf8_lossy(body))
}

async fn discovery(req: HttpRequest, tenant: web::Path<String>) -> HttpResponse {
    // `https` when the sandbox serves TLS (actix marks those connections secure).
    let (scheme, host) = {
        let info = req.connection_info();
        (info.scheme().to_string(), info.host().to_string())
    };
    let base = format!("{scheme}://{host}/{tenant}");
    json(
        200,
        &json!({
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{scheme}://{host}/{tenant}/discovery/v2.0/keys"),
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "issuer": format!("https://login.microsoftonline.com/{tenant}/v2.0"),
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "tenant_region_scope": "EU",
        }),
    )
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, b64) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = String::from_utf8(super::util::base64_decode(b64)?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some((super::util::pct_decode(id), super::util::pct_decode(secret)))
}

async fn token(
    shared: web::Data<Shared>,
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let tenant = tenant.into_inner();
    let mut form = form_pairs(&body);
    if let Some((id, secret)) = basic_credentials(&req) {
        form.push(("client_id".into(), id));
        form.push(("client_secret".into(), secret));
    }
    let field = |n: &str| {
        form.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut w = shared.lock();
    let not_found_error = w.opts.tenant_not_found_error.clone();
    let ttl = w.opts.token_ttl;
    let Some(t) = w
        .tenant(&tenant)
        .filter(|t| t.tenant_id.eq_ignore_ascii_case(&tenant))
    else {
        return errors::entra(400, &not_found_error, 90002, &format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."));
    };
    let tenant_id = t.tenant_id.clone();
    match field("grant_type").as_deref() {
        None => {
            return errors::entra(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        }
        Some("client_credentials") => {}
        Some(other) => {
            return errors::entra(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            )
        }
    }
    let Some(client_id) = field("client_id") else {
        return errors::entra(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    if !t.client_id.eq_ignore_ascii_case(&client_id) {
        return errors::entra(400, "unauthorized_client", 700016, &format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."));
    }
    let Some(secret) = field("client_secret") else {
        return errors::entra(400, "invalid_client", 7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    };
    if secret != t.client_secret {
        return errors::entra(401, "invalid_client", 7000215, &format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", t.client_id));
    }
    let scope = field("scope").unwrap_or_default();
    let Some(audience) = Audience::from_scope(&scope).filter(|_| !scope.contains(' ')) else {
        return errors::entra(400, "invalid_scope", 70011, &format!(
            "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."));
    };
    let client_id = t.client_id.clone();
    let now = Utc::now();
    if w.tokens.len() > 50_000 {
        w.tokens.retain(|_, i| i.expires_at > now);
    }
    let access_token = format!(
        "sbx.{}.{}",
        guid().replace('-', ""),
        guid().replace('-', "")
    );
    let ttl_secs = ttl.as_secs().max(1);
    w.tokens.insert(
        access_token.clone(),
        TokenInfo {
            tenant_id,
            client_id,
            audience,
            expires_at: now + chrono::Duration::milliseconds(ttl.as_millis() as i64),
        },
    );
    json(
        200,
        &json!({"token_type": "Bearer", "expires_in": ttl_secs, "ext_expires_in": ttl_secs, "access_token": access_token}),
    )
}
