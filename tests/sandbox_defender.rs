//! Microsoft Graph security incidents (Defender XDR) in the sandbox: list with $filter, $top,
//! @odata.nextLink and $expand=alerts; evolvable enums behind `Prefer`; PATCH rules with the SDK's
//! enums and Graph's error shape; comments as one object or the SDK's array; merges through the
//! control API; the `/security` budget with 429 and Retry-After. Also the alerts_v2 fixes that
//! came with it (SDK determination values, array comment bodies).

mod sandbox_util;

use sandbox::defender::DefenderIncidentSpec;
use sandbox::SandboxOptions;
use sandbox_util::*;
use serde_json::{json, Map, Value};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn spec(fields: Value, alerts: usize) -> DefenderIncidentSpec {
    DefenderIncidentSpec {
        fields: obj(fields),
        alerts: (0..alerts)
            .map(|k| obj(json!({"title": format!("alert {k}"), "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": format!("host{k}")}]})))
            .collect(),
    }
}

fn ids(b: &Value) -> Vec<String> {
    b["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn incidents_list_filter_page_expand_and_enums() {
    let env = Env::new();
    let c = env.sb.control();
    for k in 1..=5 {
        let status = match k {
            1 | 2 => "active",
            3 => "awaitingAction",
            _ => "resolved",
        };
        c.add_graph_incident(
            &env.t.name,
            spec(
                json!({"status": status, "severity": if k % 2 == 0 { "high" } else { "low" },
                "lastUpdateDateTime": format!("2026-05-0{k}T11:00:00Z")}),
                k % 3,
            ),
        )
        .unwrap();
    }
    let tok = env.token(GRAPH).await;
    let base = format!("{}/security/incidents", env.sb.urls().graph);
    let (s, b) = send(env.http.get(&base).bearer_auth(&tok)).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/$metadata#security/incidents"));
    assert_eq!(ids(&b), ["1", "2", "3", "4", "5"]);
    assert_eq!(
        b["value"][0]["@odata.type"],
        "#microsoft.graph.security.incident"
    );
    assert!(b["value"][0]["incidentWebUrl"]
        .as_str()
        .unwrap()
        .starts_with("https://security.microsoft.com/incidents/1?tid="));
    assert!(
        b["value"][0].get("alerts").is_none(),
        "alerts only with $expand"
    );
    assert_eq!(
        b["value"][2]["status"], "unknownFutureValue",
        "awaitingAction is hidden without Prefer"
    );
    let (_, b) = send(
        env.http
            .get(format!("{base}/3"))
            .bearer_auth(&tok)
            .header("Prefer", "include-unknown-enum-members"),
    )
    .await;
    assert_eq!(b["status"], "awaitingAction");

    // $filter on lastUpdateDateTime and status; $expand=alerts with evidence.
    let (s, b) = send(
        env.http
            .get(&base)
            .query(&[
                (
                    "$filter",
                    "lastUpdateDateTime ge 2026-05-02T00:00:00Z and (status eq 'active' or status eq 'resolved')",
                ),
                ("$expand", "alerts"),
            ])
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b), ["2", "4", "5"]);
    let alerts = b["value"][0]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["incidentId"], "2");
    assert_eq!(alerts[0]["evidence"][0]["deviceDnsName"], "host0");
    let (s, b) = send(
        env.http
            .get(&base)
            .query(&[("$filter", "displayName eq 'x'")])
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("BadRequest")));
    let (s, _) = send(
        env.http
            .get(&base)
            .query(&[("$expand", "comments")])
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(s, 400);

    // Paging: $top and @odata.nextLink, followed verbatim, keep the filter and the expansion.
    let mut url = format!(
        "{base}?$top=2&$expand=alerts&$filter=severity%20eq%20'low'%20or%20severity%20eq%20'high'"
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (s, b) = send(env.http.get(&url).bearer_auth(&tok)).await;
        assert_eq!(s, 200, "{b}");
        pages += 1;
        assert!(b["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["alerts"].is_array()));
        seen.extend(ids(&b));
        match b["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (5, 3));
    let (s, _) = send(env.http.get(format!("{base}?$top=0")).bearer_auth(&tok)).await;
    assert_eq!(s, 400);
    let (s, b) = send(env.http.get(format!("{base}/99")).bearer_auth(&tok)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NotFound")));
    let (s, _) = send(env.http.delete(format!("{base}/1")).bearer_auth(&tok)).await;
    assert_eq!(s, 405);
    let (s, _) = send(env.http.get(&base)).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn incident_patch_rules_and_comments() {
    let env = Env::new();
    let c = env.sb.control();
    let created = c
        .add_graph_incident(&env.t.name, spec(json!({}), 1))
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let before = created["lastUpdateDateTime"].clone();
    let tok = env.token(GRAPH).await;
    let url = format!("{}/security/incidents/{id}", env.sb.urls().graph);
    let (s, b) = send(env.http.patch(&url).bearer_auth(&tok).json(&json!({
        "status": "resolved", "assignedTo": "rene@contoso.com", "classification": "truePositive",
        "determination": "confirmedActivity", "customTags": ["SIGNL4"]})))
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["status"].as_str(),
            b["assignedTo"].as_str(),
            b["classification"].as_str(),
            b["determination"].as_str()
        ),
        (
            Some("resolved"),
            Some("rene@contoso.com"),
            Some("truePositive"),
            Some("confirmedActivity")
        )
    );
    assert_eq!(b["customTags"], json!(["SIGNL4"]));
    assert_ne!(b["lastUpdateDateTime"], before);
    for bad in [
        json!({"determination": "clean"}),
        json!({"determination": "confirmedUserActivity"}),
        json!({"status": "redirected"}),
        json!({"status": "closed"}),
        json!({"classification": "TruePositive"}),
        json!({"customTags": "SIGNL4"}),
        json!({"displayName": "x"}),
    ] {
        let (s, b) = send(env.http.patch(&url).bearer_auth(&tok).json(&bad)).await;
        assert_eq!(s, 400, "{bad} must be refused");
        assert_eq!(b["error"]["code"], "BadRequest", "{b}");
        assert!(b["error"]["message"].as_str().unwrap().len() > 10);
        assert!(b["error"]["innerError"]["request-id"].is_string());
    }
    let (s, b) = send(
        env.http
            .patch(&url)
            .bearer_auth(&tok)
            .json(&json!({"status": "awaitingAction", "assignedTo": null})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["status"], "unknownFutureValue",
        "evolvable read back hidden"
    );
    assert!(b["assignedTo"].is_null());

    // Comments: one object (docs) and the SDK's array; 200 with every comment.
    let (s, b) = send(
        env.http
            .post(format!("{url}/comments"))
            .bearer_auth(&tok)
            .json(
                &json!({"@odata.type": "microsoft.graph.security.alertComment", "comment": "one"}),
            ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["@odata.context"]
        .as_str()
        .unwrap()
        .contains(&format!("incidents('{id}')/comments")));
    let (s, b) = send(env.http.post(format!("{url}/comments")).bearer_auth(&tok).json(
        &json!([{"@odata.type": "microsoft.graph.security.alertComment", "comment": "two"}]),
    ))
    .await;
    assert_eq!(s, 200, "{b}");
    let texts: Vec<&str> = b["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["comment"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two"]);
    assert!(b["value"][1]["createdDateTime"].is_string());
    for bad in [json!({}), json!([]), json!([{"comment": ""}]), json!("x")] {
        let (s, _) = send(
            env.http
                .post(format!("{url}/comments"))
                .bearer_auth(&tok)
                .json(&bad),
        )
        .await;
        assert_eq!(s, 400, "{bad}");
    }

    // alerts_v2 follows the same enums and accepts the SDK's comment array.
    let alert_id = created["alerts"][0]["id"].as_str().unwrap();
    let alert = format!("{}/security/alerts_v2/{alert_id}", env.sb.urls().graph);
    let (s, b) = send(
        env.http
            .patch(&alert)
            .bearer_auth(&tok)
            .json(&json!({"determination": "confirmedActivity"})),
    )
    .await;
    assert_eq!(
        (s, b["determination"].as_str()),
        (200, Some("confirmedActivity"))
    );
    let (s, _) = send(
        env.http
            .patch(&alert)
            .bearer_auth(&tok)
            .json(&json!({"determination": "clean"})),
    )
    .await;
    assert_eq!(s, 400, "`clean` is not in the service metadata");
    let (s, b) = send(
        env.http
            .post(format!("{alert}/comments"))
            .bearer_auth(&tok)
            .json(&json!([{"@odata.type": "microsoft.graph.security.alertComment", "comment": "sdk"}])),
    )
    .await;
    assert_eq!((s, b["value"][0]["comment"].as_str()), (200, Some("sdk")));
}

#[tokio::test]
async fn merges_move_alerts_and_redirect() {
    let env = Env::new();
    let c = env.sb.control();
    let a = c
        .add_graph_incident(&env.t.name, spec(json!({}), 2))
        .unwrap();
    let b = c
        .add_graph_incident(&env.t.name, spec(json!({}), 1))
        .unwrap();
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let merged = c.merge_graph_incidents(&env.t.name, a, b).unwrap();
    assert_eq!(merged["status"], "redirected");
    assert_eq!(merged["redirectIncidentId"], b);
    let survivor = c.graph_incident(&env.t.name, b).unwrap();
    assert_eq!(survivor["alerts"].as_array().unwrap().len(), 3);
    assert!(survivor["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|al| al["incidentId"] == b));
    assert!(
        c.merge_graph_incidents(&env.t.name, b, a).is_err(),
        "into a redirected one"
    );
    assert!(c.merge_graph_incidents(&env.t.name, b, b).is_err());

    // Over HTTP: the redirected incident lists as such, filterable by status.
    let tok = env.token(GRAPH).await;
    let (_, r) = send(
        env.http
            .get(format!("{}/security/incidents", env.sb.urls().graph))
            .query(&[("$filter", "status eq 'redirected'"), ("$expand", "alerts")])
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(ids(&r), [a]);
    assert_eq!(r["value"][0]["alerts"], json!([]));
    // The same through the control port over HTTP.
    let ctl = env.sb.urls().control.clone();
    let (s, made) = send(
        env.http
            .post(format!(
                "{ctl}/control/tenants/{}/graph-incidents",
                env.t.name
            ))
            .json(&json!({"fields": {"severity": "high"}, "alerts": [{}]})),
    )
    .await;
    assert_eq!(s, 201, "{made}");
    let n = made["id"].as_str().unwrap();
    let (s, m) = send(
        env.http
            .post(format!(
                "{ctl}/control/tenants/{}/graph-incidents/{n}/merge",
                env.t.name
            ))
            .json(&json!({"into": b})),
    )
    .await;
    assert_eq!((s, m["status"].as_str()), (200, Some("redirected")));
    let (s, _) = send(
        env.http
            .post(format!(
                "{ctl}/control/tenants/{}/graph-incidents",
                env.t.name
            ))
            .json(&json!({"fields": {"status": "closed"}})),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn the_security_budget_throttles_with_retry_after() {
    let env = Env::with(SandboxOptions {
        graph_security_per_minute: 5,
        ..SandboxOptions::for_tests()
    });
    let tok = env.token(GRAPH).await;
    let g = env.sb.urls().graph.clone();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for k in 0..7 {
        // alerts_v2 and incidents draw from the one budget.
        let url = if k % 2 == 0 {
            format!("{g}/security/incidents")
        } else {
            format!("{g}/security/alerts_v2")
        };
        let r = env.http.get(&url).bearer_auth(&tok).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let b: Value = r.json().await.unwrap();
            assert_eq!(b["error"]["code"], "TooManyRequests");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{retry_after:?}"
    );
}
