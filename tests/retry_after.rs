//! `Retry-After` is read without any possible panic (a `1e20` once aborted the release build,
//! taking every tenant down), capped, and honoured on 503 as on 429 (a 503 stays apart from a
//! 429: its request may have been processed).

use std::time::Duration;

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use sentinel_signl4::http::classify::{self, parse_retry_after, MAX_RETRY_AFTER};
use sentinel_signl4::http::send::{CallInfo, Exchange};
use sentinel_signl4::http::{ApiError, Redactor};
use uuid::Uuid;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

#[test]
fn numbers_dates_and_garbage() {
    let at = |s: &str| parse_retry_after(s, now());
    assert_eq!(at("12"), Some(Duration::from_secs(12)));
    assert_eq!(at(" 0 "), Some(Duration::ZERO));
    assert_eq!(at("1.5"), Some(Duration::from_millis(1500)));
    assert_eq!(at("1e20"), Some(MAX_RETRY_AFTER));
    assert_eq!(at("99999999999999999999999999"), Some(MAX_RETRY_AFTER));
    assert_eq!(at("inf"), None);
    assert_eq!(at("NaN"), None);
    assert_eq!(at("-3"), None);
    assert_eq!(at("soon"), None);
    assert_eq!(at(""), None);
    let in_30s = (now() + chrono::Duration::seconds(30))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    assert_eq!(at(&in_30s), Some(Duration::from_secs(30)));
    let past = (now() - chrono::Duration::seconds(30))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    assert_eq!(at(&past), Some(Duration::ZERO));
}

proptest! {
    #[test]
    fn any_text_parses_to_a_capped_wait_or_nothing(value in ".{0,40}") {
        if let Some(wait) = parse_retry_after(&value, now()) {
            prop_assert!(wait <= MAX_RETRY_AFTER);
        }
    }

    #[test]
    fn any_float_parses_to_a_capped_wait_or_nothing(secs in any::<f64>()) {
        for text in [secs.to_string(), format!("{secs:e}")] {
            if let Some(wait) = parse_retry_after(&text, now()) {
                prop_assert!(wait <= MAX_RETRY_AFTER);
                prop_assert!(secs >= 0.0);
            }
        }
    }

    #[test]
    fn whole_seconds_are_read_exactly_below_the_cap(secs in 0u64..3600) {
        prop_assert_eq!(
            parse_retry_after(&secs.to_string(), now()),
            Some(Duration::from_secs(secs))
        );
    }
}

fn classified(status: u16, retry_after: Option<&'static str>) -> ApiError {
    let mut headers = HeaderMap::new();
    if let Some(v) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from_static(v));
    }
    let exchange = Exchange {
        status,
        headers,
        body: br#"{"error":{"code":"ServiceUnavailable","message":"busy"}}"#.to_vec(),
    };
    let call = CallInfo {
        connector: "test",
        service: "sentinel",
        method: "PUT",
        template: "/incidents/{id}",
        request_id: Uuid::nil(),
    };
    classify::response(&exchange, &call, &Redactor::new([]))
}

#[test]
fn a_503_with_retry_after_waits_like_a_throttle() {
    let unavailable = classified(503, Some("7"));
    assert!(
        matches!(unavailable, ApiError::Unavailable { retry_after, .. } if retry_after == Duration::from_secs(7)),
        "{unavailable:?}"
    );
    assert!(unavailable.is_retryable());
    assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(
        classified(429, Some("1e20")),
        ApiError::Throttled {
            retry_after: MAX_RETRY_AFTER
        }
    );
    assert!(matches!(classified(503, None), ApiError::Transient(_)));
    assert!(matches!(
        classified(503, Some("later")),
        ApiError::Transient(_)
    ));
}
