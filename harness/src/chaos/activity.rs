//! The people around the connector during a chaos run: incidents appearing in Sentinel, SIGNL4
//! users acknowledging, annotating and closing Signls, analysts closing incidents in Sentinel.
//! Everything they did is remembered, because the final check compares it with the outcome.
//!
//! Invariant: each Signl is acknowledged at most once, closed at most once (never before it was
//! acknowledged) and annotated at most once with a text no other action uses, so every expected
//! comment can be recognised and a duplicate cannot pass for a second legitimate one.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use store::ids::external_id;
use store::{IncidentKey, TenantId};

use sandbox::control::{AnalystAction, Control, IncidentSpec, UserAction};

use super::ChaosOptions;

/// SIGNL4 alert statuses as the sandbox reports them.
const OPEN: i64 = 1;
const ACKNOWLEDGED: i64 = 2;

/// One incident the run created, and what happened to it.
#[derive(Clone, Debug, Default)]
pub struct Tracked {
    pub tenant: String,
    /// The Sentinel incident name.
    pub name: String,
    /// Its SIGNL4 ExternalID as the connector derives it.
    pub external_id: String,
    pub acknowledged: bool,
    pub closed_by_user: bool,
    pub closed_by_analyst: bool,
    /// Annotation texts a user added.
    pub annotations: Vec<String>,
}

/// The simulated people and what they did.
pub struct Activity {
    control: Control,
    tenants: Vec<String>,
    rng: StdRng,
    target: usize,
    /// Chance per tick of a new incident, so creation spreads over the whole run.
    create_chance: f64,
    creating: bool,
    /// By ExternalID.
    pub incidents: BTreeMap<String, Tracked>,
    /// Signls acted on this run (so one action per kind per Signl).
    acted: BTreeSet<(String, &'static str)>,
    counter: u64,
}

impl Activity {
    pub fn new(control: Control, options: &ChaosOptions, seed: u64) -> Activity {
        let tenants = control.tenants().into_iter().map(|t| t.name).collect();
        Activity {
            control,
            tenants,
            rng: StdRng::seed_from_u64(seed),
            target: options.tenants * options.incidents,
            create_chance: {
                // About 100 ms per tick; a process lives max_life * 3/4 on average.
                let ticks = f64::from(options.kills.max(1)) * options.max_life.as_secs_f64() * 7.5;
                (1.5 * (options.tenants * options.incidents) as f64 / ticks).clamp(0.01, 1.0)
            },
            creating: true,
            incidents: BTreeMap::new(),
            acted: BTreeSet::new(),
            counter: 0,
        }
    }

    /// Incidents created so far.
    pub fn created(&self) -> usize {
        self.incidents.len()
    }

    /// Creates every incident not created yet, and no more afterwards.
    pub fn finish_creating(&mut self) {
        while self.creating && self.incidents.len() < self.target {
            if self.create().is_err() {
                break;
            }
        }
        self.creating = false;
    }

    /// One step of everybody's activity (called about every 100 ms).
    pub fn tick(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        if self.creating
            && self.incidents.len() < self.target
            && self.rng.random_bool(self.create_chance)
        {
            self.create()?;
        }
        for tenant in self.tenants.clone() {
            for signl in self.control.signls(&tenant)? {
                self.act_on(&tenant, &signl)?;
            }
        }
        Ok(())
    }

    fn create(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let tenant = self.tenants[self.incidents.len() % self.tenants.len()].clone();
        self.counter += 1;
        let incident = self.control.create_incident(
            &tenant,
            IncidentSpec {
                title: format!("Chaos incident {}", self.counter),
                severity: ["High", "Medium", "Low"][self.rng.random_range(0..3)].into(),
                ..IncidentSpec::default()
            },
        )?;
        let name = incident["name"]
            .as_str()
            .ok_or("the sandbox returned an incident without a name")?
            .to_string();
        let external = external_id(
            TenantId::from_name(&tenant),
            IncidentKey::from_source_id(&name),
        );
        self.incidents.insert(
            external.clone(),
            Tracked {
                tenant,
                name,
                external_id: external,
                ..Tracked::default()
            },
        );
        Ok(())
    }

    fn act_on(&mut self, tenant: &str, signl: &Value) -> Result<(), Box<dyn std::error::Error>> {
        let (Some(id), Some(external)) = (signl["id"].as_str(), signl["externalId"].as_str())
        else {
            return Ok(());
        };
        let status = signl["status"].as_i64().unwrap_or(0);
        let Some(tracked) = self.incidents.get(external) else {
            return Ok(());
        };
        let closed_by_analyst = tracked.closed_by_analyst;
        let roll: f64 = self.rng.random();
        let first = !self.acted.contains(&(id.to_string(), "ack"));
        if status == OPEN && first && roll < 0.3 {
            self.user(tenant, id, external, UserAction::Acknowledge)?;
        } else if status == ACKNOWLEDGED && roll < 0.15 {
            self.user(tenant, id, external, UserAction::Close)?;
        } else if (status == OPEN || status == ACKNOWLEDGED) && roll < 0.25 {
            self.counter += 1;
            let text = format!("chaos note {} on {id}", self.counter);
            self.user(tenant, id, external, UserAction::Annotate { text })?;
        } else if status == OPEN && !closed_by_analyst && roll > 0.97 {
            let name = tracked.name.clone();
            self.control.analyst(
                tenant,
                &name,
                AnalystAction {
                    status: Some("Closed".into()),
                    classification: Some("BenignPositive".into()),
                    classification_reason: Some("SuspiciousButExpected".into()),
                    classification_comment: Some("closed by the chaos analyst".into()),
                    ..AnalystAction::default()
                },
            )?;
            if let Some(t) = self.incidents.get_mut(external) {
                t.closed_by_analyst = true;
            }
        }
        Ok(())
    }

    /// One user action, once per kind per Signl; a lifecycle refusal (the Signl moved on in the
    /// meantime) is not an action and is ignored.
    fn user(
        &mut self,
        tenant: &str,
        id: &str,
        external: &str,
        action: UserAction,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let kind = match action {
            UserAction::Acknowledge => "ack",
            UserAction::Close => "close",
            UserAction::Annotate { .. } => "note",
        };
        if !self.acted.insert((id.to_string(), kind)) {
            return Ok(());
        }
        let text = match &action {
            UserAction::Annotate { text } => Some(text.clone()),
            _ => None,
        };
        if self.control.user_action(tenant, id, None, action).is_err() {
            return Ok(());
        }
        if let Some(t) = self.incidents.get_mut(external) {
            match kind {
                "ack" => t.acknowledged = true,
                "close" => t.closed_by_user = true,
                _ => t.annotations.extend(text),
            }
        }
        Ok(())
    }
}
