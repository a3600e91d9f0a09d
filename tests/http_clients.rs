//! The outbound HTTP clients (`src/http/`) over real HTTP on loopback, against the sandbox's
//! emulators (and, for malformed answers the emulators never give, a tiny raw TCP server).
//!
//! Every test starts its own sandbox and its own `HttpContext`: pooled connections belong to the
//! runtime that opened them, and each `#[tokio::test]` has its own runtime.

use std::collections::HashSet;
use std::time::Duration;

use actors::ports::{ApiError, LogAnalyticsApi, SentinelApi, Signl4Api};
use sentinel_signl4::http::budget::{BudgetLimits, CallClass, SubscriptionBudget};
use sentinel_signl4::http::classify;
use sentinel_signl4::http::sentinel::{build_filter, parse_incident, parse_time_ms};
use sentinel_signl4::http::{
    retry, AzureCredentials, HttpContext, HttpSettings, LogAnalyticsClient, LogAnalyticsSettings,
    RetryPolicy, SentinelClient, SentinelSettings, Signl4Client, Signl4Settings,
};
use sentinel_signl4::sandbox::control::{AnalystAction, TenantSpec};
use sentinel_signl4::sandbox::{FaultKind, Sandbox, SandboxOptions, Service};
use serde_json::{json, Value};
use uuid::Uuid;

mod common;
use common::http::*;

// ---------------------------------------------------------------------------------------------
// Sentinel: listing

#[tokio::test]
async fn list_honours_status_severity_and_modified_since() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let new_high = incident(&sb, &t, "New", "High");
    let active_low = incident(&sb, &t, "Active", "Low");
    let new_low = incident(&sb, &t, "New", "Low");
    let closed_high = incident(&sb, &t, "New", "High");
    sb.control()
        .analyst(
            &t.name,
            &closed_high,
            AnalystAction {
                status: Some("Closed".into()),
                classification: Some("Undetermined".into()),
                ..Default::default()
            },
        )
        .expect("close");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    let names = |v: &[actors::ports::IncidentRecord]| -> HashSet<String> {
        v.iter().map(|i| i.name.clone()).collect()
    };
    let set = |v: &[&String]| -> HashSet<String> { v.iter().map(|s| s.to_string()).collect() };

    let got = list_all(&c, &query(&["New"], &[], 0, 50)).await;
    assert_eq!(names(&got), set(&[&new_high, &new_low]));
    let got = list_all(&c, &query(&["New", "Active"], &[], 0, 50)).await;
    assert_eq!(names(&got), set(&[&new_high, &new_low, &active_low]));
    let got = list_all(&c, &query(&[], &["High"], 0, 50)).await;
    assert_eq!(names(&got), set(&[&new_high, &closed_high]));
    let got = list_all(&c, &query(&["New", "Active"], &["Low"], 0, 50)).await;
    assert_eq!(names(&got), set(&[&new_low, &active_low]));
    assert!(got
        .iter()
        .all(|i| i.status != "Closed" && i.severity == "Low"));

    // modified-since: only what changed at or after the cursor.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let late = incident(&sb, &t, "Active", "High");
    let late_rec = c.get_incident(&late).await.expect("get late");
    // The raw JSON is kept byte for byte, in a page as in a GET.
    let listed = list_all(&c, &query(&[], &[], late_rec.last_modified_ms, 50)).await;
    assert_eq!(listed[0].raw_json, late_rec.raw_json);
    assert!(late_rec.raw_json.starts_with('{') && late_rec.raw_json.contains(&late));
    let got = list_all(&c, &query(&[], &[], late_rec.last_modified_ms, 50)).await;
    assert_eq!(names(&got), set(&[&late]));
    let got = list_all(
        &c,
        &query(&["New"], &["High"], late_rec.last_modified_ms, 50),
    )
    .await;
    assert!(got.is_empty(), "filters combine with and: {got:?}");

    // What went over the wire: %20-encoded OData, ascending order, $top.
    let lists: Vec<String> = requests(&sb, "sentinel")
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/incidents?"))
        .map(|r| r.path)
        .collect();
    assert!(
        lists.iter().all(
            |p| p.contains("$orderby=properties/lastModifiedTimeUtc%20asc")
                && p.contains("$top=50")
        ),
        "{lists:?}"
    );
    assert!(lists.iter().any(|p| p.contains(
        "$filter=(properties/status%20eq%20%27New%27%20or%20properties/status%20eq%20%27Active%27)%20and%20(properties/severity%20eq%20%27Low%27)"
    )), "{lists:?}");
    assert!(lists
        .iter()
        .any(|p| p.contains("properties/lastModifiedTimeUtc%20ge%20") && p.contains("Z")));
}

#[tokio::test]
async fn lists_1500_incidents_over_pages_each_once_in_order() {
    let mut opts = SandboxOptions::for_tests();
    opts.throttle.reads.size = 100_000;
    let (sb, t) = start(opts);
    let mut expected = HashSet::new();
    for _ in 0..1500 {
        expected.insert(incident(&sb, &t, "New", "Medium"));
    }
    // A few analyst edits so that modification order differs from creation order.
    for name in expected.iter().take(10) {
        sb.control()
            .analyst(
                &t.name,
                name,
                AnalystAction {
                    severity: Some("High".into()),
                    ..Default::default()
                },
            )
            .expect("edit");
    }
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    for top in [100u32, 333, 1000] {
        sb.control().clear_requests();
        let got = list_all(&c, &query(&["New"], &[], 0, top)).await;
        assert_eq!(got.len(), 1500, "top {top}");
        let names: HashSet<&str> = got.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names.len(), 1500, "each exactly once (top {top})");
        assert!(names.iter().all(|n| expected.contains(*n)));
        assert!(
            got.windows(2)
                .all(|w| w[0].last_modified_ms <= w[1].last_modified_ms),
            "ascending lastModifiedTimeUtc (top {top})"
        );
        let pages = requests(&sb, "sentinel")
            .iter()
            .filter(|r| r.path.contains("/incidents?") && r.status == 200)
            .count();
        assert_eq!(
            pages,
            1500usize.div_ceil(top as usize),
            "pages for top {top}"
        );
    }
    // `page_size` 0: the service's default page (50); above 1000: capped at 1000.
    let page = c
        .list_incidents(&query(&["New"], &[], 0, 0), None)
        .await
        .expect("default page");
    assert_eq!(page.incidents.len(), 50);
    let page = c
        .list_incidents(&query(&["New"], &[], 0, 5000), None)
        .await
        .expect("capped page");
    assert_eq!(page.incidents.len(), 1000);

    // The edited ones were modified last.
    let got = list_all(&c, &query(&["New"], &[], 0, 1000)).await;
    let tail: HashSet<&str> = got[1490..].iter().map(|i| i.name.as_str()).collect();
    assert!(tail
        .iter()
        .all(|n| expected.iter().take(10).any(|e| e == n)));
    assert!(got[1499].raw_json.contains("\"severity\":\"High\""));
}

#[tokio::test]
async fn next_link_to_another_host_is_refused() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    let q = query(&[], &[], 0, 10);
    let err = c
        .list_incidents(&q, Some("http://127.0.0.2:9/incidents?$skipToken=x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Transient(ref m) if m.contains("nextLink")),
        "{err:?}"
    );
    assert!(requests(&sb, "sentinel").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Tokens

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

// ---------------------------------------------------------------------------------------------
// Throttling, retries, budget

#[tokio::test]
async fn throttling_is_classified_and_the_retry_helper_waits_it_out() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);

    fault(
        &sb,
        Service::Sentinel,
        FaultKind::Status {
            status: 429,
            retry_after: Some(7),
        },
        1,
        None,
    );
    let err = c.get_incident(&name).await.unwrap_err();
    assert_eq!(
        err,
        ApiError::Throttled {
            retry_after: Duration::from_secs(7)
        }
    );

    fault(
        &sb,
        Service::Sentinel,
        FaultKind::Status {
            status: 429,
            retry_after: None,
        },
        1,
        None,
    );
    let err = c.get_incident(&name).await.unwrap_err();
    assert_eq!(
        err,
        ApiError::Throttled {
            retry_after: classify::DEFAULT_RETRY_AFTER
        }
    );

    // The helper honours Retry-After: 1 s, then succeeds.
    sb.control().clear_requests();
    fault(
        &sb,
        Service::Sentinel,
        FaultKind::Status {
            status: 429,
            retry_after: Some(1),
        },
        1,
        None,
    );
    let started = std::time::Instant::now();
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..Default::default()
    };
    let rec = retry(&policy, || c.get_incident(&name))
        .await
        .expect("retried");
    assert_eq!(rec.name, name);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited the Retry-After"
    );
    let statuses: Vec<u16> = requests(&sb, "sentinel").iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 200]);

    // Non-retryable errors are returned at once; attempts are bounded.
    sb.control().clear_requests();
    let err = retry(&policy, || c.get_incident("no-such-incident"))
        .await
        .unwrap_err();
    assert_eq!(err, ApiError::NotFound);
    assert_eq!(requests(&sb, "sentinel").len(), 1);
    fault(
        &sb,
        Service::Sentinel,
        FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        10,
        None,
    );
    let small = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        ..Default::default()
    };
    sb.control().clear_requests();
    let err = retry(&small, || c.get_incident(&name)).await.unwrap_err();
    assert!(matches!(err, ApiError::Transient(_)));
    assert_eq!(requests(&sb, "sentinel").len(), 3);

    // SIGNL4 throttling uses the same classification.
    fault(
        &sb,
        Service::Signl4,
        FaultKind::Status {
            status: 429,
            retry_after: Some(3),
        },
        1,
        None,
    );
    let err = signl4(&ctx, &sb, &t, false)
        .send_event(&json!({"Title": "t"}), Uuid::new_v4())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ApiError::Throttled {
            retry_after: Duration::from_secs(3)
        }
    );
}

#[tokio::test]
async fn rate_budget_spreads_a_burst_across_clients_of_a_subscription() {
    let mut opts = SandboxOptions::for_tests();
    // ARM's read bucket shrunk: 3 at once, refilled at 3 per second.
    opts.throttle.reads = sentinel_signl4::sandbox::options::Bucket {
        size: 3,
        per_second: 3.0,
    };
    let sb = Sandbox::start(opts).expect("sandbox");
    let a = sb
        .control()
        .create_tenant(TenantSpec::default())
        .expect("a");
    let b = sb
        .control()
        .create_tenant(TenantSpec::default())
        .expect("b");
    let ia = incident(&sb, &a, "New", "High");
    let ib = incident(&sb, &b, "New", "High");

    // Without a budget, the same burst trips the service's limit.
    let free = ctx();
    let ca = sentinel(&free, &sb, &a);
    let mut throttled = 0;
    for _ in 0..6 {
        if let Err(ApiError::Throttled { .. }) = ca.get_incident(&ia).await {
            throttled += 1;
        }
    }
    assert!(
        throttled > 0,
        "the control burst must hit the sandbox limit"
    );

    // With a budget (a little stricter than the service: a margin for network jitter) two clients
    // of subscription B share it, and nothing is throttled.
    let mut s = HttpSettings::for_tests();
    s.budget = BudgetLimits {
        reads: 3,
        window: Duration::from_millis(1200),
        ..BudgetLimits::unlimited()
    };
    let budgeted = HttpContext::new(s).expect("ctx");
    let b1 = sentinel(&budgeted, &sb, &b);
    let b2 = sentinel(&budgeted, &sb, &b);
    for n in 0..8 {
        let c = if n % 2 == 0 { &b1 } else { &b2 };
        c.get_incident(&ib)
            .await
            .expect("budget keeps us under the limit");
    }
    let sub_b: Vec<_> = requests(&sb, "sentinel")
        .into_iter()
        .filter(|r| r.path.contains(&b.subscription_id))
        .collect();
    assert_eq!(sub_b.len(), 8);
    assert!(sub_b.iter().all(|r| r.status == 200), "no 429 for B");
    // The service saw them spread out: any 4 consecutive calls span more than its window.
    for w in sub_b.windows(4) {
        assert!(w[3].at - w[0].at >= chrono::Duration::milliseconds(1000));
    }
}

#[tokio::test]
async fn budget_admission_is_a_sliding_window() {
    let budget = SubscriptionBudget::new(BudgetLimits {
        incident_writes: 2,
        comment_writes: 2,
        reads: 2,
        window: Duration::from_millis(300),
    });
    let mut waits = Vec::new();
    for _ in 0..5 {
        waits.push(budget.acquire(CallClass::IncidentWrite).await.unwrap());
    }
    // Two free, then each pair one window later.
    assert!(waits[0].is_zero() && waits[1].is_zero());
    assert!(waits[2] > Duration::from_millis(200), "{waits:?}");
    // Other classes are independent.
    assert!(budget.acquire(CallClass::Read).await.unwrap().is_zero());
    assert!(budget
        .acquire(CallClass::CommentWrite)
        .await
        .unwrap()
        .is_zero());
}

/// A connector's `[connector.sentinel_budget]` (through `SentinelSettings::budget`) becomes its
/// subscription's budget; without one the context's default applies.
#[tokio::test]
async fn a_configured_sentinel_budget_is_the_subscriptions() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let ctx = HttpContext::new(HttpSettings::for_tests()).unwrap();
    let mut settings = sentinel_settings(&sb, &t);
    settings.budget = Some(BudgetLimits {
        incident_writes: 7,
        comment_writes: 8,
        reads: 9,
        window: Duration::from_secs(60),
    });
    let _client = SentinelClient::new(&ctx, settings);
    let snapshots = ctx.budget_snapshots();
    let (_, lanes) = snapshots
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(&t.subscription_id))
        .expect("the subscription's budget");
    let limits: Vec<usize> = lanes.iter().map(|l| l.limit).collect();
    assert_eq!(limits, [7, 8, 9]);
    // Another subscription without one: the documented defaults.
    let other = ctx.budget("00000000-0000-0000-0000-000000000001");
    let limits: Vec<usize> = other.snapshot().iter().map(|l| l.limit).collect();
    assert_eq!(limits, [75, 75, 100]);
    sb.stop();
}

// ---------------------------------------------------------------------------------------------
// Sentinel writes, comments, alerts, entities

#[tokio::test]
async fn stale_etag_put_conflicts_then_get_and_put_succeeds() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    let before = c.get_incident(&name).await.expect("get");
    assert!(before.etag.starts_with('"'));
    // An analyst edits the incident in the portal: our etag is now stale.
    sb.control()
        .analyst(
            &t.name,
            &name,
            AnalystAction {
                severity: Some("Low".into()),
                ..Default::default()
            },
        )
        .expect("analyst");
    let resource = |rec: &actors::ports::IncidentRecord| {
        let v: Value = serde_json::from_str(&rec.raw_json).expect("raw json");
        let mut props = v["properties"].clone();
        props["status"] = json!("Active");
        json!({"etag": rec.etag, "properties": props})
    };
    let rid = Uuid::new_v4();
    let err = c
        .put_incident(&name, &resource(&before), rid)
        .await
        .unwrap_err();
    assert_eq!(err, ApiError::Conflict);

    let fresh = c.get_incident(&name).await.expect("re-get");
    assert_ne!(fresh.etag, before.etag);
    assert_eq!(fresh.severity, "Low");
    let rid2 = Uuid::new_v4();
    let written = c
        .put_incident(&name, &resource(&fresh), rid2)
        .await
        .expect("put");
    assert_eq!(written.status, "Active");
    assert_eq!(written.severity, "Low", "the analyst's change is kept");
    assert_ne!(written.etag, fresh.etag);
    let puts: Vec<_> = requests(&sb, "sentinel")
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[0].status, 409);
    assert_eq!(puts[0].client_request_id, Some(rid.to_string()));
    assert_eq!(puts[1].client_request_id, Some(rid2.to_string()));

    // Unknown incident: NotFound; a PUT the service refuses: Rejected with its message.
    assert_eq!(
        c.get_incident("nope").await.unwrap_err(),
        ApiError::NotFound
    );
    let err = c
        .put_incident(
            &name,
            &json!({"etag": written.etag, "properties": {"title": "x"}}),
            Uuid::new_v4(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Rejected { status: 400, message } if message.contains("BadRequest")),
        "{err:?}"
    );
}

#[tokio::test]
async fn comments_are_idempotent_by_id() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    let cid = Uuid::new_v4();
    let rid = Uuid::new_v4();
    let e1 = c
        .put_comment(&name, cid, "Acknowledged in SIGNL4 by Alice", rid)
        .await
        .expect("put");
    let e2 = c
        .put_comment(&name, cid, "Acknowledged in SIGNL4 by Alice", rid)
        .await
        .expect("again");
    assert!(!e1.is_empty() && !e2.is_empty());
    assert_eq!(
        sb.control()
            .comments(&t.name, &name)
            .expect("comments")
            .len(),
        1
    );
    assert_eq!(
        c.get_comment(&name, cid).await.expect("get").as_deref(),
        Some("Acknowledged in SIGNL4 by Alice")
    );
    c.put_comment(&name, cid, "Closed in SIGNL4 by Bob", Uuid::new_v4())
        .await
        .expect("rewrite");
    assert_eq!(
        c.get_comment(&name, cid).await.expect("get").as_deref(),
        Some("Closed in SIGNL4 by Bob")
    );
    assert_eq!(
        sb.control()
            .comments(&t.name, &name)
            .expect("comments")
            .len(),
        1
    );
    assert_eq!(
        c.get_comment(&name, Uuid::new_v4()).await.expect("missing"),
        None
    );
    let puts: Vec<_> = requests(&sb, "sentinel")
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts[0].client_request_id, Some(rid.to_string()));
    assert_eq!(
        puts.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![201, 200, 200]
    );
}

#[tokio::test]
async fn alerts_and_entities_are_listed_with_an_empty_post() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    let alerts = c.list_alerts(&name).await.expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["kind"], "SecurityAlert");
    assert!(alerts[0]["properties"]["systemAlertId"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let entities = c.list_entities(&name).await.expect("entities");
    assert_eq!(entities.len(), 1);
    assert_eq!(entities[0]["kind"], "Account");
    assert_eq!(entities[0]["properties"]["friendlyName"], "jdoe");
    let posts: Vec<_> = requests(&sb, "sentinel")
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(posts.iter().all(|r| r.status == 200));
    assert_eq!(c.list_alerts("nope").await.unwrap_err(), ApiError::NotFound);
    // The incident record carries the alerts' products and tactics.
    let rec = c.get_incident(&name).await.expect("get");
    assert_eq!(rec.products, vec!["Azure Sentinel".to_string()]);
    assert_eq!(rec.tactics, vec!["InitialAccess".to_string()]);
}

// ---------------------------------------------------------------------------------------------
// SIGNL4

#[tokio::test]
async fn signl4_send_and_find_by_external_id() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let ctx = ctx();
    let s4 = signl4(&ctx, &sb, &t, true);
    let rid = Uuid::new_v4();
    let body = json!({"Title": "Incident 1", "Message": "High", "X-S4-ExternalID": "inc-1", "X-S4-Status": "new"});
    let event_id = s4.send_event(&body, rid).await.expect("send");
    assert!(event_id.contains('_'), "{event_id}");
    let signls = sb.control().signls(&t.name).expect("signls");
    assert_eq!(signls.len(), 1);
    assert_eq!(signls[0]["externalId"], "inc-1");
    let hook = requests(&sb, "signl4")
        .into_iter()
        .find(|r| r.path.starts_with("/webhook/"))
        .expect("webhook request");
    assert_eq!(
        (hook.status, hook.client_request_id),
        (201, Some(rid.to_string()))
    );

    let found = s4
        .find_signls("inc-1")
        .await
        .expect("find")
        .expect("with key");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event_id.as_deref(), Some(event_id.as_str()));
    assert_eq!(found[0].status, 1);
    assert_eq!(
        s4.find_signls("inc-unknown").await.expect("none"),
        Some(vec![])
    );
    assert_eq!(
        signl4(&ctx, &sb, &t, false)
            .find_signls("inc-1")
            .await
            .expect("no key"),
        None
    );

    // Continuation: three Signls, one per page.
    for _ in 0..2 {
        s4.send_event(&body, Uuid::new_v4()).await.expect("send");
    }
    s4.send_event(
        &json!({"Title": "other", "X-S4-ExternalID": "inc-2"}),
        Uuid::new_v4(),
    )
    .await
    .expect("send other");
    let mut paged = Signl4Settings::new(sb.urls().signl4.clone(), t.team_secret.clone())
        .with_api_key(t.api_key.clone());
    paged.page_size = 1;
    sb.control().clear_requests();
    paged.user_id = Some(t.users[0].id.clone());
    let found = Signl4Client::new(&ctx, paged)
        .find_signls("inc-1")
        .await
        .expect("find")
        .expect("key");
    assert_eq!(found.len(), 3);
    assert_eq!(found.iter().map(|s| &s.id).collect::<HashSet<_>>().len(), 3);
    let pages = requests(&sb, "signl4");
    assert!(pages.len() >= 3);
    assert!(pages
        .iter()
        .all(|r| r.path.contains(&format!("userId={}", t.users[0].id))));
}

#[tokio::test]
async fn signl4_unknown_secret_is_rejected_without_leaking_it() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let ctx = ctx();
    let secret = "wrongsecret42";
    let s4 = Signl4Client::new(
        &ctx,
        Signl4Settings::new(sb.urls().signl4.clone(), secret).with_api_key(t.api_key.clone()),
    );
    let rid = Uuid::new_v4();
    let err = s4
        .send_event(&json!({"Title": "x"}), rid)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Rejected { status: 404, message } if message.contains("3004")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_no_secret(&err, &[secret, &t.api_key]);
    let log = requests(&sb, "signl4");
    assert_eq!(log[0].client_request_id, Some(rid.to_string()));

    // A transport failure would have the URL (with the secret) in reqwest's message.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let dead = Signl4Client::new(
        &ctx,
        Signl4Settings::new(format!("http://127.0.0.1:{port}"), t.team_secret.clone())
            .with_api_key(t.api_key.clone()),
    );
    let err = dead
        .send_event(&json!({"Title": "x"}), Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Transient(m) if m.contains("/webhook/{secret}")),
        "{err:?}"
    );
    assert_no_secret(&err, &[&t.team_secret]);
    let err = dead.find_signls("x").await.unwrap_err();
    assert_no_secret(&err, &[&t.api_key, &t.team_secret]);

    // A wrong API key: 401 from the REST API is a permanent rejection.
    let bad_key = "sbx~not-the-api-key";
    let s4 = Signl4Client::new(
        &ctx,
        Signl4Settings::new(sb.urls().signl4.clone(), t.team_secret.clone()).with_api_key(bad_key),
    );
    let err = s4.find_signls("x").await.unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected { status: 401, .. }),
        "{err:?}"
    );
    assert_no_secret(&err, &[bad_key, &t.team_secret]);
}

// ---------------------------------------------------------------------------------------------
// Log Analytics

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

// ---------------------------------------------------------------------------------------------
// Unexpected answers

/// A raw HTTP/1.1 server on loopback answering each request by the last path segment before the
/// query string; closes every connection after one response.
async fn raw_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                for _ in 0..64 {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                // The case is the last path segment (`/incidents/{case}`), or the one before
                // `/query` (`/workspaces/{case}/query`).
                let mut segs = path.split('?').next().unwrap_or("").rsplit('/');
                let mut case = segs.next().unwrap_or("").to_string();
                if case == "query" {
                    case = segs.next().unwrap_or("").to_string();
                }
                let resp: Vec<u8> = match case.as_str() {
                    "html" => b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 46\r\nConnection: close\r\n\r\n<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
                    "html200" => b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 25\r\nConnection: close\r\n\r\n<html>Please log in</html>".to_vec(),
                    "truncated" => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 24\r\nConnection: close\r\n\r\n{\"name\":\"x\",\"etag\":\"\\\"1".to_vec(),
                    "short" => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n{\"name\":\"x\"".to_vec(),
                    "html404" => b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 20\r\nConnection: close\r\n\r\n<html>nothing</html>".to_vec(),
                    "noetag" => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 29\r\nConnection: close\r\n\r\n{\"name\":\"x\",\"properties\":{}}".to_vec(),
                    "laprefer" if head.to_ascii_lowercase().contains("\r\nprefer: wait=7\r\n") => {
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"tables\":[]}".to_vec()
                    }
                    "la204" => b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec(),
                    "la200empty" => b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    "la200tables" => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\nConnection: close\r\n\r\n{\"tables\":[{\"name\":\"PrimaryResult\",\"columns\":[],\"rows\":[]}]}".to_vec(),
                    "hang" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        Vec::new()
                    }
                    _ => Vec::new(), // close without answering
                };
                let _ = s.write_all(&resp).await;
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn unexpected_answers_are_transient_never_a_panic() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);

    fault(
        &sb,
        Service::Sentinel,
        FaultKind::Status {
            status: 500,
            retry_after: None,
        },
        1,
        None,
    );
    let err = c.get_incident(&name).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Transient(m) if m.contains("500")),
        "{err:?}"
    );
    fault(&sb, Service::Sentinel, FaultKind::Reset, 1, None);
    let err = c.get_incident(&name).await.unwrap_err();
    assert!(matches!(err, ApiError::Transient(_)), "{err:?}");
    fault(&sb, Service::Signl4, FaultKind::Reset, 1, None);
    let err = signl4(&ctx, &sb, &t, false)
        .send_event(&json!({"Title": "x"}), Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transient(_)), "{err:?}");
    assert_no_secret(&err, &[&t.team_secret]);
    fault(
        &sb,
        Service::LogAnalytics,
        FaultKind::Status {
            status: 504,
            retry_after: None,
        },
        1,
        None,
    );
    let err = log_analytics(&ctx, &sb, &t)
        .query("SecurityAlert", "P1D")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transient(_)), "{err:?}");
    assert!(c.get_incident(&name).await.is_ok(), "healthy again");

    // Malformed answers from a raw server posing as ARM (tokens still come from the sandbox).
    let raw = raw_server().await;
    let mut s = sentinel_settings(&sb, &t);
    s.arm_endpoint = raw;
    let mut http = HttpSettings::for_tests();
    http.timeout = Duration::from_secs(1);
    http.budget = BudgetLimits::unlimited();
    let rc = SentinelClient::new(&HttpContext::new(http).expect("ctx"), s);
    for case in [
        "html",
        "html200",
        "truncated",
        "short",
        "html404",
        "noetag",
        "reset",
        "hang",
    ] {
        let err = rc.get_incident(case).await.unwrap_err();
        match &err {
            ApiError::Transient(m) => {
                assert!(!m.contains("http://"), "no URL in messages: {m}");
                if case.starts_with("html") {
                    assert!(m.contains("text/html"), "{case}: {m}");
                }
            }
            other => panic!("{case}: expected Transient, got {other:?}"),
        }
        assert_no_secret(&err, &[&t.client_secret]);
    }
    let err = rc.list_alerts("truncated").await.unwrap_err();
    assert!(matches!(err, ApiError::Transient(_)));

    // Log Analytics: 204 and the documented empty 200 are "no tables"; broken answers Transient.
    let raw_la = raw_server().await;
    let la_at = |ws: &str| {
        LogAnalyticsClient::new(
            &ctx,
            LogAnalyticsSettings::new(creds(&sb, &t), raw_la.clone(), ws.to_string()),
        )
    };
    for ws in ["la204", "la200empty"] {
        let r = la_at(ws).query("SecurityAlert", "P1D").await.expect(ws);
        assert_eq!(r.tables, json!([]), "{ws}");
        assert_eq!(r.partial_error, None);
    }
    let mut prefer = LogAnalyticsSettings::new(creds(&sb, &t), raw_la.clone(), "laprefer");
    prefer.server_timeout = Duration::from_secs(7);
    let r = LogAnalyticsClient::new(&ctx, prefer)
        .query("x", "P1D")
        .await
        .expect("Prefer: wait=7 sent");
    assert_eq!(r.tables, json!([]));
    let r = la_at("la200tables")
        .query("x", "P1D")
        .await
        .expect("tables");
    assert_eq!(r.tables[0]["name"], "PrimaryResult");
    for ws in ["html", "html200", "truncated", "reset"] {
        let err = la_at(ws).query("x", "P1D").await.unwrap_err();
        assert!(matches!(err, ApiError::Transient(_)), "{ws}: {err:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Pure parts

#[test]
fn filter_syntax() {
    let q = query(
        &["New", "Active"],
        &["High", "Medium"],
        1_716_372_566_123,
        100,
    );
    assert_eq!(
        build_filter(&q),
        "(properties/status eq 'New' or properties/status eq 'Active') and \
         (properties/severity eq 'High' or properties/severity eq 'Medium') and \
         properties/lastModifiedTimeUtc ge 2024-05-22T10:09:26.123Z"
    );
    assert_eq!(build_filter(&query(&[], &[], 0, 100)), "");
    assert_eq!(
        build_filter(&query(&["O'Brien"], &[], 0, 1)),
        "(properties/status eq 'O''Brien')"
    );
}

#[test]
fn incidents_parse_leniently() {
    for (ts, ms) in [
        ("2019-01-01T13:15:30Z", 1_546_348_530_000),
        ("2019-01-01T13:15:30.5Z", 1_546_348_530_500),
        ("2019-01-01T13:15:30.5416527Z", 1_546_348_530_541),
        ("2019-01-01T13:15:30.54", 1_546_348_530_540),
    ] {
        assert_eq!(parse_time_ms(ts), Some(ms), "{ts}");
    }
    let v = json!({
        "name": "73e01a99", "etag": "\"0300bf09\"", "type": "Microsoft.SecurityInsights/Incidents",
        "futureField": {"x": 1},
        "properties": {
            "title": "T", "severity": "High", "status": "New", "incidentNumber": 3177,
            "createdTimeUtc": "2019-01-01T13:15:30Z", "lastModifiedTimeUtc": "2019-01-01T13:15:30.5416527Z",
            "owner": {"email": "john.doe@contoso.com", "assignedTo": "john doe", "ownerType": "Unknown"},
            "labels": [{"labelName": "SIGNL4", "labelType": "User"}],
            "additionalData": {"alertProductNames": ["Azure Sentinel"], "tactics": ["InitialAccess"], "techniques": []},
            "teamInformation": null
        }
    });
    let r = parse_incident(&v, v.to_string()).expect("parse");
    assert_eq!(r.owner.as_deref(), Some("john.doe@contoso.com"));
    assert_eq!(r.number, 3177);
    assert_eq!(r.labels, vec!["SIGNL4".to_string()]);
    assert_eq!(r.last_modified_ms, 1_546_348_530_541);
    let mut upn = v.clone();
    upn["properties"]["owner"]["userPrincipalName"] = json!("john@contoso.com");
    assert_eq!(
        parse_incident(&upn, String::new())
            .expect("upn")
            .owner
            .as_deref(),
        Some("john@contoso.com")
    );
    let mut assigned = v.clone();
    assigned["properties"]["owner"] = json!({"assignedTo": "john doe", "email": ""});
    assert_eq!(
        parse_incident(&assigned, String::new())
            .expect("a")
            .owner
            .as_deref(),
        Some("john doe")
    );
    let mut none = v.clone();
    none["properties"]["owner"] = json!({"ownerType": "Unknown"});
    assert_eq!(
        parse_incident(&none, String::new()).expect("none").owner,
        None
    );
    let mut bad = v.clone();
    bad["properties"]["lastModifiedTimeUtc"] = json!("yesterday");
    assert!(parse_incident(&bad, String::new()).is_err());
}

#[test]
fn retry_after_and_backoff() {
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, HeaderValue::from_static("12"));
    assert_eq!(classify::retry_after(&h), Some(Duration::from_secs(12)));
    let at = chrono::Utc::now() + chrono::Duration::seconds(30);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    h.insert(RETRY_AFTER, HeaderValue::from_str(&date).expect("header"));
    let d = classify::retry_after(&h).expect("date");
    assert!(
        d > Duration::from_secs(25) && d <= Duration::from_secs(30),
        "{d:?}"
    );
    h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(classify::retry_after(&h), None);

    let p = RetryPolicy::default();
    for n in 1..10 {
        let d = p.delay(n, &ApiError::Transient("x".into()));
        assert!(d <= p.max_delay);
        let t = p.delay(
            n,
            &ApiError::Throttled {
                retry_after: Duration::from_secs(40),
            },
        );
        assert!(
            t >= Duration::from_secs(40),
            "never shorter than Retry-After"
        );
    }
    assert!(!p.should_retry(&ApiError::Conflict));
    assert!(RetryPolicy {
        retry_conflict: true,
        ..p.clone()
    }
    .should_retry(&ApiError::Conflict));
    assert!(!p.should_retry(&ApiError::NotFound));
    assert!(!p.should_retry(&ApiError::Auth("x".into())));
}

#[tokio::test]
async fn misconfigured_workspace_is_rejected_not_not_found() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let ctx = ctx();
    let mut s = sentinel_settings(&sb, &t);
    s.workspace_name = "ws-does-not-exist".into();
    let c = SentinelClient::new(&ctx, s);
    let err = c.get_incident("x").await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Rejected { status: 404, message } if message.contains("ResourceNotFound")),
        "{err:?}"
    );
    let err = c
        .list_incidents(&query(&[], &[], 0, 10), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected { status: 404, .. }),
        "{err:?}"
    );
    let mut s = sentinel_settings(&sb, &t);
    s.api_version = "2019-01-01".into();
    let err = SentinelClient::new(&ctx, s)
        .get_incident("x")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Rejected { status: 400, message } if message.contains("InvalidApiVersionParameter")),
        "{err:?}"
    );
}

/// The port does not require `Send` futures, but ours are, so they can run on any executor.
#[test]
fn client_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let ctx = HttpContext::new(HttpSettings::for_tests()).expect("ctx");
    let creds = AzureCredentials::new("http://127.0.0.1:9", "t", "c", "s");
    let c = SentinelClient::new(
        &ctx,
        SentinelSettings::new(creds.clone(), "http://127.0.0.1:9", "s", "r", "w"),
    );
    let q = query(&[], &[], 0, 1);
    send(&c.list_incidents(&q, None));
    send(&c.put_incident("x", &json!({}), Uuid::nil()));
    send(&c.put_comment("x", Uuid::nil(), "m", Uuid::nil()));
    let s4 = Signl4Client::new(&ctx, Signl4Settings::new("http://127.0.0.1:9", "x"));
    send(&s4.send_event(&json!({}), Uuid::nil()));
    send(&s4.find_signls("x"));
    let la = LogAnalyticsClient::new(
        &ctx,
        LogAnalyticsSettings::new(creds, "http://127.0.0.1:9/v1", "w"),
    );
    send(&la.query("q", "P1D"));
    send(&retry(&RetryPolicy::default(), || la.query("q", "P1D")));
}

#[test]
fn page_items_are_split_byte_exact() {
    use sentinel_signl4::http::sentinel::raw_array_items;
    let body = br#" { "other": {"value": [1, 2]}, "value" : [ {"a":"x]}\"{"} , {"b" : [1,{"c":null}] },"s" ], "nextLink":"n" } "#;
    let items = raw_array_items(body, "value").expect("split");
    assert_eq!(
        items,
        vec![r#"{"a":"x]}\"{"}"#, r#"{"b" : [1,{"c":null}] }"#, r#""s""#]
    );
    assert_eq!(raw_array_items(br#"{"value":[]}"#, "value"), Some(vec![]));
    assert_eq!(raw_array_items(br#"{"nextLink":"x"}"#, "value"), None);
    assert_eq!(raw_array_items(br#"{"value":[{"a":1}"#, "value"), None);
    assert_eq!(raw_array_items(b"[1]", "value"), None);
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
