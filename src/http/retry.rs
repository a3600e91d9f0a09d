//! A small retry helper for port calls: exponential backoff with full jitter, honouring
//! `Throttled.retry_after`, bounded in attempts and in total time.
//!
//! The pipeline's outbox drives most retries itself (it must survive restarts); this helper is
//! for calls that are cheap to repeat in place (reads, a list page, an idempotent PUT by id).
//!
//! Invariants: at most `max_attempts` calls; never sleeps past `max_total` (it returns the last
//! error instead); a `Throttled` wait is never shorter than the server asked; only retryable
//! kinds are retried, and `Conflict` only when the policy says the operation re-reads (retrying
//! the same PUT with the same stale etag cannot succeed).

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::ApiError;

/// How to retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Calls in total, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff cap of the first retry; doubles per retry.
    pub base_delay: Duration,
    /// Largest backoff cap.
    pub max_delay: Duration,
    /// Give up rather than sleep beyond this much time since the first call.
    pub max_total: Duration,
    /// Retry `Conflict` too (only for operations that re-read before writing).
    pub retry_conflict: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_total: Duration::from_secs(120),
            retry_conflict: false,
        }
    }
}

impl RetryPolicy {
    /// Whether `err` is worth another attempt under this policy.
    pub fn should_retry(&self, err: &ApiError) -> bool {
        match err {
            ApiError::Conflict => self.retry_conflict,
            e => e.is_retryable(),
        }
    }

    /// The wait before retry number `retry` (1 = first retry) after `err`: full jitter over
    /// `min(max_delay, base_delay * 2^(retry-1))`, and never less than a `Retry-After`.
    pub fn delay(&self, retry: u32, err: &ApiError) -> Duration {
        let exp = retry.saturating_sub(1).min(20);
        let cap = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let jitter = if cap.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_millis(rand::rng().random_range(0..=cap.as_millis() as u64))
        };
        match err.retry_after() {
            Some(retry_after) => retry_after.max(jitter),
            None => jitter,
        }
    }
}

/// Calls `op` until it succeeds, fails with a non-retryable error, or the policy's attempts or
/// total time run out; returns the last result.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let started = Instant::now();
    let attempts = policy.max_attempts.max(1);
    let mut n = 1;
    loop {
        let err = match op().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if n >= attempts || !policy.should_retry(&err) {
            return Err(err);
        }
        let wait = policy.delay(n, &err);
        if started.elapsed() + wait > policy.max_total {
            return Err(err);
        }
        tracing::debug!(attempt = n, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
        tokio::time::sleep(wait).await;
        n += 1;
    }
}
