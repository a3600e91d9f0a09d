//! The Log Analytics client: results, partial errors and empty workspaces.

use std::time::Duration;

use actors::ports::{ApiError, LogAnalyticsApi};
use sandbox::control::TenantSpec;
use sandbox::{FaultKind, SandboxOptions, Service};
use sentinel_signl4::http::{LogAnalyticsClient, LogAnalyticsSettings};
use serde_json::json;
use uuid::Uuid;

use crate::common::http::*;

#[tokio::test]
async fn log_analytics_results_partial_errors_and_empty_workspaces() {
    let (sb, t) = start(SandboxOptions::for_tests());
    incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let la = log_analytics(&ctx, &sb, &t);
    let r = la
        .query("SecurityAlert | take 5", "P1D")
        .await
        .expect("query");
    assert_eq!(r.partial_error, None);
    let tables = r.tables.as_array().expect("tables");
    assert_eq!(tables[0]["name"], "PrimaryResult");
    assert_eq!(tables[0]["rows"].as_array().expect("rows").len(), 1);

    sb.control().set_la_partial_errors(1);
    let r = la
        .query("SecurityAlert | take 5", "P1D")
        .await
        .expect("partial");
    assert!(
        r.partial_error
            .as_deref()
            .is_some_and(|m| m.contains("PartialError")),
        "{r:?}"
    );
    assert_eq!(r.tables.as_array().map(Vec::len), Some(1), "results kept");

    let err = la
        .query("SecurityAlert | frobnicate", "P1D")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Rejected { status: 400, message } if message.contains("BadArgumentError")),
        "{err:?}"
    );

    // A workspace without data answers 204: no tables.
    let empty = sb
        .control()
        .create_tenant(TenantSpec::default())
        .expect("tenant");
    let r = log_analytics(&ctx, &sb, &empty)
        .query("SecurityAlert", "P1D")
        .await
        .expect("204");
    assert_eq!(r.tables, json!([]));
    assert_eq!(
        requests(&sb, "log_analytics").last().map(|r| r.status),
        Some(204)
    );

    // A token the service keeps refusing (wrong audience): one refresh, one retry, then Rejected.
    let mut wrong = LogAnalyticsSettings::new(
        creds(&sb, &t),
        sb.urls().log_analytics.clone(),
        t.workspace_id.clone(),
    );
    wrong.scope = "https://management.azure.com/.default".into();
    sb.control().clear_requests();
    let err = LogAnalyticsClient::new(&ctx, wrong)
        .query("SecurityAlert", "P1D")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Rejected { status: 401, message } if message.contains("InvalidAudience")),
        "{err:?}"
    );
    assert_eq!(requests(&sb, "log_analytics").len(), 2);
    assert_eq!(
        requests(&sb, "entra").len(),
        2,
        "a first token and exactly one forced refresh"
    );

    // A workspace that does not exist is a configuration error, not a missing item.
    let mut s = LogAnalyticsSettings::new(
        creds(&sb, &t),
        sb.urls().log_analytics.clone(),
        Uuid::new_v4().to_string(),
    );
    s.scope = "https://api.loganalytics.io/.default".into();
    let err = LogAnalyticsClient::new(&ctx, s)
        .query("SecurityAlert", "P1D")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected { status: 404, .. }),
        "{err:?}"
    );

    fault(
        &sb,
        Service::LogAnalytics,
        FaultKind::Status {
            status: 429,
            retry_after: Some(2),
        },
        1,
        None,
    );
    assert_eq!(
        la.query("SecurityAlert", "P1D").await.unwrap_err(),
        ApiError::Throttled {
            retry_after: Duration::from_secs(2)
        }
    );
}
