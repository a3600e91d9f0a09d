//! The SIGNL4 client: sending an event and finding its Signl by external id, an unknown team
//! secret rejected without leaking it.

use std::collections::HashSet;

use actors::ports::{ApiError, Signl4Api};
use sandbox::SandboxOptions;
use sentinel_signl4::http::{Signl4Client, Signl4Settings};
use serde_json::json;
use uuid::Uuid;

use crate::common::http::*;

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
