//! The SIGNL4 webhook receiver over real HTTP on loopback, with a probe in place of StatusSync:
//! wrong tokens, unknown connectors, malformed, foreign and oversized bodies change nothing;
//! a notification is answered 200 only once StatusSync has recorded it, 503 when it could not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix::{Actor, Context, Handler};
use actix_web::{App, HttpServer};
use actors::messages::{Recorded, Signl4Notified};
use actors::status_sync::notification::Notification;
use sentinel_signl4::webhook::{configure, Route, Routes, MAX_BODY_BYTES};
use serde_json::json;

/// Stands in for StatusSync: remembers what it was sent and answers as told.
struct Probe {
    received: Arc<Mutex<Vec<Notification>>>,
    fail: bool,
}

impl Actor for Probe {
    type Context = Context<Self>;
}

impl Handler<Signl4Notified> for Probe {
    type Result = Result<Recorded, store::StoreError>;

    fn handle(&mut self, message: Signl4Notified, _: &mut Self::Context) -> Self::Result {
        if self.fail {
            return Err(store::StoreError::WriterStopped);
        }
        self.received.lock().unwrap().push(message.0);
        Ok(Recorded::New)
    }
}

const TOKEN: &str = "k3J9-unguessable-token-0f8e";

async fn serve(fail: bool) -> (String, Arc<Mutex<Vec<Notification>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe {
        received: received.clone(),
        fail,
    }
    .start();
    let routes = Routes(Arc::new(HashMap::from([(
        "contoso".to_string(),
        Route {
            token: TOKEN.into(),
            status_sync: probe.recipient(),
        },
    )])));
    let server = HttpServer::new(move || App::new().configure(configure(routes.clone())))
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
    let address = server.addrs()[0];
    actix_rt::spawn(server.run());
    (format!("http://{address}"), received)
}

fn ack() -> serde_json::Value {
    json!({"eventType":201,"eventRaisedUtc":"2017-09-01T08:11:37.4815663Z",
        "user":{"username":"Rene","mailaddress":"rene@signl4.com","id":"f0bd"},
        "alert":{"statusCode":2,"eventId":"e","externalEventId":"ext","id":"s1"},
        "id":"dd209a2d-e037-41ee-b37d-f605cc0a39fb"})
}

#[actix_rt::test]
async fn a_notification_is_answered_after_it_is_recorded() {
    let (base, received) = serve(false).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/signl4/contoso/{TOKEN}"))
        .json(&ack())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, "dd209a2d-e037-41ee-b37d-f605cc0a39fb");
}

#[actix_rt::test]
async fn bad_requests_change_nothing() {
    let (base, received) = serve(false).await;
    let client = reqwest::Client::new();
    let post = |path: String, body: Vec<u8>| {
        let client = client.clone();
        let base = base.clone();
        async move {
            client
                .post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let good = serde_json::to_vec(&ack()).unwrap();
    assert_eq!(
        post("/signl4/contoso/wrong-token".into(), good.clone())
            .await
            .status(),
        404
    );
    assert_eq!(
        post(format!("/signl4/nobody/{TOKEN}"), good.clone())
            .await
            .status(),
        404
    );
    let malformed = post(format!("/signl4/contoso/{TOKEN}"), b"{not json".to_vec()).await;
    assert_eq!(malformed.status(), 400);
    assert!(malformed.text().await.unwrap().contains("not JSON"));
    let foreign = post(
        format!("/signl4/contoso/{TOKEN}"),
        br#"{"eventType":201,"alert":{"statusCode":2}}"#.to_vec(),
    )
    .await;
    assert_eq!(foreign.status(), 400);
    assert!(foreign
        .text()
        .await
        .unwrap()
        .contains("field id is missing"));
    let oversized = post(
        format!("/signl4/contoso/{TOKEN}"),
        vec![b' '; MAX_BODY_BYTES + 1],
    )
    .await;
    assert_eq!(oversized.status(), 413);
    let created = post(
        format!("/signl4/contoso/{TOKEN}"),
        br#"{"eventType":200,"id":"x","alert":{"statusCode":1,"id":"s"}}"#.to_vec(),
    )
    .await;
    assert_eq!(created.status(), 200, "types not acted on are acknowledged");
    assert!(received.lock().unwrap().is_empty());
}

#[actix_rt::test]
async fn a_notification_that_could_not_be_recorded_is_refused_so_signl4_retries() {
    let (base, _) = serve(true).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/signl4/contoso/{TOKEN}"))
        .json(&ack())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
}
