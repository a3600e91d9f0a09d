//! In-memory fakes behind the ports, and helpers to run a connector on them: the actors' tests
//! check each behaviour deterministically on a real store on disk.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use actors::connector::{self, ConnectorHandle, Services};
use actors::ports::*;
use actors::retry::Backoff;
use actors::settings::ConnectorSettings;
use serde_json::{json, Value};
use store::Store;
use uuid::Uuid;

/// Sentinel in memory: incidents as JSON, listing with the query's filters and paging.
#[derive(Default)]
pub struct FakeSentinel {
    pub incidents: RefCell<BTreeMap<String, Value>>,
    pub clock: RefCell<i64>,
    /// Errors to return from the next incident writes (before the etag check).
    pub put_errors: RefCell<VecDeque<ApiError>>,
    pub alert_errors: RefCell<VecDeque<ApiError>>,
    pub puts: RefCell<u32>,
    /// Comments by (incident, comment id).
    pub comments: RefCell<BTreeMap<(String, Uuid), String>>,
    /// Analyst comments: (incident, comment id) -> author.
    pub analyst_comments: RefCell<BTreeMap<(String, Uuid), String>>,
    /// Comment listings served.
    pub comment_listings: RefCell<u32>,
    /// While set, alert listings wait (an enrichment held mid-flight).
    pub hold_alerts: Cell<bool>,
    /// Alert listings running now, and the most that ever ran at once.
    pub alert_calls: Rc<Cell<usize>>,
    pub alert_calls_max: Cell<usize>,
}

/// Counts one running call until dropped (also when the call is cancelled).
struct Running(Rc<Cell<usize>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl FakeSentinel {
    pub fn add(&self, number: i64, status: &str, severity: &str) -> String {
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
                "additionalData": {"alertProductNames": ["Azure Sentinel"], "tactics": ["InitialAccess"],
                    "commentsCount": 0}}}),
        );
        name
    }

    /// An analyst changes the status in the portal.
    pub fn set_status(&self, name: &str, status: &str) {
        let mut clock = self.clock.borrow_mut();
        *clock += 1000;
        let mut incidents = self.incidents.borrow_mut();
        let incident = incidents.get_mut(name).unwrap();
        incident["properties"]["status"] = json!(status);
        incident["properties"]["lastModifiedTimeUtc"] = json!(*clock);
        incident["etag"] = json!(format!("\"{clock}\""));
    }

    /// An analyst sets the owner in the portal.
    pub fn set_owner(&self, name: &str, upn: &str) {
        self.touch(name, |incident| {
            incident["properties"]["owner"] = json!({"userPrincipalName": upn})
        });
    }

    /// An analyst comments in the portal (a change of the incident, like in Sentinel).
    pub fn analyst_comment(&self, name: &str, author: &str, text: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.comments
            .borrow_mut()
            .insert((name.to_string(), id), text.to_string());
        self.analyst_comments
            .borrow_mut()
            .insert((name.to_string(), id), author.to_string());
        self.count_comments(name);
        id
    }

    /// Sentinel counts an incident's comments in `additionalData.commentsCount`, and a comment
    /// changes the incident (a new etag).
    fn count_comments(&self, name: &str) {
        let count = self
            .comments
            .borrow()
            .keys()
            .filter(|(n, _)| n == name)
            .count();
        self.touch(name, |incident| {
            incident["properties"]["additionalData"]["commentsCount"] = json!(count)
        });
    }

    fn touch(&self, name: &str, change: impl FnOnce(&mut Value)) {
        let mut clock = self.clock.borrow_mut();
        *clock += 1000;
        let mut incidents = self.incidents.borrow_mut();
        let incident = incidents.get_mut(name).unwrap();
        change(incident);
        incident["properties"]["lastModifiedTimeUtc"] = json!(*clock);
        incident["etag"] = json!(format!("\"{clock}\""));
    }

    pub fn labels(&self, name: &str) -> Vec<String> {
        self.incidents.borrow()[name]["properties"]["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["labelName"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn record(value: &Value) -> IncidentRecord {
        let p = &value["properties"];
        IncidentRecord {
            name: value["name"].as_str().unwrap().into(),
            etag: value["etag"].as_str().unwrap().into(),
            number: p["incidentNumber"].as_i64().unwrap(),
            title: p["title"].as_str().unwrap().into(),
            description: p["description"].as_str().unwrap_or("").into(),
            severity: p["severity"].as_str().unwrap().into(),
            status: p["status"].as_str().unwrap().into(),
            owner: p["owner"]["userPrincipalName"]
                .as_str()
                .or(p["owner"]["objectId"].as_str())
                .map(str::to_string),
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

impl FakeSentinel {
    /// One incident write of `update` built from `record`: refused with a queued error, or as a
    /// conflict when `record`'s etag is stale.
    fn put(
        &self,
        name: &str,
        record: &IncidentRecord,
        update: &IncidentUpdate,
    ) -> Result<IncidentRecord, ApiError> {
        if let Some(error) = self.put_errors.borrow_mut().pop_front() {
            return Err(error);
        }
        let mut incidents = self.incidents.borrow_mut();
        let current = incidents.get_mut(name).ok_or(ApiError::NotFound)?;
        if current["etag"] != json!(record.etag) {
            return Err(ApiError::Conflict);
        }
        let p = &mut current["properties"];
        if let Some(owner) = update.owner_to_write(record) {
            p["owner"] = json!({"userPrincipalName": owner});
        }
        if let Some(status) = update.status_to_write(record) {
            p["status"] = json!(status);
        }
        if let IncidentChange::Close {
            classification,
            reason,
            comment,
            ..
        } = &update.change
        {
            p["classification"] = json!(classification);
            p["classificationReason"] = json!(reason);
            p["classificationComment"] = json!(comment);
        }
        for label in update.labels_to_add(record) {
            p["labels"]
                .as_array_mut()
                .expect("labels")
                .push(json!({"labelName": label}));
        }
        let mut clock = self.clock.borrow_mut();
        *clock += 1000;
        p["lastModifiedTimeUtc"] = json!(*clock);
        current["etag"] = json!(format!("\"{clock}\""));
        *self.puts.borrow_mut() += 1;
        Ok(FakeSentinel::record(current))
    }
}

impl IncidentSource for FakeSentinel {
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

    /// As the Sentinel adapter does it: from `known` (else a read), nothing when done, else a
    /// "PUT" checked against the current etag; a 409 (stale etag, or one queued in
    /// `put_errors`) reads again, at most 8 times.
    async fn update_incident(
        &self,
        name: &str,
        update: &IncidentUpdate,
        known: Option<IncidentRecord>,
        _request_id: Uuid,
    ) -> Result<UpdateOutcome, ApiError> {
        let mut start = known;
        let mut conflicts = 0;
        loop {
            let record = match start.take() {
                Some(record) => record,
                None => self.get_incident(name).await?,
            };
            if update.is_done(&record) {
                return Ok(UpdateOutcome::AlreadyDone(record));
            }
            match self.put(name, &record, update) {
                Err(ApiError::Conflict) if conflicts < 8 => conflicts += 1,
                other => return other.map(UpdateOutcome::Written),
            }
        }
    }

    async fn list_alerts(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        self.alert_calls.set(self.alert_calls.get() + 1);
        let _running = Running(self.alert_calls.clone());
        self.alert_calls_max
            .set(self.alert_calls_max.get().max(self.alert_calls.get()));
        while self.hold_alerts.get() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
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

    async fn put_comment(
        &self,
        name: &str,
        comment_id: Uuid,
        message: &str,
        _: Uuid,
    ) -> Result<String, ApiError> {
        self.comments
            .borrow_mut()
            .insert((name.to_string(), comment_id), message.to_string());
        self.count_comments(name);
        Ok(format!("c-{comment_id}"))
    }

    async fn get_comment(&self, name: &str, comment_id: Uuid) -> Result<Option<String>, ApiError> {
        Ok(self
            .comments
            .borrow()
            .get(&(name.to_string(), comment_id))
            .cloned())
    }

    async fn list_comments(&self, name: &str) -> Result<Vec<CommentRecord>, ApiError> {
        *self.comment_listings.borrow_mut() += 1;
        let authors = self.analyst_comments.borrow();
        Ok(self
            .comments
            .borrow()
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((n, id), message)| CommentRecord {
                id: id.to_string(),
                message: message.clone(),
                author: authors
                    .get(&(n.clone(), *id))
                    .cloned()
                    .unwrap_or_else(|| "SIGNL4 connector".into()),
                // Comments are made while the test runs, after any page.
                created_ms: i64::MAX,
            })
            .collect())
    }
}

/// SIGNL4 in memory: every event sent, and Signls by ExternalID.
#[derive(Default)]
pub struct FakeSignl4 {
    pub sent: RefCell<Vec<Value>>,
    pub has_api_key: bool,
    /// Signls SIGNL4 already holds (raised by a previous process that crashed before recording).
    pub existing: RefCell<Vec<(String, SignlSummary)>>,
    /// Annotations added through REST: (Signl id, text).
    pub annotations: RefCell<Vec<(String, String)>>,
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

    fn has_rest_api(&self) -> bool {
        self.has_api_key
    }

    async fn annotate(
        &self,
        signl_id: &str,
        text: &str,
        _request_id: Uuid,
    ) -> Result<Option<String>, ApiError> {
        if !self.has_api_key {
            return Ok(None);
        }
        let mut annotations = self.annotations.borrow_mut();
        annotations.push((signl_id.to_string(), text.to_string()));
        Ok(Some(format!("note-{}", annotations.len())))
    }

    async fn changed_signls(&self, _: i64) -> Result<Option<Vec<SignlState>>, ApiError> {
        Ok(None) // these tests deliver changes as notifications
    }

    async fn annotations(&self, _: &str) -> Result<Option<Vec<SignlAnnotation>>, ApiError> {
        Ok(None)
    }
}

/// No Log Analytics workspace configured.
pub struct NoWorkspace;

impl LogAnalyticsApi for NoWorkspace {
    async fn query(&self, _: &str, _: &str) -> Result<QueryResult, ApiError> {
        Err(ApiError::Rejected {
            status: 400,
            message: "no workspace".into(),
        })
    }
}

pub fn settings() -> ConnectorSettings {
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

pub type Handle = ConnectorHandle<FakeSentinel, FakeSignl4, NoWorkspace>;

pub async fn start(store: &Store, sentinel: &Rc<FakeSentinel>, signl4: &Rc<FakeSignl4>) -> Handle {
    start_with(settings(), store, sentinel, signl4).await
}

/// [`start`] with other settings.
pub async fn start_with(
    settings: ConnectorSettings,
    store: &Store,
    sentinel: &Rc<FakeSentinel>,
    signl4: &Rc<FakeSignl4>,
) -> Handle {
    connector::start(
        settings,
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
pub async fn settle(handle: &Handle) {
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

pub fn statuses(signl4: &FakeSignl4) -> Vec<String> {
    signl4
        .sent
        .borrow()
        .iter()
        .map(|b| b["X-S4-Status"].as_str().unwrap().to_string())
        .collect()
}

pub fn external_ids(signl4: &FakeSignl4) -> Vec<String> {
    signl4
        .sent
        .borrow()
        .iter()
        .map(|b| b["X-S4-ExternalID"].as_str().unwrap().to_string())
        .collect()
}
