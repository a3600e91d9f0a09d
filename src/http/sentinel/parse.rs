//! Sentinel wire formats, without I/O: the polling `$filter`, timestamps, lenient incident
//! parsing (owner = UPN, else email, else assignedTo; `additionalData` products and tactics).
//!
//! Invariants: unknown fields are ignored; a resource without `name`, `etag` or a readable
//! `lastModifiedTimeUtc` is refused (the poller's cursor and the PUT concurrency need them);
//! datetimes in the filter are unquoted RFC 3339 with `Z`, as Sentinel requires.

use actors::ports::{CommentRecord, IncidentQuery, IncidentRecord};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::Value;

/// Builds the `$filter` of a poll (empty when nothing filters).
pub fn build_filter(q: &IncidentQuery) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let any_of = |field: &str, values: &[String]| {
        let parts: Vec<String> = values
            .iter()
            .map(|v| format!("{field} eq {}", quote(v)))
            .collect();
        format!("({})", parts.join(" or "))
    };
    let mut clauses = Vec::new();
    if !q.statuses.is_empty() {
        clauses.push(any_of("properties/status", &q.statuses));
    }
    if !q.severities.is_empty() {
        clauses.push(any_of("properties/severity", &q.severities));
    }
    if q.modified_since_ms > 0 {
        if let Some(t) = Utc.timestamp_millis_opt(q.modified_since_ms).single() {
            clauses.push(format!(
                "properties/lastModifiedTimeUtc ge {}",
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            ));
        }
    }
    clauses.join(" and ")
}

/// Milliseconds since the epoch of a Sentinel timestamp (0–7+ fractional digits, `Z` or an
/// offset; a timestamp without a zone is read as UTC).
pub fn parse_time_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Parses one incident resource; `raw_json` is kept as given.
pub fn parse_incident(v: &Value, raw_json: String) -> Result<IncidentRecord, String> {
    let name = str_at(v, &["name"])
        .filter(|s| !s.is_empty())
        .ok_or("incident without a name")?;
    let etag = str_at(v, &["etag"])
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("incident {name} without an etag"))?;
    let p = v.get("properties").cloned().unwrap_or(Value::Null);
    let modified = str_at(&p, &["lastModifiedTimeUtc"])
        .and_then(parse_time_ms)
        .ok_or_else(|| format!("incident {name}: unreadable lastModifiedTimeUtc"))?;
    let created = str_at(&p, &["createdTimeUtc"])
        .and_then(parse_time_ms)
        .unwrap_or(modified);
    let text = |k: &str| str_at(&p, &[k]).unwrap_or("").to_string();
    let owner = ["userPrincipalName", "email", "assignedTo"]
        .iter()
        .find_map(|k| str_at(&p, &["owner", k]).filter(|s| !s.trim().is_empty()))
        .map(str::to_string);
    let labels = p
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| l.get("labelName").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let extra = p.get("additionalData");
    Ok(IncidentRecord {
        name: name.to_string(),
        etag: etag.to_string(),
        number: p.get("incidentNumber").and_then(Value::as_i64).unwrap_or(0),
        title: text("title"),
        description: text("description"),
        severity: text("severity"),
        status: text("status"),
        owner,
        created_ms: created,
        last_modified_ms: modified,
        url: text("incidentUrl"),
        labels,
        products: strings(extra.and_then(|e| e.get("alertProductNames"))),
        tactics: strings(extra.and_then(|e| e.get("tactics"))),
        raw_json,
    })
}

/// One item of a comment listing: id, message, author (name, else email, else UPN, else
/// object id) and creation time. A comment without a `name` is refused (it cannot be
/// recognised later); a missing message or time reads as empty / 0.
pub fn parse_comment(v: &Value) -> Result<CommentRecord, String> {
    let id = v
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("comment without a name")?
        .to_string();
    let p = v.get("properties").unwrap_or(&Value::Null);
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    let author = p.get("author").unwrap_or(&Value::Null);
    Ok(CommentRecord {
        id,
        message: text(p, "message").unwrap_or_default(),
        author: ["name", "email", "userPrincipalName", "objectId"]
            .iter()
            .find_map(|k| text(author, k))
            .unwrap_or_default(),
        created_ms: p
            .get("createdTimeUtc")
            .and_then(Value::as_str)
            .and_then(parse_time_ms)
            .unwrap_or(0),
    })
}
