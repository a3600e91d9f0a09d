//! The sandbox driven with the request shapes the official Azure SDKs send, over real HTTP:
//! azure-monitor-ingestion 1.1.0's gzip upload, azure-mgmt-securityinsight 2.0.0b4's list at its
//! default api-version 2025-10-01-preview, and the KQL an operator's mean-time-to-acknowledge
//! and -close queries over `SIGNL4_CL` and `SecurityIncident` use (`count`, `distinct`,
//! `project-away`, `extend x = 1`, `contains`, `startswith`, `has`, `union`). What the sandbox
//! does not emulate says "not emulated by the sandbox" (KQL: 400 with inner code `NotEmulated`;
//! documented routes: 501), and every answer validates against the official schema.

mod sandbox_util;
mod schema_util;

use std::io::Write;

use sandbox::control::{AnalystAction, IncidentSpec};
use sandbox_util::*;
use schema_util::Specs;
use serde_json::{json, Value};
use uuid::Uuid;

/// The headers azure-core puts on every request of these SDKs.
fn sdk(rb: reqwest::RequestBuilder, user_agent: &str) -> reqwest::RequestBuilder {
    rb.header("User-Agent", user_agent)
        .header("x-ms-client-request-id", Uuid::new_v4().to_string())
        .header("Accept", "application/json")
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body).unwrap();
    enc.finish().unwrap()
}

/// Rows as the connector ships them (a subset of the columns is enough for the queries).
fn signl4_cl_rows(incidents: &[String]) -> Value {
    let row = |n: usize, action: &str, user: Value, ack: Value, close: Value, note: Value| {
        json!({"TimeGenerated": format!("2026-12-0{}T10:00:0{n}.000Z", 1 + n % 3),
            "Connector": "contoso", "IncidentName": incidents[n % incidents.len()],
            "IncidentNumber": n % incidents.len() + 1, "Severity": if n.is_multiple_of(2) { "High" } else { "Medium" },
            "Action": action, "User": user, "Note": note,
            "SecondsToAcknowledge": ack, "SecondsToClose": close,
            "EventId": format!("e{n}"), "EventSeq": n})
    };
    json!([
        row(
            0,
            "Created",
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ),
        row(
            1,
            "Created",
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ),
        row(
            2,
            "Acknowledged",
            json!("ann@contoso.com"),
            json!(60.0),
            Value::Null,
            Value::Null
        ),
        row(
            3,
            "AcknowledgedFromSentinel",
            json!("bob@contoso.com"),
            json!(120.0),
            Value::Null,
            Value::Null
        ),
        row(
            4,
            "Annotated",
            json!("ann@contoso.com"),
            Value::Null,
            Value::Null,
            json!("host 7 isolated")
        ),
        row(
            5,
            "Closed",
            json!("ann@contoso.com"),
            Value::Null,
            json!(300.0),
            Value::Null
        ),
        // A re-sent batch: the same EventId twice (deduplicated by the documented KQL).
        row(
            2,
            "Acknowledged",
            json!("ann@contoso.com"),
            json!(60.0),
            Value::Null,
            Value::Null
        ),
    ])
}

/// One tenant with two incidents (one closed by an analyst) and SIGNL4_CL rows uploaded the way
/// azure-monitor-ingestion does: gzip, always.
async fn lab() -> (Env, Vec<String>, String) {
    let env = Env::new();
    let c = env.sb.control();
    let mut names = Vec::new();
    for title in ["Suspicious sign-in from TOR", "Mass download"] {
        let i = c
            .create_incident(
                &env.t.name,
                IncidentSpec {
                    title: title.into(),
                    severity: "High".into(),
                    ..IncidentSpec::default()
                },
            )
            .unwrap();
        names.push(i["name"].as_str().unwrap().to_string());
    }
    c.analyst(
        &env.t.name,
        &names[0],
        AnalystAction {
            add_labels: vec!["SIGNL4".into()],
            status: Some("Closed".into()),
            classification: Some("TruePositive".into()),
            classification_reason: Some("SuspiciousActivity".into()),
            ..AnalystAction::default()
        },
    )
    .unwrap();
    let monitor = env.token(MONITOR).await;
    let url = format!(
        "{}/dataCollectionRules/{}/streams/Custom-SIGNL4_CL?api-version=2023-01-01",
        env.sb.urls().ingestion,
        env.t.dcr_immutable_id
    );
    let body = gzip(signl4_cl_rows(&names).to_string().as_bytes());
    let r = sdk(
        env.http.post(&url),
        "azsdk-python-monitor-ingestion/1.1.0 Python/3.12.3 (Linux-6.8-x86_64)",
    )
    .bearer_auth(&monitor)
    .header("Content-Type", "application/json")
    .header("Content-Encoding", "gzip")
    .body(body)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    let la = env.token(LA).await;
    (env, names, la)
}

/// What azure-monitor-query's `LogsQueryClient.query_workspace(..., timespan=None)` sends.
async fn query(env: &Env, token: &str, kql: &str) -> (u16, Value) {
    let url = format!(
        "{}/workspaces/{}/query",
        env.sb.urls().log_analytics,
        env.t.workspace_id
    );
    send(
        sdk(
            env.http.post(url),
            "azsdk-python-monitor-query/2.0.0 Python/3.12.3 (Linux-6.8-x86_64)",
        )
        .bearer_auth(token)
        .header("Prefer", "wait=180")
        .json(&json!({ "query": kql })),
    )
    .await
}

/// The rows of the first table, as (column name -> cell) maps.
fn rows(body: &Value) -> Vec<serde_json::Map<String, Value>> {
    let t = &body["tables"][0];
    let names: Vec<&str> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            names
                .iter()
                .zip(r.as_array().unwrap())
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_gzip_upload_lands_in_signl4_cl_and_bad_encodings_say_why() {
    let (env, _, la) = lab().await;
    let (s, body) = query(&env, &la, "SIGNL4_CL | count").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tables"][0]["rows"], json!([[7]]));
    // The body log recorded what the SDK meant (decoded), with its encoding.
    let uploads = env.sb.control().with_world(|w| {
        w.bodies
            .iter()
            .filter(|b| b.service == "ingestion")
            .cloned()
            .collect::<Vec<_>>()
    });
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].content_encoding.as_deref(), Some("gzip"));
    assert!(uploads[0].body.starts_with("[{"), "{}", uploads[0].body);
    // Schema of the Upload body.
    let findings = schema_util::findings(
        &schema_util::ingestion_body_schema(),
        &serde_json::from_str(&uploads[0].body).unwrap(),
    );
    assert!(findings.is_empty(), "{findings:?}");

    let monitor = env.token(MONITOR).await;
    let url = format!(
        "{}/dataCollectionRules/{}/streams/Custom-SIGNL4_CL?api-version=2023-01-01",
        env.sb.urls().ingestion,
        env.t.dcr_immutable_id
    );
    let post = |encoding: &'static str, body: Vec<u8>| {
        env.http
            .post(&url)
            .bearer_auth(&monitor)
            .header("Content-Type", "application/json")
            .header("Content-Encoding", encoding)
            .body(body)
    };
    let (s, e) = send(post("gzip", b"[{\"a\":1}]".to_vec())).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("InvalidContentEncoding"))
    );
    let (s, e) = send(post("br", b"[]".to_vec())).await;
    assert_eq!(s, 415);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not emulated by the sandbox"));
    // Over 1 MB once decompressed is too large, however small the gzip.
    let big = format!("[{{\"Note\":\"{}\"}}]", "x".repeat(1_100_000));
    let (s, _) = send(post("gzip", gzip(big.as_bytes()))).await;
    assert_eq!(s, 413);
    let (_, body) = query(&env, &la, "SIGNL4_CL | count").await;
    assert_eq!(
        body["tables"][0]["rows"],
        json!([[7]]),
        "refused calls store nothing"
    );
}

#[tokio::test]
async fn the_2_0_0b4_sdk_lists_incidents_at_its_default_preview_version() {
    let (env, names, _) = lab().await;
    let arm = env.token(ARM).await;
    let url = format!("{}/incidents?api-version=2025-10-01-preview", env.si());
    let (s, body) = send(
        sdk(
            env.http.get(url),
            "azsdk-python-mgmt-securityinsight/2.0.0b4 Python/3.12.3 (Linux-6.8-x86_64)",
        )
        .bearer_auth(&arm),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let listed: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(names.iter().all(|n| listed.contains(&n.as_str())));
    let specs = Specs::load(true);
    let mut schema_clean = body.clone();
    for i in schema_clean["value"].as_array_mut().unwrap() {
        // Azure's explicit owner nulls are the one known deviation from the schema.
        i["properties"]["owner"] = json!({"ownerType": "Unknown"});
    }
    specs.assert_sentinel("IncidentList", &schema_clean);
}

#[tokio::test]
async fn mtta_and_mttr_kql_over_signl4_cl_and_security_incident_run() {
    let (env, names, la) = lab().await;
    let specs = Specs::load(true);
    let run = |kql: &'static str| {
        let (env, la, specs) = (&env, &la, &specs);
        async move {
            let (s, body) = query(env, la, kql).await;
            assert_eq!(s, 200, "{kql}: {body}");
            specs.assert_la("queryResults", &body);
            rows(&body)
        }
    };

    // Mean time to acknowledge per severity, deduplicated on EventId.
    let mtta = run(r#"SIGNL4_CL
        | where Action in ("Acknowledged", "AcknowledgedFromSentinel")
        | where isnotnull(SecondsToAcknowledge)
        | summarize arg_max(TimeGenerated, *) by EventId
        | summarize MTTA = avg(SecondsToAcknowledge), Acks = count() by Severity
        | order by Severity asc"#)
    .await;
    assert_eq!(mtta.len(), 2, "{mtta:?}");
    assert_eq!(mtta[0]["Severity"], "High");
    assert_eq!(
        (mtta[0]["MTTA"].clone(), mtta[0]["Acks"].clone()),
        (json!(60.0), json!(1))
    );
    assert_eq!(mtta[1]["MTTA"], json!(120.0));

    // count, distinct, project-away, extend with constants, contains / startswith / has.
    let n = run(r#"SIGNL4_CL | where Action startswith "ack" | count"#).await;
    assert_eq!(n[0]["Count"], json!(3));
    let actions = run("SIGNL4_CL | distinct Action | order by Action asc").await;
    let actions: Vec<&str> = actions
        .iter()
        .map(|r| r["Action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "Acknowledged",
            "AcknowledgedFromSentinel",
            "Annotated",
            "Closed",
            "Created"
        ]
    );
    let notes = run(r#"SIGNL4_CL | where Note contains "ISOLATED" | extend Source = "SIGNL4", One = 1 | project-away Note, User"#).await;
    assert_eq!(notes.len(), 1);
    assert!(!notes[0].contains_key("Note") && !notes[0].contains_key("User"));
    assert_eq!(
        (notes[0]["Source"].clone(), notes[0]["One"].clone()),
        (json!("SIGNL4"), json!(1))
    );
    let by_user = run(r#"SIGNL4_CL | where User has "ann" | distinct EventId | count"#).await;
    assert_eq!(by_user[0]["Count"], json!(3));

    // SecurityIncident: the closed incident, found by its label and title.
    let closed = run(r#"SecurityIncident
        | summarize arg_max(TimeGenerated, *) by IncidentName
        | where Labels has "SIGNL4" and Title startswith "suspicious"
        | where Status == "Closed"
        | project IncidentName, Status, Classification, ClosedTime, CreatedTime"#)
    .await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["IncidentName"], names[0].as_str());
    assert_eq!(closed[0]["Classification"], "TruePositive");
    assert!(closed[0]["ClosedTime"].is_string());

    // union of tables and of subqueries.
    let all = run("union SIGNL4_CL, SecurityIncident | count").await;
    assert_eq!(all[0]["Count"], json!(9));
    let closes = run(r#"union (SIGNL4_CL | where Action == "Closed"), (SecurityIncident | where Status == "Closed") | project IncidentName"#).await;
    assert_eq!(closes.len(), 2);
    let piped =
        run("SIGNL4_CL | where Action == \"Created\" | union SecurityIncident | count").await;
    assert_eq!(piped[0]["Count"], json!(4));
}

#[tokio::test]
async fn what_is_not_emulated_says_so_plainly() {
    let (env, _, la) = lab().await;
    let specs = Specs::load(true);
    for kql in [
        "SIGNL4_CL | mv-expand Note",
        "Heartbeat | take 1",
        r#"SIGNL4_CL | where Action == "Closed" or Action == "Created""#,
        "SIGNL4_CL | summarize percentile(SecondsToClose, 90)",
        "SIGNL4_CL | extend D = datetime_diff('second', now(), TimeGenerated)",
    ] {
        let (s, body) = query(&env, &la, kql).await;
        assert_eq!(s, 400, "{kql}");
        specs.assert_la("errorResponse", &body);
        assert_eq!(
            body["error"]["innererror"]["code"], "NotEmulated",
            "{kql}: {body}"
        );
        let message = body["error"]["innererror"]["message"].as_str().unwrap();
        assert!(
            message.contains("not emulated by the sandbox"),
            "{kql}: {message}"
        );
    }
    // A real mistake is still the user's: a syntax or semantic error, not "not emulated".
    let (s, body) = query(&env, &la, "SIGNL4_CL | where NoSuchColumn == 1").await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["innererror"]["code"], "SemanticError");

    // Documented routes the sandbox does not serve: 501.
    let base = env.sb.urls().log_analytics.clone();
    let resource = format!(
        "subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}",
        env.t.subscription_id, env.t.resource_group, env.t.workspace_name
    );
    for url in [
        format!("{base}/$batch"),
        format!("{base}/{resource}/query"),
        format!("{base}/workspaces/{}/metadata", env.t.workspace_id),
    ] {
        let (s, body) = send(
            env.http
                .post(&url)
                .bearer_auth(&la)
                .json(&json!({"requests": []})),
        )
        .await;
        assert_eq!(s, 501, "{url}");
        specs.assert_la("errorResponse", &body);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not emulated by the sandbox"),
            "{body}"
        );
    }
}
