//! The Enricher's bound, on the real pipeline with in-memory fakes: a burst of incidents never
//! has more than `enrichment_concurrency` enrichments running, and what waits for a permit is
//! bounded too, because a sender's `Enrich` is answered only once it holds a permit (the Poller
//! is held back instead of spawning a waiting future per incident).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use actors::messages::{Enrich, InFlight};
use common::*;
use store::{IncidentKey, Store, StoreConfig};
use uuid::Uuid;

/// Enrichments allowed at once in this test.
const K: usize = 2;
/// The burst: far more incidents than permits.
const N: usize = 20;

/// True if `future` is not ready when polled once now.
fn pending<F: Future>(future: Pin<&mut F>) -> bool {
    future
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending()
}

/// Waits (bounded) until `done` holds.
async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: not within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[actix_rt::test]
async fn a_burst_never_has_more_than_the_permits_in_flight_and_holds_its_sender_back() {
    let dir = store::scratch::dir();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let signl4 = Rc::new(FakeSignl4::default());
    for n in 1..=N as i64 {
        sentinel.add(n, "New", "High");
    }
    sentinel.hold_alerts.set(true);
    let tuned = actors::settings::ConnectorSettings {
        enrichment_concurrency: K,
        // Alert listings are held for as long as the test needs, not cut off.
        enrichment_deadline: Duration::from_secs(600),
        ..settings()
    };
    let handle = start_with(tuned, &store, &sentinel, &signl4).await;

    // Every permit taken by the burst's first incidents...
    wait_until("K enrichments running", async || {
        sentinel.alert_calls.get() == K
    })
    .await;
    // ...and the Poller's next incident waiting for one (K running + 1 waiting).
    let enricher = handle.enricher.clone();
    wait_until("the Poller's next incident waiting", async || {
        enricher.send(InFlight).await.unwrap() > K
    })
    .await;
    assert_eq!(
        enricher.send(InFlight).await.unwrap(),
        K + 1,
        "the Poller waits at its send, not one spawned future per incident of the burst"
    );
    // Another sender now: its Enrich is handled (the InFlight sent after it counts it) but not
    // answered while every permit is taken, so it waits at its sender, not as a spawned future.
    let answer = handle.enricher.send(Enrich {
        tenant: settings().tenant(),
        incident: IncidentKey::from_source_id("never-observed"),
        correlation: Uuid::now_v7(),
    });
    tokio::pin!(answer);
    assert!(pending(answer.as_mut()));
    wait_until("the second sender waiting", async || {
        enricher.send(InFlight).await.unwrap() == K + 2
    })
    .await;
    assert!(
        pending(answer.as_mut()),
        "answered while every permit was taken"
    );
    assert_eq!(sentinel.alert_calls.get(), K);
    assert_eq!(
        enricher.send(InFlight).await.unwrap(),
        K + 2,
        "one waiting per sender, not one per incident of the burst"
    );

    // Released: the waiting sender is answered and the whole burst is paged, never more than K
    // enrichments at once.
    sentinel.hold_alerts.set(false);
    tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .expect("answered once a permit is free")
        .unwrap();
    // Polled again as the timer would: tagging moves incidents to the end of the listing, so
    // one poll may leave some for the next (see the Poller's invariants).
    wait_until("the burst paged", async || {
        handle.poll_now();
        signl4.sent.borrow().len() == N
    })
    .await;
    settle(&handle).await;
    assert_eq!(signl4.sent.borrow().len(), N);
    assert_eq!(sentinel.alert_calls_max.get(), K);
}

/// An enrichment whose lookups are still waiting (the read budget spent, the service slow) when
/// `enrichment_deadline` passes is cut off: the incident is paged anyway, and the log says what
/// is missing.
#[actix_rt::test]
async fn a_lookup_still_waiting_at_the_deadline_never_holds_the_page() {
    let dir = store::scratch::dir();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let signl4 = Rc::new(FakeSignl4::default());
    let name = sentinel.add(1, "New", "High");
    sentinel.hold_alerts.set(true); // never answered in this test
    let tuned = actors::settings::ConnectorSettings {
        enrichment_deadline: Duration::from_millis(300),
        ..settings()
    };
    let handle = start_with(tuned, &store, &sentinel, &signl4).await;
    wait_until("paged without its alerts", async || {
        signl4.sent.borrow().len() == 1
    })
    .await;
    let incident = IncidentKey::from_source_id(&name);
    let missing: Vec<String> = store
        .log()
        .incident_events(settings().tenant(), incident)
        .unwrap()
        .into_iter()
        .find_map(|e| match e.event {
            store::events::Event::IncidentEnriched(enriched) => Some(enriched.missing),
            _ => None,
        })
        .expect("the enrichment is recorded");
    assert!(
        missing
            .iter()
            .any(|m| m.starts_with("alerts:") && m.contains("enrichment deadline")),
        "{missing:?}"
    );
    sentinel.hold_alerts.set(false);
    settle(&handle).await;
}
