//! `[connector.endpoints]`: the cloud and the base URLs of every service (sovereign clouds, the
//! sandbox), checked by the URL rules.
//!
//! Invariant: a URL that would send credentials over plain http to a non-loopback host is an
//! error.

use super::*;

pub(super) fn read_endpoints(ctx: &mut Ctx, t: &mut TableReader) -> Option<Endpoints> {
    let Some(mut e) = ctx.opt_table(t, "endpoints") else {
        return (!t.contains("endpoints")).then(|| Endpoints::for_cloud(Cloud::Public));
    };
    let cloud = word(ctx, &mut e, "cloud", Cloud::parse, Cloud::expected);
    let mut ok = cloud.is_some();
    let mut endpoints = Endpoints::for_cloud(cloud.flatten().unwrap_or(Cloud::Public));
    for key in ["authority_host", "arm", "log_analytics", "graph", "signl4"] {
        let Some((s, item)) = ctx.opt_str(&mut e, key) else {
            continue;
        };
        let rules = UrlRules {
            secret: false,
            allow_query: false,
        };
        match checked(ctx, &item, validate::url(&s, rules)) {
            Some(url) => {
                let slot = match key {
                    "authority_host" => &mut endpoints.authority_host,
                    "arm" => &mut endpoints.arm,
                    "log_analytics" => &mut endpoints.log_analytics,
                    "graph" => &mut endpoints.graph,
                    _ => &mut endpoints.signl4,
                };
                *slot = url;
            }
            None => ok = false,
        }
    }
    if let Some((v, item)) = ctx.opt_str(&mut e, "sentinel_api_version") {
        let v = v.trim().to_string();
        if SENTINEL_API_VERSIONS.contains(&v.as_str()) {
            endpoints.sentinel_api_version = v;
        } else {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!(
                    "unsupported Sentinel api-version {v:?}; expected a stable version: {}",
                    one_of(SENTINEL_API_VERSIONS.iter().copied())
                ),
            );
            ok = false;
        }
    }
    ctx.finish(e);
    ok.then_some(endpoints)
}
