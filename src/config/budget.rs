//! `[connector.sentinel_budget]`: the client-side rate budget the connector keeps for its Azure
//! subscription's Sentinel calls (see `http::budget`), for subscriptions whose limits differ
//! from the planning numbers (Sentinel's resource provider publishes none; ARM's documented
//! buckets are far larger).
//!
//! ```toml
//! [connector.sentinel_budget]
//! incident_writes = 75    # incident PUT/DELETE per window (default 75)
//! comment_writes = 75     # comment PUT/DELETE per window (default 75)
//! reads = 100             # GETs and POST list actions per window (default 100)
//! window = "5m"           # the sliding window (default 5 minutes)
//! ```
//!
//! Invariants: every limit is an integer from 1 to [`MAX_LIMIT`] and the window is from 1 s to
//! 1 h; a key not written keeps its default; every error names the key and the connector.
//! Connectors of one subscription share one budget, so they must agree on it (checked across
//! connectors at load, absent keys counting as their defaults).

use std::time::Duration;

use toml::de::DeValue;

use super::duration;
use super::error::ErrorKind;
use super::reader::{Ctx, TableReader};

/// Largest accepted limit of one class per window.
pub const MAX_LIMIT: i64 = 1_000_000;
/// Longest accepted window.
pub const MAX_WINDOW: Duration = Duration::from_secs(3600);

/// The Sentinel budget of a connector's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelBudget {
    /// Incident PUT/DELETE per window.
    pub incident_writes: u32,
    /// Comment PUT/DELETE per window.
    pub comment_writes: u32,
    /// GETs and POST list actions per window.
    pub reads: u32,
    /// The sliding window.
    pub window: Duration,
}

impl Default for SentinelBudget {
    /// The planning numbers (the same as `http::BudgetLimits::default()`): 75 incident writes,
    /// 75 comment writes and 100 reads per 5 minutes.
    fn default() -> Self {
        SentinelBudget {
            incident_writes: 75,
            comment_writes: 75,
            reads: 100,
            window: Duration::from_secs(300),
        }
    }
}

/// Reads `[connector.sentinel_budget]` of the connector `name`: `Some(None)` when absent,
/// `None` when an error was recorded.
pub(super) fn read(
    ctx: &mut Ctx,
    t: &mut TableReader,
    name: Option<&str>,
) -> Option<Option<SentinelBudget>> {
    let Some(mut s) = ctx.opt_table(t, "sentinel_budget") else {
        return (!t.contains("sentinel_budget")).then_some(None);
    };
    let who = name.map_or_else(String::new, |n| format!("connector {n:?}: "));
    let defaults = SentinelBudget::default();
    let mut ok = true;
    let mut limit = |ctx: &mut Ctx, s: &mut TableReader, key: &'static str, default: u32| {
        let Some(item) = s.get(key) else {
            return default;
        };
        let expected = format!("an integer from 1 to {MAX_LIMIT} (calls per window)");
        let value = match item.value {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::WrongType,
                    format!("{who}expected {expected}"),
                );
                ok = false;
                return default;
            }
        };
        match value {
            Some(v) if (1..=MAX_LIMIT).contains(&v) => v as u32,
            _ => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Invalid,
                    format!("{who}out of range; expected {expected}"),
                );
                ok = false;
                default
            }
        }
    };
    let incident_writes = limit(ctx, &mut s, "incident_writes", defaults.incident_writes);
    let comment_writes = limit(ctx, &mut s, "comment_writes", defaults.comment_writes);
    let reads = limit(ctx, &mut s, "reads", defaults.reads);
    let window = match s.get("window") {
        None => defaults.window,
        Some(item) => {
            let parsed = match item.value {
                DeValue::String(text) => duration::parse(text),
                _ => Err("expected a duration string like \"5m\"".to_string()),
            };
            match parsed {
                Ok(d) if d >= Duration::from_secs(1) && d <= MAX_WINDOW => d,
                Ok(_) => {
                    ctx.error(
                        Some(&item.span),
                        &item.path,
                        ErrorKind::Invalid,
                        format!("{who}out of range; expected a window from \"1s\" to \"1h\""),
                    );
                    ok = false;
                    defaults.window
                }
                Err(m) => {
                    ctx.error(
                        Some(&item.span),
                        &item.path,
                        ErrorKind::Invalid,
                        format!("{who}{m}"),
                    );
                    ok = false;
                    defaults.window
                }
            }
        }
    };
    ctx.finish(s);
    ok.then_some(Some(SentinelBudget {
        incident_writes,
        comment_writes,
        reads,
        window,
    }))
}
