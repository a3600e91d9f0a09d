//! StatusSync on a real store with in-memory fakes: SIGNL4 acknowledge, close and annotate
//! written back to Sentinel; duplicates and out-of-order deliveries; 409s; an analyst's close
//! resolving the Signl, an analyst's owner acknowledging it, analyst comments becoming
//! annotations; and no loops (our own changes are never echoed back).

mod common;

use std::rc::Rc;

use actors::messages::{Reconcile, Recorded, Signl4Notified};
use actors::ports::{ApiError, IncidentSource};
use actors::status_sync::notification::Notification;
use common::*;
use store::events::{Effect, Signl4Action};
use store::writer::Execution;
use store::{Command, IncidentKey, Store, StoreConfig};

struct World {
    _dir: store::scratch::ScratchDir,
    store: Store,
    sentinel: Rc<FakeSentinel>,
    signl4: Rc<FakeSignl4>,
    handle: Handle,
    name: String,
    external: String,
}

/// One incident, paged and tagged.
async fn paged_incident() -> World {
    paged_incident_with(FakeSignl4::default()).await
}

/// One incident, paged and tagged, with this SIGNL4.
async fn paged_incident_with(signl4: FakeSignl4) -> World {
    let dir = store::scratch::dir();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let signl4 = Rc::new(signl4);
    let name = sentinel.add(1, "New", "High");
    let handle = start(&store, &sentinel, &signl4).await;
    settle(&handle).await;
    assert_eq!(statuses(&signl4), vec!["new"]);
    let external = store::ids::external_id(settings().tenant(), IncidentKey::from_source_id(&name));
    World {
        _dir: dir,
        store,
        sentinel,
        signl4,
        handle,
        name,
        external,
    }
}

fn notification(world: &World, id: &str, action: Signl4Action, user: bool) -> Notification {
    Notification {
        id: id.into(),
        signl_id: "2518981069381242800_2ab1".into(),
        external_id: Some(world.external.clone()),
        action,
        user_email: user.then(|| "rene@signl4.com".to_string()),
        user_name: user.then(|| "Rene".to_string()),
        user_id: user.then(|| "f0bd5063".to_string()),
        annotation_id: None,
        raised_at_ms: 1_764_000_000_000,
    }
}

async fn deliver(world: &World, notification: Notification) -> Recorded {
    let recorded = world
        .handle
        .status_sync
        .send(Signl4Notified(notification))
        .await
        .unwrap()
        .unwrap();
    settle(&world.handle).await;
    recorded
}

async fn incident(world: &World) -> actors::ports::IncidentRecord {
    world.sentinel.get_incident(&world.name).await.unwrap()
}

fn comments(world: &World) -> Vec<String> {
    world.sentinel.comments.borrow().values().cloned().collect()
}

#[actix_rt::test]
async fn an_acknowledge_assigns_the_owner_sets_active_and_comments_once() {
    let world = paged_incident().await;
    let puts_before = *world.sentinel.puts.borrow();
    let ack = notification(&world, "n-ack", Signl4Action::Acknowledged, true);
    assert_eq!(deliver(&world, ack.clone()).await, Recorded::New);
    let record = incident(&world).await;
    assert_eq!(record.status, "Active");
    assert_eq!(record.owner.as_deref(), Some("rene@signl4.com"));
    assert_eq!(
        comments(&world),
        vec!["Acknowledged in SIGNL4 by Rene (rene@signl4.com)."]
    );
    // SIGNL4 delivers at least once: the same notification again changes nothing.
    assert_eq!(deliver(&world, ack).await, Recorded::Duplicate);
    assert_eq!(*world.sentinel.puts.borrow(), puts_before + 1);
    assert_eq!(comments(&world).len(), 1);
}

#[actix_rt::test]
async fn a_close_writes_the_configured_classification() {
    let world = paged_incident().await;
    deliver(
        &world,
        notification(&world, "n-close", Signl4Action::Closed, true),
    )
    .await;
    let record = incident(&world).await;
    assert_eq!(record.status, "Closed");
    let raw: serde_json::Value = serde_json::from_str(&record.raw_json).unwrap();
    assert_eq!(raw["properties"]["classification"], "Undetermined");
    assert_eq!(
        raw["properties"]["classificationComment"],
        "Closed in SIGNL4"
    );
    assert_eq!(
        raw["properties"]["description"], "Something happened",
        "nothing dropped"
    );
    assert_eq!(
        comments(&world),
        vec!["Closed in SIGNL4 by Rene (rene@signl4.com)."]
    );
    // The poller then sees the incident closed by our own write: no resolve goes back.
    world.handle.poll_now();
    settle(&world.handle).await;
    assert_eq!(statuses(&world.signl4), vec!["new"]);
}

#[actix_rt::test]
async fn a_close_that_arrives_before_its_acknowledge_wins() {
    let world = paged_incident().await;
    deliver(
        &world,
        notification(&world, "n-close", Signl4Action::Closed, true),
    )
    .await;
    let puts = *world.sentinel.puts.borrow();
    deliver(
        &world,
        notification(&world, "n-ack", Signl4Action::Acknowledged, true),
    )
    .await;
    let record = incident(&world).await;
    assert_eq!(
        record.status, "Closed",
        "a late acknowledge does not reopen"
    );
    assert_eq!(
        *world.sentinel.puts.borrow(),
        puts,
        "no incident write for it"
    );
}

#[actix_rt::test]
async fn an_annotation_becomes_a_comment() {
    let world = paged_incident().await;
    let note = Signl4Action::Annotated {
        text: "On my way".into(),
    };
    deliver(&world, notification(&world, "n-note", note, true)).await;
    assert_eq!(
        comments(&world),
        vec!["Rene (rene@signl4.com) via SIGNL4: On my way"]
    );
}

#[actix_rt::test]
async fn changes_without_a_user_are_recorded_but_never_echoed() {
    let world = paged_incident().await;
    let puts = *world.sentinel.puts.borrow();
    let echo = notification(&world, "n-echo", Signl4Action::Closed, false);
    assert_eq!(deliver(&world, echo).await, Recorded::New);
    assert_eq!(*world.sentinel.puts.borrow(), puts);
    assert!(comments(&world).is_empty());
    assert_eq!(incident(&world).await.status, "New");
}

#[actix_rt::test]
async fn a_notification_for_someone_elses_signl_records_nothing() {
    let world = paged_incident().await;
    let last = world.store.log().last_seq().unwrap();
    let mut other = notification(&world, "n-x", Signl4Action::Acknowledged, true);
    other.external_id = Some("INC091210".into());
    assert_eq!(deliver(&world, other).await, Recorded::UnknownIncident);
    assert_eq!(world.store.log().last_seq().unwrap(), last);
}

/// Given every incident of the tenant mapped to its ExternalID and someone else's Signl
/// answered as unknown without visiting them again, when a new incident is paged, then its
/// Signl's notifications are still found (the mapping gains the incidents not mapped yet).
#[actix_rt::test]
async fn a_signl_of_an_incident_seen_after_an_unknown_one_is_found() {
    let world = paged_incident().await;
    for id in ["n-x", "n-y"] {
        let mut other = notification(
            &world,
            id,
            Signl4Action::Annotated { text: "x".into() },
            true,
        );
        other.external_id = Some("INC091210".into());
        assert_eq!(deliver(&world, other).await, Recorded::UnknownIncident);
    }
    let second = world.sentinel.add(2, "New", "High");
    world.handle.poll_now();
    settle(&world.handle).await;
    assert_eq!(statuses(&world.signl4), vec!["new", "new"]);
    let mut ack = notification(&world, "n-ack-2", Signl4Action::Acknowledged, true);
    ack.external_id = Some(store::ids::external_id(
        settings().tenant(),
        IncidentKey::from_source_id(&second),
    ));
    assert_eq!(deliver(&world, ack).await, Recorded::New);
    assert_eq!(
        world.sentinel.get_incident(&second).await.unwrap().status,
        "Active"
    );
}

#[actix_rt::test]
async fn an_incident_write_survives_a_409_storm() {
    let world = paged_incident().await;
    let puts = *world.sentinel.puts.borrow();
    world.sentinel.put_errors.borrow_mut().extend([
        ApiError::Conflict,
        ApiError::Conflict,
        ApiError::Conflict,
    ]);
    deliver(
        &world,
        notification(&world, "n-ack", Signl4Action::Acknowledged, true),
    )
    .await;
    assert_eq!(incident(&world).await.status, "Active");
    assert_eq!(*world.sentinel.puts.borrow(), puts + 1);
}

#[actix_rt::test]
async fn an_analyst_closing_in_sentinel_resolves_the_signl_once() {
    let world = paged_incident().await;
    world.sentinel.set_status(&world.name, "Closed");
    for _ in 0..3 {
        world.handle.poll_now();
        settle(&world.handle).await;
    }
    assert_eq!(statuses(&world.signl4), vec!["new", "resolved"]);
    let resolve = &world.signl4.sent.borrow()[1];
    assert_eq!(
        resolve["X-S4-ExternalID"].as_str(),
        Some(world.external.as_str())
    );
}

async fn poll(world: &World, times: usize) {
    for _ in 0..times {
        world.handle.poll_now();
        settle(&world.handle).await;
    }
}

#[actix_rt::test]
async fn an_owner_set_by_an_analyst_acknowledges_the_signl_once() {
    let world = paged_incident().await;
    world.sentinel.set_owner(&world.name, "analyst@contoso.com");
    poll(&world, 3).await;
    assert_eq!(statuses(&world.signl4), vec!["new", "acknowledged"]);
    // The owner changing again acknowledges nothing more.
    world.sentinel.set_owner(&world.name, "other@contoso.com");
    poll(&world, 2).await;
    assert_eq!(statuses(&world.signl4), vec!["new", "acknowledged"]);
}

#[actix_rt::test]
async fn the_owner_our_own_acknowledge_wrote_is_not_sent_back() {
    let world = paged_incident().await;
    deliver(
        &world,
        notification(&world, "n-ack", Signl4Action::Acknowledged, true),
    )
    .await;
    assert_eq!(
        incident(&world).await.owner.as_deref(),
        Some("rene@signl4.com")
    );
    poll(&world, 3).await;
    assert_eq!(statuses(&world.signl4), vec!["new"]);
}

#[actix_rt::test]
async fn our_own_acknowledge_echoed_with_a_user_is_not_written_back() {
    let world = paged_incident().await;
    world.sentinel.set_owner(&world.name, "analyst@contoso.com");
    poll(&world, 2).await;
    assert_eq!(statuses(&world.signl4), vec!["new", "acknowledged"]);
    // Even if SIGNL4 named a user for the acknowledge we caused, it is our own change.
    let puts = *world.sentinel.puts.borrow();
    let echo = notification(&world, "n-echo", Signl4Action::Acknowledged, true);
    assert_eq!(deliver(&world, echo).await, Recorded::New);
    assert_eq!(*world.sentinel.puts.borrow(), puts);
    assert!(comments(&world).is_empty());
    assert_eq!(
        incident(&world).await.owner.as_deref(),
        Some("analyst@contoso.com")
    );
}

#[actix_rt::test]
async fn analyst_comments_become_annotations_once_and_ours_never() {
    let signl4 = FakeSignl4 {
        has_api_key: true,
        ..FakeSignl4::default()
    };
    let world = paged_incident_with(signl4).await;
    // A SIGNL4 user's note becomes our comment on the incident.
    let note = Signl4Action::Annotated {
        text: "On my way".into(),
    };
    deliver(&world, notification(&world, "n-note", note, true)).await;
    world
        .sentinel
        .analyst_comment(&world.name, "Ann Analyst", "Looks like the VPN again");
    poll(&world, 3).await;
    world
        .sentinel
        .analyst_comment(&world.name, "Ann Analyst", "Confirmed, rotating keys");
    poll(&world, 3).await;
    let annotations = world.signl4.annotations.borrow().clone();
    assert_eq!(
        annotations,
        vec![
            (
                "2518981069381242800_2ab1".to_string(),
                "Ann Analyst via Sentinel: Looks like the VPN again".to_string()
            ),
            (
                "2518981069381242800_2ab1".to_string(),
                "Ann Analyst via Sentinel: Confirmed, rotating keys".to_string()
            ),
        ]
    );
    // Comments are read once per change of the incident, not on every poll.
    let listings = *world.sentinel.comment_listings.borrow();
    poll(&world, 3).await;
    assert_eq!(*world.sentinel.comment_listings.borrow(), listings);
    // The echo of our annotation, even with a user, is not written back as a comment.
    let mut echo = notification(
        &world,
        "n-echo",
        Signl4Action::Annotated {
            text: annotations[0].1.clone(),
        },
        true,
    );
    echo.annotation_id = Some("note-1".into());
    deliver(&world, echo).await;
    assert_eq!(
        comments(&world).len(),
        3,
        "one note from SIGNL4 and two analyst comments: {:?}",
        comments(&world)
    );
}

/// Sentinel counts comments (`commentsCount`): an incident that has none is not listed, so the
/// read budget is not spent on it; the first analyst comment changes the incident and is read.
#[actix_rt::test]
async fn an_incident_without_comments_is_not_listed_until_one_appears() {
    let signl4 = FakeSignl4 {
        has_api_key: true,
        ..FakeSignl4::default()
    };
    let world = paged_incident_with(signl4).await;
    poll(&world, 3).await;
    assert_eq!(
        *world.sentinel.comment_listings.borrow(),
        0,
        "no comment: nothing to read"
    );
    // The Signl's id, as the acknowledge's notification tells it; our acknowledge comment
    // counts, so the incident is read once after it.
    deliver(
        &world,
        notification(&world, "n-ack", Signl4Action::Acknowledged, true),
    )
    .await;
    poll(&world, 3).await;
    assert_eq!(*world.sentinel.comment_listings.borrow(), 1);
    world
        .sentinel
        .analyst_comment(&world.name, "Ann Analyst", "Anyone?");
    poll(&world, 3).await;
    assert_eq!(
        world.signl4.annotations.borrow().len(),
        1,
        "{:?}",
        world.signl4.annotations.borrow()
    );
    assert_eq!(*world.sentinel.comment_listings.borrow(), 2);
}

#[actix_rt::test]
async fn without_an_api_key_comments_are_not_annotated() {
    let world = paged_incident().await;
    world
        .sentinel
        .analyst_comment(&world.name, "Ann Analyst", "Anyone?");
    poll(&world, 2).await;
    assert!(world.signl4.annotations.borrow().is_empty());
    assert_eq!(
        *world.sentinel.comment_listings.borrow(),
        0,
        "not even read"
    );
    assert!(world.store.read(|p| p.open_effects().is_empty()));
}

/// An acknowledge and a close of one incident left open together (a restart, a parked
/// write-back released): one incident write does both, the close carrying the acknowledge's
/// owner, and both outcomes are recorded.
#[actix_rt::test]
async fn an_acknowledge_and_a_close_left_open_together_are_one_write() {
    let world = paged_incident().await;
    let tenant = settings().tenant();
    let key = IncidentKey::from_source_id(&world.name);
    let ack = Effect::AcknowledgeIncident {
        owner: Some("rene@contoso.com".into()),
        set_active: true,
        cause: "test/ack".into(),
    };
    let close = Effect::CloseIncident {
        classification: "Undetermined".into(),
        classification_reason: None,
        classification_comment: "Closed in SIGNL4".into(),
        owner: None,
        cause: "test/close".into(),
    };
    world
        .store
        .execute_many(vec![
            Execution::incident(tenant, key, Command::Request(ack)),
            Execution::incident(tenant, key, Command::Request(close)),
        ])
        .await
        .unwrap();
    let puts = *world.sentinel.puts.borrow();
    world.handle.status_sync.send(Reconcile).await.unwrap();
    settle(&world.handle).await;
    let written = incident(&world).await;
    assert_eq!(written.status, "Closed");
    assert_eq!(written.owner.as_deref(), Some("rene@contoso.com"));
    assert_eq!(
        *world.sentinel.puts.borrow(),
        puts + 1,
        "one write for both"
    );
    assert!(
        world
            .store
            .read(|p| p.incident(tenant, key).unwrap().open_effects.is_empty()),
        "both outcomes recorded"
    );
}
