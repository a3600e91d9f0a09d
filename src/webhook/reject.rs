//! Rejected webhook requests: counted per reason, logged at most once per [`LOG_EVERY`], and
//! whatever came from the request escaped before it reaches a log line.
//!
//! Invariants:
//! - A flood of bad requests (scanners, a misconfigured SIGNL4 team) costs one WARN line per
//!   [`LOG_EVERY`], naming how many were suppressed since the last one; the counts are exact and
//!   read by the admin surface's metrics.
//! - Nothing taken from a request (path segments, parser messages) is logged raw: control
//!   characters are escaped and the text is cut, so a `%0A` in a path cannot forge a log line.
//! - Tokens are never logged: callers pass the connector segment only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one WARN line about rejected requests per this interval.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Longest request-derived text put into a log line (characters, before escaping).
const MAX_LOGGED_CHARS: usize = 80;

/// Why a webhook request was refused; the label of its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Unknown connector or wrong token (answered 404).
    UnknownRoute,
    /// Body over the size limit (413).
    TooLarge,
    /// Body not received within the read timeout (408).
    SlowBody,
    /// Body not JSON or not a SIGNL4 notification (400).
    BadBody,
}

impl Reason {
    /// Every reason, in the order of [`Rejections::counts`].
    pub const ALL: [Reason; 4] = [
        Reason::UnknownRoute,
        Reason::TooLarge,
        Reason::SlowBody,
        Reason::BadBody,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::UnknownRoute => "unknown_route",
            Reason::TooLarge => "too_large",
            Reason::SlowBody => "slow_body",
            Reason::BadBody => "bad_body",
        }
    }
}

/// The rejection counters of the process's webhook listener. Exists so that rejections are
/// visible as numbers (metrics) rather than as one log line each.
#[derive(Debug, Default)]
pub struct Rejections {
    counts: [AtomicU64; 4],
    /// Rejections not logged since the last WARN line.
    suppressed: AtomicU64,
    last_logged: Mutex<Option<Instant>>,
}

/// The process's counters (one webhook listener per process).
pub fn rejections() -> &'static Rejections {
    static REJECTIONS: std::sync::OnceLock<Rejections> = std::sync::OnceLock::new();
    REJECTIONS.get_or_init(Rejections::default)
}

impl Rejections {
    /// Counts one rejection and logs it unless a line was logged less than [`LOG_EVERY`] ago.
    /// `connector` and `detail` come from the request and are escaped here.
    pub fn reject(&self, reason: Reason, connector: &str, detail: &str) {
        self.counts[reason as usize].fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut last = self.last_logged.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(now);
        drop(last);
        let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
        tracing::warn!(
            connector = %escape(connector),
            reason = reason.label(),
            detail = %escape(detail),
            suppressed_since_last_line = suppressed,
            "webhook request rejected (at most one line per {}s; counts in /metrics)",
            LOG_EVERY.as_secs()
        );
    }

    /// Rejections so far, per reason, in [`Reason::ALL`] order.
    pub fn counts(&self) -> [(Reason, u64); 4] {
        Reason::ALL.map(|r| (r, self.counts[r as usize].load(Ordering::Relaxed)))
    }
}

/// `text` fit for a log line: control characters escaped (`\n`, `\u{1b}`), cut after
/// [`MAX_LOGGED_CHARS`] characters with a marker.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_LOGGED_CHARS) + 8);
    for (i, c) in text.chars().enumerate() {
        if i == MAX_LOGGED_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        assert_eq!(escape("a\nb\r\u{1b}[31m"), "a\\nb\\r\\u{1b}[31m");
        assert!(!escape("x\ny").contains('\n'));
        let long = "z".repeat(500);
        assert_eq!(escape(&long).chars().count(), MAX_LOGGED_CHARS + 3);
        assert_eq!(escape("contoso-ü"), "contoso-ü");
    }

    #[test]
    fn rejections_are_counted_even_when_not_logged() {
        let r = Rejections::default();
        for _ in 0..100 {
            r.reject(Reason::UnknownRoute, "x", "");
        }
        r.reject(Reason::TooLarge, "x", "");
        let counts = r.counts();
        assert_eq!(counts[0], (Reason::UnknownRoute, 100));
        assert_eq!(counts[1], (Reason::TooLarge, 1));
        // The first was logged; the other 100 wait for the next line.
        assert_eq!(r.suppressed.load(Ordering::Relaxed), 100);
    }
}
