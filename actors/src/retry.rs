//! Retry with backoff: how the actors wait out throttling and transient failures.
//!
//! Invariants: only [`ApiError::is_retryable`] errors are retried, and never a `Conflict` (a
//! 409 answers a stale etag: only a fresh read can help, so the caller reads again at once and
//! sends one PUT per etag) nor a `Deferred` (background work yielding the rate budget leaves its
//! intent open for a later reconcile); a `Throttled` error waits at least the server's `Retry-After` (429,
//! and 503 with one); other waits grow exponentially with full jitter (so many
//! connectors that failed together do not retry together); attempts and total time are bounded,
//! after which the last error is returned and the caller decides (an open intent stays open
//! and is reconciled later).

use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::ports::ApiError;

/// Bounds of one retried call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// First wait before jitter.
    pub initial: Duration,
    /// Largest wait before jitter.
    pub max: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Give up once this much time has passed since the first attempt.
    pub deadline: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            attempts: 6,
            deadline: Duration::from_secs(120),
        }
    }
}

impl Backoff {
    /// The wait before attempt `attempt` (1-based retries) after `error`.
    pub fn wait(&self, attempt: u32, error: &ApiError) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max);
        let jittered = exp.mul_f64(rand::rng().random_range(0.0..=1.0));
        match error.retry_after() {
            Some(retry_after) => retry_after.max(jittered),
            None => jittered,
        }
    }
}

/// Calls `call` until it succeeds, fails permanently, or the bounds are reached; returns the
/// last result and how many calls were made.
pub async fn retry<T, F, Fut>(backoff: Backoff, call: F) -> (Result<T, ApiError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    retry_if(backoff, |_| true, call).await
}

/// [`retry`] for a call that must not be repeated after an ambiguous failure (a page: a reset,
/// a timeout or a 5xx may hide a processed request): only a 429, which proves the request was
/// not processed, is waited out and sent again.
pub async fn retry_unprocessed<T, F, Fut>(backoff: Backoff, call: F) -> (Result<T, ApiError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    retry_if(backoff, |e| matches!(e, ApiError::Throttled { .. }), call).await
}

async fn retry_if<T, F, Fut>(
    backoff: Backoff,
    again: impl Fn(&ApiError) -> bool,
    mut call: F,
) -> (Result<T, ApiError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Ok(value) => return (Ok(value), attempt),
            Err(error) => {
                // A 409 is never repeated in place: the same PUT carries the same stale etag;
                // the caller reads again at once and writes once per etag.
                // A deferral is our own budget saying "not now" to background work: waiting in
                // place is exactly what it must not do.
                let conflict = matches!(error, ApiError::Conflict | ApiError::Deferred { .. });
                if !error.is_retryable()
                    || conflict
                    || !again(&error)
                    || attempt >= backoff.attempts
                {
                    return (Err(error), attempt);
                }
                let wait = backoff.wait(attempt, &error);
                if started.elapsed() + wait > backoff.deadline {
                    return (Err(error), attempt);
                }
                tracing::debug!(%error, attempt, wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_and_honours_retry_after() {
        let calls = Cell::new(0);
        let started = tokio::time::Instant::now();
        let (result, attempts) = retry(Backoff::default(), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                match n {
                    1 => Err(ApiError::Throttled {
                        retry_after: Duration::from_secs(7),
                    }),
                    2 => Err(ApiError::Transient("503".into())),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(attempts, 3);
        assert!(started.elapsed() >= Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_and_exhausted_bounds_return_the_error() {
        let (result, attempts) = retry(Backoff::default(), || async {
            Err::<(), _>(ApiError::Rejected {
                status: 400,
                message: "bad".into(),
            })
        })
        .await;
        assert_eq!(attempts, 1);
        assert!(matches!(
            result,
            Err(ApiError::Rejected { status: 400, .. })
        ));

        let bounded = Backoff {
            attempts: 3,
            ..Backoff::default()
        };
        let (result, attempts) = retry(bounded, || async {
            Err::<(), _>(ApiError::Transient("reset".into()))
        })
        .await;
        assert_eq!(attempts, 3);
        assert!(result.is_err());
    }
}
