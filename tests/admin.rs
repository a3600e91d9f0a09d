//! The operator's surface of a running connector, over real HTTP on loopback: the real binary
//! runs the sandbox's connectors (and, where a test says so, one with a wrong client secret)
//! with its event log on disk; the tests read `/healthz`, `/readyz`, `/metrics`, `/status` and
//! the JSON API as an operator's tools would, and `/status` as a browser renders it.

mod admin_util;

use std::process::Command;
use std::time::Duration;

use admin_util::{config, connector_table, edit, sandbox, wait_for, Broken, Connector};

const READY_LIMIT: Duration = Duration::from_secs(60);

#[test]
fn sandbox_connectors_are_ready_and_their_incidents_audit_over_http() {
    let sb = sandbox(2, 2);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::Nothing);
    // tenant-1's client secret expires in 10 days (warned), tenant-2's in 400.
    let today = chrono::Utc::now().date_naive();
    edit(&file, |f| {
        for (name, days) in [("tenant-1", 10), ("tenant-2", 400)] {
            let date = today + chrono::Duration::days(days);
            connector_table(f, name).insert(
                "client_secret_expires".into(),
                date.format("%Y-%m-%d").to_string().into(),
            );
        }
    });
    let connector = Connector::start(&file, dir.path(), &[], &[]);

    let (status, body) = connector.get("/healthz");
    assert_eq!((status, body.contains("\"ok\"")), (200, true), "{body}");
    let ready = wait_for("/readyz 200", READY_LIMIT, || {
        let (status, body) = connector.get("/readyz");
        (status == 200).then_some(body)
    });
    assert!(ready.contains("\"ready\""), "{ready}");

    let (status, body) = connector.get("/api/connectors");
    assert_eq!(status, 200);
    let views: serde_json::Value = serde_json::from_str(&body).unwrap();
    let views = views.as_array().unwrap();
    assert_eq!(views.len(), 2, "{body}");
    for v in views {
        assert_eq!(v["status"], "ok", "{v}");
        assert!(v["last_poll_ok"].is_string(), "{v}");
    }

    // Every incident gets paged; the JSON API serves each one's timeline from the log.
    let incidents = wait_for("4 incidents in the log", READY_LIMIT, || {
        let (_, body) = connector.get("/api/incidents");
        let list: serde_json::Value = serde_json::from_str(&body).ok()?;
        (list.as_array()?.len() == 4).then_some(list)
    });
    let id = incidents[0]["id"].as_str().unwrap();
    let (status, body) = connector.get(&format!("/api/incidents/{id}"));
    assert_eq!(status, 200, "{body}");
    let timeline: serde_json::Value = serde_json::from_str(&body).unwrap();
    let kinds: Vec<&str> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"IncidentObserved"), "{body}");
    let (status, _) = connector.get("/api/incidents/not-an-incident");
    assert_eq!(status, 404);

    let (status, page) = connector.get("/status");
    assert_eq!(status, 200);
    for name in ["tenant-1", "tenant-2"] {
        assert!(
            page.contains(&format!("data-connector=\"{name}\" data-status=\"ok\"")),
            "{name} not OK on /status:\n{page}"
        );
    }
    assert!(
        page.contains("<span class=\"warn\">expires in 10 days</span>"),
        "{page}"
    );
    assert!(page.contains("expires in 400 days</td>"), "{page}");
    let (_, metrics) = connector.get("/metrics");
    assert!(
        metrics
            .contains("sentinel_signl4_client_secret_expires_in_days{connector=\"tenant-1\"} 10\n"),
        "{metrics}"
    );
}

#[test]
fn a_wrong_client_secret_is_an_error_with_the_aadsts_reason() {
    let sb = sandbox(1, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::ClientSecret);
    let connector = Connector::start(&file, dir.path(), &[], &[]);

    let body = wait_for("/readyz 503 naming broken", READY_LIMIT, || {
        let (status, body) = connector.get("/readyz");
        (status == 503 && body.contains("AADSTS") && !body.contains("tenant-1")).then_some(body)
    });
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let failing = json["failing"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{body}");
    assert_eq!(failing[0]["connector"], "broken");
    let reason = failing[0]["reason"].as_str().unwrap();
    assert!(reason.contains("AADSTS7000215"), "{reason}");
    assert!(
        !reason.contains("this-is-not-the-secret"),
        "secret in {reason}"
    );

    // The good connector is OK at the same time.
    wait_for("tenant-1 OK", READY_LIMIT, || {
        let (_, page) = connector.get("/status");
        page.contains("data-connector=\"tenant-1\" data-status=\"ok\"")
            .then_some(())
    });
    let (_, page) = connector.get("/status");
    assert!(
        page.contains("data-connector=\"broken\" data-status=\"error\""),
        "{page}"
    );
    assert!(page.contains("AADSTS7000215"), "{page}");

    // The metrics parse and hold the series an operator alerts on.
    let (status, metrics) = connector.get("/metrics");
    assert_eq!(status, 200);
    let samples = parse_metrics(&metrics);
    let value = |name: &str| {
        samples
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    assert_eq!(
        value("sentinel_signl4_connector_up{connector=\"tenant-1\"}"),
        1.0
    );
    assert_eq!(
        value("sentinel_signl4_connector_up{connector=\"broken\"}"),
        0.0
    );
    assert!(
        value("sentinel_signl4_last_poll_success_timestamp_seconds{connector=\"tenant-1\"}")
            > 1.7e9
    );
    assert!(value("sentinel_signl4_store_commit_seconds_count") >= 1.0);
    assert!(value("sentinel_signl4_store_log_size_bytes") > 0.0);
    assert!(
        value(
            "sentinel_signl4_http_requests_total{connector=\"broken\",service=\"entra\",status=\"401\"}"
        ) >= 1.0,
        "{metrics}"
    );
    // Each connector's calls are counted under its own name, its pages to SIGNL4 included.
    assert!(
        samples.iter().any(|(n, v)| n.starts_with(
            "sentinel_signl4_http_requests_total{connector=\"tenant-1\",service=\"signl4\""
        ) && *v >= 1.0),
        "{metrics}"
    );
    assert!(
        value(
            "sentinel_signl4_http_requests_total{connector=\"tenant-1\",service=\"sentinel\",status=\"200\"}"
        ) >= 1.0,
        "{metrics}"
    );
    for series in [
        "sentinel_signl4_effects_open_oldest_age_seconds{connector=\"tenant-1\"}",
        "sentinel_signl4_webhook_rejected_total{reason=\"unknown_route\"}",
        "sentinel_signl4_store_writer_healthy",
    ] {
        value(series);
    }
    assert!(
        metrics.contains("sentinel_signl4_signl4_cl_rows_shipped_total{connector=\"tenant-1\"}")
    );
    // The connectors' Sentinel reads drew from a rate budget: what is left of its window.
    let remaining_reads: Vec<f64> = samples
        .iter()
        .filter(|(n, _)| {
            n.starts_with("sentinel_signl4_rate_budget_remaining{") && n.contains("class=\"read\"")
        })
        .map(|(_, v)| *v)
        .collect();
    assert!(!remaining_reads.is_empty(), "{metrics}");
    assert!(remaining_reads.iter().all(|v| *v >= 0.0), "{metrics}");
    assert!(
        metrics.contains("sentinel_signl4_rate_budget_waits_total{budget="),
        "{metrics}"
    );
}

/// Every sample line of a Prometheus text exposition as `(name{labels}, value)`; panics on a
/// line that is neither a comment nor a sample.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample: {l:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number in {l:?}"));
            assert!(
                name.starts_with("sentinel_signl4_"),
                "unprefixed series {l:?}"
            );
            (name.to_string(), value)
        })
        .collect()
}

#[test]
fn the_status_page_renders_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .expect(
            "chromium is not installed: this test renders /status in headless Chromium \
             (Debian: apt-get install -y chromium; .ci/run installs it)",
        );
    let sb = sandbox(2, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::Nothing);
    let connector = Connector::start(&file, dir.path(), &[], &[]);
    wait_for("/readyz 200 and two incidents", READY_LIMIT, || {
        let (status, _) = connector.get("/readyz");
        let (_, body) = connector.get("/api/incidents");
        let list: serde_json::Value = serde_json::from_str(&body).ok()?;
        (status == 200 && list.as_array()?.len() == 2).then_some(())
    });
    let profile = dir.path().join("chromium-profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("http://{}/status", connector.admin))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["tenant-1", "tenant-2"] {
        assert!(
            dom.contains(&format!("data-connector=\"{name}\" data-status=\"ok\"")),
            "{name} not rendered OK:\n{dom}"
        );
    }
    assert!(dom.contains("<span class=\"ok\">OK</span>"), "{dom}");
    // An incident's timeline, rendered from the log.
    assert!(dom.contains("class=\"incident-timeline\""), "{dom}");
    for kind in ["IncidentObserved", "EffectRequested"] {
        assert!(
            dom.contains(&format!("<td>{kind}</td>")),
            "{kind} missing:\n{dom}"
        );
    }
}

#[test]
fn a_team_secret_signl4_refuses_is_an_error_naming_the_refused_signl() {
    let sb = sandbox(1, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::TeamSecret);
    let connector = Connector::start(&file, dir.path(), &[], &[]);

    let body = wait_for("/readyz 503 naming broken's Signl", READY_LIMIT, || {
        let (status, body) = connector.get("/readyz");
        (status == 503 && body.contains("RaiseSignl")).then_some(body)
    });
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let failing = json["failing"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{body}");
    assert_eq!(failing[0]["connector"], "broken");
    let reason = failing[0]["reason"].as_str().unwrap();
    // An operator-fixable refusal parks the page (retried until fixed), never fails it.
    assert!(reason.contains("parked"), "{reason}");
    assert!(
        !reason.contains("no-such-team-secret"),
        "secret in {reason}"
    );

    let (_, metrics) = connector.get("/metrics");
    assert!(
        metrics.contains("sentinel_signl4_effects_parked{connector=\"broken\",kind=\"RaiseSignl\""),
        "{metrics}"
    );
    let (_, page) = connector.get("/status");
    assert!(
        page.contains("data-connector=\"broken\" data-status=\"error\""),
        "{page}"
    );
    assert!(
        page.contains("data-connector=\"tenant-1\" data-status=\"ok\""),
        "{page}"
    );
}

#[test]
fn pages_acknowledgements_and_closes_are_logged_at_info() {
    use sandbox::control::UserAction;
    let sb = sandbox(1, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::Nothing);
    let connector = Connector::start(&file, dir.path(), &[], &[]);
    // SIGNL4's outbound webhook to this connector, as the sandbox's --config-out sets it up.
    sb.control()
        .set_outbound_url(
            "tenant-1",
            Some(format!(
                "http://{}/signl4/tenant-1/{}",
                connector.webhook,
                admin_util::webhook_token("tenant-1")
            )),
        )
        .unwrap();
    let signl = wait_for("the Signl", READY_LIMIT, || {
        let signls = sb.control().signls("tenant-1").ok()?;
        signls.first()?["id"].as_str().map(String::from)
    });
    wait_for("the page line", READY_LIMIT, || {
        connector
            .log()
            .contains("paged: Signl raised in SIGNL4")
            .then_some(())
    });
    for (action, line) in [
        (UserAction::Acknowledge, "acknowledged in SIGNL4"),
        (UserAction::Close, "closed in SIGNL4"),
    ] {
        sb.control()
            .user_action("tenant-1", &signl, None, action)
            .unwrap();
        wait_for(line, READY_LIMIT, || {
            connector.log().contains(line).then_some(())
        });
    }
    let log = connector.log();
    let page = log
        .lines()
        .find(|l| l.contains("paged: Signl raised"))
        .unwrap();
    assert!(
        page.contains(" INFO ")
            && page.contains("connector=tenant-1")
            && page.contains("incident=1"),
        "{page}"
    );
}
