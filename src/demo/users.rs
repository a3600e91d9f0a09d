//! Simulated SIGNL4 users: acknowledge every open Signl, then close it on a later round, through
//! the sandbox's control API (which fires SIGNL4's outbound webhooks at the connector).
//!
//! Invariant: each Signl is acknowledged once and closed once; a Signl acknowledged in this
//! round is closed in a later one, so the acknowledge write-back has happened (or is under way)
//! before the close arrives — and when it has not, the connector must cope anyway.

use std::collections::HashSet;

use sandbox::control::UserAction;
use sandbox::Control;

/// The users of every tenant's team.
pub struct Users {
    control: Control,
    acknowledged: HashSet<String>,
    closed: HashSet<String>,
}

impl Users {
    pub fn new(control: Control) -> Users {
        Users {
            control,
            acknowledged: HashSet::new(),
            closed: HashSet::new(),
        }
    }

    /// One round: acknowledge new Signls, close those acknowledged in an earlier round.
    pub fn act(&mut self, tenants: &[String]) -> Result<(), Box<dyn std::error::Error>> {
        for tenant in tenants {
            for signl in self.control.signls(tenant)? {
                let Some(id) = signl["id"].as_str().map(str::to_string) else {
                    continue;
                };
                let status = signl["status"].as_i64().unwrap_or(0);
                let title = signl["title"].as_str().unwrap_or("?");
                if status == 1 && !self.acknowledged.contains(&id) {
                    self.control
                        .user_action(tenant, &id, None, UserAction::Acknowledge)?;
                    println!("SIGNL4 user acknowledged {title:?} ({tenant})");
                    self.acknowledged.insert(id);
                } else if status == 2 && !self.closed.contains(&id) {
                    self.control
                        .user_action(tenant, &id, None, UserAction::Close)?;
                    println!("SIGNL4 user closed {title:?} ({tenant})");
                    self.closed.insert(id);
                }
            }
        }
        Ok(())
    }
}
