//! The `[webhook]` and `[admin]` listeners: each address parsed where it is written, defaults
//! applied when the table or key is absent.
//!
//! Invariant: an address that does not parse is an error naming its key; the default stands in
//! only so that reading can go on and report every error (the load as a whole then fails).

use super::*;

pub(super) fn read_webhook(ctx: &mut Ctx, t: &mut TableReader) -> WebhookListener {
    let bind = read_bind(ctx, t, DEFAULT_BIND);
    let public_base_url = ctx.opt_str(t, "public_base_url").and_then(|(s, item)| {
        if s.is_empty() {
            return None;
        }
        let rules = UrlRules {
            secret: false,
            allow_query: false,
        };
        validate::url(&s, rules)
            .map_err(|m| ctx.error(Some(&item.span), &item.path, ErrorKind::Invalid, m))
            .ok()
    });
    WebhookListener {
        bind,
        public_base_url,
    }
}

/// `[admin]`: `bind`, and the watchdog's `stall_limit` and `abort_after` (not shorter than
/// `stall_limit`, so `/healthz` fails before the process aborts).
pub(super) fn read_admin(ctx: &mut Ctx, t: &mut TableReader) -> AdminListener {
    let bind = read_bind(ctx, t, DEFAULT_ADMIN_BIND);
    let stall_span = t
        .get("stall_limit")
        .map(|i| (i.span.clone(), i.path.clone()));
    let stall_limit = duration_key(ctx, t, "stall_limit", DEFAULT_STALL_LIMIT, true)
        .unwrap_or(DEFAULT_STALL_LIMIT);
    let abort_span = t
        .get("abort_after")
        .map(|i| (i.span.clone(), i.path.clone()));
    let abort_after = duration_key(ctx, t, "abort_after", DEFAULT_ABORT_AFTER, true)
        .unwrap_or(DEFAULT_ABORT_AFTER);
    if abort_after < stall_limit {
        let (span, path) = abort_span
            .or(stall_span)
            .unwrap_or((0..0, "admin.abort_after".to_string()));
        ctx.error(
            Some(&span),
            &path,
            ErrorKind::Invalid,
            format!(
                "abort_after ({}) is shorter than stall_limit ({}); expected at least as long, so \
                 /healthz fails before the watchdog aborts",
                crate::config::format_duration(abort_after),
                crate::config::format_duration(stall_limit)
            ),
        );
    }
    AdminListener {
        bind,
        stall_limit,
        abort_after,
    }
}

/// The `bind` key of a listener table (`[webhook]`, `[admin]`): a socket address.
fn read_bind(ctx: &mut Ctx, t: &mut TableReader, default: &str) -> SocketAddr {
    match ctx.opt_str(t, "bind") {
        Some((s, item)) => match s.trim().parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Invalid,
                    format!(
                        "{s:?} is not a socket address; expected IP:port like \"127.0.0.1:8080\" \
                         or \"[::]:8080\""
                    ),
                );
                default.parse().expect("default bind parses")
            }
        },
        None => default.parse().expect("default bind parses"),
    }
}
