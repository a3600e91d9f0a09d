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
//! server limit of N. Here each class keeps the instants of its admissions within the window,
//! and a call is admitted only while fewer than N are.
//!
//! Priority: callers are served by the calling task's `WritePriority` (write-backs people wait
//! for, then comments, then background work such as tags): a call is not admitted while a more
//! urgent one waits. Background work yields: it is admitted only while less than a fifth of the
//! window is spent (the other four fifths are a reserve only people's write-backs and comments
//! may spend), and it never waits: [`SubscriptionBudget::acquire`] answers it with the instant to
//! look again, and the caller leaves its intent open for the next reconcile. Why: in a burst of
//! 3 x 30 incidents the tags written right after the pages took the window's incident writes
//! (and waited tags were sent after the acknowledge had already carried the label), so
//! acknowledges and closes waited five minutes; a tag left pending folds into the acknowledge
//! instead (see `status_sync`). A waiting caller sleeps until its slot frees; no one spins.
//!
//! Reads have a reserve of their own: calls below `Human` (the Enricher's alert and entity
//! lists) may spend four fifths of a read window, so that a burst of incidents to enrich never
//! keeps the Poller from listing (before this, 40 incidents' enrichment took the whole read
//! window of 100 and the next listing waited minutes, so new incidents went unseen).
//!
//! Invariants: any `window` contains at most `limit` admissions of a class; a call is never
//! admitted while a more urgent one of its class waits; background calls never hold more than a
//! fifth of a window and never wait; waiting is async (tokio timer); a cancelled waiter stops
//! counting as waiting.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use actors::ports::{current_priority, WritePriority};
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

/// Sliding-window admission log of one class, and who waits for it.
#[derive(Debug)]
struct Lane {
    limit: usize,
    admitted: VecDeque<Instant>,
    /// Callers waiting, per priority.
    waiting: [usize; 3],
    /// Slots of a window only `Human` callers may spend (the read lane keeps a fifth for the
    /// Poller's listings and the reads write-backs need; the write lanes keep none).
    people_reserve: usize,
}

impl Lane {
    fn new(limit: u32) -> Self {
        let limit = (limit as usize).max(1);
        Lane {
            limit,
            admitted: VecDeque::with_capacity(limit.min(4096)),
            waiting: [0; 3],
            people_reserve: 0,
        }
    }

    /// A lane that keeps a fifth of its window (at least one slot, never all) for `Human`
    /// callers.
    fn with_people_reserve(limit: u32) -> Self {
        let mut lane = Lane::new(limit);
        lane.people_reserve = (lane.limit / 5).max(1).min(lane.limit - 1);
        lane
    }

    /// Slots kept free for more urgent calls: background work (tags) may only spend the first
    /// fifth of the window (at least one slot), the rest is reserved for the write-backs people
    /// wait for and their comments.
    fn reserve(&self, priority: WritePriority) -> usize {
        match priority {
            WritePriority::Background => {
                (self.limit - (self.limit / 5).max(1)).max(self.people_reserve)
            }
            WritePriority::Comment => self.people_reserve,
            WritePriority::Human => 0,
        }
    }

    /// Admits a call of `priority` now, or says when to look again.
    fn try_admit(
        &mut self,
        priority: WritePriority,
        now: Instant,
        window: Duration,
    ) -> Result<(), Instant> {
        while self.admitted.front().is_some_and(|t| *t + window <= now) {
            self.admitted.pop_front();
        }
        let usable = self.limit - self.reserve(priority);
        let ahead: usize = self.waiting[..priority as usize].iter().sum();
        if self.admitted.len() < usable && ahead == 0 {
            self.admitted.push_back(now);
            return Ok(());
        }
        // When enough admissions have left the window for this priority's share.
        let expire = (self.admitted.len() + 1).saturating_sub(usable).max(1);
        let free_at = self.admitted.get(expire - 1).map_or(now, |t| *t + window);
        // Blocked only by more urgent callers: they are admitted first, look again just after.
        Err(free_at.max(now + Duration::from_millis(1)))
    }
}

/// The budget of one subscription, shared (through `HttpContext::budget`) by every client that
/// calls Sentinel for it.
#[derive(Debug)]
pub struct SubscriptionBudget {
    window: Duration,
    lanes: Mutex<[Lane; 3]>,
    /// Per lane: calls that had to wait, and the milliseconds they waited in all (`/metrics`).
    waits: [AtomicU64; 3],
    waited_ms: [AtomicU64; 3],
}

/// One lane of a budget as `/metrics` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneSnapshot {
    /// `incident_write`, `comment_write` or `read`.
    pub class: &'static str,
    /// Calls the window allows.
    pub limit: usize,
    /// Calls still allowed in the current window.
    pub remaining: usize,
    /// Callers waiting now.
    pub waiting: usize,
    /// Calls that had to wait, since start.
    pub waits: u64,
    /// Milliseconds they waited, since start.
    pub waited_ms: u64,
}

const CLASS_NAMES: [&str; 3] = ["incident_write", "comment_write", "read"];

/// Counts a caller as waiting in its lane until dropped (admitted, or its future cancelled).
struct Waiting<'a> {
    budget: &'a SubscriptionBudget,
    lane: usize,
    priority: WritePriority,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut lanes = self.budget.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes[self.lane].waiting[self.priority as usize] -= 1;
    }
}

impl SubscriptionBudget {
    /// A fresh budget with these limits.
    pub fn new(limits: BudgetLimits) -> Self {
        SubscriptionBudget {
            window: limits.window,
            lanes: Mutex::new([
                Lane::new(limits.incident_writes),
                Lane::new(limits.comment_writes),
                Lane::with_people_reserve(limits.reads),
            ]),
            waits: Default::default(),
            waited_ms: Default::default(),
        }
    }

    /// Every lane's limit, what is left of the current window, who waits and how much was
    /// waited, for `/metrics`.
    pub fn snapshot(&self) -> Vec<LaneSnapshot> {
        let now = Instant::now();
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes
            .iter()
            .enumerate()
            .map(|(i, lane)| {
                let in_window = lane
                    .admitted
                    .iter()
                    .filter(|t| **t + self.window > now)
                    .count();
                LaneSnapshot {
                    class: CLASS_NAMES[i],
                    limit: lane.limit,
                    remaining: lane.limit.saturating_sub(in_window),
                    waiting: lane.waiting.iter().sum(),
                    waits: self.waits[i].load(Ordering::Relaxed),
                    waited_ms: self.waited_ms[i].load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Waits until a call of `class` fits the budget, then counts it, serving more urgent
    /// callers first (the calling task's [`WritePriority`]). Returns how long it waited.
    /// Background callers never wait: `Err` is how long until their share may have room (the
    /// call is not counted and must not be sent).
    pub async fn acquire(&self, class: CallClass) -> Result<Duration, Duration> {
        let priority = current_priority();
        let lane = match class {
            CallClass::IncidentWrite => 0,
            CallClass::CommentWrite => 1,
            CallClass::Read => 2,
        };
        let started = Instant::now();
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            let now = Instant::now();
            let next = {
                let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
                match lanes[lane].try_admit(priority, now, self.window) {
                    Ok(()) => None,
                    Err(at) if matches!(priority, WritePriority::Background) => {
                        return Err(at.saturating_duration_since(now));
                    }
                    Err(at) => {
                        if waiting.is_none() {
                            let humans_waiting = lanes[lane].waiting[WritePriority::Human as usize];
                            lanes[lane].waiting[priority as usize] += 1;
                            // Once per episode: the first write-back people wait for that has to
                            // wait says so, with the queue behind the budget.
                            if matches!(priority, WritePriority::Human) && humans_waiting == 0 {
                                tracing::info!(
                                    class = CLASS_NAMES[lane],
                                    queue_depth = lanes[lane].waiting.iter().sum::<usize>(),
                                    wait_ms = at.saturating_duration_since(now).as_millis() as u64,
                                    "a write-back waits for the rate budget"
                                );
                            }
                        }
                        Some(at)
                    }
                }
            };
            let Some(at) = next else {
                // Admitted at the first look: no wait at all.
                let waited = match waiting {
                    None => Duration::ZERO,
                    Some(_) => now.saturating_duration_since(started),
                };
                if waiting.is_some() {
                    self.waits[lane].fetch_add(1, Ordering::Relaxed);
                    self.waited_ms[lane].fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
                }
                drop(waiting); // after the lock above is released
                return Ok(waited);
            };
            if waiting.is_none() {
                waiting = Some(Waiting {
                    budget: self,
                    lane,
                    priority,
                });
                tracing::debug!(
                    ?class,
                    ?priority,
                    wait_ms = (at - now).as_millis() as u64,
                    "rate budget: waiting"
                );
            }
            tokio::time::sleep_until(at).await;
        }
    }
}
