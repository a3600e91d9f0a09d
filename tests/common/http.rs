//! The outbound HTTP clients' test world: a sandbox with one tenant, an `HttpContext` without
//! rate budgets, and each client pointed at the sandbox. Shared by `http_clients` and
//! `http_logging` (which needs a process of its own for its global log subscriber).
#![allow(dead_code)]

use actors::ports::{ApiError, IncidentQuery, IncidentSource};
use sandbox::control::{IncidentSpec, TenantSpec};
use sandbox::{FaultKind, FaultSpec, Sandbox, SandboxHandle, SandboxOptions, Service, TenantInfo};
use sentinel_signl4::http::budget::BudgetLimits;
use sentinel_signl4::http::{
    AzureCredentials, HttpContext, HttpSettings, LogAnalyticsClient, LogAnalyticsSettings,
    SentinelClient, SentinelSettings, Signl4Client, Signl4Settings,
};

pub fn ctx() -> HttpContext {
    let mut s = HttpSettings::for_tests();
    s.budget = BudgetLimits::unlimited();
    HttpContext::new(s).expect("http context")
}

pub fn start(opts: SandboxOptions) -> (SandboxHandle, TenantInfo) {
    let sb = Sandbox::start(opts).expect("sandbox");
    let t = sb
        .control()
        .create_tenant(TenantSpec::default())
        .expect("tenant");
    (sb, t)
}

pub fn creds(sb: &SandboxHandle, t: &TenantInfo) -> AzureCredentials {
    AzureCredentials::new(
        sb.urls().entra.clone(),
        t.tenant_id.clone(),
        t.client_id.clone(),
        t.client_secret.clone(),
    )
}

pub fn sentinel_settings(sb: &SandboxHandle, t: &TenantInfo) -> SentinelSettings {
    SentinelSettings::new(
        creds(sb, t),
        sb.urls().arm.clone(),
        t.subscription_id.clone(),
        t.resource_group.clone(),
        t.workspace_name.clone(),
    )
}

pub fn sentinel(ctx: &HttpContext, sb: &SandboxHandle, t: &TenantInfo) -> SentinelClient {
    SentinelClient::new(ctx, sentinel_settings(sb, t))
}

pub fn signl4(ctx: &HttpContext, sb: &SandboxHandle, t: &TenantInfo, key: bool) -> Signl4Client {
    let mut s = Signl4Settings::new(sb.urls().signl4.clone(), t.team_secret.clone());
    if key {
        s = s.with_api_key(t.api_key.clone());
    }
    Signl4Client::new(ctx, s)
}

pub fn log_analytics(ctx: &HttpContext, sb: &SandboxHandle, t: &TenantInfo) -> LogAnalyticsClient {
    LogAnalyticsClient::new(
        ctx,
        LogAnalyticsSettings::new(
            creds(sb, t),
            sb.urls().log_analytics.clone(),
            t.workspace_id.clone(),
        ),
    )
}

pub fn incident(sb: &SandboxHandle, t: &TenantInfo, status: &str, severity: &str) -> String {
    let v = sb
        .control()
        .create_incident(
            &t.name,
            IncidentSpec {
                status: status.into(),
                severity: severity.into(),
                ..Default::default()
            },
        )
        .expect("incident");
    v["name"].as_str().expect("name").to_string()
}

pub fn query(statuses: &[&str], severities: &[&str], since_ms: i64, page: u32) -> IncidentQuery {
    IncidentQuery {
        statuses: statuses.iter().map(|s| s.to_string()).collect(),
        severities: severities.iter().map(|s| s.to_string()).collect(),
        modified_since_ms: since_ms,
        page_size: page,
    }
}

/// All pages of a listing (bounded).
pub async fn list_all(c: &SentinelClient, q: &IncidentQuery) -> Vec<actors::ports::IncidentRecord> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..100 {
        let page = c.list_incidents(q, next.as_deref()).await.expect("page");
        out.extend(page.incidents);
        match page.next_link {
            Some(n) => next = Some(n),
            None => return out,
        }
    }
    panic!("more than 100 pages");
}

pub fn requests(sb: &SandboxHandle, service: &str) -> Vec<sandbox::state::RequestRecord> {
    sb.control()
        .requests()
        .into_iter()
        .filter(|r| r.service == service)
        .collect()
}

pub fn fault(
    sb: &SandboxHandle,
    service: Service,
    kind: FaultKind,
    times: u32,
    path: Option<&str>,
) {
    sb.control().add_fault(FaultSpec {
        service,
        kind,
        times: Some(times),
        probability: None,
        path_contains: path.map(str::to_string),
        method: None,
    });
}

/// Asserts that no rendering of `err` contains any of `secrets`.
pub fn assert_no_secret(err: &ApiError, secrets: &[&str]) {
    let shown = format!("{err} {err:?}");
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!shown.contains(s), "secret leaked in {shown}");
    }
}
