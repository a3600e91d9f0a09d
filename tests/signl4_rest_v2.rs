//! The SIGNL4 REST polling fallback uses documented v2 routes only (docs/reference/signl4-api.md §2.3), over
//! real HTTP against the sandbox: annotations come from the alert's timeline; v1's
//! `/annotations` route is not served; every route the client calls is a documented v2 one;
//! and a timeline route that is missing degrades visibly once (one WARN per state change, not
//! one per poll).

use std::io::Write;
use std::sync::{Arc, Mutex};

use actors::ports::Signl4Api;
use sandbox::control::{TenantSpec, UserAction};
use sandbox::{FaultKind, FaultSpec, Sandbox, SandboxHandle, SandboxOptions, Service, TenantInfo};
use sentinel_signl4::http::{HttpContext, HttpSettings, Signl4Client, Signl4Settings};
use serde_json::json;
use uuid::Uuid;

fn start() -> (SandboxHandle, TenantInfo, Signl4Client) {
    let sb = Sandbox::start(SandboxOptions::for_tests()).unwrap();
    let t = sb.control().create_tenant(TenantSpec::default()).unwrap();
    let ctx = HttpContext::new(HttpSettings::for_tests()).unwrap();
    let settings = Signl4Settings::new(sb.urls().signl4.clone(), t.team_secret.clone())
        .with_api_key(t.api_key.clone());
    let client = Signl4Client::new(&ctx, settings);
    (sb, t, client)
}

/// Raises a Signl through the client and returns its id.
async fn raised(sb: &SandboxHandle, t: &TenantInfo, client: &Signl4Client) -> String {
    let body =
        json!({"Title": "t", "Message": "m", "X-S4-ExternalID": "ext-1", "X-S4-Status": "new"});
    client.send_event(&body, Uuid::new_v4()).await.unwrap();
    sb.control().signls(&t.name).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The documented v2 routes the polling fallback may call (method, path with `{id}`).
const DOCUMENTED: [(&str, &str); 6] = [
    ("POST", "/api/v2/alerts/paged"),
    ("GET", "/api/v2/alerts/{id}/timeline"),
    ("GET", "/api/v2/users"),
    ("POST", "/api/v2/alerts/{id}/annotate"),
    ("POST", "/webhook/***"),
    ("GET", "/api/v2/alerts/{id}"),
];

fn template(path: &str, signl: &str) -> String {
    path.split('?')
        .next()
        .unwrap_or_default()
        .replace(signl, "{id}")
}

#[tokio::test]
async fn annotations_are_read_from_the_timeline_over_documented_v2_routes_only() {
    let (sb, t, client) = start();
    let signl = raised(&sb, &t, &client).await;
    let alice = &t.users[0];
    sb.control()
        .user_action(
            &t.name,
            &signl,
            Some(&alice.id),
            UserAction::Annotate {
                text: "on my way".into(),
            },
        )
        .unwrap();
    sb.control()
        .user_action(&t.name, &signl, Some(&alice.id), UserAction::Acknowledge)
        .unwrap();
    client
        .annotate(&signl, "from Sentinel", Uuid::new_v4())
        .await
        .unwrap();

    let changed = client.changed_signls(0).await.unwrap().unwrap();
    assert_eq!(changed.len(), 1);
    assert!(changed[0].has_annotations);
    let notes = client.annotations(&signl).await.unwrap().unwrap();
    let texts: Vec<&str> = notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["on my way", "from Sentinel"]);
    let author = notes[0].user.as_ref().unwrap();
    assert_eq!(author.email.as_deref(), Some(alice.mail.as_str()));
    assert!(notes[1].user.is_none(), "the API-key note has no user");

    for r in sb
        .control()
        .requests()
        .iter()
        .filter(|r| r.service == "signl4")
    {
        let route = (r.method.as_str(), template(&r.path, &signl));
        assert!(
            DOCUMENTED
                .iter()
                .any(|(m, p)| *m == route.0 && *p == route.1),
            "undocumented route {route:?}"
        );
        assert!(r.status < 400, "{r:?}");
    }
    // v1's annotations route is not served under v2.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let v1 = http
        .get(format!(
            "{}/api/v2/alerts/{signl}/annotations",
            sb.urls().signl4
        ))
        .header("X-S4-Api-Key", &t.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), 404);
}

/// Captured log lines (the client's WARN/INFO), written by a fmt subscriber.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn count(&self, level: &str, needle: &str) -> usize {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines()
            .filter(|l| l.contains(level) && l.contains(needle))
            .count()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_timeline_route_is_reported_once_per_change_not_per_poll() {
    let (sb, t, client) = start();
    let signl = raised(&sb, &t, &client).await;
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // With a single dispatcher alive, tracing-core lets the registering thread alone decide a
    // callsite's interest; a second one makes it consult ours even if a parallel test (no
    // subscriber) hits the callsite first.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);
    let missing = || FaultSpec {
        service: Service::Signl4,
        kind: FaultKind::Status {
            status: 404,
            retry_after: None,
        },
        times: None,
        probability: None,
        path_contains: Some("/timeline".into()),
        method: None,
    };

    sb.control().add_fault(missing());
    for _ in 0..5 {
        assert_eq!(client.annotations(&signl).await.unwrap(), None);
    }
    assert_eq!(lines.count("WARN", "timeline"), 1);

    sb.control().clear_faults();
    for _ in 0..3 {
        assert_eq!(client.annotations(&signl).await.unwrap(), Some(Vec::new()));
    }
    assert_eq!(lines.count("INFO", "timeline again"), 1);

    sb.control().add_fault(missing());
    for _ in 0..3 {
        assert_eq!(client.annotations(&signl).await.unwrap(), None);
    }
    assert_eq!(lines.count("WARN", "timeline"), 2);
    let misses = sb
        .control()
        .requests()
        .iter()
        .filter(|r| r.path.contains("/timeline") && r.status == 404)
        .count();
    assert_eq!(misses, 8, "every poll still asks; only the log is quiet");
}
