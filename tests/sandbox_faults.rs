//! Fault injection: status faults in each service's error shape with Retry-After, bounded by
//! count or probability and scoped by path/method; delays; dropped connections; outbound
//! duplicates and reordering; the request log.

mod sandbox_util;

use std::time::{Duration, Instant};

use sandbox::control::UserAction;
use sandbox::{FaultKind, FaultSpec, Service};
use sandbox_util::*;
use serde_json::{json, Value};

fn fault(service: Service, kind: FaultKind, times: Option<u32>) -> FaultSpec {
    FaultSpec {
        service,
        kind,
        times,
        probability: None,
        path_contains: None,
        method: None,
    }
}

#[tokio::test]
async fn status_faults_fire_n_times_in_the_service_shape() {
    let env = Env::new();
    let tok = env.token(ARM).await;
    let list = format!("{}/incidents?{API}", env.si());
    env.sb.control().add_fault(fault(
        Service::Sentinel,
        FaultKind::Status {
            status: 429,
            retry_after: Some(7),
        },
        Some(2),
    ));
    for _ in 0..2 {
        let r = env.http.get(&list).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["code"], "TooManyRequests");
    }
    let (s, _) = send(env.http.get(&list).bearer_auth(&tok)).await;
    assert_eq!(s, 200, "the fault retired after 2 hits");
    assert_eq!(env.sb.control().faults()[0].fired, 2);

    // Graph 503 shape, Entra 500 shape, SIGNL4 500 shape.
    let c = env.sb.control();
    c.clear_faults();
    c.add_fault(fault(
        Service::Graph,
        FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        Some(1),
    ));
    c.add_fault(fault(
        Service::Entra,
        FaultKind::Status {
            status: 500,
            retry_after: None,
        },
        Some(1),
    ));
    c.add_fault(fault(
        Service::Signl4,
        FaultKind::Status {
            status: 500,
            retry_after: None,
        },
        Some(1),
    ));
    let (s, b) = send(
        env.http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                env.sb.urls().entra,
                env.t.tenant_id
            ))
            .form(&[
                ("client_id", env.t.client_id.as_str()),
                ("client_secret", env.t.client_secret.as_str()),
                ("scope", GRAPH),
                ("grant_type", "client_credentials"),
            ]),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (500, Some("server_error")));
    assert!(!b.to_string().contains(&env.t.client_secret));
    let (s, b) = send(
        env.http
            .get(format!("{}/security/alerts_v2", env.sb.urls().graph))
            .bearer_auth("x"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("ServiceUnavailable"))
    );
    assert!(b["error"]["innerError"]["request-id"].is_string());
    let (s, b) = send(
        env.http
            .post(format!(
                "{}/webhook/{}",
                env.sb.urls().signl4,
                env.t.team_secret
            ))
            .json(&json!({"Title": "x"})),
    )
    .await;
    assert_eq!(s, 500);
    assert!(b["requestId"].is_string());
}

#[tokio::test]
async fn scoping_probability_delay_and_reset() {
    let env = Env::new();
    let c = env.sb.control();
    let tok = env.token(ARM).await;
    let list = format!("{}/incidents?{API}", env.si());
    // Only PUTs on comments.
    c.add_fault(FaultSpec {
        path_contains: Some("/comments/".into()),
        method: Some("PUT".into()),
        ..fault(
            Service::Sentinel,
            FaultKind::Status {
                status: 500,
                retry_after: None,
            },
            None,
        )
    });
    let (s, _) = send(env.http.get(&list).bearer_auth(&tok)).await;
    assert_eq!(s, 200);
    let inc = c.create_incident(&env.t.name, Default::default()).unwrap();
    let curl = format!(
        "{}/incidents/{}/comments/c1?{API}",
        env.si(),
        inc["name"].as_str().unwrap()
    );
    let (s, b) = send(
        env.http
            .put(&curl)
            .bearer_auth(&tok)
            .json(&json!({"properties": {"message": "m"}})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (500, Some("InternalServerError"))
    );
    c.clear_faults();
    // Probability 0 never fires, 1 always.
    c.add_fault(FaultSpec {
        probability: Some(0.0),
        ..fault(
            Service::Sentinel,
            FaultKind::Status {
                status: 503,
                retry_after: None,
            },
            None,
        )
    });
    for _ in 0..5 {
        assert_eq!(send(env.http.get(&list).bearer_auth(&tok)).await.0, 200);
    }
    c.clear_faults();
    c.add_fault(FaultSpec {
        probability: Some(1.0),
        ..fault(
            Service::Sentinel,
            FaultKind::Status {
                status: 503,
                retry_after: None,
            },
            Some(3),
        )
    });
    for _ in 0..3 {
        assert_eq!(send(env.http.get(&list).bearer_auth(&tok)).await.0, 503);
    }
    assert_eq!(send(env.http.get(&list).bearer_auth(&tok)).await.0, 200);
    c.clear_faults();
    // Delay.
    c.add_fault(fault(
        Service::Sentinel,
        FaultKind::Delay { ms: 300 },
        Some(1),
    ));
    let t0 = Instant::now();
    assert_eq!(send(env.http.get(&list).bearer_auth(&tok)).await.0, 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    // Reset: the connection drops without a response.
    c.add_fault(fault(Service::Sentinel, FaultKind::Reset, Some(1)));
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    let err = fresh
        .get(&list)
        .bearer_auth(&tok)
        .send()
        .await
        .expect_err("connection dropped");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert_eq!(
        send(env.http.get(&list).bearer_auth(&tok)).await.0,
        200,
        "serves again"
    );
}

#[tokio::test]
async fn request_log_records_client_request_ids() {
    let env = Env::new();
    let tok = env.token(ARM).await;
    env.sb.control().clear_requests();
    send(
        env.http
            .get(format!("{}/incidents?{API}", env.si()))
            .bearer_auth(&tok)
            .header("x-ms-client-request-id", "abc-123"),
    )
    .await;
    send(env.http.get(env.incident_url("missing")).bearer_auth(&tok)).await;
    let log = env.sb.control().requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].service, "sentinel");
    assert_eq!(log[0].method, "GET");
    assert!(log[0].path.ends_with(&format!("/incidents?{API}")));
    assert_eq!(log[0].status, 200);
    assert_eq!(log[0].client_request_id.as_deref(), Some("abc-123"));
    assert_eq!(log[1].status, 404);
}

#[tokio::test]
async fn outbound_duplicates_and_reordering() {
    let env = Env::new();
    let rx = Receiver::start(0);
    let c = env.sb.control();
    c.set_outbound_url(&env.t.name, Some(rx.url.clone()))
        .unwrap();
    let hook = format!("{}/webhook/{}", env.sb.urls().signl4, env.t.team_secret);
    c.add_fault(fault(Service::Outbound, FaultKind::Duplicate, Some(1)));
    send(
        env.http
            .post(&hook)
            .json(&json!({"Title": "a", "X-S4-ExternalID": "a"})),
    )
    .await;
    let got = rx.wait_for(2, Duration::from_secs(3));
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0], got[1],
        "same notification, same id, delivered twice"
    );
    let signl = c.signls(&env.t.name).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Out of order: the ack notification is held back until the annotation went out.
    c.add_fault(fault(Service::Outbound, FaultKind::OutOfOrder, Some(1)));
    c.user_action(&env.t.name, &signl, None, UserAction::Acknowledge)
        .unwrap();
    c.user_action(
        &env.t.name,
        &signl,
        None,
        UserAction::Annotate { text: "n".into() },
    )
    .unwrap();
    let got = rx.wait_for(4, Duration::from_secs(3));
    assert_eq!(got.len(), 4);
    assert_eq!(got[2]["eventType"], 203);
    assert_eq!(got[3]["eventType"], 201);
    // A lone held-back notification is still delivered (bounded wait).
    c.add_fault(fault(Service::Outbound, FaultKind::OutOfOrder, Some(1)));
    c.user_action(&env.t.name, &signl, None, UserAction::Close)
        .unwrap();
    let got = rx.wait_for(5, Duration::from_secs(3));
    assert_eq!(got.len(), 5);
    assert_eq!(got[4]["alert"]["statusCode"], 4);
}
