//! `sandbox --tls` over real HTTPS on loopback: the flow azure-identity's ClientSecretCredential
//! (MSAL) runs — the OpenID discovery document at the authority, then a client-credentials POST
//! to the `token_endpoint` it names — works when the client trusts the sandbox's CA and nothing
//! else; the discovery names `https://` endpoints; the token then reads incidents over HTTPS;
//! plain HTTP and untrusting clients are refused; the CLI writes the CA next to the
//! configuration, never a private key.

mod sandbox_util;

use std::process::Command;

use sandbox::control::TenantSpec;
use sandbox::tls::{TlsIdentity, CA_FILE_NAME};
use sandbox::{Sandbox, SandboxOptions};
use sandbox_util::ARM;
use serde_json::Value;

fn trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_msal_client_credentials_flow_works_over_https() {
    let identity = TlsIdentity::generate().unwrap();
    let sb = Sandbox::start(SandboxOptions {
        tls: Some(identity.clone()),
        ..SandboxOptions::for_tests()
    })
    .unwrap();
    let t = sb.control().create_tenant(TenantSpec::default()).unwrap();
    assert!(sb.urls().entra.starts_with("https://127.0.0.1:"));
    assert!(sb.urls().arm.starts_with("https://"));
    let http = trusting(&identity.ca_pem);

    // 1. MSAL reads the tenant's discovery document at the authority.
    let discovery: Value = http
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            sb.urls().entra,
            t.tenant_id
        ))
        .header("x-client-sku", "MSAL.Python")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_endpoint = discovery["token_endpoint"].as_str().unwrap().to_string();
    assert_eq!(
        token_endpoint,
        format!("{}/{}/oauth2/v2.0/token", sb.urls().entra, t.tenant_id)
    );
    assert!(discovery["jwks_uri"]
        .as_str()
        .unwrap()
        .starts_with("https://"));

    // 2. ... and posts the client-credentials grant where it says, as MSAL does.
    let r = http
        .post(&token_endpoint)
        .header("x-client-sku", "MSAL.Python")
        .header("x-ms-lib-capability", "retry-after, h429")
        .form(&[
            ("client_id", t.client_id.as_str()),
            ("client_secret", t.client_secret.as_str()),
            ("scope", ARM),
            ("grant_type", "client_credentials"),
            ("client_info", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(token["token_type"], "Bearer");

    // 3. The token works on the ARM emulator, over HTTPS too.
    let list = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights/incidents?api-version=2025-10-01-preview",
        sb.urls().arm, t.subscription_id, t.resource_group, t.workspace_name
    );
    let r = http.get(&list).bearer_auth(access).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A client that does not trust the CA, and plain HTTP, get nowhere.
    let untrusting = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(untrusting.get(&list).send().await.is_err());
    let plain = list.replacen("https://", "http://", 1);
    let answered = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(&plain)
        .send()
        .await;
    assert!(
        answered.is_err() || !answered.unwrap().status().is_success(),
        "plain HTTP is not served"
    );
}

#[test]
fn the_cli_writes_the_ca_next_to_the_configuration_and_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sandbox.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_sentinel-signl4"))
        .args([
            "sandbox",
            "--tls",
            "--once",
            "--incidents",
            "1",
            "--config-out",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca = std::fs::read_to_string(dir.path().join(CA_FILE_NAME)).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let toml = std::fs::read_to_string(&config).unwrap();
    assert!(toml.contains("https://127.0.0.1:"), "{toml}");
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{f}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(CA_FILE_NAME), "{stderr}");
}

#[tokio::test]
async fn the_connector_reaches_the_tls_sandbox_when_told_to_trust_its_ca() {
    use actors::ports::{IncidentQuery, IncidentSource};
    use sentinel_signl4::http::{
        AzureCredentials, HttpContext, HttpSettings, Secret, SentinelClient, SentinelSettings,
    };
    let identity = TlsIdentity::generate().unwrap();
    let sb = Sandbox::start(SandboxOptions {
        tls: Some(identity.clone()),
        ..SandboxOptions::for_tests()
    })
    .unwrap();
    let t = sb.control().create_tenant(TenantSpec::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = identity
        .write_ca(Some(&dir.path().join("sandbox.toml")))
        .unwrap();
    // The only test in this binary that sets it: the platform verifier reads SSL_CERT_FILE.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let ctx = HttpContext::new(HttpSettings::for_tests()).unwrap();
    let client = SentinelClient::new(
        &ctx,
        SentinelSettings::new(
            AzureCredentials::new(
                sb.urls().entra.clone(),
                t.tenant_id.clone(),
                t.client_id.clone(),
                Secret::new(t.client_secret.clone()),
            ),
            sb.urls().arm.clone(),
            t.subscription_id.clone(),
            t.resource_group.clone(),
            t.workspace_name.clone(),
        ),
    );
    let page = client
        .list_incidents(
            &IncidentQuery {
                statuses: vec!["New".into()],
                severities: vec!["High".into()],
                modified_since_ms: 0,
                page_size: 50,
            },
            None,
        )
        .await
        .expect("the connector's client trusts the sandbox CA from SSL_CERT_FILE");
    assert!(page.incidents.is_empty());
}
