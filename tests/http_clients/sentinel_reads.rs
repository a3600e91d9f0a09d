//! Sentinel reads: listing with filters and paging, `nextLink` checks, and a misconfigured
//! workspace or api-version told apart from a missing incident.

use std::collections::HashSet;
use std::time::Duration;

use actors::ports::{ApiError, IncidentSource};
use sandbox::control::AnalystAction;
use sandbox::SandboxOptions;
use sentinel_signl4::http::SentinelClient;

use crate::common::http::*;

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
