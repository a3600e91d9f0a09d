//! The Rust API works from every context the project uses: an actix System test (where the
//! pipeline's actors live), a plain thread without a runtime, and (elsewhere) tokio tests; the
//! handle stops cleanly and frees its ports.

use std::time::Duration;

use sandbox::control::{IncidentSpec, TenantSpec};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

#[actix_rt::test]
async fn usable_from_an_actix_system() {
    let sb = Sandbox::start(SandboxOptions::for_tests()).unwrap();
    let t = sb.control().create_tenant(TenantSpec::default()).unwrap();
    let inc = sb
        .control()
        .create_incident(&t.name, IncidentSpec::default())
        .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let tok: Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sb.urls().entra,
            t.tenant_id
        ))
        .form(&[
            ("client_id", t.client_id.as_str()),
            ("client_secret", t.client_secret.as_str()),
            ("scope", "https://management.azure.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights/incidents/{}?api-version=2025-12-01",
        sb.urls().arm, t.subscription_id, t.resource_group, t.workspace_name, inc["name"].as_str().unwrap()
    );
    let got: Value = http
        .get(&url)
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["etag"], inc["etag"]);
    sb.stop();
}

#[test]
fn usable_without_a_runtime_and_stops_cleanly() {
    let sb = Sandbox::start(SandboxOptions::for_tests()).unwrap();
    let arm = sb.urls().arm.clone();
    let addr = arm.trim_start_matches("http://").to_string();
    assert!(addr.starts_with("127.0.0.1:"));
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    let t0 = std::time::Instant::now();
    sb.stop();
    assert!(t0.elapsed() < Duration::from_secs(5));
    // The port is closed after stop.
    assert!(std::net::TcpStream::connect_timeout(
        &addr.parse().unwrap(),
        Duration::from_millis(200)
    )
    .is_err());
}
