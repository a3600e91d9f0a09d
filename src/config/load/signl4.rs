//! `[connector.signl4]`: the team's webhook (a team secret or a full URL, exactly one), the
//! optional REST API key, the alerting scenario and service, and the REST status polling
//! fallback (`poll_status`, `poll_interval`).
//!
//! Invariant: every credential here is read through the secrets module, never inline into a
//! message.

use super::*;

pub(super) fn read_signl4(ctx: &mut Ctx, s: &mut TableReader) -> Option<Signl4Config> {
    let team = optional_secret(
        ctx,
        s,
        ["team_secret", "team_secret_env", "team_secret_file"],
    );
    let url = optional_secret(
        ctx,
        s,
        ["webhook_url", "webhook_url_env", "webhook_url_file"],
    );
    let target = match (team, url) {
        (Some(Some((secret, item))), Some(None)) => {
            non_empty(ctx, &item, &secret, "the team secret")
                .and_then(|secret| {
                    checked(ctx, &item, validate::team_secret(secret.expose())).map(|()| secret)
                })
                .map(Signl4Target::TeamSecret)
        }
        (Some(None), Some(Some((secret, item)))) => {
            non_empty(ctx, &item, &secret, "the webhook URL").and_then(|secret| {
                let rules = UrlRules {
                    secret: true,
                    allow_query: true,
                };
                checked(ctx, &item, validate::url(secret.expose(), rules)).map(|url| {
                    Signl4Target::WebhookUrl(Secret::new(
                        String::from(url),
                        secret.source().clone(),
                    ))
                })
            })
        }
        (Some(None), Some(None)) => {
            ctx.missing(
                s,
                "team_secret",
                "one of team_secret, team_secret_env, team_secret_file or webhook_url",
            );
            None
        }
        (Some(Some((_, item))), Some(Some(_))) => {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Conflict,
                "both a team secret and a webhook URL are set; expected only one of them",
            );
            None
        }
        _ => None,
    };
    let api_key =
        optional_secret(ctx, s, ["api_key", "api_key_env", "api_key_file"]).and_then(|found| {
            match found {
                // An empty inline key means "no API key", as the sandbox and templates write it.
                Some((secret, _))
                    if secret.expose().is_empty() && *secret.source() == SecretSource::Inline =>
                {
                    Some(None)
                }
                Some((secret, item)) => non_empty(ctx, &item, &secret, "the API key").map(Some),
                None => Some(None),
            }
        });
    let alerting_scenario = match ctx.opt_str(s, "alerting_scenario") {
        Some((v, _)) if v.trim().is_empty() => Some(None),
        Some((v, item)) => match AlertingScenario::parse(&v) {
            Some(a) => Some(Some(a)),
            None => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Invalid,
                    format!(
                        "unknown alerting scenario {v:?}; expected one of {}, or \"\" for the \
                         team's default",
                        AlertingScenario::expected()
                    ),
                );
                None
            }
        },
        None => Some(None),
    };
    let service = ctx
        .opt_str(s, "service")
        .map(|(v, _)| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let poll_span = s.get("poll_status").map(|i| i.span);
    let poll_status = ctx.opt_bool(s, "poll_status").unwrap_or(false);
    let poll_interval = duration_key(ctx, s, "poll_interval", DEFAULT_SIGNL4_POLL_INTERVAL, true);
    let status_poll = match (poll_status, &api_key) {
        (false, _) => Some(None),
        // No key at all, or an empty inline one: polling has nothing to authenticate with.
        (true, Some(None)) => {
            ctx.error(
                poll_span.as_ref(),
                &s.child_path("poll_status"),
                ErrorKind::Conflict,
                "poll_status = true needs the SIGNL4 REST API key; expected api_key, api_key_env \
                 or api_key_file in this table, or poll_status = false",
            );
            None
        }
        (true, _) => poll_interval.map(Some),
    };
    Some(Signl4Config {
        target: target?,
        api_key: api_key?,
        alerting_scenario: alerting_scenario?,
        service,
        status_poll: status_poll?,
    })
}
