//! The Microsoft Graph client (`src/http/graph/`) over real HTTP on loopback against the
//! sandbox's alerts_v2 emulator: the poll's filters and `@odata.nextLink` paging, alerts read as
//! incidents (evolvable enum values included), a foreign nextLink refused, Graph's 429 with
//! `Retry-After`, the acknowledge/close write as an alert PATCH, comments that a retry does not
//! post twice, and a missing alert.

use std::time::Duration;

use actors::ports::{
    ApiError, IncidentChange, IncidentQuery, IncidentRecord, IncidentSource, IncidentUpdate,
    UpdateOutcome,
};
use chrono::Utc;
use sandbox::control::TenantSpec;
use sandbox::{FaultKind, FaultSpec, Sandbox, SandboxHandle, SandboxOptions, Service, TenantInfo};
use sentinel_signl4::http::{
    AzureCredentials, BudgetLimits, GraphClient, GraphSettings, HttpContext, HttpSettings,
};
use serde_json::{json, Map, Value};
use uuid::Uuid;

fn start() -> (SandboxHandle, TenantInfo, GraphClient) {
    let sb = Sandbox::start(SandboxOptions::for_tests()).expect("sandbox");
    let t = sb
        .control()
        .create_tenant(TenantSpec::default())
        .expect("tenant");
    let ctx = HttpContext::new(HttpSettings {
        budget: BudgetLimits::unlimited(),
        ..HttpSettings::for_tests()
    })
    .expect("http context");
    let creds = AzureCredentials::new(
        sb.urls().entra.clone(),
        t.tenant_id.clone(),
        t.client_id.clone(),
        t.client_secret.clone(),
    );
    let client = GraphClient::new(&ctx, GraphSettings::new(creds, sb.urls().graph.clone()));
    (sb, t, client)
}

fn add(sb: &SandboxHandle, t: &TenantInfo, fields: Value) -> String {
    let fields: Map<String, Value> = fields.as_object().cloned().unwrap();
    let a = sb
        .control()
        .add_graph_alert(&t.name, fields)
        .expect("alert");
    a["id"].as_str().unwrap().to_string()
}

fn query(statuses: &[&str], severities: &[&str], since_ms: i64, page: u32) -> IncidentQuery {
    IncidentQuery {
        statuses: statuses.iter().map(|s| s.to_string()).collect(),
        severities: severities.iter().map(|s| s.to_string()).collect(),
        modified_since_ms: since_ms,
        page_size: page,
    }
}

async fn list_all(c: &GraphClient, q: &IncidentQuery) -> (Vec<IncidentRecord>, usize) {
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
async fn listing_filters_pages_and_reads_alerts_as_incidents() {
    let (sb, t, graph) = start();
    let old = "2024-05-01T10:00:00Z";
    for k in 0..7 {
        add(
            &sb,
            &t,
            json!({"id": format!("new-{k}"), "severity": "high"}),
        );
    }
    add(
        &sb,
        &t,
        json!({"id": "busy", "severity": "medium", "status": "inProgress",
        "assignedTo": "ana@contoso.com", "serviceSource": "microsoftSentinel",
        "productName": null, "category": "InitialAccess", "mitreTechniques": ["T1078"]}),
    );
    add(
        &sb,
        &t,
        json!({"id": "done", "severity": "high", "status": "resolved"}),
    );
    add(&sb, &t, json!({"id": "low", "severity": "low"}));
    add(
        &sb,
        &t,
        json!({"id": "stale", "severity": "high", "lastUpdateDateTime": old}),
    );
    let since = Utc::now().timestamp_millis() - 3_600_000;

    let q = query(&["New", "Active"], &["High", "Medium"], since, 3);
    let (records, pages) = list_all(&graph, &q).await;
    let mut names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["busy", "new-0", "new-1", "new-2", "new-3", "new-4", "new-5", "new-6"]
    );
    assert_eq!(pages, 3, "8 alerts, 3 per page");
    let busy = records.iter().find(|r| r.name == "busy").unwrap();
    assert_eq!(busy.status, "Active");
    assert_eq!(busy.severity, "Medium");
    assert_eq!(busy.owner.as_deref(), Some("ana@contoso.com"));
    // The evolvable member arrives as itself: the client sends the Prefer header.
    assert_eq!(busy.products, ["Microsoft Sentinel"]);
    assert_eq!(busy.tactics, ["InitialAccess", "T1078"]);
    assert!(busy.etag.starts_with('"') && busy.etag.len() > 2);
    assert!(busy
        .url
        .starts_with("https://security.microsoft.com/alerts/"));
    let raw: Value = serde_json::from_str(&busy.raw_json).unwrap();
    assert_eq!(raw["alert"]["id"], "busy");
    assert_eq!(raw["properties"]["status"], "Active");

    // Closed maps to resolved; the time filter keeps the stale alert out.
    let (closed, _) = list_all(&graph, &query(&["Closed"], &["High"], since, 50)).await;
    assert_eq!(
        closed.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["done"]
    );
    assert_eq!(closed[0].status, "Closed");
    let (all_high, _) = list_all(&graph, &query(&["New"], &["High"], 0, 0)).await;
    assert!(all_high.iter().any(|r| r.name == "stale"));

    // A nextLink to another host is refused, not followed with the token.
    let err = graph
        .list_incidents(
            &q,
            Some("http://198.51.100.7/v1.0/security/alerts_v2?$skip=3"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Transient(m) if m.contains("outside the configured Graph")),
        "{err}"
    );
    // Every request carried a Graph token and asked for the evolvable members.
    let filters: Vec<String> = sb
        .control()
        .requests()
        .into_iter()
        .filter(|r| r.service == "graph")
        .map(|r| r.path)
        .collect();
    assert!(filters.iter().all(|p| p.contains("/security/alerts_v2")));
    assert!(filters.iter().any(|p| p.contains("status")
        && p.contains("inProgress")
        && p.contains("lastUpdateDateTime")));
}

#[tokio::test]
async fn throttling_and_a_missing_alert_are_classified() {
    let (sb, t, graph) = start();
    let id = add(&sb, &t, json!({"severity": "high"}));
    sb.control().add_fault(FaultSpec {
        service: Service::Graph,
        kind: FaultKind::Status {
            status: 429,
            retry_after: Some(7),
        },
        times: Some(1),
        probability: None,
        path_contains: Some("/security/alerts_v2".into()),
        method: None,
    });
    let err = graph.get_incident(&id).await.unwrap_err();
    assert_eq!(
        err,
        ApiError::Throttled {
            retry_after: Duration::from_secs(7)
        }
    );
    assert_eq!(graph.get_incident(&id).await.unwrap().name, id);
    assert_eq!(
        graph.get_incident("no-such-alert").await.unwrap_err(),
        ApiError::NotFound
    );
}

#[tokio::test]
async fn acknowledge_and_close_are_alert_patches_and_comments_are_posted_once() {
    let (sb, t, graph) = start();
    let id = add(&sb, &t, json!({"severity": "high"}));
    let alert = |sb: &SandboxHandle| {
        sb.control()
            .with_world(|w| w.tenants[0].graph_alerts[0].clone())
    };

    // The acknowledge StatusSync asks for, carried out as a read and a PATCH.
    let read = graph.get_incident(&id).await.unwrap();
    let ack = IncidentUpdate::only(IncidentChange::Acknowledge {
        owner: Some("rene@contoso.com".into()),
        activate: true,
    });
    let UpdateOutcome::Written(written) = graph
        .update_incident(&id, &ack, None, Uuid::now_v7())
        .await
        .unwrap()
    else {
        panic!("an acknowledge of a new alert writes");
    };
    assert_eq!(written.status, "Active");
    assert_eq!(written.owner.as_deref(), Some("rene@contoso.com"));
    assert_ne!(written.etag, read.etag, "the write moves the version");
    let a = alert(&sb);
    assert_eq!(
        (a["status"].as_str(), a["assignedTo"].as_str()),
        (Some("inProgress"), Some("rene@contoso.com"))
    );
    let patches = |sb: &SandboxHandle| {
        sb.control()
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .count()
    };
    assert_eq!(patches(&sb), 1);
    assert!(
        matches!(
            graph.update_incident(&id, &ack, None, Uuid::now_v7()).await,
            Ok(UpdateOutcome::AlreadyDone(_))
        ),
        "done: read, nothing written"
    );
    assert_eq!(patches(&sb), 1);

    let close = IncidentUpdate::only(IncidentChange::Close {
        classification: "FalsePositive".into(),
        reason: Some("IncorrectAlertLogic".into()),
        comment: "Closed in SIGNL4".into(),
        owner: None,
    });
    let closed = graph
        .update_incident(&id, &close, Some(written), Uuid::now_v7())
        .await
        .unwrap();
    assert_eq!(closed.record().status, "Closed");
    let a = alert(&sb);
    assert_eq!(a["status"], "resolved");
    assert_eq!(a["classification"], "falsePositive");
    assert_eq!(a["assignedTo"], "rene@contoso.com", "the owner stays");
    assert!(a["resolvedDateTime"].is_string());

    // Alerts have no labels: a tag is refused, never silently "done".
    let tag = IncidentUpdate::only(IncidentChange::AddLabel("SIGNL4".into()));
    assert!(matches!(
        graph.update_incident(&id, &tag, None, Uuid::now_v7()).await,
        Err(ApiError::Rejected { status: 400, .. })
    ));

    // A comment, then the same comment again (a retry after a lost answer): posted once.
    let comment_id = Uuid::now_v7();
    assert_eq!(graph.get_comment(&id, comment_id).await.unwrap(), None);
    for _ in 0..2 {
        graph
            .put_comment(&id, comment_id, "Closed in SIGNL4 by Rene.", Uuid::now_v7())
            .await
            .unwrap();
    }
    let comments = alert(&sb)["comments"].as_array().unwrap().clone();
    assert_eq!(comments.len(), 1);
    assert!(comments[0]["comment"]
        .as_str()
        .unwrap()
        .starts_with("Closed in SIGNL4 by Rene."));
    assert_eq!(
        graph.get_comment(&id, comment_id).await.unwrap().as_deref(),
        Some("Closed in SIGNL4 by Rene.")
    );
    // The comment's request carried the caller's request id.
    let posts: Vec<_> = sb
        .control()
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/comments"))
        .collect();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].client_request_id.is_some());
}
