//! What the outbound HTTP clients log: path templates, statuses, request ids and timings, and
//! never a secret or a token.
//!
//! This test has a process of its own (its own test crate, one test) and installs its capturing
//! subscriber as the global default before any event is emitted. A thread-local subscriber
//! (`set_default`) beside other tests missed events whose callsite interest another test had
//! already cached (issue #17): the captured log then lacked lines that were logged.

use std::sync::OnceLock;

use actors::ports::IncidentSource;
use actors::ports::Signl4Api;
use sandbox::SandboxOptions;
use sentinel_signl4::http::{Signl4Client, Signl4Settings};
use serde_json::json;
use uuid::Uuid;

mod common;
use common::http::*;

/// A `MakeWriter` collecting formatted log lines in memory.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The process-wide capture, installed once as the global default subscriber.
fn captured() -> Captured {
    static OUT: OnceLock<Captured> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(out.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        out
    })
    .clone()
}

#[tokio::test]
async fn logs_name_path_templates_status_and_request_ids_never_secrets() {
    let out = captured();
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");

    let ctx = ctx();
    let rid = Uuid::new_v4();
    signl4(&ctx, &sb, &t, true)
        .send_event(&json!({"Title": "x", "X-S4-ExternalID": "e"}), rid)
        .await
        .expect("send");
    let bad = Signl4Client::new(
        &ctx,
        Signl4Settings::new(sb.urls().signl4.clone(), "badsecret77"),
    );
    bad.send_event(&json!({"Title": "x"}), Uuid::new_v4())
        .await
        .unwrap_err();
    sentinel(&ctx, &sb, &t)
        .get_incident(&name)
        .await
        .expect("get");

    let logs = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf8");
    assert!(logs.contains("path=\"/webhook/{secret}\""), "{logs}");
    assert!(logs.contains(&rid.to_string()));
    assert!(
        logs.contains("status=201") && logs.contains("status=404"),
        "{logs}"
    );
    assert!(logs.contains("path=\"/incidents/{id}\"") && logs.contains("elapsed_ms="));
    assert!(logs.contains("service=\"entra\""));
    for s in [
        &t.team_secret,
        &t.client_secret,
        &t.api_key,
        &"badsecret77".to_string(),
    ] {
        assert!(!logs.contains(s.as_str()), "secret in logs: {logs}");
    }
    assert!(!logs.contains("sbx."), "no access token in logs");
}
