//! Checks of single values: GUIDs, URLs (and the https rule), names, Azure resource names,
//! webhook tokens.
//!
//! Each check returns the normalised value or a message saying what is expected. Checks of
//! secret values (webhook URL, tokens) never put the value in the message.

use std::net::IpAddr;

use url::{Host, Url};
use uuid::Uuid;

/// A GUID in any of the usual forms; the nil GUID is refused (it is a template placeholder).
/// The value is not quoted on error: pasting the client secret where the client id belongs is
/// a classic mistake, and the line and column already point at it.
pub fn guid(text: &str) -> Result<Uuid, String> {
    let expected = "expected a GUID like \"72f988bf-86f1-41af-91ab-2d7cd011db47\"";
    match Uuid::parse_str(text.trim()) {
        Ok(u) if u.is_nil() => Err(format!(
            "the nil GUID is a placeholder, not a real id; {expected}"
        )),
        Ok(u) => Ok(u),
        Err(_) => Err(format!(
            "not a GUID ({} characters); {expected}",
            text.trim().chars().count()
        )),
    }
}

/// How a URL may be written.
#[derive(Clone, Copy)]
pub struct UrlRules {
    /// The URL embeds a secret: never quote it.
    pub secret: bool,
    /// A query string is allowed (full webhook URLs); base URLs take none.
    pub allow_query: bool,
}

/// An absolute http(s) URL; plain http only for loopback hosts (so that tokens and secrets
/// never cross a network in clear text); no credentials or fragment. Base URLs lose a trailing
/// `/` on their path.
pub fn url(text: &str, rules: UrlRules) -> Result<Url, String> {
    let shown = if rules.secret {
        "the URL".to_string()
    } else {
        format!("{text:?}")
    };
    let mut url = Url::parse(text.trim()).map_err(|e| {
        format!(
            "{shown} is not a valid URL ({e}); expected an absolute URL like \"https://host/path\""
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "{shown} uses http to a host that is not loopback; use https (plain http is only \
                 allowed for localhost, 127.0.0.0/8 and ::1, so that secrets never cross the \
                 network in clear text)"
            ))
        }
        other => {
            return Err(format!(
                "{shown} has scheme {other:?}; expected an https URL (http for loopback only)"
            ))
        }
    }
    if url.host().is_none() {
        return Err(format!("{shown} has no host; expected https://host/..."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{shown} contains a user name or password; credentials go in their own keys"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!("{shown} has a #fragment; remove it"));
    }
    if !rules.allow_query && url.query().is_some() {
        return Err(format!(
            "{shown} has a ?query; a base URL takes none (the connector adds its own)"
        ));
    }
    if !rules.allow_query && url.path().len() > 1 && url.path().ends_with('/') {
        let trimmed = url.path().trim_end_matches('/').to_string();
        url.set_path(&trimmed);
    }
    Ok(url)
}

/// localhost, 127.0.0.0/8 or ::1.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A connector name: the tenant stream key in the event log and the label in logs and metrics.
/// 1–64 characters, letters, digits, `.`, `_`, `-`, starting with a letter or digit.
pub fn name(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a valid connector name; expected 1-64 letters, digits, '.', '_' or \
             '-', starting with a letter or digit (it keys the tenant's events in the log)"
        ))
    }
}

/// An Azure resource group name: 1–90 of letters, digits, `-_.()`, not ending in `.`.
pub fn resource_group(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.chars().count() <= 90
        && !text.ends_with('.')
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a valid resource group name; expected 1-90 letters, digits, \
             '-', '_', '.', '(' or ')', not ending in '.'"
        ))
    }
}

/// A Log Analytics workspace name: 4–63 of letters, digits and `-`, starting and ending with a
/// letter or digit.
pub fn workspace_name(text: &str) -> Result<String, String> {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = (4..=63).contains(&text.len())
        && alnum(text.chars().next())
        && alnum(text.chars().last())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a valid workspace name; expected 4-63 letters, digits or '-', \
             starting and ending with a letter or digit (the name, not the workspace GUID)"
        ))
    }
}

/// Minimum length of a webhook token: 32 URL-safe characters carry at least 190 bits.
pub const MIN_TOKEN_LEN: usize = 32;

/// A webhook path token: at least [`MIN_TOKEN_LEN`] of `A-Z a-z 0-9 - _` (no encoding needed
/// in a path). The message never contains the token.
pub fn webhook_token(token: &str) -> Result<(), String> {
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "the token is {} characters long; expected at least {MIN_TOKEN_LEN} random URL-safe \
             characters (e.g. the output of `openssl rand -hex 32`)",
            token.len()
        ));
    }
    if !token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(
            "the token contains characters other than A-Z, a-z, 0-9, '-' and '_'; expected a \
             URL-safe random string (e.g. the output of `openssl rand -hex 32`)"
                .to_string(),
        );
    }
    Ok(())
}

/// A SIGNL4 team secret: it becomes a URL path segment, so no whitespace or `/`. The message
/// never contains the secret.
pub fn team_secret(secret: &str) -> Result<(), String> {
    if secret
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '?' || c == '#')
    {
        return Err(
            "the team secret contains whitespace, '/', '?' or '#'; expected the bare team secret \
             (or use webhook_url for a full URL)"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: UrlRules = UrlRules {
        secret: false,
        allow_query: false,
    };

    #[test]
    fn guids() {
        assert!(guid("72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        assert!(guid("{72F988BF-86F1-41AF-91AB-2D7CD011DB47}").is_ok());
        assert!(guid("72f988bf-86f1-41af-91ab").is_err());
        assert!(guid("00000000-0000-0000-0000-000000000000")
            .unwrap_err()
            .contains("placeholder"));
    }

    #[test]
    fn urls_need_https_unless_loopback() {
        assert!(url("https://management.azure.com", BASE).is_ok());
        assert!(url("http://127.0.0.1:8443", BASE).is_ok());
        assert!(url("http://localhost:1/v1", BASE).is_ok());
        assert!(url("http://[::1]:1", BASE).is_ok());
        assert!(url("http://example.com", BASE)
            .unwrap_err()
            .contains("not loopback"));
        assert!(url("ftp://example.com", BASE).is_err());
        assert!(url("management.azure.com", BASE).is_err());
        assert!(url("https://u:p@example.com", BASE).is_err());
        assert!(url("https://example.com/?a=b", BASE).is_err());
        assert_eq!(
            url("https://api.loganalytics.io/v1/", BASE)
                .unwrap()
                .as_str(),
            "https://api.loganalytics.io/v1"
        );
    }

    #[test]
    fn secret_urls_are_not_quoted() {
        let rules = UrlRules {
            secret: true,
            allow_query: true,
        };
        let err = url("http://example.com/webhook/s3cr3t", rules).unwrap_err();
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn names() {
        assert!(name("acme-prod.eu_1").is_ok());
        assert!(name("").is_err());
        assert!(name("-acme").is_err());
        assert!(name("acme corp").is_err());
        assert!(resource_group("rg-sentinel(prod)").is_ok());
        assert!(resource_group("rg.").is_err());
        assert!(workspace_name("ws-contoso").is_ok());
        assert!(workspace_name("ws-").is_err());
    }

    #[test]
    fn tokens_and_team_secrets_are_checked_without_echo() {
        assert!(webhook_token(&"a".repeat(32)).is_ok());
        let err = webhook_token("short-secret-token").unwrap_err();
        assert!(!err.contains("short-secret-token"));
        assert!(webhook_token(&format!("{}!", "a".repeat(40))).is_err());
        assert!(team_secret("abc/def").is_err());
        assert!(team_secret("abcdef123").is_ok());
    }
}
