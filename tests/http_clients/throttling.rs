//! Throttling, retries and rate budgets: 429 and `Retry-After` classified, the retry helper
//! waiting them out, a burst spread across the clients of one subscription.

use std::time::Duration;

use actors::ports::{ApiError, IncidentSource, Signl4Api};
use actors::retry::{retry, Backoff};
use sandbox::control::TenantSpec;
use sandbox::{FaultKind, Sandbox, SandboxOptions, Service};
use sentinel_signl4::http::budget::{BudgetLimits, CallClass, SubscriptionBudget};
use sentinel_signl4::http::classify;
use sentinel_signl4::http::sentinel::SentinelClient;
use sentinel_signl4::http::{HttpContext, HttpSettings};
use serde_json::json;
use uuid::Uuid;

use crate::common::http::*;

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
    let policy = Backoff {
        initial: Duration::from_millis(10),
        ..Default::default()
    };
    let (rec, attempts) = retry(policy, || c.get_incident(&name)).await;
    let rec = rec.expect("retried");
    assert_eq!(attempts, 2);
    assert_eq!(rec.name, name);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited the Retry-After"
    );
    let statuses: Vec<u16> = requests(&sb, "sentinel").iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 200]);

    // Non-retryable errors are returned at once; attempts are bounded.
    sb.control().clear_requests();
    let (res, attempts) = retry(policy, || c.get_incident("no-such-incident")).await;
    assert_eq!(attempts, 1);
    let err = res.unwrap_err();
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
    let small = Backoff {
        attempts: 3,
        initial: Duration::from_millis(5),
        ..Default::default()
    };
    sb.control().clear_requests();
    let (res, attempts) = retry(small, || c.get_incident(&name)).await;
    assert_eq!(attempts, 3);
    let err = res.unwrap_err();
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
    opts.throttle.reads = sandbox::options::Bucket {
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
