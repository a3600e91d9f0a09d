//! The Defender XDR incidents client (`src/http/graph/defender.rs`) over real HTTP on loopback
//! against the sandbox: the poll's filters and `@odata.nextLink` paging with expanded alerts,
//! a foreign nextLink refused, the `/security` budget's 429 with `Retry-After` classified as
//! throttling, the write as a PATCH, comments that a retry does not post twice, and a merged
//! incident's writes landing on its survivor.

use std::time::Duration;

use actors::ports::{
    ApiError, IncidentChange, IncidentQuery, IncidentRecord, IncidentSource, IncidentUpdate,
    UpdateOutcome,
};
use chrono::Utc;
use sandbox::control::TenantSpec;
use sandbox::defender::DefenderIncidentSpec;
use sandbox::{Sandbox, SandboxHandle, SandboxOptions, TenantInfo};
use sentinel_signl4::http::graph::defender::DefenderClient;
use sentinel_signl4::http::{AzureCredentials, GraphSettings, HttpContext, HttpSettings};
use serde_json::{json, Map, Value};
use uuid::Uuid;

fn start(opts: SandboxOptions) -> (SandboxHandle, TenantInfo, DefenderClient) {
    let sb = Sandbox::start(opts).expect("sandbox");
    let t = sb
        .control()
        .create_tenant(TenantSpec::default())
        .expect("tenant");
    let ctx = HttpContext::new(HttpSettings::for_tests()).expect("http context");
    let creds = AzureCredentials::new(
        sb.urls().entra.clone(),
        t.tenant_id.clone(),
        t.client_id.clone(),
        t.client_secret.clone(),
    );
    let client = DefenderClient::new(&ctx, GraphSettings::new(creds, sb.urls().graph.clone()));
    (sb, t, client)
}

fn add(sb: &SandboxHandle, t: &TenantInfo, fields: Value, alerts: usize) -> String {
    let fields: Map<String, Value> = fields.as_object().cloned().unwrap();
    let made = sb
        .control()
        .add_graph_incident(
            &t.name,
            DefenderIncidentSpec {
                fields,
                alerts: (0..alerts)
                    .map(|k| {
                        json!({"title": format!("a{k}")})
                            .as_object()
                            .cloned()
                            .unwrap()
                    })
                    .collect(),
            },
        )
        .expect("incident");
    made["id"].as_str().unwrap().to_string()
}

fn query(statuses: &[&str], severities: &[&str], since_ms: i64, page: u32) -> IncidentQuery {
    IncidentQuery {
        statuses: statuses.iter().map(|s| s.to_string()).collect(),
        severities: severities.iter().map(|s| s.to_string()).collect(),
        modified_since_ms: since_ms,
        page_size: page,
    }
}

async fn list_all(c: &DefenderClient, q: &IncidentQuery) -> (Vec<IncidentRecord>, usize) {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for pages in 1..100 {
        let page = c.list_incidents(q, next.as_deref()).await.expect("page");
        out.extend(page.incidents);
        match page.next_link {
            Some(n) => next = Some(n),
            None => return (out, pages),
        }
    }
    panic!("more than 100 pages");
}

#[tokio::test]
async fn listing_filters_pages_and_expands_alerts() {
    let (sb, t, c) = start(SandboxOptions::for_tests());
    let old = "2024-05-01T10:00:00Z";
    for k in 0..7 {
        add(
            &sb,
            &t,
            json!({"severity": if k == 6 { "low" } else { "high" },
                "status": if k == 5 { "awaitingAction" } else { "active" }}),
            k % 3,
        );
    }
    add(
        &sb,
        &t,
        json!({"severity": "high", "lastUpdateDateTime": old}),
        1,
    );
    add(
        &sb,
        &t,
        json!({"severity": "high", "status": "resolved"}),
        1,
    );
    let since = (Utc::now() - chrono::Duration::hours(1)).timestamp_millis();
    let (got, pages) = list_all(&c, &query(&["New", "Active"], &["High"], since, 2)).await;
    let ids: Vec<&str> = got.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6"]);
    assert_eq!(pages, 3);
    assert_eq!(
        got[5].status, "Active",
        "awaitingAction arrives (Prefer) as Active"
    );
    assert_eq!(got[0].status, "New");
    let raw: Value = serde_json::from_str(&got[2].raw_json).unwrap();
    assert_eq!(raw["incident"]["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(got[2].number, 3);
    assert!(got[2]
        .url
        .starts_with("https://security.microsoft.com/incidents/3?tid="));

    // A nextLink to another host is not followed (the token would leave).
    let err = c
        .list_incidents(
            &query(&[], &[], 0, 2),
            Some("https://evil.example/v1.0/security/incidents?$skip=2"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Transient(ref m) if m.contains("nextLink")),
        "{err}"
    );
    // The alerts and their evidence, when asked.
    assert_eq!(c.list_alerts("3").await.unwrap().len(), 2);
    assert!(matches!(
        c.get_incident("99").await,
        Err(ApiError::NotFound)
    ));
}

#[tokio::test]
async fn writes_comments_and_merges() {
    let (sb, t, c) = start(SandboxOptions::for_tests());
    let a = add(&sb, &t, json!({}), 1);
    let b = add(&sb, &t, json!({}), 1);
    let close = IncidentUpdate {
        change: IncidentChange::Close {
            owner: Some("rene@contoso.com".into()),
            classification: "BenignPositive".into(),
            reason: Some("SuspiciousButExpected".into()),
            comment: "Closed in SIGNL4".into(),
        },
        fold_label: Some("SIGNL4".into()),
    };
    let written = c
        .update_incident(&a, &close, None, Uuid::new_v4())
        .await
        .unwrap();
    let written = written.record();
    assert_eq!(written.status, "Closed");
    let inc = sb.control().graph_incident(&t.name, &a).unwrap();
    assert_eq!(
        (
            inc["status"].as_str(),
            inc["classification"].as_str(),
            inc["determination"].as_str(),
            inc["assignedTo"].as_str()
        ),
        (
            Some("resolved"),
            Some("informationalExpectedActivity"),
            Some("confirmedActivity"),
            Some("rene@contoso.com")
        )
    );
    assert_eq!(inc["customTags"], json!(["SIGNL4"]));

    // A comment posted twice (a retry after a lost answer) is there once.
    let id = Uuid::from_u128(42);
    c.put_comment(&b, id, "Acknowledged in SIGNL4", Uuid::new_v4())
        .await
        .unwrap();
    c.put_comment(&b, id, "Acknowledged in SIGNL4", Uuid::new_v4())
        .await
        .unwrap();
    assert_eq!(
        c.get_comment(&b, id).await.unwrap().as_deref(),
        Some("Acknowledged in SIGNL4")
    );
    let listed = c.list_comments(&b).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id.to_string(), "our comment carries our id");

    // Merged: reads for a write and the writes land on the survivor.
    let m = add(&sb, &t, json!({}), 1);
    sb.control().merge_graph_incidents(&t.name, &m, &b).unwrap();
    let survivor = c.get_incident(&m).await.unwrap();
    assert_eq!(survivor.name, b);
    let ack = IncidentUpdate::only(IncidentChange::Acknowledge {
        owner: None,
        activate: true,
    });
    c.update_incident(&m, &ack, None, Uuid::new_v4())
        .await
        .unwrap();
    c.put_comment(
        &m,
        Uuid::from_u128(43),
        "via the merged one",
        Uuid::new_v4(),
    )
    .await
    .unwrap();
    let sv = sb.control().graph_incident(&t.name, &b).unwrap();
    assert_eq!(sv["status"], "inProgress");
    assert_eq!(sv["comments"].as_array().unwrap().len(), 2);
    let merged = sb.control().graph_incident(&t.name, &m).unwrap();
    assert_eq!(merged["status"], "redirected");
    assert_eq!(merged["comments"], json!([]));
}

#[tokio::test]
async fn the_security_budget_429_is_throttling_with_retry_after() {
    let (sb, t, c) = start(SandboxOptions {
        graph_security_per_minute: 2,
        ..SandboxOptions::for_tests()
    });
    add(&sb, &t, json!({}), 0);
    let q = query(&[], &[], 0, 10);
    c.list_incidents(&q, None).await.unwrap();
    c.list_incidents(&q, None).await.unwrap();
    match c.list_incidents(&q, None).await {
        Err(ApiError::Throttled { retry_after }) => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60))
        }
        other => panic!("expected throttling, got {other:?}"),
    }
}

#[tokio::test]
async fn a_write_from_a_stale_view_does_not_undo_an_analysts_edit() {
    let (sb, t, c) = start(SandboxOptions::for_tests());
    let id = add(&sb, &t, json!({"status": "active"}), 0);
    let listed = c.get_incident(&id).await.unwrap();
    // An analyst takes the incident after we read it.
    sb.control()
        .analyst_graph_incident(
            &t.name,
            &id,
            json!({"status": "inProgress", "assignedTo": "kai@contoso.com"})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .unwrap();
    // Tagging after a read that went stale (`known` is the old listing): the write is built
    // from a fresh read and sends the tags only.
    let tag = IncidentUpdate::only(IncidentChange::AddLabel("SIGNL4".into()));
    c.update_incident(&id, &tag, Some(listed), Uuid::new_v4())
        .await
        .unwrap();
    let now = sb.control().graph_incident(&t.name, &id).unwrap();
    assert_eq!(now["customTags"], json!(["SIGNL4"]));
    assert_eq!(now["status"], "inProgress", "the analyst's status stays");
    assert_eq!(now["assignedTo"], "kai@contoso.com");
    // An update already done writes nothing.
    let before = sb.control().requests().len();
    let r = c
        .update_incident(&id, &tag, None, Uuid::new_v4())
        .await
        .unwrap();
    assert!(matches!(r, UpdateOutcome::AlreadyDone(_)), "{r:?}");
    assert_eq!(r.record().name, id);
    assert!(sb.control().requests()[before..]
        .iter()
        .all(|r| r.method != "PATCH"));
}
