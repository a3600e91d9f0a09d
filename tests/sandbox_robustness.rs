//! Bad input never crashes an emulator: malformed bodies, wrong methods, odd query strings and
//! deeply nested filters all get a 4xx in the service's shape, and the sandbox keeps serving.

mod sandbox_util;

use sandbox_util::*;

#[tokio::test]
async fn garbage_in_gets_4xx_out() {
    let env = Env::new();
    let c = env.sb.control();
    let inc = c.create_incident(&env.t.name, Default::default()).unwrap();
    let id = inc["name"].as_str().unwrap();
    let arm = env.token(ARM).await;
    let la = env.token(LA).await;
    let graph = env.token(GRAPH).await;
    let mon = env.token(MONITOR).await;
    let u = env.sb.urls().clone();
    let si = env.si();
    let deep = format!(
        "{}properties/status eq 'New'{}",
        "(".repeat(200),
        ")".repeat(200)
    );
    let urls: Vec<(String, String)> = vec![
        (format!("{si}/incidents?{API}"), arm.clone()),
        (format!("{si}/incidents?{API}&$filter=%ZZ%"), arm.clone()),
        (format!("{si}/incidents?{API}&$filter={deep}"), arm.clone()),
        (
            format!("{si}/incidents?{API}&$filter=properties/status eq 'unterminated"),
            arm.clone(),
        ),
        (
            format!("{si}/incidents?{API}&$top=-1&$orderby=,,,"),
            arm.clone(),
        ),
        (format!("{si}/incidents/{id}?{API}"), arm.clone()),
        (format!("{si}/incidents/{id}/comments/x?{API}"), arm.clone()),
        (format!("{si}/incidents/{id}/alerts?{API}"), arm.clone()),
        (
            format!(
                "{}/workspaces/{}/query",
                u.log_analytics, env.t.workspace_id
            ),
            la.clone(),
        ),
        (
            format!("{}/security/alerts_v2?$filter=((", u.graph),
            graph.clone(),
        ),
        (format!("{}/security/alerts_v2/x", u.graph), graph.clone()),
        (
            format!(
                "{}/dataCollectionRules/{}/streams/Custom-SIGNL4_CL?api-version=2023-01-01",
                u.ingestion, env.t.dcr_immutable_id
            ),
            mon.clone(),
        ),
        (
            format!("{}/webhook/{}", u.signl4, env.t.team_secret),
            String::new(),
        ),
        (format!("{}/api/v2/alerts/paged", u.signl4), String::new()),
        (
            format!("{}/api/v2/alerts/x/annotate", u.signl4),
            String::new(),
        ),
        (
            format!("{}/{}/oauth2/v2.0/token", u.entra, env.t.tenant_id),
            String::new(),
        ),
        (
            format!("{}/control/tenants/{}/incidents", u.control, env.t.name),
            String::new(),
        ),
        (format!("{}/control/faults", u.control), String::new()),
    ];
    let bodies: Vec<Option<&[u8]>> = vec![
        None,
        Some(b""),
        Some(b"{"),
        Some(b"[1,2"),
        Some(b"null"),
        Some(b"[]"),
        Some(b"\"str\""),
        Some(
            b"{\"properties\": 5, \"query\": 7, \"comment\": [], \"Title\": {\"a\": {\"b\": [1]}}}",
        ),
        Some(&[0xff, 0xfe, 0x00]),
    ];
    let methods = [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ];
    let mut n = 0;
    for (url, tok) in &urls {
        for m in &methods {
            for b in &bodies {
                let mut rb = env
                    .http
                    .request(m.clone(), url)
                    .header("X-S4-Api-Key", &env.t.api_key);
                if !tok.is_empty() {
                    rb = rb.bearer_auth(tok);
                }
                if let Some(b) = b {
                    rb = rb
                        .header("content-type", "application/json")
                        .body(b.to_vec());
                }
                let r = rb.send().await.unwrap_or_else(|e| panic!("{m} {url}: {e}"));
                let s = r.status().as_u16();
                assert!(s < 500, "{m} {url} body {b:?} → {s}");
                n += 1;
            }
        }
    }
    assert_eq!(n, urls.len() * methods.len() * bodies.len());
    // Still serving (the DELETEs above removed the incident, as they should).
    let (s, b) = send(
        env.http
            .get(format!("{si}/incidents?{API}"))
            .bearer_auth(&arm),
    )
    .await;
    assert_eq!(s, 200);
    assert!(b["value"].is_array());
    assert!(c.incident(&env.t.name, id).is_err());
}
