//! `[connector.signl4_cl]`: shipping the connector's SIGNL4 activity into the workspace's
//! `SIGNL4_CL` table through the Logs Ingestion API (docs/signl4_cl.md).
//!
//! ```toml
//! [connector.signl4_cl]
//! enabled = true                          # default true once the table is present
//! endpoint = "https://dcr-....westeurope-1.ingest.monitor.azure.com"  # DCE or the DCR's
//!                                         # logsIngestion endpoint
//! dcr_immutable_id = "dcr-00000000000000000000000000000000"
//! stream = "Custom-SIGNL4_CL"             # the default
//! interval = "30s"                        # time between shipping passes
//! ```
//!
//! Invariants: a returned [`Signl4ClConfig`] with `enabled` has an https (or loopback) endpoint,
//! an immutable id of the documented shape (`dcr-` and 32 hex digits, never a resource id) and
//! a `Custom-` stream name; every error points at its key. With `enabled = false` the other keys
//! are optional (and still checked when written), so a section can be kept switched off.

use std::time::Duration;

use toml::de::DeValue;
use url::Url;

use super::duration;
use super::enums::Cloud;
use super::error::ErrorKind;
use super::reader::{Ctx, TableReader};
use super::validate::{self, UrlRules};

/// Default stream of the custom table.
pub const DEFAULT_STREAM: &str = "Custom-SIGNL4_CL";
/// Default time between shipping passes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// Where the connector ships its `SIGNL4_CL` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signl4ClConfig {
    /// Whether the shipper runs.
    pub enabled: bool,
    /// The data collection endpoint, or the DCR's own logs ingestion endpoint; `None` only when
    /// disabled.
    pub endpoint: Option<Url>,
    /// The DCR's immutable id (`dcr-...`); empty only when disabled.
    pub dcr_immutable_id: String,
    /// The stream declared in the DCR.
    pub stream: String,
    /// Time between shipping passes; non-zero.
    pub interval: Duration,
}

/// The OAuth2 scope of the Logs Ingestion API in `cloud`.
pub fn ingestion_scope(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Public => "https://monitor.azure.com/.default",
        Cloud::UsGov => "https://monitor.azure.us/.default",
        Cloud::China => "https://monitor.azure.cn/.default",
    }
}

/// Reads `[connector.signl4_cl]`: `Some(None)` when absent, `None` when an error was recorded.
pub(super) fn read(ctx: &mut Ctx, t: &mut TableReader) -> Option<Option<Signl4ClConfig>> {
    let Some(mut s) = ctx.opt_table(t, "signl4_cl") else {
        return (!t.contains("signl4_cl")).then_some(None);
    };
    let mut ok = true;
    let enabled = ctx.opt_bool(&mut s, "enabled").unwrap_or(true);
    let endpoint = match ctx.opt_str(&mut s, "endpoint") {
        Some((text, item)) => {
            let rules = UrlRules {
                secret: false,
                allow_query: false,
            };
            match validate::url(&text, rules) {
                Ok(url) => Some(url),
                Err(m) => {
                    ctx.error(Some(&item.span), &item.path, ErrorKind::Invalid, m);
                    ok = false;
                    None
                }
            }
        }
        None => {
            if enabled && !s.contains("endpoint") {
                ctx.missing(
                    &s,
                    "endpoint",
                    "the data collection endpoint or the DCR's logs ingestion endpoint, e.g. \
                     \"https://my-dcr-abcd.westeurope-1.ingest.monitor.azure.com\"",
                );
            }
            ok &= !s.contains("endpoint");
            None
        }
    };
    let dcr_immutable_id = match ctx.opt_str(&mut s, "dcr_immutable_id") {
        Some((text, item)) => match immutable_id(&text) {
            Ok(id) => id,
            Err(m) => {
                ctx.error(Some(&item.span), &item.path, ErrorKind::Invalid, m);
                ok = false;
                String::new()
            }
        },
        None => {
            if enabled && !s.contains("dcr_immutable_id") {
                ctx.missing(
                    &s,
                    "dcr_immutable_id",
                    "the data collection rule's immutable id, \"dcr-\" and 32 hex digits",
                );
            }
            ok &= !s.contains("dcr_immutable_id");
            String::new()
        }
    };
    let stream = match ctx.opt_str(&mut s, "stream") {
        Some((text, item)) => match stream(&text) {
            Ok(v) => v,
            Err(m) => {
                ctx.error(Some(&item.span), &item.path, ErrorKind::Invalid, m);
                ok = false;
                String::new()
            }
        },
        None => {
            ok &= !s.contains("stream");
            DEFAULT_STREAM.to_string()
        }
    };
    let interval = match s.get("interval") {
        None => DEFAULT_INTERVAL,
        Some(item) => match item.value {
            DeValue::String(text) => match duration::parse(text) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => {
                    ctx.error(
                        Some(&item.span),
                        &item.path,
                        ErrorKind::Invalid,
                        "must not be zero; expected e.g. \"30s\"",
                    );
                    ok = false;
                    DEFAULT_INTERVAL
                }
                Err(m) => {
                    ctx.error(Some(&item.span), &item.path, ErrorKind::Invalid, m);
                    ok = false;
                    DEFAULT_INTERVAL
                }
            },
            _ => {
                ctx.wrong_type(&item, "a duration string like \"30s\" or \"5m\"");
                ok = false;
                DEFAULT_INTERVAL
            }
        },
    };
    ok &= !(enabled && (endpoint.is_none() || dcr_immutable_id.is_empty()));
    ctx.finish(s);
    ok.then_some(Some(Signl4ClConfig {
        enabled,
        endpoint,
        dcr_immutable_id,
        stream,
        interval,
    }))
}

/// `dcr-` and 32 hex digits (normalised to lower case), as the DCR's `immutableId` shows it.
fn immutable_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    let expected = "expected the DCR's immutable id, \"dcr-\" and 32 hex digits (property \
                    immutableId of the rule's JSON view)";
    if text.starts_with('/') || text.to_ascii_lowercase().contains("/datacollectionrules/") {
        return Err(format!(
            "this is the rule's resource id, not its immutable id; {expected}"
        ));
    }
    let hex = text.strip_prefix("dcr-").unwrap_or("");
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("dcr-{}", hex.to_ascii_lowercase()))
    } else {
        Err(format!("{text:?} is not an immutable id; {expected}"))
    }
}

/// A custom stream name: `Custom-` and letters, digits or `_`.
fn stream(text: &str) -> Result<String, String> {
    let text = text.trim();
    let name = text.strip_prefix("Custom-").unwrap_or("");
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a custom stream name; expected \"Custom-\" and the table's name, \
             e.g. \"{DEFAULT_STREAM}\" (the stream declared in the DCR)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immutable_ids_and_streams_have_their_documented_shapes() {
        let id = format!("dcr-{}", "A".repeat(32));
        assert_eq!(immutable_id(&id), Ok(format!("dcr-{}", "a".repeat(32))));
        assert!(immutable_id("dcr-123").is_err());
        let resource =
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Insights/dataCollectionRules/r";
        assert!(immutable_id(resource).unwrap_err().contains("resource id"));
        assert_eq!(stream("Custom-SIGNL4_CL"), Ok("Custom-SIGNL4_CL".into()));
        assert!(stream("SIGNL4_CL").is_err());
        assert!(stream("Custom-").is_err());
        assert_eq!(
            ingestion_scope(Cloud::Public),
            "https://monitor.azure.com/.default"
        );
    }
}
