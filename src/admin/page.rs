//! `/status` and `/status/incidents/{id}`: server-rendered HTML, no scripts and no build step,
//! readable in any browser and in `curl`.
//!
//! Invariants: every value is HTML-escaped (incident titles and reasons come from remote
//! services); the page only reads views ([`super::view`]); a client secret that expires within
//! [`EXPIRY_WARNING_DAYS`] days is flagged on its connector.

use std::fmt::Write as _;

use super::probe::Liveness;
use super::view::{ConnectorView, Timeline};

/// From this many days before the client secret expires, the page warns.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .6em;\
text-align:left;vertical-align:top}th{background:#f3f3f3}.ok{color:#176117;font-weight:bold}\
.error{color:#a40000;font-weight:bold}.warn{color:#8a5a00}code{font-size:90%}";

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"30\"><title>{}</title><style>{STYLE}</style>\
         </head><body>",
        escape(title)
    );
}

/// The status page.
pub fn status(views: &[ConnectorView], recent: &[Timeline], liveness: &Liveness) -> String {
    let mut out = String::new();
    head(&mut out, "sentinel-signl4 status");
    let _ = write!(
        out,
        "<h1>sentinel-signl4</h1><p id=\"writer\">event log writer: {}</p>",
        match &liveness.reason {
            None => "<span class=\"ok\">OK</span>".to_string(),
            Some(why) => format!("<span class=\"error\">ERROR</span> {}", escape(why)),
        }
    );
    out.push_str(
        "<h2>Connectors</h2><table id=\"connectors\"><tr><th>connector</th><th>status</th>\
         <th>reason</th><th>last successful poll (UTC)</th><th>open effects</th>\
         <th>oldest open effect</th><th>failed effects</th><th>incidents</th><th>SIGNL4_CL rows</th>\
         <th>client secret</th></tr>",
    );
    for v in views {
        let status = if v.is_ok() {
            "<span class=\"ok\">OK</span>"
        } else {
            "<span class=\"error\">ERROR</span>"
        };
        let open: Vec<String> = v
            .effects_open
            .iter()
            .map(|(k, n)| format!("{} {n}", escape(k)))
            .collect();
        let secret = match v.client_secret_expires_in_days {
            None => "expiry not configured".to_string(),
            Some(d) if d < 0 => format!("<span class=\"error\">expired {} days ago</span>", -d),
            Some(d) if d <= EXPIRY_WARNING_DAYS => {
                format!("<span class=\"warn\">expires in {d} days</span>")
            }
            Some(d) => format!("expires in {d} days"),
        };
        let _ = write!(
            out,
            "<tr class=\"connector\" data-connector=\"{name}\" data-status=\"{state}\">\
             <td>{name}</td><td>{status}</td><td class=\"reason\">{reason}</td><td>{poll}</td>\
             <td>{open}</td><td>{oldest}</td><td>{failed}</td><td>{incidents}</td><td>{rows}</td>\
             <td>{secret}</td></tr>",
            name = escape(&v.connector),
            state = v.status,
            reason = v.reason.as_deref().map(escape).unwrap_or_default(),
            poll = v.last_poll_ok.as_deref().unwrap_or("never"),
            open = if open.is_empty() {
                "none".to_string()
            } else {
                open.join(", ")
            },
            oldest = v
                .oldest_open_effect_age_seconds
                .map_or("-".to_string(), |s| format!("{s:.0}s")),
            failed = if v.effects_failed.is_empty() {
                "none".to_string()
            } else {
                v.effects_failed
                    .iter()
                    .map(|(k, n)| format!("{} {n}", escape(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            incidents = v.incidents,
            rows = v
                .signl4_cl_rows_shipped
                .map_or("off".to_string(), |r| r.to_string()),
        );
    }
    out.push_str("</table><h2>Recent incidents</h2>");
    if recent.is_empty() {
        out.push_str("<p>none yet</p>");
    } else {
        out.push_str(
            "<table id=\"incidents\"><tr><th>connector</th><th>number</th><th>title</th>\
             <th>severity</th><th>Sentinel</th><th>Signl</th><th>open intents</th>\
             <th>last event (UTC)</th></tr>",
        );
        for t in recent {
            let i = &t.incident;
            let _ = write!(
                out,
                "<tr><td>{}</td><td><a href=\"/status/incidents/{id}\">#{}</a></td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&i.connector),
                i.number,
                escape(&i.title),
                escape(&i.severity),
                escape(&i.status),
                i.signl,
                i.open_intents,
                i.last_event,
                id = escape(&i.id),
            );
        }
        out.push_str("</table><h2>Timelines</h2>");
        for t in recent {
            let _ = write!(
                out,
                "<details class=\"incident-timeline\" id=\"t-{id}\"><summary>{} #{} {}</summary>",
                escape(&t.incident.connector),
                t.incident.number,
                escape(&t.incident.title),
                id = escape(&t.incident.id),
            );
            events_table(&mut out, t);
            out.push_str("</details>");
        }
    }
    out.push_str(
        "<p>JSON: <a href=\"/api/connectors\">/api/connectors</a>, \
         <a href=\"/api/incidents\">/api/incidents</a>; \
         <a href=\"/metrics\">/metrics</a>, <a href=\"/readyz\">/readyz</a>, \
         <a href=\"/healthz\">/healthz</a></p></body></html>",
    );
    out
}

/// One incident's timeline page.
pub fn timeline(t: &Timeline) -> String {
    let i = &t.incident;
    let mut out = String::new();
    head(
        &mut out,
        &format!("incident #{} of {}", i.number, i.connector),
    );
    let _ = write!(
        out,
        "<p><a href=\"/status\">status</a></p><h1>Incident #{} {}</h1>\
         <p>connector {}, Sentinel {} {}, Signl {}, {} open intents, incident {}</p>",
        i.number,
        escape(&i.title),
        escape(&i.connector),
        escape(&i.status),
        escape(&i.severity),
        i.signl,
        i.open_intents,
        escape(&i.name),
    );
    events_table(&mut out, t);
    out.push_str("</body></html>");
    out
}

fn events_table(out: &mut String, t: &Timeline) {
    out.push_str(
        "<table class=\"timeline\"><tr><th>seq</th><th>recorded (UTC)</th><th>event</th>\
         <th>details</th></tr>",
    );
    for e in &t.events {
        let _ = write!(
            out,
            "<tr class=\"event\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            e.recorded_at,
            e.kind,
            escape(&e.summary)
        );
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;"
        );
    }
}
