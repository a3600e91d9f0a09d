//! Entra ID token endpoint: success per resource scope, the AADSTS error bodies, expiry and the
//! services' 401s for missing, wrong-audience and expired tokens.

mod sandbox_util;

use std::time::Duration;

use sandbox::SandboxOptions;
use sandbox_util::*;
use serde_json::Value;

async fn token_req(
    env: &Env,
    tenant: &str,
    client: &str,
    secret: &str,
    scope: &str,
) -> (u16, Value) {
    send(
        env.http
            .post(format!(
                "{}/{tenant}/oauth2/v2.0/token",
                env.sb.urls().entra
            ))
            .form(&[
                ("client_id", client),
                ("client_secret", secret),
                ("scope", scope),
                ("grant_type", "client_credentials"),
            ]),
    )
    .await
}

fn assert_aadsts(body: &Value, error: &str, code: u64, starts: &str) {
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0], code);
    let d = body["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}: {starts}")), "{d}");
    assert!(
        d.contains("\r\nTrace ID: ")
            && d.contains("\r\nCorrelation ID: ")
            && d.contains("\r\nTimestamp: ")
    );
    let ts = body["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), 20, "timestamp like 2023-05-06 06:03:00Z: {ts}");
    assert_eq!(&ts[10..11], " ");
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
}

#[tokio::test]
async fn issues_tokens_for_each_resource() {
    let env = Env::new();
    let t = &env.t;
    for scope in [
        ARM,
        LA,
        GRAPH,
        MONITOR,
        "https://management.core.windows.net//.default",
    ] {
        let (s, b) = token_req(&env, &t.tenant_id, &t.client_id, &t.client_secret, scope).await;
        assert_eq!(s, 200, "{scope}: {b}");
        assert_eq!(b["token_type"], "Bearer");
        assert_eq!(b["expires_in"], 60);
        assert_eq!(b["ext_expires_in"], 60);
        assert!(b["access_token"].as_str().unwrap().len() > 20);
    }
}

#[tokio::test]
async fn accepts_client_secret_basic() {
    let env = Env::new();
    let t = &env.t;
    let (s, b) = send(
        env.http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                env.sb.urls().entra,
                t.tenant_id
            ))
            .basic_auth(&t.client_id, Some(&t.client_secret))
            .form(&[("scope", GRAPH), ("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = send(
        env.http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                env.sb.urls().entra,
                t.tenant_id
            ))
            .basic_auth(&t.client_id, Some("wrong"))
            .form(&[("scope", GRAPH), ("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!((s, b["error_codes"][0].as_u64()), (401, Some(7000215)));
}

#[tokio::test]
async fn aadsts_errors_match_the_reference() {
    let env = Env::new();
    let t = &env.t;
    let (s, b) = token_req(&env, &t.tenant_id, &t.client_id, "wrong", ARM).await;
    assert_eq!(s, 401);
    assert_aadsts(&b, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '");
    assert!(!b.to_string().contains(&t.client_secret), "secret leaked");

    let other = "11111111-2222-3333-4444-555555555555";
    let (s, b) = token_req(&env, &t.tenant_id, other, &t.client_secret, ARM).await;
    assert_eq!(s, 400);
    assert_aadsts(
        &b,
        "unauthorized_client",
        700016,
        &format!(
            "Application with identifier '{other}' was not found in the directory '{}'.",
            t.tenant_id
        ),
    );

    let (s, b) = token_req(&env, other, &t.client_id, &t.client_secret, ARM).await;
    assert_eq!(s, 400);
    assert_aadsts(
        &b,
        "invalid_request",
        90002,
        &format!("Tenant '{other}' not found."),
    );

    let (s, b) = token_req(
        &env,
        &t.tenant_id,
        &t.client_id,
        &t.client_secret,
        "https://example.com/.default",
    )
    .await;
    assert_eq!(s, 400);
    assert_aadsts(&b, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope https://example.com/.default is not valid.");

    // Mixing resources is an error too.
    let (s, b) = token_req(
        &env,
        &t.tenant_id,
        &t.client_id,
        &t.client_secret,
        &format!("{ARM} {LA}"),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(b["error_codes"][0], 70011);

    // Missing grant_type and a wrong method.
    let (s, b) = send(
        env.http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                env.sb.urls().entra,
                t.tenant_id
            ))
            .form(&[("client_id", "x")]),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(b["error_codes"][0], 900144);
    let (s, b) = send(env.http.get(format!(
        "{}/{}/oauth2/v2.0/token",
        env.sb.urls().entra,
        t.tenant_id
    )))
    .await;
    assert_eq!(s, 405);
    assert_eq!(b["error"], "invalid_request");
}

#[tokio::test]
async fn tenant_not_found_error_is_configurable() {
    let mut o = SandboxOptions::for_tests();
    o.tenant_not_found_error = "invalid_tenant".into();
    let env = Env::with(o);
    let (s, b) = token_req(
        &env,
        "00000000-0000-0000-0000-000000000001",
        &env.t.client_id,
        &env.t.client_secret,
        ARM,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(b["error"], "invalid_tenant");
}

#[tokio::test]
async fn discovery_document_points_back_at_the_emulator() {
    let env = Env::new();
    let (s, b) = send(env.http.get(format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        env.sb.urls().entra,
        env.t.tenant_id
    )))
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["token_endpoint"],
        format!(
            "{}/{}/oauth2/v2.0/token",
            env.sb.urls().entra,
            env.t.tenant_id
        )
    );
}

#[tokio::test]
async fn services_check_token_audience_and_expiry() {
    let mut o = SandboxOptions::for_tests();
    o.token_ttl = Duration::from_millis(600);
    let env = Env::with(o);
    let list = format!("{}/incidents?{API}", env.si());

    let (s, b) = send(env.http.get(&list)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("AuthenticationFailed"))
    );

    let (s, b) = send(env.http.get(&list).bearer_auth("not-a-token")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );

    let la_tok = env.token(LA).await;
    let r = env
        .http
        .get(&list)
        .bearer_auth(&la_tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "InvalidAuthenticationTokenAudience");

    // Graph and LA refuse an ARM token with their own shapes.
    let arm_tok = env.token(ARM).await;
    let (s, b) = send(
        env.http
            .get(format!("{}/security/alerts_v2", env.sb.urls().graph))
            .bearer_auth(&arm_tok),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(b["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        b["error"]["message"],
        "Access token validation failure. Invalid audience."
    );
    assert!(b["error"]["innerError"]["request-id"].is_string());
    let (s, b) = send(
        env.http
            .post(format!(
                "{}/workspaces/{}/query",
                env.sb.urls().log_analytics,
                env.t.workspace_id
            ))
            .bearer_auth(&arm_tok)
            .json(&serde_json::json!({"query": "SecurityAlert"})),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(b["error"]["code"], "InvalidTokenError");
    assert_eq!(b["error"]["innererror"]["code"], "InvalidAudience");

    // The token is good until its expiry and refused with the expiry's own error after it: ask
    // until the answer turns (bounded), and accept nothing else on the way. No fixed sleep: a
    // loaded machine may take longer than the lifetime to send the first request.
    let started = std::time::Instant::now();
    let b = loop {
        let (s, b) = send(env.http.get(&list).bearer_auth(&arm_tok)).await;
        if s != 200 {
            assert_eq!(
                (s, b["error"]["code"].as_str()),
                (401, Some("ExpiredAuthenticationToken"))
            );
            break b;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("The access token expiry UTC time '")
            && msg.contains("is earlier than current UTC time"),
        "{msg}"
    );
}
