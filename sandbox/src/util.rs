//! Small helpers shared by every emulator: timestamps in the services' own formats, the id shapes
//! the real services hand out, query-string parsing and JSON responses.
//!
//! Invariants: every timestamp the sandbox emits is UTC with a trailing `Z`; ids are unique within
//! one sandbox (random v4 GUIDs or counters), never derived from secrets.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// `2019-01-01T13:15:30.5416527Z`: Sentinel and Log Analytics print 7 fractional digits (.NET ticks).
pub fn ts7(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

/// `2023-05-06 06:03:00Z`: the Entra error `timestamp` format (space, no `T`, no fraction).
pub fn ts_entra(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// RFC 3339 with seconds only, used where services print whole seconds.
pub fn ts_secs(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses the timestamps clients send (`2024-05-22T10:09:26Z`, fractional digits, offsets).
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A fresh random GUID in its lowercase hyphenated form.
pub fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// .NET `DateTime.MaxValue.Ticks`: SIGNL4 ids start with `MaxValue - now` in ticks ("reverse
/// ticks", 19 digits) so that newer ids sort first.
const DOTNET_MAX_TICKS: u64 = 3_155_378_975_999_999_999;
/// Ticks between 0001-01-01 and the Unix epoch.
const DOTNET_EPOCH_TICKS: u64 = 621_355_968_000_000_000;

/// A SIGNL4 id `<19-digit reverse ticks>_<guid>` (eventId, Signl id, annotation id).
pub fn signl4_id(now: DateTime<Utc>) -> String {
    let ticks = DOTNET_EPOCH_TICKS
        + (now.timestamp() as u64) * 10_000_000
        + u64::from(now.timestamp_subsec_nanos() / 100);
    format!("{:019}_{}", DOTNET_MAX_TICKS - ticks, guid())
}

/// Decodes a query string into ordered pairs. Like ASP.NET (and so ARM, Graph and Log
/// Analytics), `+` means a space; a literal plus must be sent as `%2B`.
pub fn query_pairs(qs: &str) -> Vec<(String, String)> {
    qs.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                pct_decode(&k.replace('+', " ")),
                pct_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// Percent-decoding (`%XX` only; invalid escapes are kept literally).
pub fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value; `keep_spaces` leaves spaces literal (the Sentinel `nextLink`
/// quirk Cortex XSOAR documents).
pub fn pct_encode(s: &str, keep_spaces: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        match c {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'/'
            | b':'
            | b'$'
            | b'\''
            | b'('
            | b')'
            | b',' => out.push(c as char),
            b' ' if keep_spaces => out.push(' '),
            _ => out.push_str(&format!("%{c:02X}")),
        }
    }
    out
}

/// Standard base64 decoding (for `Authorization: Basic`); `None` on invalid input.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim().trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Case-insensitive lookup of a query parameter (ARM treats `api-version` and `$top` this way).
pub fn q<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A JSON response with an explicit status; every emulator answers through this.
pub fn json(status: u16, body: &Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

/// Parses a request body as a JSON value, treating an empty body as `None`.
pub fn body_json(body: &[u8]) -> Result<Option<Value>, serde_json::Error> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts7_has_seven_digits() {
        let t = parse_ts("2019-01-01T13:15:30.5416527Z").unwrap();
        assert_eq!(ts7(t), "2019-01-01T13:15:30.5416527Z");
    }

    #[test]
    fn signl4_ids_have_19_digit_prefix() {
        let id = signl4_id(Utc::now());
        let (ticks, g) = id.split_once('_').unwrap();
        assert_eq!(ticks.len(), 19);
        assert!(ticks.bytes().all(|b| b.is_ascii_digit()));
        assert!(uuid::Uuid::parse_str(g).is_ok());
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(base64_decode("YXBwOnNlY3JldA==").unwrap(), b"app:secret");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("!!").is_none());
    }

    #[test]
    fn pct_roundtrip() {
        let s = "properties/status eq 'New' and x ge 2024-01-01T00:00:00+01:00&y";
        assert_eq!(pct_decode(&pct_encode(s, false)), s);
        assert!(pct_encode(s, true).contains(" eq "));
    }
}
