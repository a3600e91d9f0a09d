//! Microsoft Graph security alerts_v2: list with $filter/$top/@odata.nextLink/@odata.context,
//! get, PATCH (only the four updatable fields, full alert back), comments, evolvable enums and
//! Graph error bodies.

mod sandbox_util;

use sandbox_util::*;
use serde_json::{json, Map, Value};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn alerts_v2_routes() {
    let env = Env::new();
    let c = env.sb.control();
    for k in 0..5 {
        c.add_graph_alert(&env.t.name, obj(json!({"id": format!("a{k}"), "status": if k < 3 { "new" } else { "resolved" },
            "severity": if k % 2 == 0 { "high" } else { "low" },
            "createdDateTime": format!("2024-05-0{}T10:00:00.1234567Z", k + 1),
            "lastUpdateDateTime": format!("2024-05-0{}T11:00:00Z", k + 1),
            "serviceSource": if k == 0 { "microsoftSentinel" } else { "microsoftDefenderForEndpoint" }}))).unwrap();
    }
    let tok = env.token(GRAPH).await;
    let base = format!("{}/security/alerts_v2", env.sb.urls().graph);
    let (s, b) = send(env.http.get(&base).bearer_auth(&tok)).await;
    assert_eq!(s, 200);
    assert!(b["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/$metadata#security/alerts_v2"));
    assert_eq!(b["value"].as_array().unwrap().len(), 5);
    assert_eq!(
        b["value"][0]["serviceSource"], "unknownFutureValue",
        "evolvable member hidden without Prefer"
    );
    let (_, b) = send(
        env.http
            .get(format!("{base}/a0"))
            .bearer_auth(&tok)
            .header("Prefer", "include-unknown-enum-members"),
    )
    .await;
    assert_eq!(b["serviceSource"], "microsoftSentinel");

    let (_, b) = send(
        env.http
            .get(&base)
            .query(&[(
                "$filter",
                "lastUpdateDateTime ge 2024-05-03T00:00:00Z and status eq 'new'",
            )])
            .bearer_auth(&tok),
    )
    .await;
    let ids: Vec<&str> = b["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a2"]);
    let (_, b) = send(
        env.http
            .get(&base)
            .query(&[(
                "$filter",
                "severity eq 'high' or createdDateTime ge 2024-05-05T00:00:00Z",
            )])
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(b["value"].as_array().unwrap().len(), 3);
    let (s, b) = send(
        env.http
            .get(&base)
            .query(&[("$filter", "title eq 'x'")])
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("BadRequest")));
    assert!(b["error"]["innerError"]["date"].is_string());

    // Paging with $top and @odata.nextLink.
    let mut url = format!("{base}?$top=2");
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (_, b) = send(env.http.get(&url).bearer_auth(&tok)).await;
        seen.extend(
            b["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string()),
        );
        match b["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["a0", "a1", "a2", "a3", "a4"]);

    // PATCH: allowed fields only; 200 with the full alert.
    let (s, b) = send(env.http.patch(format!("{base}/a1")).bearer_auth(&tok).json(&json!({"status": "inProgress", "assignedTo": "secAdmin@contoso.onmicrosoft.com", "classification": "truePositive", "determination": "malware"}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "inProgress");
    assert_eq!(b["assignedTo"], "secAdmin@contoso.onmicrosoft.com");
    assert_eq!(b["title"], "Suspicious execution of hidden file");
    assert_ne!(b["lastUpdateDateTime"], "2024-05-02T11:00:00Z");
    let (s, _) = send(
        env.http
            .patch(format!("{base}/a1"))
            .bearer_auth(&tok)
            .json(&json!({"title": "x"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(
        env.http
            .patch(format!("{base}/a1"))
            .bearer_auth(&tok)
            .json(&json!({"status": "done"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(
        env.http
            .patch(format!("{base}/a1"))
            .bearer_auth(&tok)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = send(
        env.http
            .patch(format!("{base}/a1"))
            .bearer_auth(&tok)
            .json(&json!({"status": "resolved", "assignedTo": null})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(b["resolvedDateTime"].is_string());
    assert!(b["assignedTo"].is_null());

    // Comments: 200 with all comments.
    for text in ["Acknowledged via SIGNL4", "Closed via SIGNL4"] {
        let (s, b) = send(env.http.post(format!("{base}/a1/comments")).bearer_auth(&tok).json(&json!({"@odata.type": "microsoft.graph.security.alertComment", "comment": text}))).await;
        assert_eq!(s, 200);
        assert!(b["@odata.context"]
            .as_str()
            .unwrap()
            .contains("alerts_v2('a1')/comments"));
        assert_eq!(
            b["value"].as_array().unwrap().last().unwrap()["comment"],
            text
        );
    }
    let (_, b) = send(env.http.get(format!("{base}/a1")).bearer_auth(&tok)).await;
    assert_eq!(b["comments"].as_array().unwrap().len(), 2);
    let (s, _) = send(
        env.http
            .post(format!("{base}/a1/comments"))
            .bearer_auth(&tok)
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 400);

    let (s, b) = send(env.http.get(format!("{base}/nope")).bearer_auth(&tok)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NotFound")));
    let (s, _) = send(env.http.delete(format!("{base}/a1")).bearer_auth(&tok)).await;
    assert_eq!(s, 405);
    let (s, b) = send(env.http.get(&base)).await;
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (401, Some("Access token is empty."))
    );
    // Another tenant sees none of these.
    let t2 = c.create_tenant(Default::default()).unwrap();
    let (_, tb) = send(
        env.http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                env.sb.urls().entra,
                t2.tenant_id
            ))
            .form(&[
                ("client_id", t2.client_id.as_str()),
                ("client_secret", t2.client_secret.as_str()),
                ("scope", GRAPH),
                ("grant_type", "client_credentials"),
            ]),
    )
    .await;
    let (_, b) = send(
        env.http
            .get(&base)
            .bearer_auth(tb["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(b["value"], json!([]));
}
