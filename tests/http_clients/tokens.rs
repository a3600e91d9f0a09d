//! Entra tokens: expiry mid-run, one token request shared by concurrent callers, AADSTS codes
//! in errors (never the secret), and callers queued behind a failed refresh.

use std::time::Duration;

use actors::ports::{ApiError, IncidentSource, LogAnalyticsApi};
use sandbox::{FaultKind, SandboxOptions, Service};
use sentinel_signl4::http::SentinelClient;
use uuid::Uuid;

use crate::common::http::*;

#[tokio::test]
async fn token_expiry_mid_run_is_transparent() {
    let mut opts = SandboxOptions::for_tests();
    // Short enough to expire several times during the test, long enough that the proactive
    // margin (10 %: 200 ms) covers loopback latency on a loaded machine.
    opts.token_ttl = Duration::from_secs(2);
    let (sb, t) = start(opts);
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    for _ in 0..6 {
        c.get_incident(&name)
            .await
            .expect("get across token expiry");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let tokens = requests(&sb, "entra").len();
    assert!(
        tokens >= 2,
        "the token was refreshed proactively ({tokens} requests)"
    );
    assert!(
        requests(&sb, "sentinel").iter().all(|r| r.status == 200),
        "proactive refresh: no 401 reached the service"
    );

    // The service forgets every token: one 401, one forced refresh, one retry (same request id).
    sb.control().with_world(|w| w.tokens.clear());
    sb.control().clear_requests();
    let rec = c.get_incident(&name).await.expect("get after 401");
    assert_eq!(rec.name, name);
    let arm = requests(&sb, "sentinel");
    assert_eq!(
        arm.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![401, 200]
    );
    assert_eq!(arm[0].client_request_id, arm[1].client_request_id);
    assert_eq!(requests(&sb, "entra").len(), 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request_and_clients_share_the_cache() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let a = sentinel(&ctx, &sb, &t);
    let b = sentinel(&ctx, &sb, &t);
    let (r1, r2, r3, r4) = tokio::join!(
        a.get_incident(&name),
        b.get_incident(&name),
        a.list_alerts(&name),
        b.list_entities(&name)
    );
    assert!(r1.is_ok() && r2.is_ok() && r3.is_ok() && r4.is_ok());
    assert_eq!(
        requests(&sb, "entra").len(),
        1,
        "one refresh for all callers"
    );
    // Log Analytics needs its own audience: exactly one more token request.
    let la = log_analytics(&ctx, &sb, &t);
    la.query("SecurityAlert | take 1", "P1D").await.expect("la");
    la.query("SecurityAlert | take 1", "P1D").await.expect("la");
    assert_eq!(requests(&sb, "entra").len(), 2);
}

#[tokio::test]
async fn auth_failures_name_the_aadsts_code_never_the_secret() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let ctx = ctx();

    let mut wrong = sentinel_settings(&sb, &t);
    let bad_secret = "sbx~this-is-the-wrong-secret-value";
    wrong.credentials.client_secret = bad_secret.into();
    let err = SentinelClient::new(&ctx, wrong)
        .get_incident("x")
        .await
        .unwrap_err();
    match &err {
        ApiError::Auth(m) => assert!(m.contains("AADSTS7000215") && m.contains("401"), "{m}"),
        other => panic!("expected Auth, got {other:?}"),
    }
    assert_no_secret(&err, &[bad_secret, &t.client_secret]);

    let mut tenant = sentinel_settings(&sb, &t);
    tenant.credentials.tenant_id = Uuid::new_v4().to_string();
    let err = SentinelClient::new(&ctx, tenant)
        .get_incident("x")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Auth(m) if m.contains("AADSTS90002")),
        "{err:?}"
    );
    assert_no_secret(&err, &[&t.client_secret]);

    let mut app = sentinel_settings(&sb, &t);
    app.credentials.client_id = Uuid::new_v4().to_string();
    let err = SentinelClient::new(&ctx, app)
        .get_incident("x")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Auth(m) if m.contains("AADSTS700016")),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    // Debug of settings and clients hides every secret.
    let s4 = signl4(&ctx, &sb, &t, true);
    let shown = format!(
        "{:?} {:?} {:?} {:?}",
        sentinel_settings(&sb, &t),
        sentinel(&ctx, &sb, &t),
        s4,
        log_analytics(&ctx, &sb, &t)
    );
    for s in [&t.client_secret, &t.team_secret, &t.api_key] {
        assert!(!shown.contains(s.as_str()), "secret in Debug: {shown}");
    }
    assert!(shown.contains(&t.client_id));
}

#[tokio::test]
async fn callers_queued_behind_a_failed_refresh_share_its_error() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    fault(
        &sb,
        Service::Entra,
        FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        1,
        None,
    );
    let (a, b, d) = tokio::join!(
        c.get_incident(&name),
        c.get_incident(&name),
        c.list_alerts(&name)
    );
    for r in [a.map(|_| ()), b.map(|_| ()), d.map(|_| ())] {
        assert!(
            matches!(&r, Err(ApiError::Transient(m)) if m.contains("AADSTS50000")),
            "{r:?}"
        );
    }
    assert_eq!(
        requests(&sb, "entra").len(),
        1,
        "one refresh attempt for three callers"
    );
    assert!(requests(&sb, "sentinel").is_empty());
    // The next caller tries afresh.
    c.get_incident(&name).await.expect("recovered");
    assert_eq!(requests(&sb, "entra").len(), 2);
}
