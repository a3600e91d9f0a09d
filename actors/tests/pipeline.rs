//! The pipeline (Poller -> Enricher -> Forwarder) on a real store on disk, with in-memory fakes
//! behind the ports, so that each behaviour is checked deterministically: filters, one Signl per
//! incident, tagging through a 409, reconciliation after a crash with and without an API key,
//! reopened incidents, and enrichment that fails. The same pipeline over real HTTP against the
//! sandbox is tested in the root crate.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use actors::connector::{self, ConnectorHandle, Services};
use actors::ports::*;
use actors::retry::Backoff;
use actors::settings::ConnectorSettings;
use serde_json::{json, Value};
use store::aggregate::SignlStatus;
use store::events::{Effect, EffectResult, Event};
use store::writer::Execution;
use store::{Command, IncidentKey, Store, StoreConfig};
use uuid::Uuid;

/// Sentinel in memory: incidents as JSON, listing with the query's filters and paging.
#[derive(Default)]
struct FakeSentinel {
    incidents: RefCell<BTreeMap<String, Value>>,
    clock: RefCell<i64>,
    /// Errors to return from the next `put_incident` calls.
    put_errors: RefCell<VecDeque<ApiError>>,
    alert_errors: RefCell<VecDeque<ApiError>>,
    puts: RefCell<u32>,
}

impl FakeSentinel {
    fn add(&self, number: i64, status: &str, severity: &str) -> String {
        let name = Uuid::from_u128(0x73e0_0000 + number as u128).to_string();
        let mut clock = self.clock.borrow_mut();
        *clock += 1000;
        self.incidents.borrow_mut().insert(
            name.clone(),
            json!({"name": name, "etag": format!("\"{clock}\""), "properties": {
                "title": format!("Incident {number}"), "severity": severity, "status": status,
                "incidentNumber": number, "description": "Something happened",
                "lastModifiedTimeUtc": *clock, "labels": [],
                "incidentUrl": format!("https://portal.azure.com/#incident/{name}"),
                "additionalData": {"alertProductNames": ["Azure Sentinel"], "tactics": ["InitialAccess"]}}}),
        );
        name
    }

    /// An analyst changes the status in the portal.
    fn set_status(&self, name: &str, status: &str) {
        let mut clock = self.clock.borrow_mut();
        *clock += 1000;
        let mut incidents = self.incidents.borrow_mut();
        let incident = incidents.get_mut(name).unwrap();
        incident["properties"]["status"] = json!(status);
        incident["properties"]["lastModifiedTimeUtc"] = json!(*clock);
        incident["etag"] = json!(format!("\"{clock}\""));
    }

    fn labels(&self, name: &str) -> Vec<String> {
        self.incidents.borrow()[name]["properties"]["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["labelName"].as_str().unwrap().to_string())
            .collect()
    }

    fn record(value: &Value) -> IncidentRecord {
        let p = &value["properties"];
        IncidentRecord {
            name: value["name"].as_str().unwrap().into(),
            etag: value["etag"].as_str().unwrap().into(),
            number: p["incidentNumber"].as_i64().unwrap(),
            title: p["title"].as_str().unwrap().into(),
            description: p["description"].as_str().unwrap_or("").into(),
            severity: p["severity"].as_str().unwrap().into(),
            status: p["status"].as_str().unwrap().into(),
            owner: None,
            created_ms: 0,
            last_modified_ms: p["lastModifiedTimeUtc"].as_i64().unwrap(),
            url: p["incidentUrl"].as_str().unwrap().into(),
            labels: p["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["labelName"].as_str().unwrap().to_string())
                .collect(),
            products: vec![],
            tactics: vec![],
            raw_json: value.to_string(),
        }
    }
}

impl SentinelApi for FakeSentinel {
    async fn list_incidents(
        &self,
        query: &IncidentQuery,
        next_link: Option<&str>,
    ) -> Result<IncidentPage, ApiError> {
        let mut all: Vec<IncidentRecord> = self
            .incidents
            .borrow()
            .values()
            .map(FakeSentinel::record)
            .filter(|r| {
                query.statuses.contains(&r.status)
                    && query.severities.contains(&r.severity)
                    && r.last_modified_ms >= query.modified_since_ms
            })
            .collect();
        all.sort_by_key(|r| r.last_modified_ms);
        let skip: usize = next_link.map_or(0, |l| l.parse().unwrap());
        let size = query.page_size as usize;
        let page: Vec<_> = all.iter().skip(skip).take(size).cloned().collect();
        let next = (skip + size < all.len()).then(|| (skip + size).to_string());
        Ok(IncidentPage {
            incidents: page,
            next_link: next,
        })
    }

    async fn get_incident(&self, name: &str) -> Result<IncidentRecord, ApiError> {
        self.incidents
            .borrow()
            .get(name)
            .map(FakeSentinel::record)
            .ok_or(ApiError::NotFound)
    }

    async fn put_incident(
        &self,
        name: &str,
        resource: &Value,
        _request_id: Uuid,
    ) -> Result<IncidentRecord, ApiError> {
        if let Some(error) = self.put_errors.borrow_mut().pop_front() {
            return Err(error);
        }
        let mut incidents = self.incidents.borrow_mut();
        let current = incidents.get_mut(name).ok_or(ApiError::NotFound)?;
        if current["etag"] != resource["etag"] {
            return Err(ApiError::Conflict);
        }
        let mut clock = self.clock.borrow_mut();
        *clock += 1000;
        current["properties"] = resource["properties"].clone();
        current["properties"]["lastModifiedTimeUtc"] = json!(*clock);
        current["etag"] = json!(format!("\"{clock}\""));
        *self.puts.borrow_mut() += 1;
        Ok(FakeSentinel::record(current))
    }

    async fn list_alerts(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        if let Some(error) = self.alert_errors.borrow_mut().pop_front() {
            return Err(error);
        }
        Ok(vec![json!({"kind": "SecurityAlert", "properties": {
            "alertDisplayName": format!("Alert of {name}"), "productName": "Azure Sentinel",
            "severity": "High", "systemAlertId": "a1", "tactics": ["Persistence"]}})])
    }

    async fn list_entities(&self, _name: &str) -> Result<Vec<Value>, ApiError> {
        Ok(vec![
            json!({"kind": "Account", "properties": {"accountName": "admin"}}),
        ])
    }

    async fn put_comment(&self, _: &str, _: Uuid, _: &str, _: Uuid) -> Result<String, ApiError> {
        Ok("c".into())
    }

    async fn get_comment(&self, _: &str, _: Uuid) -> Result<Option<String>, ApiError> {
        Ok(None)
    }
}

/// SIGNL4 in memory: every event sent, and Signls by ExternalID.
#[derive(Default)]
struct FakeSignl4 {
    sent: RefCell<Vec<Value>>,
    has_api_key: bool,
    /// Signls SIGNL4 already holds (raised by a previous process that crashed before recording).
    existing: RefCell<Vec<(String, SignlSummary)>>,
}

impl Signl4Api for FakeSignl4 {
    async fn send_event(&self, body: &Value, _request_id: Uuid) -> Result<String, ApiError> {
        let mut sent = self.sent.borrow_mut();
        sent.push(body.clone());
        Ok(format!("2518583650940558238_{}", sent.len()))
    }

    async fn find_signls(&self, external_id: &str) -> Result<Option<Vec<SignlSummary>>, ApiError> {
        if !self.has_api_key {
            return Ok(None);
        }
        Ok(Some(
            self.existing
                .borrow()
                .iter()
                .filter(|(ext, _)| ext == external_id)
                .map(|(_, s)| s.clone())
                .collect(),
        ))
    }
}

/// No Log Analytics workspace configured.
struct NoWorkspace;

impl LogAnalyticsApi for NoWorkspace {
    async fn query(&self, _: &str, _: &str) -> Result<QueryResult, ApiError> {
        Err(ApiError::Rejected {
            status: 400,
            message: "no workspace".into(),
        })
    }
}

fn settings() -> ConnectorSettings {
    ConnectorSettings {
        statuses: vec!["New".into(), "Active".into()],
        severities: vec!["High".into(), "Medium".into()],
        // The fake clock starts at the epoch: look back far enough to see it.
        lookback: Duration::from_secs(60 * 365 * 24 * 3600),
        poll_interval: Duration::from_secs(3600),
        page_size: 2,
        service: "Microsoft Sentinel".into(),
        enrichment_deadline: Duration::from_millis(300),
        backoff: Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
            attempts: 3,
            deadline: Duration::from_millis(300),
        },
        ..ConnectorSettings::new("contoso")
    }
}

type Handle = ConnectorHandle<FakeSentinel, FakeSignl4, NoWorkspace>;

async fn start(store: &Store, sentinel: &Rc<FakeSentinel>, signl4: &Rc<FakeSignl4>) -> Handle {
    connector::start(
        settings(),
        store.clone(),
        Services {
            sentinel: sentinel.clone(),
            signl4: signl4.clone(),
            log_analytics: None::<Rc<NoWorkspace>>,
        },
    )
    .await
    .unwrap()
}

/// Waits until the pipeline has been idle for a few consecutive checks (bounded).
async fn settle(handle: &Handle) {
    let mut quiet = 0;
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if handle.in_flight().await == 0 {
            quiet += 1;
            if quiet == 5 {
                return;
            }
        } else {
            quiet = 0;
        }
    }
    panic!("the pipeline did not settle");
}

fn statuses(signl4: &FakeSignl4) -> Vec<String> {
    signl4
        .sent
        .borrow()
        .iter()
        .map(|b| b["X-S4-Status"].as_str().unwrap().to_string())
        .collect()
}

fn external_ids(signl4: &FakeSignl4) -> Vec<String> {
    signl4
        .sent
        .borrow()
        .iter()
        .map(|b| b["X-S4-ExternalID"].as_str().unwrap().to_string())
        .collect()
}

#[actix_rt::test]
async fn eligible_incidents_are_paged_once_each_and_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let signl4 = Rc::new(FakeSignl4::default());
    let high = sentinel.add(1, "New", "High");
    let active = sentinel.add(2, "Active", "Medium");
    let low = sentinel.add(3, "New", "Low"); // severity not pulled
    let closed = sentinel.add(4, "Closed", "High"); // status not pulled
    let more: Vec<String> = (5..10).map(|n| sentinel.add(n, "New", "High")).collect();

    let handle = start(&store, &sentinel, &signl4).await;
    settle(&handle).await;
    for _ in 0..3 {
        handle.poll_now();
        settle(&handle).await;
    }

    let tenant = settings().tenant();
    let mut sent = external_ids(&signl4);
    sent.sort();
    let mut expected: Vec<String> = [&high, &active]
        .into_iter()
        .chain(more.iter())
        .map(|n| store::ids::external_id(tenant, IncidentKey::from_source_id(n)))
        .collect();
    expected.sort();
    assert_eq!(
        sent, expected,
        "one Signl per eligible incident, none for the others"
    );
    for name in [&high, &active] {
        assert_eq!(sentinel.labels(name), vec!["SIGNL4"]);
    }
    assert!(sentinel.labels(&low).is_empty() && sentinel.labels(&closed).is_empty());

    let first = &signl4.sent.borrow()[0];
    assert_eq!(first["X-S4-Status"], "new");
    assert_eq!(first["X-S4-Service"], "Microsoft Sentinel");
    assert!(first["Alerts"].as_str().unwrap().contains("Alert of"));
    assert_eq!(first["Entities"], "1. Account: admin");

    let state = store.read(|p| {
        p.incident(tenant, IncidentKey::from_source_id(&high))
            .cloned()
    });
    let state = state.unwrap();
    assert_eq!(state.signl.status, SignlStatus::Open);
    assert!(state.open_effects.is_empty());
    let etag = sentinel.incidents.borrow()[&high]["etag"].clone();
    assert!(
        state.is_own_etag(etag.as_str().unwrap()),
        "the tag's etag is remembered"
    );
    assert!(store.read(|p| p.tenant(tenant).unwrap().watermark_ms) > 0);
}

#[actix_rt::test]
async fn a_tag_survives_etag_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let signl4 = Rc::new(FakeSignl4::default());
    let name = sentinel.add(1, "New", "High");
    sentinel.put_errors.borrow_mut().extend([
        ApiError::Conflict,
        ApiError::Conflict,
        ApiError::Transient("503".into()),
    ]);
    let handle = start(&store, &sentinel, &signl4).await;
    settle(&handle).await;
    assert_eq!(sentinel.labels(&name), vec!["SIGNL4"]);
    assert_eq!(*sentinel.puts.borrow(), 1, "one successful write");
    assert_eq!(signl4.sent.borrow().len(), 1);
}

/// Records an observation and a `RaiseSignl` intent without outcome: the state a crash between
/// the intent and the webhook's answer leaves behind.
async fn crashed_mid_raise(store: &Store, sentinel: &FakeSentinel, name: &str) {
    let tenant = settings().tenant();
    let key = IncidentKey::from_source_id(name);
    let record = sentinel.get_incident(name).await.unwrap();
    let observe = Command::Observe(actors::observation::observed(
        &record,
        store::events::Source::Sentinel,
    ));
    store
        .execute(Execution::incident(tenant, key, observe))
        .await
        .unwrap();
    let raise = Command::Request(Effect::RaiseSignl {
        external_id: store::ids::external_id(tenant, key),
        round: 1,
    });
    store
        .execute(Execution::incident(tenant, key, raise))
        .await
        .unwrap();
}

#[actix_rt::test]
async fn after_a_crash_a_signl_found_by_external_id_is_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let name = sentinel.add(1, "New", "High");
    crashed_mid_raise(&store, &sentinel, &name).await;
    let tenant = settings().tenant();
    let external = store::ids::external_id(tenant, IncidentKey::from_source_id(&name));
    let signl4 = Rc::new(FakeSignl4 {
        has_api_key: true,
        existing: RefCell::new(vec![(
            external,
            SignlSummary {
                id: "2518981069381242800_x".into(),
                event_id: None,
                status: 1,
            },
        )]),
        ..FakeSignl4::default()
    });
    let handle = start(&store, &sentinel, &signl4).await;
    settle(&handle).await;
    assert!(
        signl4.sent.borrow().is_empty(),
        "found by ExternalID: not re-sent"
    );
    let events = store
        .log()
        .incident_events(tenant, IncidentKey::from_source_id(&name))
        .unwrap();
    assert!(events.iter().any(|e| matches!(&e.event,
        Event::EffectSucceeded(s) if matches!(s.result, EffectResult::AlreadyDone { .. }))));
    assert_eq!(sentinel.labels(&name), vec!["SIGNL4"], "tagging continues");
}

#[actix_rt::test]
async fn after_a_crash_without_an_api_key_the_resend_is_counted_as_at_least_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let name = sentinel.add(1, "New", "High");
    crashed_mid_raise(&store, &sentinel, &name).await;
    let signl4 = Rc::new(FakeSignl4::default());
    let handle = start(&store, &sentinel, &signl4).await;
    settle(&handle).await;
    assert_eq!(signl4.sent.borrow().len(), 1);
    let tenant = settings().tenant();
    let state = store
        .read(|p| {
            p.incident(tenant, IncidentKey::from_source_id(&name))
                .cloned()
        })
        .unwrap();
    assert_eq!(state.signls_unverified, 1);
    assert!(state.open_effects.is_empty());
}

#[test]
fn a_reopened_incident_is_paged_again_and_a_restart_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let signl4 = Rc::new(FakeSignl4::default());
    let name = sentinel.add(1, "New", "High");
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    actix_rt::System::new().block_on(async {
        let handle = start(&store, &sentinel, &signl4).await;
        settle(&handle).await;
        assert_eq!(signl4.sent.borrow().len(), 1);
        // Closed by an analyst: the Signl is resolved (Closed is listed whatever the filter).
        sentinel.set_status(&name, "Closed");
        handle.poll_now();
        settle(&handle).await;
        assert_eq!(statuses(&signl4), vec!["new", "resolved"]);
        // Reopened: a new round pages again.
        sentinel.set_status(&name, "Active");
        handle.poll_now();
        settle(&handle).await;
    });
    assert_eq!(
        statuses(&signl4),
        vec!["new", "resolved", "new"],
        "round 2 pages again"
    );
    // The first process is gone (its System and actors dropped); close the log and start again.
    store.shutdown().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    actix_rt::System::new().block_on(async {
        let handle = start(&store, &sentinel, &signl4).await;
        settle(&handle).await;
        handle.poll_now();
        settle(&handle).await;
    });
    assert_eq!(
        signl4.sent.borrow().len(),
        3,
        "nothing sent twice after the restart"
    );
}

#[actix_rt::test]
async fn an_incident_is_paged_even_when_enrichment_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let sentinel = Rc::new(FakeSentinel::default());
    let signl4 = Rc::new(FakeSignl4::default());
    sentinel.add(1, "New", "High");
    sentinel
        .alert_errors
        .borrow_mut()
        .extend((0..10).map(|_| ApiError::Throttled {
            retry_after: Duration::from_millis(50),
        }));
    let handle = start(&store, &sentinel, &signl4).await;
    settle(&handle).await;
    let sent = signl4.sent.borrow();
    assert_eq!(sent.len(), 1);
    let missing = sent[0]["Not available"].as_str().unwrap();
    assert!(missing.contains("alerts: throttled"), "{missing}");
}
