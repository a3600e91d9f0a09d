//! The parts that need no server: filter syntax, lenient incident parsing, `Retry-After` and
//! backoff, `Send` futures, byte-exact page splitting.

use std::time::Duration;

use actors::ports::{ApiError, IncidentSource, LogAnalyticsApi, Signl4Api};
use actors::retry::{retry, Backoff};
use sentinel_signl4::http::classify;
use sentinel_signl4::http::sentinel::{build_filter, parse_incident, parse_time_ms};
use sentinel_signl4::http::{
    AzureCredentials, HttpContext, HttpSettings, LogAnalyticsClient, LogAnalyticsSettings,
    SentinelClient, SentinelSettings, Signl4Client, Signl4Settings,
};
use serde_json::json;
use uuid::Uuid;

use crate::common::http::*;

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

    // The actors' backoff (what retries every port call) caps its waits and never waits less
    // than the server asked.
    let p = Backoff::default();
    for n in 1..10 {
        let d = p.wait(n, &ApiError::Transient("x".into()));
        assert!(d <= p.max);
        let t = p.wait(
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
}

/// A 409 answers a stale etag: the same PUT again cannot succeed, so the retry helper returns
/// it at once and the caller reads again. Not found and auth failures are final too.
#[tokio::test]
async fn conflicts_and_final_errors_are_not_retried_in_place() {
    for error in [
        ApiError::Conflict,
        ApiError::NotFound,
        ApiError::Auth("x".into()),
    ] {
        let (result, attempts) = retry(Backoff::default(), || {
            let error = error.clone();
            async move { Err::<(), _>(error) }
        })
        .await;
        assert_eq!(attempts, 1, "{error:?}");
        assert_eq!(result, Err(error));
    }
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
    let tag = actors::ports::IncidentUpdate::only(actors::ports::IncidentChange::AddLabel(
        "SIGNL4".into(),
    ));
    send(&c.update_incident("x", &tag, None, Uuid::nil()));
    send(&c.put_comment("x", Uuid::nil(), "m", Uuid::nil()));
    let s4 = Signl4Client::new(&ctx, Signl4Settings::new("http://127.0.0.1:9", "x"));
    send(&s4.send_event(&json!({}), Uuid::nil()));
    send(&s4.find_signls("x"));
    let la = LogAnalyticsClient::new(
        &ctx,
        LogAnalyticsSettings::new(creds, "http://127.0.0.1:9/v1", "w"),
    );
    send(&la.query("q", "P1D"));
    send(&retry(Backoff::default(), || la.query("q", "P1D")));
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
