//! Client-side rate budget per Azure subscription, in front of every Sentinel call, so that a
//! burst (a backlog after an outage, a storm of incidents) is spread out instead of being answered
//! with 429s that cost a `Retry-After` each.
//!
//! Three classes, as Sentinel (and the sandbox) count them: incident writes (PUT/DELETE), comment
//! writes, and reads (GETs and the POST list actions). Each class admits at most `limit` calls in
//! any sliding `window`.
//!
//! Why not a plain token bucket: a bucket of capacity N refilled at N/window admits up to 2N
//! calls in a worst-case window (a full burst, then the refill), which trips a sliding-window
//! server limit of N. Here each class keeps the admission instants of its last N calls; call k is
//! admitted at `max(now, admitted[k-N] + window)`. The reservation is made under the lock and
//! the wait happens after it, so callers are served in arrival order and nobody spins.
//!
//! Invariants: admissions are non-decreasing in time; any `window` contains at most `limit`
//! admissions; waiting is async (tokio timer) and bounded by the queue ahead of the caller.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Limits of one subscription. The defaults are the connector's planning numbers for Sentinel
/// (its resource provider does not publish limits): 75 incident writes, 75 comment writes and
/// 100 reads per 5 minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetLimits {
    /// Incident PUT/DELETE per window.
    pub incident_writes: u32,
    /// Comment PUT/DELETE per window.
    pub comment_writes: u32,
    /// GETs and POST list actions per window.
    pub reads: u32,
    /// Sliding window length.
    pub window: Duration,
}

impl Default for BudgetLimits {
    fn default() -> Self {
        BudgetLimits {
            incident_writes: 75,
            comment_writes: 75,
            reads: 100,
            window: Duration::from_secs(300),
        }
    }
}

impl BudgetLimits {
    /// Microsoft Graph `/security` (alerts_v2 and incidents): about 150 requests per minute per
    /// app and tenant, all kinds together; split so the three lanes never add up to more
    /// (reads dominate: polls and the reads before writes).
    pub fn graph() -> Self {
        BudgetLimits {
            incident_writes: 25,
            comment_writes: 25,
            reads: 100,
            window: Duration::from_secs(60),
        }
    }

    /// Practically unlimited (tests that are not about the budget).
    pub fn unlimited() -> Self {
        BudgetLimits {
            incident_writes: 1_000_000,
            comment_writes: 1_000_000,
            reads: 1_000_000,
            window: Duration::from_secs(1),
        }
    }
}

/// Which budget a call draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallClass {
    /// Incident PUT/DELETE.
    IncidentWrite,
    /// Comment PUT/DELETE.
    CommentWrite,
    /// GET, and the POST list actions (alerts, entities).
    Read,
}

/// Sliding-window admission log of one class.
#[derive(Debug)]
struct Lane {
    limit: usize,
    admitted: VecDeque<Instant>,
}

impl Lane {
    fn new(limit: u32) -> Self {
        let limit = (limit as usize).max(1);
        Lane {
            limit,
            admitted: VecDeque::with_capacity(limit.min(4096)),
        }
    }

    /// Reserves the next admission instant.
    fn reserve(&mut self, now: Instant, window: Duration) -> Instant {
        let at = if self.admitted.len() >= self.limit {
            let oldest = self.admitted[self.admitted.len() - self.limit];
            now.max(oldest + window)
        } else {
            now
        };
        // Admissions are non-decreasing, so the log stays sorted.
        let at = self.admitted.back().map_or(at, |b| at.max(*b));
        self.admitted.push_back(at);
        while self.admitted.len() > self.limit {
            self.admitted.pop_front();
        }
        at
    }
}

/// The budget of one subscription, shared (through `HttpContext::budget`) by every client that
/// calls Sentinel for it.
#[derive(Debug)]
pub struct SubscriptionBudget {
    window: Duration,
    lanes: Mutex<[Lane; 3]>,
}

impl SubscriptionBudget {
    /// A fresh budget with these limits.
    pub fn new(limits: BudgetLimits) -> Self {
        SubscriptionBudget {
            window: limits.window,
            lanes: Mutex::new([
                Lane::new(limits.incident_writes),
                Lane::new(limits.comment_writes),
                Lane::new(limits.reads),
            ]),
        }
    }

    /// Waits until a call of `class` fits the budget, then counts it. Returns how long it waited.
    pub async fn acquire(&self, class: CallClass) -> Duration {
        let now = Instant::now();
        let at = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let lane = match class {
                CallClass::IncidentWrite => &mut lanes[0],
                CallClass::CommentWrite => &mut lanes[1],
                CallClass::Read => &mut lanes[2],
            };
            lane.reserve(now, self.window)
        };
        if at > now {
            tracing::debug!(
                ?class,
                wait_ms = (at - now).as_millis() as u64,
                "rate budget: waiting"
            );
            tokio::time::sleep_until(at).await;
        }
        at.saturating_duration_since(now)
    }
}
