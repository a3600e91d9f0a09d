//! One `[[connector]]` table: identity, workspace, filters, polling, enrichment, heartbeat, the
//! client secret's expiry and the user map; its `[connector.signl4]`, sync and endpoint tables
//! are read by their own modules.
//!
//! Invariant: every key of the table is read, so one pass reports every error of it; `None`
//! only when a required part is unusable. (The load as a whole fails on any error recorded.)

use super::*;

/// Reads one `[[connector]]`; `None` when a required part is unusable (errors recorded).
pub(super) fn read_connector(ctx: &mut Ctx, t: &mut TableReader) -> Option<ConnectorConfig> {
    let name = ctx
        .req_str(t, "name", "a unique connector name such as \"contoso\"")
        .and_then(|(s, item)| checked(ctx, &item, validate::name(&s)));
    let tenant_id = req_guid(ctx, t, "tenant_id", "the Entra tenant id (a GUID)");
    let subscription_id = req_guid(ctx, t, "subscription_id", "the Azure subscription id");
    let client_id = req_guid(ctx, t, "client_id", "the app registration's client id");
    let client_secret = required_secret(
        ctx,
        t,
        ["client_secret", "client_secret_env", "client_secret_file"],
        "the app's client secret",
    );
    let resource_group = ctx
        .req_str(t, "resource_group", "the workspace's resource group")
        .and_then(|(s, item)| checked(ctx, &item, validate::resource_group(&s)));
    let workspace_name = ctx
        .req_str(t, "workspace_name", "the Log Analytics workspace name")
        .and_then(|(s, item)| checked(ctx, &item, validate::workspace_name(&s)));
    let workspace_id = match ctx.opt_str(t, "workspace_id") {
        Some((s, _)) if s.trim().is_empty() => Some(None),
        Some((s, item)) => checked(ctx, &item, validate::guid(&s)).map(Some),
        None => Some(None),
    };
    let read_source = word(
        ctx,
        t,
        "read_source",
        ReadSource::parse,
        ReadSource::expected,
    )
    .map(|v| v.unwrap_or(ReadSource::Sentinel));
    let statuses = word_list(
        ctx,
        t,
        "statuses",
        IncidentStatus::parse,
        IncidentStatus::expected,
        &[IncidentStatus::New],
    );
    let severities = word_list(
        ctx,
        t,
        "severities",
        Severity::parse,
        Severity::expected,
        Severity::ALL,
    );
    let lookback = duration_key(ctx, t, "lookback", DEFAULT_LOOKBACK, false);
    let poll_interval = duration_key(ctx, t, "poll_interval", DEFAULT_POLL_INTERVAL, true);
    let poll_overlap = duration_key(ctx, t, "poll_overlap", DEFAULT_POLL_OVERLAP, false);
    let sweep_interval = duration_key(ctx, t, "sweep_interval", DEFAULT_SWEEP_INTERVAL, true);
    let page_size = match ctx.opt_int(t, "page_size", 1..=1000) {
        None => Some(DEFAULT_PAGE_SIZE),
        Some(r) => r.ok().map(|v| v as u32),
    };
    let enrichment_deadline = duration_key(
        ctx,
        t,
        "enrichment_deadline",
        DEFAULT_ENRICHMENT_DEADLINE,
        false,
    );
    let enrichment_concurrency = match ctx.opt_int(t, "enrichment_concurrency", 1..=5) {
        None => Some(DEFAULT_ENRICHMENT_CONCURRENCY),
        Some(r) => r.ok().map(|v| v as usize),
    };
    let resolve_on_sentinel_close = ctx.opt_bool(t, "resolve_on_sentinel_close").unwrap_or(true);
    let ack_signl_on_sentinel_owner = ctx
        .opt_bool(t, "ack_signl_on_sentinel_owner")
        .unwrap_or(true);
    let comments_to_signl4 = ctx.opt_bool(t, "comments_to_signl4").unwrap_or(true);
    let tag_written = t.contains("tag");
    let tag = match ctx.opt_str(t, "tag") {
        Some((s, _)) if s.trim().is_empty() => None,
        Some((s, _)) => Some(s.trim().to_string()),
        None => Some(DEFAULT_TAG.to_string()),
    };
    let client_secret_expires = read_date(ctx, t, "client_secret_expires");
    let heartbeat = read_heartbeat(ctx, t);
    let on_acknowledge = read_on_acknowledge(ctx, t);
    let on_close = read_on_close(ctx, t);
    let user_map = read_user_map(ctx, t);
    let signl4 = match ctx.opt_table(t, "signl4") {
        Some(mut s) => {
            let r = read_signl4(ctx, &mut s);
            ctx.finish(s);
            r
        }
        None => {
            if !t.contains("signl4") {
                ctx.missing(
                    t,
                    "signl4",
                    "a [connector.signl4] table with team_secret (or team_secret_env, \
                     team_secret_file or webhook_url)",
                );
            }
            None
        }
    };
    let endpoints = read_endpoints(ctx, t);
    let signl4_cl = crate::config::signl4_cl::read(ctx, t);
    let sentinel_budget = crate::config::budget::read(ctx, t, name.as_deref());
    let webhook_token = optional_secret(
        ctx,
        t,
        ["webhook_token", "webhook_token_env", "webhook_token_file"],
    )
    .and_then(|found| match found {
        Some((secret, item)) => {
            let ok = non_empty(ctx, &item, &secret, "the webhook token")?;
            checked(ctx, &item, validate::webhook_token(ok.expose())).map(|()| Some(ok))
        }
        None => Some(None),
    });

    let name = name?;
    if let (Some(sweep), Some(poll)) = (sweep_interval, poll_interval) {
        if sweep < poll {
            ctx.warnings.push(format!(
                "{}: connector {name:?} has a sweep_interval shorter than its poll_interval, so \
                 every poll lists the whole lookback window",
                t.path
            ));
        }
    }
    // Graph alerts have no labels to tag; the key is ignored there (and said so when written).
    let tag = match read_source {
        Some(ReadSource::Graph) => {
            if tag_written && tag.is_some() {
                ctx.warnings.push(format!(
                    "{}: connector {name:?} reads Microsoft Graph alerts, which have no labels; \
                     its tag is not written",
                    t.path
                ));
            }
            None
        }
        _ => tag,
    };
    if matches!(webhook_token, Some(None)) {
        ctx.warnings.push(format!(
            "{}: connector {name:?} has no webhook_token, so SIGNL4 acknowledgements, closes \
             and notes will not reach Sentinel (one-way Sentinel -> SIGNL4)",
            t.path
        ));
    }
    Some(ConnectorConfig {
        name,
        tenant_id: tenant_id?,
        subscription_id: subscription_id?,
        client_id: client_id?,
        client_secret: client_secret?,
        resource_group: resource_group?,
        workspace_name: workspace_name?,
        workspace_id: workspace_id?,
        read_source: read_source?,
        statuses: statuses?,
        severities: severities?,
        lookback: lookback?,
        poll_interval: poll_interval?,
        poll_overlap: poll_overlap?,
        sweep_interval: sweep_interval?,
        page_size: page_size?,
        enrichment_deadline: enrichment_deadline?,
        enrichment_concurrency: enrichment_concurrency?,
        resolve_on_sentinel_close,
        ack_signl_on_sentinel_owner,
        comments_to_signl4,
        tag,
        on_acknowledge: on_acknowledge?,
        on_close: on_close?,
        user_map: user_map?,
        signl4: signl4?,
        endpoints: endpoints?,
        webhook_token: webhook_token?,
        signl4_cl: signl4_cl?,
        client_secret_expires,
        heartbeat: heartbeat?,
        sentinel_budget: sentinel_budget?,
    })
}

/// `heartbeat_url` (a secret: such URLs often embed one; `_env` and `_file` work too) and
/// `heartbeat_interval`; `Some(None)` when no URL is configured, `None` on an error.
fn read_heartbeat(ctx: &mut Ctx, t: &mut TableReader) -> Option<Option<Heartbeat>> {
    let interval = duration_key(
        ctx,
        t,
        "heartbeat_interval",
        DEFAULT_HEARTBEAT_INTERVAL,
        true,
    );
    let url = optional_secret(
        ctx,
        t,
        ["heartbeat_url", "heartbeat_url_env", "heartbeat_url_file"],
    )?;
    let Some((secret, item)) = url else {
        return Some(None);
    };
    if secret.expose().is_empty() {
        return Some(None);
    }
    let rules = UrlRules {
        secret: true,
        allow_query: true,
    };
    let url = checked(ctx, &item, validate::url(secret.expose(), rules))?;
    Some(Some(Heartbeat {
        url: Secret::new(String::from(url), secret.source().clone()),
        interval: interval?,
    }))
}

/// An optional date key: a TOML date (`2027-06-30`) or the same as a string.
fn read_date(ctx: &mut Ctx, t: &mut TableReader, key: &'static str) -> Option<chrono::NaiveDate> {
    let item = t.get(key)?;
    let text = match item.value {
        DeValue::String(s) => s.to_string(),
        DeValue::Datetime(d) if d.date.is_some() && d.time.is_none() => d.to_string(),
        _ => {
            ctx.wrong_type(&item, "a date like 2027-06-30");
            return None;
        }
    };
    match chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!("{text:?} is not a date; expected YYYY-MM-DD like 2027-06-30"),
            );
            None
        }
    }
}

fn read_user_map(ctx: &mut Ctx, t: &mut TableReader) -> Option<BTreeMap<String, EntraUser>> {
    let Some(m) = ctx.opt_table(t, "user_map") else {
        return (!t.contains("user_map")).then(BTreeMap::new);
    };
    let mut map = BTreeMap::new();
    let mut ok = true;
    let entries: Vec<_> = m.entries().collect();
    for (email, key_span, item) in entries {
        if !email.contains('@') || email.trim() != email {
            ctx.error(
                Some(&key_span),
                &item.path,
                ErrorKind::Invalid,
                format!("{email:?} is not an email address; expected the SIGNL4 user's email"),
            );
            ok = false;
            continue;
        }
        let Some(target) = ctx.as_str(&item) else {
            ok = false;
            continue;
        };
        let user = if let Ok(id) = Uuid::parse_str(target.trim()) {
            EntraUser::ObjectId(id)
        } else if target.contains('@') && !target.trim().contains(' ') {
            EntraUser::Upn(target.trim().to_string())
        } else {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!(
                    "{target:?} is neither a user principal name nor an object id; expected \
                     \"user@tenant.example\" or a GUID"
                ),
            );
            ok = false;
            continue;
        };
        if map.insert(email.to_lowercase(), user).is_some() {
            ctx.error(
                Some(&key_span),
                &item.path,
                ErrorKind::Duplicate,
                format!("{email:?} is mapped twice (emails are compared without case)"),
            );
            ok = false;
        }
    }
    ok.then_some(map)
}
