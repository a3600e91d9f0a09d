//! SIGNL4 emulator: inbound webhook (JSON, form, sniffed JSON, text), 201 eventIds, 404 3004,
//! ExternalID acknowledge/resolve semantics, duplicates, query-string status mapping, REST v2
//! (paged by externalId, get, acknowledge/close with 409, annotate, users) and outbound webhooks
//! (200/201/203 payloads, unique ids, causes, retries).

mod sandbox_util;

use std::time::Duration;

use sandbox::control::UserAction;
use sandbox::state::Actor;
use sandbox::SandboxOptions;
use sandbox_util::*;
use serde_json::{json, Value};

fn hook(env: &Env) -> String {
    format!("{}/webhook/{}", env.sb.urls().signl4, env.t.team_secret)
}

fn assert_event_id(b: &Value) -> String {
    let id = b["eventId"].as_str().expect("eventId").to_string();
    let (ticks, g) = id.split_once('_').unwrap();
    assert_eq!(ticks.len(), 19, "{id}");
    assert!(ticks.bytes().all(|c| c.is_ascii_digit()));
    assert!(uuid::Uuid::parse_str(g).is_ok());
    id
}

#[tokio::test]
async fn webhook_creates_signls_and_reports_unknown_secrets() {
    let env = Env::new();
    let (s, b) = send(env.http.post(hook(&env)).json(
        &json!({"Title": "Incident 7", "Message": "High severity",
        "X-S4-ExternalID": "inc-7", "X-S4-Status": "new", "X-S4-Service": "Microsoft Sentinel",
        "X-S4-AlertingScenario": "single_ack", "X-S4-Location": null, "X-S4-Filtering": false,
        "Details": {"Severity": "High"}}),
    ))
    .await;
    assert_eq!(s, 201);
    let ev = assert_event_id(&b);
    // Form-encoded and JSON without a content type.
    let (s, b) = send(env.http.post(hook(&env)).form(&[
        ("Subject", "Form alert"),
        ("Body", "text"),
        ("X-S4-ExternalId", "inc-8"),
    ]))
    .await;
    assert_eq!(s, 201);
    assert_event_id(&b);
    let (s, _) = send(
        env.http
            .post(hook(&env))
            .body(r#"{"title":"raw","message":"no content type"}"#),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = send(
        env.http
            .post(hook(&env))
            .header("content-type", "text/plain")
            .body("Hello world."),
    )
    .await;
    assert_eq!(s, 201);

    let signls = env.sb.control().signls(&env.t.name).unwrap();
    assert_eq!(signls.len(), 4);
    let first = &signls[0];
    assert_eq!(first["title"], "Incident 7");
    assert_eq!(first["text"], "High severity");
    assert_eq!(first["externalId"], "inc-7");
    assert_eq!(first["eventId"], ev);
    assert_eq!(first["status"], 1);
    assert_eq!(first["categoryName"], "Microsoft Sentinel");
    assert!(
        first["sandbox"]["params"].get("Details.Severity").is_some(),
        "nested objects flattened"
    );
    assert_eq!(signls[1]["title"], "Form alert");
    assert_eq!(
        signls[1]["externalId"], "inc-8",
        "X-S4 names are case-insensitive"
    );
    assert_eq!(signls[2]["title"], "raw");
    assert_eq!(signls[3]["text"], "Hello world.");
    assert_eq!(first["sandbox"]["history"][0]["by"]["kind"], "webhook");

    let (s, b) = send(
        env.http
            .post(format!("{}/webhook/not-a-secret", env.sb.urls().signl4))
            .json(&json!({"Title": "x"})),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(b["code"], 3004);
    assert_eq!(b["message"], "Error raising event.");
    assert!(b["requestId"].is_string());
    assert!(b["details"]
        .as_str()
        .unwrap()
        .starts_with("An event source with ID "));
    assert!(!b.to_string().contains("not-a-secret"));
    // The request log hides the secret.
    assert!(env
        .sb
        .control()
        .requests()
        .iter()
        .all(|r| !r.path.contains(&env.t.team_secret)));
}

#[tokio::test]
async fn external_id_ack_and_resolve_touch_every_open_signl() {
    let env = Env::new();
    for _ in 0..2 {
        let (s, _) = send(
            env.http
                .post(hook(&env))
                .json(&json!({"Title": "t", "Message": "m", "X-S4-ExternalID": "sensor-1"})),
        )
        .await;
        assert_eq!(s, 201);
    }
    send(
        env.http
            .post(hook(&env))
            .json(&json!({"Title": "other", "X-S4-ExternalID": "sensor-2"})),
    )
    .await;
    assert_eq!(
        env.sb.control().signls(&env.t.name).unwrap().len(),
        3,
        "a second `new` creates a second Signl"
    );

    let (s, b) = send(
        env.http
            .post(hook(&env))
            .json(&json!({"X-S4-ExternalID": "sensor-1", "X-S4-Status": "acknowledged"})),
    )
    .await;
    assert_eq!(s, 201);
    assert_event_id(&b);
    let st: Vec<u64> = env
        .sb
        .control()
        .signls(&env.t.name)
        .unwrap()
        .iter()
        .map(|s| s["status"].as_u64().unwrap())
        .collect();
    assert_eq!(st, [2, 2, 1]);
    // Unknown status values are discarded.
    send(
        env.http
            .post(hook(&env))
            .json(&json!({"X-S4-ExternalID": "sensor-2", "X-S4-Status": "whatever"})),
    )
    .await;
    send(
        env.http
            .post(hook(&env))
            .json(&json!({"X-S4-ExternalID": "sensor-1", "X-S4-Status": "Resolved"})),
    )
    .await;
    let st: Vec<u64> = env
        .sb
        .control()
        .signls(&env.t.name)
        .unwrap()
        .iter()
        .map(|s| s["status"].as_u64().unwrap())
        .collect();
    assert_eq!(st, [4, 4, 1]);
    // Query-string mapping.
    let url = format!(
        "{}?ExtIDParam=groupKey&ExtStatusParam=status&ResolvedStatus=resolved",
        hook(&env)
    );
    send(
        env.http
            .post(&url)
            .json(&json!({"groupKey": "sensor-2", "status": "resolved"})),
    )
    .await;
    let s = env.sb.control().signls(&env.t.name).unwrap();
    assert_eq!(s[2]["status"], 4);
    assert_eq!(s[2]["sandbox"]["history"][1]["by"]["kind"], "webhook");
}

#[tokio::test]
async fn dedupe_option_returns_the_open_signl() {
    let mut o = SandboxOptions::for_tests();
    o.signl4.dedupe_external_id = true;
    let env = Env::with(o);
    let (_, a) = send(
        env.http
            .post(hook(&env))
            .json(&json!({"Title": "t", "X-S4-ExternalID": "x"})),
    )
    .await;
    let (_, b) = send(
        env.http
            .post(hook(&env))
            .json(&json!({"Title": "t", "X-S4-ExternalID": "x"})),
    )
    .await;
    assert_eq!(a["eventId"], b["eventId"]);
    assert_eq!(env.sb.control().signls(&env.t.name).unwrap().len(), 1);
}

#[tokio::test]
async fn rest_v2_paged_get_ack_close_annotate_users() {
    let env = Env::new();
    let api = |p: &str| format!("{}/api/v2/{p}", env.sb.urls().signl4);
    let key = env.t.api_key.clone();
    for ext in ["inc-1", "inc-2", "inc-1"] {
        send(
            env.http
                .post(hook(&env))
                .json(&json!({"Title": ext, "Message": "m", "X-S4-ExternalID": ext})),
        )
        .await;
    }
    let (s, b) = send(env.http.post(api("alerts/paged")).json(&json!({}))).await;
    assert_eq!((s, b["code"].as_u64()), (401, Some(401)));
    let (s, b) = send(
        env.http
            .post(api("alerts/paged"))
            .header("X-S4-Api-Key", "wrong")
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 401);
    assert!(!b.to_string().contains(&key));

    let (s, b) = send(
        env.http
            .post(api("alerts/paged?maxResults=10"))
            .header("X-S4-Api-Key", &key)
            .json(&json!({"externalId": "inc-1"})),
    )
    .await;
    assert_eq!(s, 200);
    let res = b["results"].as_array().unwrap();
    assert_eq!(res.len(), 2);
    assert!(res.iter().all(|a| a["externalId"] == "inc-1"));
    assert_eq!(b["hasMore"], false);
    // Continuation.
    let (_, p1) = send(
        env.http
            .post(api("alerts/paged?maxResults=2"))
            .header("X-S4-Api-Key", &key)
            .json(&json!({})),
    )
    .await;
    assert_eq!(p1["hasMore"], true);
    let (_, p2) = send(
        env.http
            .post(api("alerts/paged?maxResults=2"))
            .header("X-S4-Api-Key", &key)
            .json(&json!({"continuationToken": p1["continuationToken"]})),
    )
    .await;
    assert_eq!(p2["results"].as_array().unwrap().len(), 1);
    // Nothing matches → 204 (v1 behaviour, configurable).
    let r = env
        .http
        .post(api("alerts/paged"))
        .header("X-S4-Api-Key", &key)
        .json(&json!({"externalId": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let id = res[0]["id"].as_str().unwrap().to_string();
    let (s, g) = send(
        env.http
            .get(api(&format!("alerts/{id}")))
            .header("X-S4-Api-Key", &key),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(g["id"], id);
    let (s, _) = send(
        env.http
            .get(api("alerts/123_nope"))
            .header("X-S4-Api-Key", &key),
    )
    .await;
    assert_eq!(s, 404);

    let (_, users) = send(env.http.get(api("users")).header("X-S4-Api-Key", &key)).await;
    let alice = users[0].clone();
    assert!(alice["mail"].as_str().unwrap().starts_with("alice@"));
    let (s, u) = send(
        env.http
            .get(api(&format!("users/{}", alice["mail"].as_str().unwrap())))
            .header("X-S4-Api-Key", &key),
    )
    .await;
    assert_eq!((s, &u["id"]), (200, &alice["id"]));
    let (s, _) = send(env.http.get(api("users/Me")).header("X-S4-Api-Key", &key)).await;
    assert_eq!(s, 400);

    let (s, a) = send(
        env.http
            .post(api(&format!("alerts/{id}/acknowledge")))
            .header("X-S4-Api-Key", &key)
            .json(&json!({"uid": alice["id"], "descr": "on it"})),
    )
    .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["status"], 2);
    assert_eq!(a["history"]["acknowledgements"][0]["userId"], alice["id"]);
    let (s, b) = send(
        env.http
            .post(api(&format!("alerts/{id}/acknowledge")))
            .header("X-S4-Api-Key", &key)
            .json(&json!({"userId": alice["id"]})),
    )
    .await;
    assert_eq!(s, 409, "re-ack is against the lifecycle");
    assert_eq!(
        b["message"],
        "Alert can't be acknowledged because it is against the defined alert lifecycle."
    );
    let (s, an) = send(
        env.http
            .post(api(&format!("alerts/{id}/annotate")))
            .header("X-S4-Api-Key", &key)
            .json(&json!({"type": 1, "text": "note", "userId": alice["id"]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(an["text"], "note");
    assert_eq!(an["teamId"], env.t.team_id);
    let (s, c) = send(
        env.http
            .post(api(&format!("alerts/{id}/close")))
            .header("X-S4-Api-Key", &key)
            .json(&json!({})),
    )
    .await;
    assert_eq!((s, &c["status"]), (200, &json!(4)));
    let (s, _) = send(
        env.http
            .post(api(&format!("alerts/{id}/close")))
            .header("X-S4-Api-Key", &key)
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = send(
        env.http
            .post(api(&format!("alerts/{id}/close")))
            .header("X-S4-Api-Key", &key)
            .header("content-type", "application/json")
            .body("{oops"),
    )
    .await;
    assert_eq!(s, 400);

    // Events API with the key.
    let (s, b) = send(
        env.http
            .post(api(&format!("events/{}", env.t.team_id)))
            .header("X-S4-Api-Key", &key)
            .json(&json!({"Title": "via events"})),
    )
    .await;
    assert_eq!(s, 201);
    assert_event_id(&b);
}

#[tokio::test]
async fn outbound_webhooks_for_users_and_api_changes() {
    let env = Env::new();
    let rx = Receiver::start(2);
    env.sb
        .control()
        .set_outbound_url(&env.t.name, Some(rx.url.clone()))
        .unwrap();
    let (_, b) = send(
        env.http
            .post(hook(&env))
            .json(&json!({"Title": "t", "X-S4-ExternalID": "inc-42"})),
    )
    .await;
    let event_id = b["eventId"].as_str().unwrap().to_string();
    let signl = env.sb.control().signls(&env.t.name).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = env.t.users[1].clone();
    env.sb
        .control()
        .user_action(
            &env.t.name,
            &signl,
            Some(&bob.mail),
            UserAction::Annotate {
                text: "OK, I'll take care".into(),
            },
        )
        .unwrap();
    env.sb
        .control()
        .user_action(&env.t.name, &signl, Some(&bob.id), UserAction::Acknowledge)
        .unwrap();
    assert!(env
        .sb
        .control()
        .user_action(&env.t.name, &signl, None, UserAction::Acknowledge)
        .is_err());
    // Webhook-driven resolve fires too (loop risk), with no user.
    send(
        env.http
            .post(hook(&env))
            .json(&json!({"X-S4-ExternalID": "inc-42", "X-S4-Status": "resolved"})),
    )
    .await;

    let got = rx.wait_for(4, Duration::from_secs(5));
    assert_eq!(got.len(), 4, "{got:?}");
    let types: Vec<u64> = got
        .iter()
        .map(|g| g["eventType"].as_u64().unwrap())
        .collect();
    assert_eq!(types, [200, 203, 201, 201]);
    for g in &got {
        assert_eq!(g["alert"]["eventId"], event_id);
        assert_eq!(g["alert"]["externalEventId"], "inc-42");
        assert_eq!(g["alert"]["id"], signl);
        assert!(g["eventRaisedUtc"].is_string());
    }
    assert_eq!(got[0]["alert"]["statusCode"], 1);
    assert!(got[0].get("user").is_none());
    assert_eq!(
        got[1]["alert"]["statusCode"], 0,
        "annotation events carry statusCode 0"
    );
    assert_eq!(got[1]["annotation"]["message"], "OK, I'll take care");
    assert_eq!(
        got[1]["user"],
        json!({"username": bob.name, "mailaddress": bob.mail, "id": bob.id})
    );
    assert_eq!(got[2]["alert"]["statusCode"], 2);
    assert_eq!(got[2]["alert"]["acknowledgedUserIds"], json!([bob.id]));
    assert_eq!(got[3]["alert"]["statusCode"], 4);
    assert!(got[3].get("user").is_none());
    let mut ids: Vec<&str> = got.iter().map(|g| g["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "unique top-level ids");

    // The first notification needed 3 attempts (receiver failed twice); causes are recorded.
    let recs = env.sb.control().outbound();
    assert_eq!(recs[0].attempts, 3);
    assert_eq!(recs[0].deliveries, 1);
    assert_eq!(
        recs[1].cause,
        Actor::User {
            user_id: bob.id.clone()
        }
    );
    assert_eq!(recs[3].cause, Actor::Webhook);
}

#[tokio::test]
async fn outbound_for_api_changes_can_be_turned_off() {
    let mut o = SandboxOptions::for_tests();
    o.signl4.outbound_for_api_changes = false;
    let env = Env::with(o);
    let rx = Receiver::start(0);
    env.sb
        .control()
        .set_outbound_url(&env.t.name, Some(rx.url.clone()))
        .unwrap();
    send(
        env.http
            .post(hook(&env))
            .json(&json!({"Title": "t", "X-S4-ExternalID": "e"})),
    )
    .await;
    send(
        env.http
            .post(hook(&env))
            .json(&json!({"X-S4-ExternalID": "e", "X-S4-Status": "resolved"})),
    )
    .await;
    let got = rx.wait_for(2, Duration::from_millis(600));
    assert_eq!(
        got.iter()
            .map(|g| g["eventType"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [200]
    );
    assert_eq!(
        env.sb.control().signls(&env.t.name).unwrap()[0]["status"],
        4
    );
}
