//! ARM's token-bucket throttling for the Sentinel emulator (docs/reference/azure-apis.md §2.10): one bucket per
//! subscription, per service principal (the token's app) and per operation type.
//!
//! Invariants: a bucket starts full; tokens are refilled lazily from the elapsed time at each
//! request (fractions kept, never above the size); a request takes one token or is refused with
//! the whole seconds until one is back (at least 1), as ARM's `Retry-After` says; a refused
//! request takes nothing, so retrying after `Retry-After` succeeds.

use std::time::Instant;

use crate::options::Bucket;

/// ARM's operation types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpType {
    /// GET and the POST list actions.
    Read,
    /// PUT.
    Write,
    /// DELETE.
    Delete,
}

impl OpType {
    /// The `x-ms-ratelimit-remaining-subscription-*` header of this type.
    pub fn header(self) -> &'static str {
        match self {
            OpType::Read => "x-ms-ratelimit-remaining-subscription-reads",
            OpType::Write => "x-ms-ratelimit-remaining-subscription-writes",
            OpType::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }

    /// How ARM's 429 message names the type.
    pub fn name(self) -> &'static str {
        match self {
            OpType::Read => "Read",
            OpType::Write => "Write",
            OpType::Delete => "Delete",
        }
    }
}

/// The state of one bucket.
#[derive(Clone, Copy, Debug)]
pub struct Tokens {
    left: f64,
    at: Instant,
}

impl Tokens {
    /// A full bucket.
    pub fn full(bucket: Bucket) -> Tokens {
        Tokens {
            left: f64::from(bucket.size),
            at: Instant::now(),
        }
    }

    /// Takes one token at `now`: `Ok(tokens left, whole)` or `Err(seconds until one is back)`.
    pub fn take(&mut self, bucket: Bucket, now: Instant) -> Result<u32, u64> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let size = f64::from(bucket.size);
        self.left = (self.left + elapsed * bucket.per_second.max(0.0)).min(size);
        self.at = now;
        if self.left >= 1.0 {
            self.left -= 1.0;
            return Ok(self.left.floor().min(f64::from(u32::MAX)) as u32);
        }
        let wait = if bucket.per_second > 0.0 {
            ((1.0 - self.left) / bucket.per_second).ceil()
        } else {
            f64::from(u32::MAX)
        };
        Err(wait.clamp(1.0, f64::from(u32::MAX)) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_empties_the_bucket_and_time_refills_it() {
        let bucket = Bucket {
            size: 3,
            per_second: 2.0,
        };
        let t0 = Instant::now();
        let mut tokens = Tokens::full(bucket);
        assert_eq!(tokens.take(bucket, t0), Ok(2));
        assert_eq!(tokens.take(bucket, t0), Ok(1));
        assert_eq!(tokens.take(bucket, t0), Ok(0));
        assert_eq!(tokens.take(bucket, t0), Err(1));
        // Half a second brings one token back (2/s).
        assert_eq!(tokens.take(bucket, t0 + Duration::from_millis(500)), Ok(0));
        // Ten seconds refill only up to the size.
        assert_eq!(tokens.take(bucket, t0 + Duration::from_secs(10)), Ok(2));
        let slow = Bucket {
            size: 1,
            per_second: 0.01,
        };
        let mut tokens = Tokens::full(slow);
        assert_eq!(tokens.take(slow, t0), Ok(0));
        assert_eq!(tokens.take(slow, t0), Err(100));
    }
}
