//! Sentinel writes: etag conflicts and the re-read (the PUT itself, and the update operation's
//! read-modify-write), comments idempotent by id, the alerts and entities list actions.

use actors::ports::{ApiError, IncidentChange, IncidentSource, IncidentUpdate, UpdateOutcome};
use sandbox::control::AnalystAction;
use sandbox::SandboxOptions;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::http::*;

/// An analyst edits the incident in the portal (severity Low): every etag read before is stale.
fn analyst_sets_severity_low(sb: &sandbox::SandboxHandle, t: &sandbox::TenantInfo, name: &str) {
    sb.control()
        .analyst(
            &t.name,
            name,
            AnalystAction {
                severity: Some("Low".into()),
                ..Default::default()
            },
        )
        .expect("analyst");
}

#[tokio::test]
async fn stale_etag_put_conflicts_then_get_and_put_succeeds() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    let before = c.get_incident(&name).await.expect("get");
    assert!(before.etag.starts_with('"'));
    // An analyst edits the incident in the portal: our etag is now stale.
    analyst_sets_severity_low(&sb, &t, &name);
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

/// The update operation from a start gone stale: one 409, one fresh read, one PUT with the
/// fresh etag (never the same stale etag twice), the analyst's change kept; then the same update
/// again is done without a write.
#[tokio::test]
async fn an_update_from_a_stale_start_reads_again_once_and_keeps_the_analysts_change() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);
    let known = c.get_incident(&name).await.expect("get");
    analyst_sets_severity_low(&sb, &t, &name);
    let ack = IncidentUpdate {
        change: IncidentChange::Acknowledge {
            owner: Some("alice@contoso.com".into()),
            activate: true,
        },
        fold_label: Some("SIGNL4".into()),
    };
    let rid = Uuid::new_v4();
    let outcome = c
        .update_incident(&name, &ack, Some(known.clone()), rid)
        .await
        .expect("update");
    let UpdateOutcome::Written(written) = outcome else {
        panic!("a write: {outcome:?}");
    };
    assert_eq!(written.status, "Active");
    assert_eq!(written.owner.as_deref(), Some("alice@contoso.com"));
    assert_eq!(written.labels, ["SIGNL4"], "the folded tag rides along");
    assert_eq!(written.severity, "Low", "the analyst's change is kept");
    let calls: Vec<_> = requests(&sb, "sentinel")
        .into_iter()
        .filter(|r| r.path.contains(&name) && !r.path.contains("/comments"))
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".to_string(), 200),
            ("PUT".to_string(), 409),
            ("GET".to_string(), 200),
            ("PUT".to_string(), 200)
        ],
        "the first read, the stale PUT, one re-read, one PUT"
    );
    let again = c
        .update_incident(&name, &ack, Some(written), Uuid::new_v4())
        .await
        .expect("again");
    assert!(matches!(again, UpdateOutcome::AlreadyDone(_)), "{again:?}");
    assert_eq!(
        requests(&sb, "sentinel")
            .iter()
            .filter(|r| r.method == "PUT")
            .count(),
        2,
        "nothing written for an update already done"
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
