//! Log Analytics query API: the enrichment query shapes, typed cells, ExtendedProperties as a
//! JSON string, timespans, the empty-200 / 204 / 429 quirks, PartialError, OneAPI errors, and
//! the Logs Ingestion API feeding `SIGNL4_CL`.

mod sandbox_util;

use std::time::{Duration, Instant};

use sandbox::control::{AlertSpec, IncidentSpec};
use sandbox_util::*;
use serde_json::{json, Value};

fn qurl(env: &Env, ws: &str) -> String {
    format!("{}/workspaces/{ws}/query", env.sb.urls().log_analytics)
}

fn col(table: &Value, name: &str) -> usize {
    table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[tokio::test]
async fn enrichment_queries_return_typed_security_alert_rows() {
    let env = Env::new();
    let c = env.sb.control();
    let inc = c
        .create_incident(
            &env.t.name,
            IncidentSpec {
                alerts: vec![
                    AlertSpec {
                        system_alert_id: Some("baa8a239-6fde-4ab7-a093-d09f7b75c58c".into()),
                        rule_name: "Sentinel Test alert".into(),
                        result_count: 12,
                        ..Default::default()
                    },
                    AlertSpec {
                        system_alert_id: Some("c0ffee00-0000-4000-8000-000000000001".into()),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        )
        .unwrap();
    // The same alert logged twice (status change) → arg_max keeps the latest.
    let created = inc["properties"]["createdTimeUtc"].as_str().unwrap();
    let created_t = sandbox::util::parse_ts(created).unwrap();
    let mut later = serde_json::Map::new();
    later.insert(
        "SystemAlertId".into(),
        json!("baa8a239-6fde-4ab7-a093-d09f7b75c58c"),
    );
    // Newer than the first row but not in the future (the P2D window ends now).
    later.insert(
        "TimeGenerated".into(),
        json!(sandbox::util::ts7(
            created_t + chrono::Duration::milliseconds(1)
        )),
    );
    later.insert("Status".into(), json!("Resolved"));
    later.insert("AlertName".into(), json!("Suspicious sign-in activity"));
    later.insert("ExtendedProperties".into(), json!("{}"));
    c.add_security_alert_rows(&env.t.name, vec![later]).unwrap();

    let tok = env.token(LA).await;
    let q = format!(
        r#"SecurityAlert
| where TimeGenerated between (datetime({start}) .. datetime({end}))
| where SystemAlertId == "baa8a239-6fde-4ab7-a093-d09f7b75c58c"
| summarize arg_max(TimeGenerated, *) by SystemAlertId
| extend EP = parse_json(ExtendedProperties)
| project TimeGenerated, AlertName, Status, IsIncident, ConfidenceScore, Tactics,
          RuleName = tostring(EP["Analytic Rule Name"]), ResultCount = toint(EP["Search Query Results Overall Count"])"#,
        start = "2000-01-01T00:00:00Z",
        end = "2100-01-01T00:00:00Z"
    );
    let r = env
        .http
        .post(qurl(&env, &env.t.workspace_id))
        .bearer_auth(&tok)
        .json(&json!({"query": q, "timespan": "P2D"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let b: Value = r.json().await.unwrap();
    let t = &b["tables"][0];
    assert_eq!(t["name"], "PrimaryResult");
    assert_eq!(t["rows"].as_array().unwrap().len(), 1);
    let row = &t["rows"][0];
    assert_eq!(
        row[col(t, "Status")],
        "Resolved",
        "arg_max kept the newest row"
    );
    assert_eq!(
        row[col(t, "RuleName")],
        "",
        "the newest row has no rule name"
    );

    // Without the status-change row: the enrichment fields.
    let q2 = "SecurityAlert | where SystemAlertId in (\"baa8a239-6fde-4ab7-a093-d09f7b75c58c\", \"nope\") | where Status == \"New\" | extend EP = parse_json(ExtendedProperties) | project AlertName, IsIncident, ConfidenceScore, StartTime, RuleName = tostring(EP[\"Analytic Rule Name\"]), ResultCount = toint(EP[\"Search Query Results Overall Count\"]), Query = tostring(EP[\"Query\"])";
    let (_, b) = send(
        env.http
            .post(qurl(&env, &env.t.workspace_id))
            .bearer_auth(&tok)
            .json(&json!({"query": q2})),
    )
    .await;
    let t = &b["tables"][0];
    let row = &t["rows"][0];
    assert_eq!(row[col(t, "RuleName")], "Sentinel Test alert");
    assert_eq!(row[col(t, "ResultCount")], 12, "toint gives a JSON number");
    assert_eq!(t["columns"][col(t, "ResultCount")]["type"], "int");
    assert_eq!(row[col(t, "IsIncident")], false);
    assert_eq!(t["columns"][col(t, "IsIncident")]["type"], "bool");
    assert!(row[col(t, "ConfidenceScore")].is_null());
    assert_eq!(t["columns"][col(t, "StartTime")]["type"], "datetime");
    assert!(row[col(t, "Query")]
        .as_str()
        .unwrap()
        .starts_with("// The query_now parameter"));

    // Whole rows: all real columns, ExtendedProperties a JSON *string*.
    let (_, b) = send(env.http.post(qurl(&env, &env.t.workspace_id)).bearer_auth(&tok).json(&json!({"query": "SecurityAlert | where SystemAlertId == \"c0ffee00-0000-4000-8000-000000000001\" | take 1"}))).await;
    let t = &b["tables"][0];
    assert_eq!(t["columns"].as_array().unwrap().len(), 35);
    let ep = t["rows"][0][col(t, "ExtendedProperties")]
        .as_str()
        .expect("string cell");
    let ep: Value = serde_json::from_str(ep).unwrap();
    assert_eq!(
        ep["Search Query Results Overall Count"], "3",
        "every EP value is a string"
    );
    assert!(ep["Analytic Rule Ids"].as_str().unwrap().starts_with("[\""));
    assert_eq!(t["rows"][0][col(t, "ProviderName")], "ASI Scheduled Alerts");
    assert!(created.len() > 20);

    // A window in the past excludes everything (still 200 with an empty table).
    let (s, b) = send(env.http.post(qurl(&env, &env.t.workspace_id)).bearer_auth(&tok).json(&json!({"query": "SecurityAlert", "timespan": "2020-01-01T00:00:00Z/2020-01-02T00:00:00Z"}))).await;
    assert_eq!(s, 200);
    assert_eq!(b["tables"][0]["rows"], json!([]));
    // GET variant.
    let (s, b) = send(
        env.http
            .get(qurl(&env, &env.t.workspace_id))
            .query(&[("query", "SecurityAlert | take 1"), ("timespan", "PT12H")])
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["tables"][0]["rows"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn quirks_and_errors() {
    let env = Env::new();
    let c = env.sb.control();
    let tok = env.token(LA).await;
    let url = qurl(&env, &env.t.workspace_id);
    // No data at all → 204.
    let r = env
        .http
        .post(&url)
        .bearer_auth(&tok)
        .json(&json!({"query": "SecurityAlert"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    c.create_incident(&env.t.name, Default::default()).unwrap();
    // No JSON content type → empty 200 without a content type.
    let r = env
        .http
        .post(&url)
        .bearer_auth(&tok)
        .body(r#"{"query":"SecurityAlert"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-type").is_none());
    assert!(r.bytes().await.unwrap().is_empty());
    let r = env
        .http
        .post(&url)
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().is_empty());
    // Errors.
    // What the sandbox does not implement says so; a real mistake reads like one.
    let gap = "The query uses something the sandbox does not emulate (this is not an error in your query)";
    let mistake = "The request had some invalid properties";
    for (q, inner, message) in [
        ("SecurityAlert | frobnicate", "NotEmulated", gap),
        ("NoSuchTable | take 1", "NotEmulated", gap),
        (
            "SecurityAlert | where Nope == \"x\"",
            "SemanticError",
            mistake,
        ),
        ("SecurityAlert | take many", "SyntaxError", mistake),
    ] {
        let (s, b) = send(
            env.http
                .post(&url)
                .bearer_auth(&tok)
                .json(&json!({"query": q})),
        )
        .await;
        assert_eq!(s, 400, "{q}");
        assert_eq!(b["error"]["code"], "BadArgumentError");
        assert_eq!(b["error"]["message"], message, "{q}");
        assert_eq!(b["error"]["innererror"]["code"], inner, "{q}");
    }
    let (s, b) = send(
        env.http
            .post(&url)
            .bearer_auth(&tok)
            .json(&json!({"nope": 1})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("BadArgumentError"))
    );
    let (s, b) = send(
        env.http
            .post(&url)
            .bearer_auth(&tok)
            .json(&json!({"query": "SecurityAlert", "timespan": "yesterday"})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("BadArgumentError"))
    );
    let (s, b) = send(env.http.post(&url).json(&json!({"query": "SecurityAlert"}))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("AuthenticationFailed"))
    );
    let (s, b) = send(
        env.http
            .post(qurl(&env, "00000000-0000-0000-0000-000000000000"))
            .bearer_auth(&tok)
            .json(&json!({"query": "SecurityAlert"})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("WorkspaceNotFoundError"))
    );
    let other = c.create_tenant(Default::default()).unwrap();
    let (s, b) = send(
        env.http
            .post(qurl(&env, &other.workspace_id))
            .bearer_auth(&tok)
            .json(&json!({"query": "SecurityAlert"})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("InsufficientAccessError"))
    );
    let (s, b) = send(
        env.http
            .get(format!(
                "{}/workspaces/{}/metadata",
                env.sb.urls().log_analytics,
                env.t.workspace_id
            ))
            .bearer_auth(&tok),
    )
    .await;
    // A documented route the sandbox does not emulate: 501, saying so.
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (501, Some("NotImplemented"))
    );
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not emulated by the sandbox"));
    // Absurd timespans are a 400, not a crash.
    for ts in [
        "P99999999999999999D",
        "2020-01-01T00:00:00Z/P99999999999999999D",
        "PT",
    ] {
        let (s, _) = send(
            env.http
                .post(&url)
                .bearer_auth(&tok)
                .json(&json!({"query": "SecurityAlert", "timespan": ts})),
        )
        .await;
        assert_eq!(s, 400, "{ts}");
    }
    let (s, _) =
        send(env.http.post(&url).bearer_auth(&tok).json(
            &json!({"query": "SecurityAlert | where TimeGenerated > ago(99999999999999999d)"}),
        ))
        .await;
    assert_eq!(s, 400);
    // A query slower than `Prefer: wait=N` is a 504.
    c.set_la_query_delay_ms(1200);
    let t0 = Instant::now();
    let (s, b) = send(
        env.http
            .post(&url)
            .bearer_auth(&tok)
            .header("Prefer", "wait=1")
            .json(&json!({"query": "SecurityAlert"})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (504, Some("GatewayTimeout"))
    );
    assert!(
        t0.elapsed() < Duration::from_millis(1150),
        "gave up at the wait limit"
    );
    c.set_la_query_delay_ms(0);
    // PartialError knob: once.
    c.set_la_partial_errors(1);
    let (s, b) = send(
        env.http
            .post(&url)
            .bearer_auth(&tok)
            .json(&json!({"query": "SecurityAlert"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["error"]["code"], "PartialError");
    assert!(
        b["tables"][0]["rows"].as_array().unwrap().len() == 1,
        "partial results still present"
    );
    let (_, b) = send(
        env.http
            .post(&url)
            .bearer_auth(&tok)
            .json(&json!({"query": "SecurityAlert"})),
    )
    .await;
    assert!(b.get("error").is_none());
}

#[tokio::test]
async fn more_than_five_concurrent_queries_get_429() {
    let env = Env::new();
    env.sb
        .control()
        .create_incident(&env.t.name, Default::default())
        .unwrap();
    env.sb.control().set_la_query_delay_ms(400);
    let tok = env.token(LA).await;
    let url = qurl(&env, &env.t.workspace_id);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..7 {
        let (http, url, tok) = (env.http.clone(), url.clone(), tok.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(tok)
                .json(&json!({"query": "SecurityAlert | take 1"}))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.headers().get("retry-after").is_some(),
            )
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(
        codes.iter().filter(|(c, _)| *c == 200).count(),
        5,
        "{codes:?}"
    );
    assert!(codes.iter().filter(|(c, _)| *c == 429).all(|(_, ra)| *ra));
    assert_eq!(codes.iter().filter(|(c, _)| *c == 429).count(), 2);
    assert!(start.elapsed() < Duration::from_secs(3));
    // Slots are released afterwards.
    env.sb.control().set_la_query_delay_ms(0);
    let (s, _) = send(
        env.http
            .post(&url)
            .bearer_auth(&tok)
            .json(&json!({"query": "SecurityAlert | take 1"})),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn logs_ingestion_feeds_signl4_cl() {
    let env = Env::new();
    let mon = env.token(MONITOR).await;
    let url = format!(
        "{}/dataCollectionRules/{}/streams/Custom-SIGNL4_CL?api-version=2023-01-01",
        env.sb.urls().ingestion,
        env.t.dcr_immutable_id
    );
    let rows = json!([{"EventId": "e1", "EventType": 201, "StatusCode": 2, "User": "bob@x"}, {"EventId": "e2", "EventType": 203, "Annotation": "note"}]);
    let r = env
        .http
        .post(&url)
        .bearer_auth(&mon)
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // No dedup: a retried batch lands twice.
    let r = env
        .http
        .post(&url)
        .bearer_auth(&mon)
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = env
        .http
        .post(&url)
        .bearer_auth(&mon)
        .json(&json!({"EventId": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-ms-error-code"], "InvalidRequestBody");
    let (s, _) = send(env.http.post(&url).bearer_auth(&mon).json(&json!([1, 2]))).await;
    assert_eq!(s, 400);
    let big = json!([{"Blob": "x".repeat(1024 * 1024)}]);
    let (s, b) = send(env.http.post(&url).bearer_auth(&mon).json(&big)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (413, Some("ContentLengthLimitExceeded"))
    );
    let la = env.token(LA).await;
    let (s, b) = send(env.http.post(&url).bearer_auth(&la).json(&rows)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("InvalidAudience"))
    );
    let (s, _) = send(
        env.http
            .post(url.replace("Custom-SIGNL4_CL", "Custom-Other_CL"))
            .bearer_auth(&mon)
            .json(&rows),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(
        env.http
            .post(url.replace("2023-01-01", "2021-01-01"))
            .bearer_auth(&mon)
            .json(&rows),
    )
    .await;
    assert_eq!(s, 400);

    let (s, b) = send(env.http.post(qurl(&env, &env.t.workspace_id)).bearer_auth(&la).json(&json!({"query": "SIGNL4_CL | where EventType == 201 | project EventId, StatusCode, TimeGenerated"}))).await;
    assert_eq!(s, 200, "{b}");
    let t = &b["tables"][0];
    assert_eq!(t["rows"].as_array().unwrap().len(), 2);
    assert_eq!(t["rows"][0][0], "e1");
    assert_eq!(
        t["columns"][1],
        json!({"name": "StatusCode", "type": "long"})
    );
    assert_eq!(t["columns"][2]["type"], "datetime");
}
