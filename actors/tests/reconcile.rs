//! Reconcile passes never overlap: a `Reconcile` that arrives while the receiver's previous
//! pass is still running (here: blocked in a remote call) is skipped, for the Forwarder and for
//! StatusSync. Two open intents make an overlap visible: a second pass would skip the intent the
//! first one holds and call the remote side for the other one at the same time.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Addr};
use actors::forwarder::{ForwardContext, Forwarder};
use actors::messages::{InFlight, Reconcile};
use actors::observation::observed;
use actors::ports::*;
use actors::status_sync::{PollState, StatusSync, SyncContext};
use actors::tracker::Claims;
use common::{settings, FakeSentinel, FakeSignl4};
use serde_json::Value;
use store::events::{Effect, Source};
use store::writer::Execution;
use store::{Command, IncidentKey, Store, StoreConfig};
use uuid::Uuid;

/// A remote call that blocks until released, counting calls and how many run at once.
#[derive(Default)]
struct Gate {
    calls: Cell<usize>,
    running: Cell<usize>,
    most_at_once: Cell<usize>,
    released: Cell<bool>,
}

impl Gate {
    async fn pass(&self) {
        self.calls.set(self.calls.get() + 1);
        self.running.set(self.running.get() + 1);
        self.most_at_once
            .set(self.most_at_once.get().max(self.running.get()));
        while !self.released.get() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.running.set(self.running.get() - 1);
    }
}

/// SIGNL4 whose look-up by ExternalID blocks at the gate, then finds an open Signl.
struct BlockingSignl4(Rc<Gate>);

impl Signl4Api for BlockingSignl4 {
    async fn send_event(&self, _: &Value, _: Uuid) -> Result<String, ApiError> {
        Ok("event".into())
    }

    async fn find_signls(&self, external_id: &str) -> Result<Option<Vec<SignlSummary>>, ApiError> {
        self.0.pass().await;
        Ok(Some(vec![SignlSummary {
            id: format!("signl-of-{external_id}"),
            event_id: None,
            status: 1,
            created_ms: None,
        }]))
    }

    fn has_rest_api(&self) -> bool {
        false // these tests are about intents, not about mirroring comments
    }

    async fn annotate(&self, _: &str, _: &str, _: Uuid) -> Result<Option<String>, ApiError> {
        Ok(None)
    }

    async fn changed_signls(&self, _: i64) -> Result<Option<Vec<SignlState>>, ApiError> {
        Ok(None)
    }

    async fn annotations(&self, _: &str) -> Result<Option<Vec<SignlAnnotation>>, ApiError> {
        Ok(None)
    }
}

/// Sentinel whose comment writes block at the gate; everything else is the in-memory fake.
struct BlockingSentinel {
    gate: Rc<Gate>,
    inner: FakeSentinel,
    comments: RefCell<HashMap<Uuid, String>>,
}

impl IncidentSource for BlockingSentinel {
    async fn list_incidents(
        &self,
        query: &IncidentQuery,
        next_link: Option<&str>,
    ) -> Result<IncidentPage, ApiError> {
        self.inner.list_incidents(query, next_link).await
    }

    async fn get_incident(&self, name: &str) -> Result<IncidentRecord, ApiError> {
        self.inner.get_incident(name).await
    }

    async fn update_incident(
        &self,
        name: &str,
        update: &IncidentUpdate,
        known: Option<IncidentRecord>,
        request_id: Uuid,
    ) -> Result<UpdateOutcome, ApiError> {
        self.inner
            .update_incident(name, update, known, request_id)
            .await
    }

    async fn list_alerts(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        self.inner.list_alerts(name).await
    }

    async fn list_entities(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        self.inner.list_entities(name).await
    }

    async fn put_comment(
        &self,
        _: &str,
        comment_id: Uuid,
        message: &str,
        _: Uuid,
    ) -> Result<String, ApiError> {
        self.gate.pass().await;
        self.comments
            .borrow_mut()
            .insert(comment_id, message.to_string());
        Ok(format!("c-{comment_id}"))
    }

    async fn get_comment(&self, _: &str, comment_id: Uuid) -> Result<Option<String>, ApiError> {
        Ok(self.comments.borrow().get(&comment_id).cloned())
    }

    async fn list_comments(&self, name: &str) -> Result<Vec<CommentRecord>, ApiError> {
        self.inner.list_comments(name).await
    }
}

/// Two observed incidents in a fresh log, each with an open intent made by `effect`.
async fn two_open_intents(
    store: &Store,
    sentinel: &FakeSentinel,
    effect: impl Fn(IncidentKey, u32) -> Effect,
) {
    let tenant = settings().tenant();
    for number in [1, 2] {
        let name = sentinel.add(number, "New", "High");
        let record = sentinel.get_incident(&name).await.unwrap();
        let key = IncidentKey::from_source_id(&name);
        store
            .execute(Execution::incident(
                tenant,
                key,
                Command::Observe(observed(&record, Source::Sentinel)),
            ))
            .await
            .unwrap();
        let round = store.read(|p| p.incident(tenant, key).unwrap().round);
        store
            .execute(Execution::incident(
                tenant,
                key,
                Command::Request(effect(key, round)),
            ))
            .await
            .unwrap();
    }
    assert_eq!(store.read(|p| p.open_effects().len()), 2);
}

/// Starts the pass (the actor's own start-up `Reconcile`), fires more `Reconcile`s while it is
/// blocked, releases it and waits until every intent is closed.
async fn drive<A>(addr: &Addr<A>, gate: &Gate, store: &Store)
where
    A: Actor<Context = actix::Context<A>>
        + actix::Handler<Reconcile>
        + actix::Handler<InFlight, Result = usize>,
{
    for _ in 0..400 {
        if gate.running.get() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        gate.running.get(),
        1,
        "the start-up pass is blocked at the gate"
    );
    for _ in 0..5 {
        addr.send(Reconcile).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Only the blocked pass is in flight: the ticks were skipped, not queued behind it.
    assert_eq!(addr.send(InFlight).await.unwrap(), 1);
    gate.released.set(true);
    for _ in 0..400 {
        if store.read(|p| p.open_effects().is_empty()) && addr.send(InFlight).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        store.read(|p| p.open_effects().is_empty()),
        "intents closed"
    );
}

#[actix_rt::test]
async fn forwarder_reconcile_passes_do_not_overlap() {
    let dir = store::scratch::dir();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let tenant = settings().tenant();
    two_open_intents(&store, &sentinel, |key, round| Effect::RaiseSignl {
        external_id: store::ids::external_id(tenant, key),
        round,
    })
    .await;
    let gate = Rc::new(Gate::default());
    let forwarder = Forwarder::new(ForwardContext {
        settings: Rc::new(actors::settings::ConnectorSettings {
            tag: String::new(),
            ..settings()
        }),
        store: store.clone(),
        sentinel,
        signl4: Rc::new(BlockingSignl4(gate.clone())),
        busy: Claims::default(),
        parking: Default::default(),
        known: Default::default(),
    })
    .start();
    drive(&forwarder, &gate, &store).await;
    assert_eq!(gate.most_at_once.get(), 1, "passes overlapped");
    assert_eq!(gate.calls.get(), 2, "one look-up per intent, by one pass");
}

#[actix_rt::test]
async fn status_sync_reconcile_passes_do_not_overlap() {
    let dir = store::scratch::dir();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let gate = Rc::new(Gate::default());
    let sentinel = Rc::new(BlockingSentinel {
        gate: gate.clone(),
        inner: FakeSentinel::default(),
        comments: RefCell::new(HashMap::new()),
    });
    let tenant = settings().tenant();
    two_open_intents(&store, &sentinel.inner, |key, _| Effect::WriteComment {
        comment_id: store::ids::comment_id(tenant, key, "n1"),
        message: "Acknowledged in SIGNL4 by Rene.".into(),
    })
    .await;
    let status_sync = StatusSync::new(SyncContext {
        settings: Rc::new(settings()),
        store: store.clone(),
        sentinel: sentinel.clone(),
        signl4: Rc::new(FakeSignl4::default()),
        busy: Claims::default(),
        parking: Default::default(),
        known: Default::default(),
        by_external_id: RefCell::new(HashMap::new()),
        polls: PollState::default(),
    })
    .start();
    drive(&status_sync, &gate, &store).await;
    assert_eq!(gate.most_at_once.get(), 1, "passes overlapped");
    assert_eq!(gate.calls.get(), 2, "one write per intent, by one pass");
    assert_eq!(sentinel.comments.borrow().len(), 2);
}
