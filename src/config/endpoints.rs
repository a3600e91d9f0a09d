//! Service endpoints of one connector: the Entra authority host, ARM, Log Analytics, Graph and
//! SIGNL4 base URLs, the token scope per resource, and the Sentinel api-version.
//!
//! `cloud = "public" | "usgov" | "china"` picks the defaults; each URL may be overridden (the
//! sandbox does, and so can a proxy). Token scopes follow the cloud, never the overridden URL:
//! a token for the emulator is still requested for `https://management.azure.com/.default`,
//! as the real service would need it.
//!
//! Invariant: every URL here is http(s), has no credentials, query or fragment, uses https
//! unless its host is loopback, and its path has no trailing `/` other than the root's (use
//! [`join`] to append a path).

use url::Url;

use super::enums::Cloud;

/// The Sentinel api-versions the connector accepts (the stable ones, docs/reference/azure-apis.md §2.1); the
/// first is the default.
pub const SENTINEL_API_VERSIONS: &[&str] = &[
    "2025-12-01",
    "2025-09-01",
    "2025-06-01",
    "2024-03-01",
    "2023-11-01",
    "2021-10-01",
    "2021-04-01",
    "2020-01-01",
];

/// The resource a token is requested for; each has its own token (a scope names one resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Azure Resource Manager (Sentinel incidents).
    Arm,
    /// The Log Analytics query API.
    LogAnalytics,
    /// Microsoft Graph.
    Graph,
}

/// The resolved endpoints of one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The cloud the defaults and token scopes come from.
    pub cloud: Cloud,
    /// Entra ID authority host (`{authority_host}/{tenant}/oauth2/v2.0/token`).
    pub authority_host: Url,
    /// Azure Resource Manager.
    pub arm: Url,
    /// Log Analytics query API, including `/v1`.
    pub log_analytics: Url,
    /// Microsoft Graph, including `/v1.0`.
    pub graph: Url,
    /// SIGNL4 (`/webhook/{team_secret}`, `/api/v2/...`).
    pub signl4: Url,
    /// `api-version` of every Sentinel call.
    pub sentinel_api_version: String,
}

/// Default base URLs of a cloud, in the order authority, ARM, Log Analytics, Graph, SIGNL4.
pub fn cloud_defaults(cloud: Cloud) -> [&'static str; 5] {
    match cloud {
        Cloud::Public => [
            "https://login.microsoftonline.com",
            "https://management.azure.com",
            "https://api.loganalytics.io/v1",
            "https://graph.microsoft.com/v1.0",
            "https://connect.signl4.com",
        ],
        Cloud::UsGov => [
            "https://login.microsoftonline.us",
            "https://management.usgovcloudapi.net",
            "https://api.loganalytics.us/v1",
            "https://graph.microsoft.us/v1.0",
            "https://connect.signl4.com",
        ],
        Cloud::China => [
            "https://login.chinacloudapi.cn",
            "https://management.chinacloudapi.cn",
            "https://api.loganalytics.azure.cn/v1",
            "https://microsoftgraph.chinacloudapi.cn/v1.0",
            "https://connect.signl4.com",
        ],
    }
}

/// The OAuth2 scope (`{resource}/.default`) for `audience` in `cloud`.
pub fn token_scope(cloud: Cloud, audience: Audience) -> &'static str {
    match (cloud, audience) {
        (Cloud::Public, Audience::Arm) => "https://management.azure.com/.default",
        (Cloud::Public, Audience::LogAnalytics) => "https://api.loganalytics.io/.default",
        (Cloud::Public, Audience::Graph) => "https://graph.microsoft.com/.default",
        (Cloud::UsGov, Audience::Arm) => "https://management.usgovcloudapi.net/.default",
        (Cloud::UsGov, Audience::LogAnalytics) => "https://api.loganalytics.us/.default",
        (Cloud::UsGov, Audience::Graph) => "https://graph.microsoft.us/.default",
        (Cloud::China, Audience::Arm) => "https://management.chinacloudapi.cn/.default",
        (Cloud::China, Audience::LogAnalytics) => "https://api.loganalytics.azure.cn/.default",
        (Cloud::China, Audience::Graph) => "https://microsoftgraph.chinacloudapi.cn/.default",
    }
}

impl Endpoints {
    /// The defaults of `cloud` with the default api-version.
    pub fn for_cloud(cloud: Cloud) -> Self {
        let [authority_host, arm, log_analytics, graph, signl4] =
            cloud_defaults(cloud).map(|u| Url::parse(u).expect("built-in URLs parse"));
        Endpoints {
            cloud,
            authority_host,
            arm,
            log_analytics,
            graph,
            signl4,
            sentinel_api_version: SENTINEL_API_VERSIONS[0].to_string(),
        }
    }

    /// The token scope for `audience` (follows the cloud, not overridden URLs).
    pub fn token_scope(&self, audience: Audience) -> &'static str {
        token_scope(self.cloud, audience)
    }

    /// The authority host as a string without a trailing `/` (e.g. for
    /// `format!("{}/{tenant}/oauth2/v2.0/token", ..)`).
    pub fn authority_base(&self) -> &str {
        base_str(&self.authority_host)
    }

    /// ARM, without a trailing `/`.
    pub fn arm_base(&self) -> &str {
        base_str(&self.arm)
    }

    /// Log Analytics (with `/v1`), without a trailing `/`.
    pub fn log_analytics_base(&self) -> &str {
        base_str(&self.log_analytics)
    }

    /// Graph (with `/v1.0`), without a trailing `/`.
    pub fn graph_base(&self) -> &str {
        base_str(&self.graph)
    }

    /// SIGNL4, without a trailing `/`.
    pub fn signl4_base(&self) -> &str {
        base_str(&self.signl4)
    }

    /// The base URL for `audience`'s API.
    pub fn base(&self, audience: Audience) -> &Url {
        match audience {
            Audience::Arm => &self.arm,
            Audience::LogAnalytics => &self.log_analytics,
            Audience::Graph => &self.graph,
        }
    }
}

/// A base URL as a string without a trailing `/` (a root URL prints as `https://host/`), so
/// that `format!("{base}/path")` never doubles the slash.
pub fn base_str(url: &Url) -> &str {
    url.as_str().trim_end_matches('/')
}

/// `base` with `suffix` appended to its path (`suffix` starts with `/`).
pub fn join(base: &Url, suffix: &str) -> Url {
    let mut url = base.clone();
    let path = format!("{}{suffix}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_has_parsable_https_defaults() {
        for cloud in Cloud::ALL {
            let e = Endpoints::for_cloud(*cloud);
            for url in [
                &e.authority_host,
                &e.arm,
                &e.log_analytics,
                &e.graph,
                &e.signl4,
            ] {
                assert_eq!(url.scheme(), "https");
            }
            for aud in [Audience::Arm, Audience::LogAnalytics, Audience::Graph] {
                assert!(e.token_scope(aud).ends_with("/.default"));
            }
        }
        let gov = Endpoints::for_cloud(Cloud::UsGov);
        assert_eq!(gov.arm.as_str(), "https://management.usgovcloudapi.net/");
        assert_eq!(gov.arm_base(), "https://management.usgovcloudapi.net");
        assert_eq!(gov.graph_base(), "https://graph.microsoft.us/v1.0");
        assert_eq!(gov.sentinel_api_version, "2025-12-01");
    }

    #[test]
    fn sovereign_clouds_have_their_own_hosts_and_scopes() {
        let cn = Endpoints::for_cloud(Cloud::China);
        assert_eq!(cn.authority_base(), "https://login.chinacloudapi.cn");
        assert_eq!(
            cn.log_analytics_base(),
            "https://api.loganalytics.azure.cn/v1"
        );
        assert_eq!(
            cn.token_scope(Audience::Graph),
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        let gov = Endpoints::for_cloud(Cloud::UsGov);
        assert_eq!(gov.authority_base(), "https://login.microsoftonline.us");
        assert_eq!(
            gov.token_scope(Audience::LogAnalytics),
            "https://api.loganalytics.us/.default"
        );
        assert_eq!(
            Endpoints::for_cloud(Cloud::Public).token_scope(Audience::Arm),
            "https://management.azure.com/.default"
        );
    }

    #[test]
    fn join_appends_to_the_path() {
        let base = Url::parse("http://127.0.0.1:9/v1").unwrap();
        assert_eq!(
            join(&base, "/workspaces/x/query").as_str(),
            "http://127.0.0.1:9/v1/workspaces/x/query"
        );
        let root = Url::parse("https://management.azure.com").unwrap();
        assert_eq!(
            join(&root, "/subscriptions").as_str(),
            "https://management.azure.com/subscriptions"
        );
    }
}
