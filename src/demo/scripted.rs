//! Scripted incident lifecycles played through the real event store, without any service: a
//! log with every kind of history (paged, acknowledged, closed from either side, reopened, an
//! open intent) in a second, for the audit tool's tests and `demo-log`. Every command goes
//! through the same `decide` and group-commit path the actors use; nothing writes the log
//! directly.
//!
//! Invariant: the script only issues commands the lifecycle allows; a rejection is a bug in the
//! script and is reported as an error, never ignored.

use std::error::Error;

use store::aggregate::effect_id;
use store::events::*;
use store::ids::{comment_id, external_id};
use store::keys::{inbox, InboxSource};
use store::writer::Execution;
use store::{Command, ExecuteOutcome, IncidentKey, Store, TenantId};
use uuid::Uuid;

/// What the demo wrote.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub tenants: usize,
    pub incidents: usize,
    pub events: u64,
}

/// Plays `incidents` incident lifecycles for each of `tenants` connectors.
pub fn play(store: &Store, tenants: usize, incidents: usize) -> Result<Summary, Box<dyn Error>> {
    let start_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for t in 0..tenants {
        let name = format!("tenant-{}", t + 1);
        let tenant = TenantId::from_name(&name);
        run(
            store,
            Execution::tenant(
                tenant,
                Command::StartConnector(ConnectorStarted {
                    name: name.clone(),
                    source: Source::Sentinel,
                    build: env!("CARGO_PKG_VERSION").into(),
                }),
            ),
        )?;
        for i in 0..incidents {
            let number = i as i64 + 1;
            let script = Script {
                store,
                tenant,
                incident: IncidentKey(Uuid::new_v5(
                    &Uuid::NAMESPACE_OID,
                    format!("{name}/{number}").as_bytes(),
                )),
                number,
                at_ms: start_ms + number * 60_000,
            };
            script.play(i % 4, i + 1 == incidents)?;
            run(
                store,
                Execution::tenant(
                    tenant,
                    Command::AdvanceWatermark(WatermarkAdvanced {
                        watermark_ms: script.at_ms,
                        max_incident_number: number,
                    }),
                ),
            )?;
        }
    }
    Ok(Summary {
        tenants,
        incidents: tenants * incidents,
        events: store.log().last_seq()?,
    })
}

fn run(store: &Store, execution: Execution) -> Result<Vec<store::StoredEvent>, Box<dyn Error>> {
    match store.execute_blocking(execution.clone())? {
        ExecuteOutcome::Appended(events) => Ok(events),
        ExecuteOutcome::Unchanged | ExecuteOutcome::Duplicate { .. } => Ok(Vec::new()),
        ExecuteOutcome::Rejected(why) => {
            Err(format!("demo script bug: {:?} rejected: {why}", execution.command).into())
        }
    }
}

/// One incident being played.
struct Script<'a> {
    store: &'a Store,
    tenant: TenantId,
    incident: IncidentKey,
    number: i64,
    at_ms: i64,
}

const TITLES: [&str; 4] = [
    "Multiple failed sign-ins followed by a success",
    "Suspicious PowerShell download cradle",
    "Mass file deletion on a file share",
    "Sign-in from an anonymous IP address",
];

impl Script<'_> {
    fn command(&self, command: Command) -> Result<Vec<store::StoredEvent>, Box<dyn Error>> {
        run(
            self.store,
            Execution::incident(self.tenant, self.incident, command),
        )
    }

    fn observe(&self, status: &str, etag: u32, owner: Option<&str>) -> Result<(), Box<dyn Error>> {
        let title = TITLES[self.number as usize % TITLES.len()];
        let severity = ["High", "Medium", "Low", "High"][self.number as usize % 4];
        let name = self.incident.to_string();
        self.command(Command::Observe(IncidentObserved {
            source: Source::Sentinel,
            name: name.clone(),
            etag: self.etag(etag),
            incident_number: self.number,
            title: title.into(),
            severity: severity.into(),
            status: status.into(),
            owner: owner.map(str::to_string),
            created_ms: self.at_ms,
            last_modified_ms: self.at_ms + etag as i64 * 1_000,
            incident_url: format!(
                "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/{name}"
            ),
            labels: if etag > 1 {
                vec!["SIGNL4".into()]
            } else {
                vec![]
            },
            raw_json: serde_json::json!({
                "name": name, "etag": etag,
                "properties": {"title": title, "severity": severity, "status": status,
                               "incidentNumber": self.number}
            })
            .to_string(),
        }))?;
        Ok(())
    }

    /// The etag of the incident's `n`th version, shaped like Sentinel's.
    fn etag(&self, n: u32) -> String {
        format!("\"{:08x}-0000-0000-0000-{n:012x}\"", self.number)
    }

    /// Requests `effect` and records `result` as its outcome.
    fn effect(&self, effect: Effect, result: EffectResult) -> Result<(), Box<dyn Error>> {
        let id = effect_id(self.tenant, self.incident, &effect);
        self.command(Command::Request(effect))?;
        self.command(Command::Succeed {
            effect_id: id,
            result,
        })?;
        Ok(())
    }

    fn signl4(&self, action: Signl4Action) -> Result<String, Box<dyn Error>> {
        let notification = Uuid::new_v4().to_string();
        run(
            self.store,
            Execution::incident(
                self.tenant,
                self.incident,
                Command::RecordSignl4Action(Signl4ActionReceived {
                    notification_id: notification.clone(),
                    signl_id: format!("2518981069381242800_{}", Uuid::new_v4()),
                    action,
                    user_email: Some("rene@contoso.com".into()),
                    user_name: Some("Rene".into()),
                    raised_at_ms: self.at_ms + 90_000,
                }),
            )
            .with_inbox_key(inbox(
                InboxSource::Signl4Notification,
                self.tenant,
                notification.as_bytes(),
            )),
        )?;
        Ok(notification)
    }

    fn comment(&self, cause: &str, message: &str) -> Result<(), Box<dyn Error>> {
        self.effect(
            Effect::WriteComment {
                comment_id: comment_id(self.tenant, self.incident, cause),
                message: message.into(),
            },
            EffectResult::CommentWritten {
                etag: Uuid::new_v4().to_string(),
            },
        )
    }

    fn page(&self, round: u32) -> Result<(), Box<dyn Error>> {
        self.effect(
            Effect::RaiseSignl {
                external_id: external_id(self.tenant, self.incident),
                round,
            },
            EffectResult::SignlRaised {
                event_id: format!("2518583650940558238_{}", Uuid::new_v4()),
            },
        )
    }

    /// Plays one of four stories; the last incident keeps an open intent to show one.
    fn play(&self, story: usize, leave_open: bool) -> Result<(), Box<dyn Error>> {
        self.observe("New", 1, None)?;
        self.command(Command::RecordEnrichment(IncidentEnriched {
            alert_count: 2,
            entity_count: 3,
            products: vec!["Microsoft Entra ID Protection".into()],
            tactics: vec!["InitialAccess".into(), "CredentialAccess".into()],
            missing: vec![],
            alerts_json: "[]".into(),
            entities_json: "[]".into(),
            search_json: String::new(),
        }))?;
        if leave_open {
            self.command(Command::Request(Effect::RaiseSignl {
                external_id: external_id(self.tenant, self.incident),
                round: 1,
            }))?;
            return Ok(());
        }
        self.page(1)?;
        self.effect(
            Effect::TagIncident {
                label: "SIGNL4".into(),
            },
            EffectResult::IncidentWritten { etag: self.etag(2) },
        )?;
        self.observe("New", 2, None)?;
        match story {
            0 | 1 => {
                if story == 1 {
                    let n = self.signl4(Signl4Action::Annotated {
                        text: "Looking into it from the train".into(),
                    })?;
                    self.comment(&n, "Rene via SIGNL4: Looking into it from the train")?;
                }
                let ack = self.signl4(Signl4Action::Acknowledged)?;
                self.effect(
                    Effect::AcknowledgeIncident {
                        owner: Some("rene@contoso.com".into()),
                        set_active: true,
                        cause: ack.clone(),
                    },
                    EffectResult::IncidentWritten { etag: self.etag(3) },
                )?;
                self.comment(&ack, "Acknowledged in SIGNL4 by Rene")?;
                self.observe("Active", 3, Some("rene@contoso.com"))?;
                if story == 0 {
                    let close = self.signl4(Signl4Action::Closed)?;
                    self.effect(
                        Effect::CloseIncident {
                            classification: "TruePositive".into(),
                            classification_reason: Some("SuspiciousActivity".into()),
                            classification_comment: "Closed in SIGNL4 by Rene".into(),
                            owner: None,
                            cause: close.clone(),
                        },
                        EffectResult::IncidentWritten { etag: self.etag(4) },
                    )?;
                    self.comment(&close, "Closed in SIGNL4 by Rene")?;
                    self.observe("Closed", 4, Some("rene@contoso.com"))?;
                }
            }
            _ => {
                // An analyst closes it in Sentinel; the connector resolves the Signl.
                self.observe("Closed", 3, Some("analyst@contoso.com"))?;
                self.effect(
                    Effect::ResolveSignl {
                        external_id: external_id(self.tenant, self.incident),
                        round: 1,
                    },
                    EffectResult::Signl4Accepted {
                        reference: format!("2518583650940558239_{}", Uuid::new_v4()),
                    },
                )?;
                if story == 3 {
                    // ...and reopens it later: a new round pages again.
                    self.observe("Active", 4, Some("analyst@contoso.com"))?;
                    self.page(2)?;
                }
            }
        }
        Ok(())
    }
}
