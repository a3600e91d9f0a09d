//! Sentinel incidents on ARM: routes, api-version, scope lookups, list filters/orderby/paging,
//! PUT semantics (201/200, full replace, etags, 409, closing rules), comments, alerts, entities,
//! throttling and the error bodies for bad requests.

mod sandbox_util;

use std::time::Duration;

use sandbox::control::{AnalystAction, IncidentSpec};
use sandbox::options::{Bucket, ThrottleLimits};
use sandbox::SandboxOptions;
use sandbox_util::*;
use serde_json::{json, Value};

fn seed(env: &Env, n: usize) -> Vec<Value> {
    (0..n)
        .map(|k| {
            env.sb
                .control()
                .create_incident(
                    &env.t.name,
                    IncidentSpec {
                        title: format!("incident {k}"),
                        severity: ["High", "Medium", "Low"][k % 3].into(),
                        status: if k % 2 == 0 { "New" } else { "Active" }.into(),
                        labels: if k == 1 {
                            vec!["SIGNL4".into()]
                        } else {
                            vec![]
                        },
                        created: Some(
                            chrono::Utc::now() - chrono::Duration::minutes((n - k) as i64),
                        ),
                        ..Default::default()
                    },
                )
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn api_version_and_scope_errors() {
    let env = Env::new();
    let tok = env.token(ARM).await;
    let base = format!("{}/incidents", env.si());
    let (s, b) = send(env.http.get(&base).bearer_auth(&tok)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
    assert_eq!(
        b["error"]["message"],
        "The api-version query parameter (?api-version=) is required for all requests."
    );
    let (s, b) = send(
        env.http
            .get(format!("{base}?api-version=2019-01-01-preview"))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidApiVersionParameter"))
    );
    for v in ["2025-12-01", "2024-03-01", "2021-10-01"] {
        let (s, _) = send(
            env.http
                .get(format!("{base}?api-version={v}"))
                .bearer_auth(&tok),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    let other_rg = base.replace(
        &format!("/resourceGroups/{}/", env.t.resource_group),
        "/resourceGroups/nope/",
    );
    let (s, b) = send(env.http.get(format!("{other_rg}?{API}")).bearer_auth(&tok)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("ResourceGroupNotFound"))
    );
    let other_ws = base.replace(
        &format!("/workspaces/{}/", env.t.workspace_name),
        "/workspaces/nope/",
    );
    let (s, b) = send(env.http.get(format!("{other_ws}?{API}")).bearer_auth(&tok)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("ResourceNotFound"))
    );
    let other_sub = base.replace(
        &env.t.subscription_id,
        "00000000-0000-0000-0000-000000000000",
    );
    let (s, b) = send(env.http.get(format!("{other_sub}?{API}")).bearer_auth(&tok)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("SubscriptionNotFound"))
    );

    // A token from another tenant on this subscription.
    let t2 = env.sb.control().create_tenant(Default::default()).unwrap();
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
                ("scope", ARM),
                ("grant_type", "client_credentials"),
            ]),
    )
    .await;
    let (s, b) = send(
        env.http
            .get(format!("{base}?{API}"))
            .bearer_auth(tb["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationTokenTenant"))
    );

    // Wrong verb on the collection, unknown path.
    let (s, b) = send(
        env.http
            .put(format!("{base}?{API}"))
            .bearer_auth(&tok)
            .json(&json!({})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (405, Some("UnsupportedApiVersion"))
    );
    assert_eq!(
        b["error"]["message"],
        "The requested resource does not support http method 'PUT'."
    );
    let (s, b) = send(
        env.http
            .get(format!("{}/watchlists?{API}", env.si()))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(s, 404);
    assert!(b["error"]["code"].is_string());
}

#[tokio::test]
async fn list_filters_orderby_and_paging() {
    let env = Env::new();
    let seeded = seed(&env, 7);
    let tok = env.token(ARM).await;
    let list = |q: &str| format!("{}/incidents?{API}&{q}", env.si());
    let names = |b: &Value| -> Vec<String> {
        b["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };

    // Default: newest first.
    let (s, b) = send(env.http.get(list("")).bearer_auth(&tok)).await;
    assert_eq!(s, 200);
    assert_eq!(b["value"].as_array().unwrap().len(), 7);
    assert_eq!(b["value"][0]["name"], seeded[6]["name"]);
    assert!(b.get("nextLink").is_none());

    let (_, b) = send(
        env.http
            .get(list("$filter=properties/status eq 'New'"))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(b["value"].as_array().unwrap().len(), 4);
    let (_, b) = send(env.http.get(list("$filter=(properties/status eq 'New' or properties/status eq 'Active') and properties/severity eq 'High'")).bearer_auth(&tok)).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 3);
    let n3 = seeded[3]["properties"]["incidentNumber"].as_i64().unwrap();
    let (_, b) = send(
        env.http
            .get(list(&format!(
                "$filter=properties/incidentNumber gt {n3}&$orderby=properties/incidentNumber asc"
            )))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(
        names(&b),
        seeded[4..]
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    );
    let created3 = seeded[3]["properties"]["createdTimeUtc"].as_str().unwrap();
    let (_, b) = send(
        env.http
            .get(list(&format!(
                "$filter=properties/createdTimeUtc ge {created3}"
            )))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(b["value"].as_array().unwrap().len(), 4);
    let (_, b) = send(
        env.http
            .get(list(
                "$filter=properties/labels/any(l: l/labelName eq 'SIGNL4')",
            ))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(
        names(&b),
        vec![seeded[1]["name"].as_str().unwrap().to_string()]
    );

    // Polling recipe: lastModifiedTimeUtc ge cursor, ascending.
    let cursor = seeded[5]["properties"]["lastModifiedTimeUtc"]
        .as_str()
        .unwrap();
    let (_, b) = send(env.http.get(list(&format!("$filter=properties/lastModifiedTimeUtc ge {cursor}&$orderby=properties/lastModifiedTimeUtc asc"))).bearer_auth(&tok)).await;
    assert_eq!(
        names(&b),
        vec![
            seeded[5]["name"].as_str().unwrap(),
            seeded[6]["name"].as_str().unwrap()
        ]
    );

    // Paging: $top 3 → 3 + 3 + 1, nextLink absolute, with api-version and the original filter.
    let mut url = list("$top=3&$orderby=properties/incidentNumber asc&$filter=properties/severity ne 'Informational'");
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (s, b) = send(env.http.get(&url).bearer_auth(&tok)).await;
        assert_eq!(s, 200, "{b}");
        seen.extend(names(&b));
        match b.get("nextLink").and_then(Value::as_str) {
            Some(n) => {
                assert!(n.starts_with(&env.sb.urls().arm), "{n}");
                assert!(n.contains("api-version=2025-12-01") && n.contains("$skipToken="));
                assert!(
                    n.contains("properties/severity ne 'Informational'"),
                    "literal spaces quirk: {n}"
                );
                url = n.to_string();
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        seeded
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    );

    // Unsupported → "OData query syntax error".
    for f in [
        "$filter=properties/description eq 'x'",
        "$filter=properties/status eq 'New' and properties/labels/any(l: l/labelName eq 'SIGNL4')",
        "$filter=properties/labels/any(l: l/labelName eq 'A') and properties/labels/any(l: l/labelName eq 'B')",
        "$filter=properties/labels/all(l: l/labelName eq 'A')",
        "$filter=properties/createdTimeUtc ge '2024-05-22T10:09:26Z'",
        "$filter=properties/status eq",
        "$orderby=properties/labels desc",
        "$top=1001",
        "$top=abc",
    ] {
        let (s, b) = send(env.http.get(list(f)).bearer_auth(&tok)).await;
        assert_eq!(s, 400, "{f}");
        assert_eq!(b, json!({"error": {"code": "BadRequest", "message": "OData query syntax error"}}), "{f}");
    }
    let (s, _) = send(env.http.get(list("$skipToken=garbage")).bearer_auth(&tok)).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn classification_undetermined_quirk() {
    let env = Env::new();
    let inc = seed(&env, 1).remove(0);
    let name = inc["name"].as_str().unwrap();
    env.sb
        .control()
        .analyst(
            &env.t.name,
            name,
            AnalystAction {
                status: Some("Closed".into()),
                classification: Some("Undetermined".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let tok = env.token(ARM).await;
    let (s, b) = send(
        env.http
            .get(format!(
                "{}/incidents?{API}&$filter=properties/classification eq 'Undetermined'",
                env.si()
            ))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["value"],
        json!([]),
        "azure-rest-api-specs#27165: returns nothing"
    );
    let (_, b) = send(
        env.http
            .get(format!(
                "{}/incidents?{API}&$filter=properties/status eq 'Closed'",
                env.si()
            ))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(b["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn put_get_etags_and_closing_rules() {
    let env = Env::new();
    let tok = env.token(ARM).await;
    let id = "73e01a99-5cd7-4139-a149-9f2736ff2ab5";
    let url = env.incident_url(id);
    let (s, b) = send(env.http.get(&url).bearer_auth(&tok)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NotFound")));

    let body = json!({"properties": {"title": "My incident", "severity": "High", "status": "New", "description": "d",
        "labels": [{"labelName": "SIGNL4"}], "owner": {"objectId": "2046feea-040d-4a46-9e2b-91c2941bfa70", "assignedTo": "john doe"},
        "incidentNumber": 99999, "createdTimeUtc": "2001-01-01T00:00:00Z"}});
    let (s, created) = send(env.http.put(&url).bearer_auth(&tok).json(&body)).await;
    assert_eq!(s, 201, "{created}");
    let etag1 = created["etag"].as_str().unwrap().to_string();
    assert!(
        etag1.starts_with('"') && etag1.ends_with('"'),
        "quoted etag: {etag1}"
    );
    assert_eq!(created["type"], "Microsoft.SecurityInsights/Incidents");
    assert!(created["id"].as_str().unwrap().ends_with(&format!(
        "/providers/Microsoft.SecurityInsights/Incidents/{id}"
    )));
    let p = &created["properties"];
    assert_eq!(
        p["incidentNumber"], 1,
        "read-only fields in the body are ignored"
    );
    assert_ne!(p["createdTimeUtc"], "2001-01-01T00:00:00Z");
    assert_eq!(
        p["labels"],
        json!([{"labelName": "SIGNL4", "labelType": "User"}])
    );
    assert_eq!(p["owner"]["assignedTo"], "john doe");
    let ts = p["lastModifiedTimeUtc"].as_str().unwrap();
    assert_eq!(
        ts.len(),
        "2019-01-01T13:15:30.5416527Z".len(),
        "7 fractional digits: {ts}"
    );

    let (s, got) = send(env.http.get(&url).bearer_auth(&tok)).await;
    assert_eq!(s, 200);
    assert_eq!(got, created);

    // Full replace: omit description/labels/owner → gone. Stale etag → 409.
    let upd = json!({"etag": etag1, "properties": {"title": "My incident", "severity": "Medium", "status": "Active"}});
    let (s, b) = send(env.http.put(&url).bearer_auth(&tok).json(&upd)).await;
    assert_eq!(s, 200, "{b}");
    let etag2 = b["etag"].as_str().unwrap().to_string();
    assert_ne!(etag1, etag2);
    assert!(b["properties"].get("description").is_none());
    assert_eq!(b["properties"]["labels"], json!([]));
    assert!(
        b["properties"]["lastModifiedTimeUtc"].as_str().unwrap()
            > p["lastModifiedTimeUtc"].as_str().unwrap()
    );
    let (s, b) = send(env.http.put(&url).bearer_auth(&tok).json(&upd)).await;
    assert_eq!(s, 409);
    assert_eq!(
        b,
        json!({"error": {"code": "Conflict", "message": format!("Newer version of resource '{id}' exists. Data was not saved")}})
    );

    // An If-Match header that does not match is a 412 (optional ARM behaviour).
    let (s, b) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .header("If-Match", "\"nope\"")
            .json(&json!({"properties": {"title": "t", "severity": "Low", "status": "Active"}})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (412, Some("PreconditionFailed"))
    );
    // Closing rules.
    let close = |c: Option<&str>, r: Option<&str>| {
        let mut p = json!({"title": "My incident", "severity": "Medium", "status": "Closed"});
        if let Some(c) = c {
            p["classification"] = json!(c);
        }
        if let Some(r) = r {
            p["classificationReason"] = json!(r);
        }
        json!({"properties": p})
    };
    let (s, b) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .json(&close(Some("BenignPositive"), None)),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b,
        json!({"error": {"code": "BadRequest", "message": "classification 'BenignPositive' must have classificationReason."}})
    );
    let (s, b) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .json(&close(None, None)),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("BadRequest")));
    let (s, _) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .json(&close(Some("TruePositive"), Some("IncorrectAlertLogic"))),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .json(&close(Some("FalsePositive"), Some("InaccurateData"))),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .json(&close(Some("Undetermined"), None)),
    )
    .await;
    assert_eq!(s, 200);

    // Bad bodies: malformed JSON, missing required fields, bad enum, no properties.
    let (s, b) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent"))
    );
    let (s, b) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .json(&json!({"properties": {"title": "x", "severity": "High"}})),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("BadRequest")));
    assert!(b["error"]["message"].as_str().unwrap().contains("status"));
    let (s, _) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .json(&json!({"properties": {"title": "x", "severity": "Critical", "status": "New"}})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(
        env.http
            .put(&url)
            .bearer_auth(&tok)
            .json(&json!({"title": "x"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(env.http.put(&url).bearer_auth(&tok)).await;
    assert_eq!(s, 400);

    // Delete: 200 then 204.
    let (s, _) = send(env.http.delete(&url).bearer_auth(&tok)).await;
    assert_eq!(s, 200);
    let (s, _) = send(env.http.delete(&url).bearer_auth(&tok)).await;
    assert_eq!(s, 204);
}

#[tokio::test]
async fn comments_alerts_entities_bump_etags() {
    let env = Env::new();
    let inc = seed(&env, 1).remove(0);
    let id = inc["name"].as_str().unwrap().to_string();
    let tok = env.token(ARM).await;
    let curl = |cid: &str| format!("{}/incidents/{id}/comments/{cid}?{API}", env.si());

    let (s, c) = send(
        env.http
            .put(curl("c1"))
            .bearer_auth(&tok)
            .json(&json!({"properties": {"message": "Acknowledged in SIGNL4 by Jane"}})),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["name"], "c1");
    assert_eq!(c["properties"]["message"], "Acknowledged in SIGNL4 by Jane");
    assert_eq!(c["properties"]["author"]["objectId"], env.t.sp_object_id);
    // Same id again rewrites (idempotent) → 200, still one comment.
    let (s, c2) = send(
        env.http
            .put(curl("c1"))
            .bearer_auth(&tok)
            .json(&json!({"properties": {"message": "edited"}})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        c2["properties"]["createdTimeUtc"],
        c["properties"]["createdTimeUtc"]
    );
    assert_eq!(c2["properties"]["message"], "edited");
    let (s, g) = send(env.http.get(curl("c1")).bearer_auth(&tok)).await;
    assert_eq!((s, &g["properties"]["message"]), (200, &json!("edited")));
    let (s, b) = send(env.http.get(curl("nope")).bearer_auth(&tok)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NotFound")));
    let (s, b) = send(
        env.http
            .put(curl("c2"))
            .bearer_auth(&tok)
            .json(&json!({"properties": {}})),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("BadRequest")));

    // The incident's etag and lastModifiedTimeUtc moved; commentsCount counts.
    let (_, now) = send(env.http.get(env.incident_url(&id)).bearer_auth(&tok)).await;
    assert_ne!(now["etag"], inc["etag"]);
    assert!(
        now["properties"]["lastModifiedTimeUtc"].as_str().unwrap()
            > inc["properties"]["lastModifiedTimeUtc"].as_str().unwrap()
    );
    assert_eq!(now["properties"]["additionalData"]["commentsCount"], 1);

    // Comment list paging.
    for k in 2..=5 {
        send(
            env.http
                .put(curl(&format!("c{k}")))
                .bearer_auth(&tok)
                .json(&json!({"properties": {"message": format!("m{k}")}})),
        )
        .await;
    }
    let mut url = format!("{}/incidents/{id}/comments?{API}&$top=2", env.si());
    let mut all = Vec::new();
    for _ in 0..5 {
        let (s, b) = send(env.http.get(&url).bearer_auth(&tok)).await;
        assert_eq!(s, 200);
        all.extend(
            b["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string()),
        );
        match b["nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(all, ["c1", "c2", "c3", "c4", "c5"]);
    // Comment $orderby and $filter.
    let (_, b) = send(
        env.http
            .get(format!(
                "{}/incidents/{id}/comments?{API}&$orderby=properties/createdTimeUtc desc&$top=1",
                env.si()
            ))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(b["value"][0]["name"], "c5");
    let (_, b) = send(
        env.http
            .get(format!(
                "{}/incidents/{id}/comments?{API}&$filter=properties/message eq 'm3'",
                env.si()
            ))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(b["value"].as_array().unwrap().len(), 1);
    assert_eq!(b["value"][0]["name"], "c3");
    let (s, _) = send(
        env.http
            .get(format!(
                "{}/incidents/{id}/comments?{API}&$filter=properties/nope eq 'x'",
                env.si()
            ))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(env.http.delete(curl("c5")).bearer_auth(&tok)).await;
    assert_eq!(s, 200);
    let (s, _) = send(env.http.delete(curl("c5")).bearer_auth(&tok)).await;
    assert_eq!(s, 204);

    // Alerts and entities: POST with an empty body (and with {}).
    let r = env
        .http
        .post(format!("{}/incidents/{id}/alerts?{API}", env.si()))
        .bearer_auth(&tok)
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let alerts: Value = r.json().await.unwrap();
    let a = &alerts["value"][0];
    assert_eq!(a["kind"], "SecurityAlert");
    assert_eq!(a["type"], "Microsoft.SecurityInsights/Entities");
    let sys = a["properties"]["systemAlertId"].as_str().unwrap();
    assert_eq!(a["name"], sys);
    assert_eq!(
        a["properties"]["resourceIdentifiers"][0]["workspaceId"],
        env.t.workspace_id
    );
    let (s, e) = send(
        env.http
            .post(format!("{}/incidents/{id}/entities?{API}", env.si()))
            .bearer_auth(&tok)
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(e["entities"][0]["kind"], "Account");
    assert_eq!(e["entities"][0]["properties"]["friendlyName"], "jdoe");
    assert_eq!(
        e["metaData"],
        json!([{"entityKind": "Account", "count": 1}])
    );
    let (s, _) = send(
        env.http
            .get(format!("{}/incidents/{id}/alerts?{API}", env.si()))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(s, 405);
    let (s, bm) = send(
        env.http
            .post(format!("{}/incidents/{id}/bookmarks?{API}", env.si()))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!((s, bm), (200, json!({"value": []})));
    let (s, b) = send(
        env.http
            .post(format!("{}/incidents/missing/alerts?{API}", env.si()))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NotFound")));

    // An alert joining bumps the etag too.
    let before = env.sb.control().incident(&env.t.name, &id).unwrap();
    env.sb
        .control()
        .add_alert(&env.t.name, &id, Default::default())
        .unwrap();
    let after = env.sb.control().incident(&env.t.name, &id).unwrap();
    assert_ne!(before["etag"], after["etag"]);
    assert_eq!(after["properties"]["additionalData"]["alertsCount"], 2);
}

#[tokio::test]
async fn analyst_changes_are_visible_and_recorded() {
    let env = Env::new();
    let inc = seed(&env, 1).remove(0);
    let id = inc["name"].as_str().unwrap();
    let c = env.sb.control();
    let v = c
        .analyst(
            &env.t.name,
            id,
            AnalystAction {
                status: Some("Active".into()),
                owner: Some(json!({"email": "jane@contoso.com", "assignedTo": "Jane"})),
                comment: Some("looking".into()),
                add_labels: vec!["VIP".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(v["properties"]["status"], "Active");
    assert_eq!(v["properties"]["owner"]["assignedTo"], "Jane");
    assert_eq!(v["properties"]["labels"][0]["labelName"], "VIP");
    assert_eq!(v["properties"]["additionalData"]["commentsCount"], 1);
    let err = c.analyst(
        &env.t.name,
        id,
        AnalystAction {
            status: Some("Closed".into()),
            classification: Some("TruePositive".into()),
            ..Default::default()
        },
    );
    assert!(err.is_err());
    c.analyst(
        &env.t.name,
        id,
        AnalystAction {
            status: Some("Closed".into()),
            classification: Some("TruePositive".into()),
            classification_reason: Some("SuspiciousActivity".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let reopened = c
        .analyst(
            &env.t.name,
            id,
            AnalystAction {
                status: Some("Active".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(reopened["properties"]["status"], "Active");
    assert!(reopened["properties"].get("classification").is_none());
    let hist = c.incident_history(&env.t.name, id).unwrap();
    assert!(hist
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["by"]["kind"] == "analyst"));
}

#[tokio::test]
async fn throttling_is_arms_token_bucket_per_operation_type() {
    // Buckets shrunk to a few tokens that do not come back within the test (one per 1000 s), so
    // nothing here depends on how fast the machine is.
    let frozen = |size| Bucket {
        size,
        per_second: 0.001,
    };
    let mut o = SandboxOptions::for_tests();
    o.throttle = ThrottleLimits {
        reads: frozen(3),
        writes: frozen(2),
        deletes: frozen(1),
    };
    let env = Env::with(o);
    let tok = env.token(ARM).await;
    let list = format!("{}/incidents?{API}", env.si());
    for n in (0..3).rev() {
        let r = env.http.get(&list).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["x-ms-ratelimit-remaining-subscription-reads"],
            n.to_string().as_str()
        );
    }
    let r = env.http.get(&list).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 900, "one token per 1000 s: {retry}");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "TooManyRequests");
    assert!(b["error"]["message"].as_str().unwrap().contains("Read"));
    // Writes and deletes have their own buckets.
    let body = json!({"properties": {"title": "t", "severity": "Low", "status": "New"}});
    for k in 0..2 {
        let r = env
            .http
            .put(env.incident_url(&format!("w{k}")))
            .bearer_auth(&tok)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(
            r.headers()["x-ms-ratelimit-remaining-subscription-writes"],
            (1 - k).to_string().as_str()
        );
    }
    let (s, _) = send(
        env.http
            .put(env.incident_url("w3"))
            .bearer_auth(&tok)
            .json(&body),
    )
    .await;
    assert_eq!(s, 429);
    let r = env
        .http
        .delete(env.incident_url("w0"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        r.headers()["x-ms-ratelimit-remaining-subscription-deletes"],
        "0"
    );
}

#[tokio::test]
async fn a_throttled_caller_gets_through_once_the_bucket_refills() {
    // One token, five per second: a quick burst empties it, and it comes back on its own.
    let mut o = SandboxOptions::for_tests();
    o.throttle.reads = Bucket {
        size: 1,
        per_second: 5.0,
    };
    let env = Env::with(o);
    let tok = env.token(ARM).await;
    let list = format!("{}/incidents?{API}", env.si());
    let mut throttled = None;
    for _ in 0..50 {
        let r = env.http.get(&list).bearer_auth(&tok).send().await.unwrap();
        if r.status() == 429 {
            throttled = Some(r.headers()["retry-after"].to_str().unwrap().to_string());
            break;
        }
    }
    assert_eq!(
        throttled.as_deref(),
        Some("1"),
        "a burst empties the bucket"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, _) = send(env.http.get(&list).bearer_auth(&tok)).await;
        if s == 200 {
            break;
        }
        assert_eq!(s, 429);
        assert!(
            std::time::Instant::now() < deadline,
            "the bucket never refilled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_published_api_versions_are_accepted_and_others_refused_like_arm() {
    let env = Env::new();
    let tok = env.token(ARM).await;
    for v in [
        "2022-11-01",
        "2023-02-01",
        "2024-09-01",
        "2025-03-01",
        "2025-12-01",
        "2025-07-01-preview",
        "2025-10-01-preview",
        "2021-10-01",
    ] {
        let url = format!("{}/incidents?api-version={v}", env.si());
        let (s, body) = send(env.http.get(&url).bearer_auth(&tok)).await;
        assert_eq!(s, 200, "{v}: {body}");
    }
    for v in ["2099-01-01", "2025-10-01", "2022-11-01-beta", "latest"] {
        let url = format!("{}/incidents?api-version={v}", env.si());
        let (s, body) = send(env.http.get(&url).bearer_auth(&tok)).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(body["error"]["code"], "InvalidApiVersionParameter");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(v) && message.contains("2025-10-01-preview"),
            "{message}"
        );
    }
}
