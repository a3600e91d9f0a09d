//! Rules across connectors: names and webhook tokens that must be unique, a workspace read by
//! two connectors (allowed, warned), and the budgets connectors of one subscription must agree
//! on (they share one).
//!
//! Invariant: each clash is reported at the later connector, naming the earlier one.

use super::*;

/// Connector names (case-insensitively) and webhook tokens must be unique; the same workspace
/// twice is allowed (e.g. split by severity to two teams) but warned about.
pub(super) fn check_unique(
    ctx: &mut Ctx,
    names: &[(String, Span, usize)],
    connectors: &[(ConnectorConfig, Span, usize)],
) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (name, span, i) in names {
        match seen.get(&name.to_lowercase()) {
            Some(first) => ctx.error(
                Some(span),
                &format!("connector[{i}].name"),
                ErrorKind::Duplicate,
                format!(
                    "connector name {name:?} is already used by connector[{first}]; names must \
                     be unique (ignoring case): each keys its own tenant stream in the event log"
                ),
            ),
            None => {
                seen.insert(name.to_lowercase(), *i);
            }
        }
    }
    let mut tokens: HashMap<&str, usize> = HashMap::new();
    let mut workspaces: HashMap<(Uuid, String, String), usize> = HashMap::new();
    for (c, span, i) in connectors {
        if let Some(token) = &c.webhook_token {
            match tokens.get(token.expose()) {
                Some(first) => ctx.error(
                    Some(span),
                    &format!("connector[{i}].webhook_token"),
                    ErrorKind::Duplicate,
                    format!(
                        "the same webhook token is used by connector[{first}]; each connector \
                         needs its own"
                    ),
                ),
                None => {
                    tokens.insert(token.expose(), *i);
                }
            }
        }
        let ws = (
            c.subscription_id,
            c.resource_group.to_lowercase(),
            c.workspace_name.to_lowercase(),
        );
        match workspaces.get(&ws) {
            Some(first) => ctx.warnings.push(format!(
                "connector[{i}]: workspace {} is also read by connector[{first}]; each incident \
                 will be forwarded by both",
                c.workspace_name
            )),
            None => {
                workspaces.insert(ws, *i);
            }
        }
    }
    // One subscription, one budget (`http::budget` is per subscription): its connectors must
    // agree on it, a table not written counting as the defaults.
    let mut budgets: HashMap<Uuid, (&ConnectorConfig, usize)> = HashMap::new();
    for (c, span, i) in connectors {
        if c.read_source != ReadSource::Sentinel {
            continue; // Graph sources draw from the Graph budget
        }
        match budgets.get(&c.subscription_id) {
            Some((first, at)) => {
                let effective = |c: &ConnectorConfig| c.sentinel_budget.clone().unwrap_or_default();
                if effective(first) != effective(c) {
                    ctx.error(
                        Some(span),
                        &format!("connector[{i}].sentinel_budget"),
                        ErrorKind::Conflict,
                        format!(
                            "connector {:?} sets a different sentinel_budget than connector {:?} \
                             (connector[{at}]) for the same subscription {}; a subscription has \
                             one budget: write the same [connector.sentinel_budget] in both",
                            c.name, first.name, c.subscription_id
                        ),
                    );
                }
            }
            None => {
                budgets.insert(c.subscription_id, (c, *i));
            }
        }
    }
}
