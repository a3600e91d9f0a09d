//! Parking: effects that wait for an operator (a revoked client secret, a missing role, an
//! unknown SIGNL4 team secret) instead of failing for good.
//!
//! Exists because such refusals used to close the intent as failed, so every page, acknowledge
//! and close in the window where a secret was wrong was lost even after the operator fixed it.
//! A parked effect keeps its intent open; the reconcile passes try it again, each parked effect
//! at most once per its own backoff (the poll interval, doubling, capped at [`PARK_MAX`]).
//!
//! Invariants:
//! - Memory only: the log records the park itself (`EffectParked`, once per change of reason,
//!   which is also when it is logged at ERROR); after a restart every parked effect is simply
//!   tried again at the first reconcile.
//! - [`Parking::refused`] is true only while the latest attempt was answered with a refusal,
//!   which proves nothing was done: a page can then be sent again without a lookup. Any other
//!   outcome (a timeout, a 5xx) forgets it, since such a request may have been processed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use store::events::EffectResult;
use store::{Command, EffectId};
use tokio::time::Instant;

use crate::ports::{ApiError, Disposition};

/// Longest wait between two attempts of a parked effect.
pub const PARK_MAX: Duration = Duration::from_secs(300);

/// One parked effect's timing.
#[derive(Clone, Debug)]
struct Parked {
    /// Refusals in a row.
    refusals: u32,
    /// Not tried again before this.
    next_at: Instant,
    /// The latest attempt was refused (nothing was done).
    refused: bool,
}

/// The parked effects of one actor.
#[derive(Debug, Default)]
pub struct Parking(RefCell<HashMap<EffectId, Parked>>);

impl Parking {
    /// True when the effect is not parked, or its wait is over.
    pub fn ready(&self, id: EffectId) -> bool {
        self.0
            .borrow()
            .get(&id)
            .is_none_or(|p| p.next_at <= Instant::now())
    }

    /// Records a refusal an operator can fix; returns how many refusals in a row this makes.
    /// The next attempt waits `interval` doubled per refusal, capped at [`PARK_MAX`].
    pub fn park(&self, id: EffectId, interval: Duration) -> u32 {
        let mut map = self.0.borrow_mut();
        let entry = map.entry(id).or_insert(Parked {
            refusals: 0,
            next_at: Instant::now(),
            refused: true,
        });
        entry.refusals += 1;
        entry.refused = true;
        let wait = interval
            .saturating_mul(1u32 << (entry.refusals - 1).min(16))
            .min(PARK_MAX);
        entry.next_at = Instant::now() + wait;
        entry.refusals
    }

    /// Notes an attempt whose request may have been processed (no answer, a 5xx): the effect
    /// keeps its backoff but is no longer known to be undone.
    pub fn ambiguous(&self, id: EffectId) {
        if let Some(p) = self.0.borrow_mut().get_mut(&id) {
            p.refused = false;
        }
    }

    /// True while the latest attempt of a parked effect was refused (nothing was done).
    pub fn refused(&self, id: EffectId) -> bool {
        self.0.borrow().get(&id).is_some_and(|p| p.refused)
    }

    /// Forgets the effect (it has an outcome now); returns true when it was parked.
    pub fn clear(&self, id: EffectId) -> bool {
        self.0.borrow_mut().remove(&id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[tokio::test(start_paused = true)]
    async fn waits_double_up_to_the_cap_and_a_clear_forgets() {
        let parking = Parking::default();
        let id = EffectId(Uuid::from_u128(1));
        assert!(parking.ready(id));
        assert_eq!(parking.park(id, Duration::from_secs(60)), 1);
        assert!(!parking.ready(id));
        assert!(parking.refused(id));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(parking.ready(id));
        for _ in 0..10 {
            parking.park(id, Duration::from_secs(60));
        }
        tokio::time::advance(PARK_MAX - Duration::from_secs(1)).await;
        assert!(!parking.ready(id), "capped, not shorter");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(parking.ready(id));
        parking.ambiguous(id);
        assert!(!parking.refused(id));
        assert!(parking.clear(id));
        assert!(!parking.clear(id));
    }
}

/// What to record after an effect's call (see [`settle`]).
#[derive(Debug)]
pub enum Settled {
    /// An outcome (success or a final failure).
    Outcome(Command),
    /// A park: record it, and log at ERROR when the log took it (a change of reason).
    Park(Command),
    /// Passing trouble: nothing to record, the intent stays open for the next reconcile.
    Open,
}

/// Turns the result of an effect's call into what the log must record, the one rule for every
/// actor: success and final answers close the intent, refusals an operator can fix park it,
/// anything else leaves it open. `interval` is the reconcile interval (the parked backoff's
/// first step); `what` names the effect in logs.
pub fn settle(
    parking: &Parking,
    effect_id: EffectId,
    result: Result<EffectResult, (ApiError, u32)>,
    interval: Duration,
    what: &str,
) -> Settled {
    match result {
        Ok(result) => {
            if parking.clear(effect_id) {
                tracing::info!(%effect_id, "{what} went through after being parked");
            }
            Settled::Outcome(Command::Succeed { effect_id, result })
        }
        Err((ApiError::Deferred { retry_after }, _)) => {
            // Nothing was sent (background work yielding the budget): not ambiguous, and not
            // worth a warning on every reconcile.
            tracing::debug!(%effect_id, ?retry_after, "{what} deferred by the rate budget");
            Settled::Open
        }
        Err((error, attempts)) => match error.disposition() {
            Disposition::Fail => {
                parking.clear(effect_id);
                Settled::Outcome(Command::Fail {
                    effect_id,
                    reason: error.to_string(),
                    attempts,
                })
            }
            Disposition::Park => {
                let refusals = parking.park(effect_id, interval);
                Settled::Park(Command::Park {
                    effect_id,
                    reason: error.to_string(),
                    attempts: refusals.max(attempts),
                })
            }
            Disposition::Retry => {
                parking.ambiguous(effect_id);
                tracing::warn!(%error, %effect_id, "{what} not done yet; the intent stays open");
                Settled::Open
            }
        },
    }
}

/// Logs a park the log just recorded (once per change of reason).
pub fn log_parked(command: &Command, what: &str) {
    if let Command::Park {
        effect_id, reason, ..
    } = command
    {
        tracing::error!(
            %effect_id,
            %reason,
            "{what} parked: an operator must fix this (secret, role or SIGNL4 team); it is tried again until then"
        );
    }
}
