//! Bearer-token checks shared by the resource emulators. Tokens are opaque strings the Entra
//! emulator mapped to (tenant, app, audience, expiry); each service turns an [`AuthError`] into
//! its own 401 body.
//!
//! Invariant: the token value itself never appears in an error message.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};

use super::state::{Audience, TokenInfo, World};

/// Why a request's bearer token was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Unknown token.
    Invalid,
    /// Known but expired at the given time.
    Expired(DateTime<Utc>),
    /// Issued for another resource.
    WrongAudience(Audience),
}

/// Extracts the bearer token from `Authorization`.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, tok) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(tok.trim())
}

/// Validates the request's token against `aud`.
pub fn check(w: &World, req: &HttpRequest, aud: Audience) -> Result<TokenInfo, AuthError> {
    let tok = bearer(req).ok_or(AuthError::Missing)?;
    let info = w.tokens.get(tok).ok_or(AuthError::Invalid)?;
    if info.audience != aud {
        return Err(AuthError::WrongAudience(info.audience));
    }
    if info.expires_at <= Utc::now() {
        return Err(AuthError::Expired(info.expires_at));
    }
    Ok(info.clone())
}
