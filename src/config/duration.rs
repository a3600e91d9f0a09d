//! Durations in the configuration: humantime strings such as `"60s"`, `"5m"`, `"24h"`,
//! `"1h 30m"`.
//!
//! Why strings only: a bare integer is ambiguous (seconds? milliseconds?), so it is rejected
//! with a message that shows the expected form instead of being guessed at.

use std::time::Duration;

/// Parses a humantime duration; the error says what is expected.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!(
            "invalid duration {text:?} ({e}); expected e.g. \"90s\", \"5m\", \"24h\" or \"1h 30m\""
        )
    })
}

/// Formats a duration the way it is written in the file (`1h 30m`, `60s`).
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse(" 24h "), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(format(Duration::from_secs(5_400)), "1h 30m");
    }

    #[test]
    fn rejects_garbage_with_the_expected_form() {
        let err = parse("sixty").unwrap_err();
        assert!(
            err.contains("\"sixty\"") && err.contains("expected"),
            "{err}"
        );
        assert!(parse("60").is_err(), "a unit is required");
    }
}
