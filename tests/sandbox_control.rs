//! The control API over HTTP (same operations as the Rust `Control`), the scenario generator's
//! determinism, the connector TOML and the `sandbox` CLI subcommand.

mod sandbox_util;

use std::time::Duration;

use sandbox::config::ConnectorFile;
use sandbox::scenario::{generate, ScenarioSpec};
use sandbox::{Sandbox, SandboxOptions};
use sandbox_util::*;
use serde_json::json;

#[tokio::test]
async fn control_http_api_round_trip() {
    let env = Env::new();
    let ctl = |p: &str| format!("{}/control/{p}", env.sb.urls().control);
    let (s, t) = send(
        env.http
            .post(ctl("tenants"))
            .json(&json!({"name": "acme", "resource_group": "rg-acme"})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["resource_group"], "rg-acme");
    assert_eq!(t["workspace_name"], "ws-acme");
    let (s, _) = send(env.http.post(ctl("tenants")).json(&json!({"name": "acme"}))).await;
    assert_eq!(s, 400, "duplicate name");
    let (_, all) = send(env.http.get(ctl("tenants"))).await;
    assert_eq!(all.as_array().unwrap().len(), 2);

    let (s, inc) = send(
        env.http
            .post(ctl("tenants/acme/incidents"))
            .json(&json!({"title": "From control", "severity": "High", "labels": ["x"]})),
    )
    .await;
    assert_eq!(s, 201);
    let id = inc["name"].as_str().unwrap().to_string();
    assert_eq!(inc["properties"]["title"], "From control");
    let (s, b) = send(
        env.http
            .post(ctl("tenants/acme/incidents"))
            .json(&json!({"severity": "Critical"})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = send(
        env.http
            .post(ctl("tenants/nope/incidents"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = send(
        env.http
            .post(ctl("tenants/acme/incidents"))
            .header("content-type", "application/json")
            .body("{bad"),
    )
    .await;
    assert_eq!(s, 400);

    let (s, a) = send(
        env.http
            .post(ctl(&format!("tenants/acme/incidents/{id}/analyst")))
            .json(&json!({"status": "Active", "comment": "mine", "analyst": "jane@acme"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(a["properties"]["status"], "Active");
    let (_, comments) = send(
        env.http
            .get(ctl(&format!("tenants/acme/incidents/{id}/comments"))),
    )
    .await;
    assert_eq!(comments[0]["properties"]["message"], "mine");
    assert_eq!(
        comments[0]["sandbox"]["by"],
        json!({"kind": "analyst", "name": "jane@acme"})
    );
    let (s, _) = send(
        env.http
            .post(ctl(&format!("tenants/acme/incidents/{id}/alerts")))
            .json(&json!({"display_name": "Second alert"})),
    )
    .await;
    assert_eq!(s, 201);
    let (_, got) = send(env.http.get(ctl(&format!("tenants/acme/incidents/{id}")))).await;
    assert_eq!(got["properties"]["additionalData"]["alertsCount"], 2);
    let (_, hist) = send(
        env.http
            .get(ctl(&format!("tenants/acme/incidents/{id}/history"))),
    )
    .await;
    assert!(hist.as_array().unwrap().len() >= 3);

    // SIGNL4 user actions through the control API fire the outbound webhook set there.
    let rx = Receiver::start(0);
    let (s, _) = send(
        env.http
            .put(ctl("tenants/acme/outbound-url"))
            .json(&json!({"url": rx.url})),
    )
    .await;
    assert_eq!(s, 204);
    let acme = env
        .sb
        .control()
        .tenants()
        .into_iter()
        .find(|t| t.name == "acme")
        .unwrap();
    send(
        env.http
            .post(format!(
                "{}/webhook/{}",
                env.sb.urls().signl4,
                acme.team_secret
            ))
            .json(&json!({"Title": "t", "X-S4-ExternalID": id})),
    )
    .await;
    let (_, signls) = send(env.http.get(ctl("tenants/acme/signls"))).await;
    let sid = signls[0]["id"].as_str().unwrap();
    assert_eq!(signls[0]["externalId"], id);
    let (s, b) = send(
        env.http
            .post(ctl(&format!("tenants/acme/signls/{sid}/user")))
            .json(&json!({"action": "acknowledge", "user": acme.users[0].mail})),
    )
    .await;
    assert_eq!((s, &b["status"]), (200, &json!(2)));
    let (s, _) = send(
        env.http
            .post(ctl(&format!("tenants/acme/signls/{sid}/user")))
            .json(&json!({"action": "acknowledge"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = send(
        env.http
            .post(ctl(&format!("tenants/acme/signls/{sid}/user")))
            .json(&json!({"action": "annotate", "text": "hi"})),
    )
    .await;
    assert_eq!(s, 200);
    let got = rx.wait_for(3, Duration::from_secs(3));
    assert_eq!(
        got.iter()
            .map(|g| g["eventType"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [200, 201, 203]
    );
    let (_, out) = send(env.http.get(ctl("outbound"))).await;
    assert_eq!(out.as_array().unwrap().len(), 3);

    // Faults and LA knobs.
    let (s, f) = send(env.http.post(ctl("faults")).json(&json!({"service": "sentinel", "kind": "status", "status": 503, "retry_after": 2, "times": 1}))).await;
    assert_eq!((s, f["id"].as_u64()), (201, Some(1)));
    let (_, fs) = send(env.http.get(ctl("faults"))).await;
    assert_eq!(fs[0]["spec"]["kind"], "status");
    let (s, _) = send(
        env.http
            .post(ctl("faults"))
            .json(&json!({"service": "nope", "kind": "reset"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(env.http.delete(ctl("faults"))).await;
    assert_eq!(s, 204);
    let (s, _) = send(
        env.http
            .put(ctl("log-analytics"))
            .json(&json!({"partial_errors": 1})),
    )
    .await;
    assert_eq!(s, 204);

    // Request log and state.
    let (_, reqs) = send(env.http.get(ctl("requests"))).await;
    assert!(reqs
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["service"] == "signl4" && r["status"] == 201));
    let (s, _) = send(env.http.delete(ctl("requests"))).await;
    assert_eq!(s, 204);
    let (_, state) = send(env.http.get(ctl("state"))).await;
    let acme_state = state["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "acme")
        .unwrap();
    assert_eq!(
        acme_state["incidents"][0]["sandbox"]["comments"][0]["properties"]["message"],
        "mine"
    );
    assert_eq!(acme_state["signls"][0]["externalId"], id);
    let text = state.to_string();
    assert!(
        !text.contains(&acme.client_secret)
            && !text.contains(&acme.api_key)
            && !text.contains(&acme.team_secret),
        "no secrets in state"
    );
    let (s, _) = send(env.http.get(ctl("nothing"))).await;
    assert_eq!(s, 404);

    // Config TOML.
    let r = env.http.get(ctl("config")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cfg: ConnectorFile = toml::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(cfg.connector.len(), 2);
    let c = &cfg.connector[1];
    assert_eq!(c.name, "acme");
    assert_eq!(c.client_secret, acme.client_secret);
    assert_eq!(c.endpoints.arm, env.sb.urls().arm);
    assert!(c.endpoints.log_analytics.ends_with("/v1"));
    assert!(c.endpoints.graph.ends_with("/v1.0"));
    assert_eq!(c.signl4.team_secret, acme.team_secret);
    assert_eq!(c.statuses, ["New", "Active"]);
}

#[test]
fn scenario_is_deterministic_and_config_has_the_agreed_keys() {
    let spec = ScenarioSpec {
        tenants: 2,
        incidents_per_tenant: 3,
        seed: 7,
        ..Default::default()
    };
    let run = || {
        let sb = Sandbox::start(SandboxOptions::for_tests()).unwrap();
        let tenants = generate(sb.control(), &spec).unwrap();
        let incidents: Vec<(String, String, String)> = tenants
            .iter()
            .flat_map(|t| sb.control().incidents(&t.name).unwrap())
            .map(|i| {
                (
                    i["name"].as_str().unwrap().into(),
                    i["properties"]["title"].as_str().unwrap().into(),
                    i["properties"]["severity"].as_str().unwrap().into(),
                )
            })
            .collect();
        let graph = sb.control().state()["tenants"][0]["graph_alerts"]
            .as_array()
            .unwrap()
            .len();
        let toml_text = sb.connector_toml();
        sb.stop();
        (tenants, incidents, graph, toml_text)
    };
    let (a, ia, ga, toml_a) = run();
    let (b, ib, _, _) = run();
    assert_eq!(
        a.iter()
            .map(|t| (&t.tenant_id, &t.client_secret, &t.team_secret))
            .collect::<Vec<_>>(),
        b.iter()
            .map(|t| (&t.tenant_id, &t.client_secret, &t.team_secret))
            .collect::<Vec<_>>()
    );
    assert_eq!(ia, ib);
    assert_eq!(ia.len(), 6);
    assert_eq!(ga, 3, "one Graph alert per Sentinel alert");
    let other = {
        let sb = Sandbox::start(SandboxOptions::for_tests()).unwrap();
        generate(
            sb.control(),
            &ScenarioSpec {
                seed: 8,
                ..spec.clone()
            },
        )
        .unwrap()
    };
    assert_ne!(other[0].tenant_id, a[0].tenant_id);

    let v: toml::Value = toml::from_str(&toml_a).unwrap();
    let c = &v["connector"][0];
    for k in [
        "name",
        "tenant_id",
        "subscription_id",
        "client_id",
        "client_secret",
        "resource_group",
        "workspace_name",
        "workspace_id",
        "read_source",
        "statuses",
        "severities",
        "tag",
    ] {
        assert!(c.get(k).is_some(), "missing {k}");
    }
    for k in ["team_secret", "api_key", "service", "alerting_scenario"] {
        assert!(c["signl4"].get(k).is_some(), "missing signl4.{k}");
    }
    for k in ["authority_host", "arm", "log_analytics", "graph", "signl4"] {
        assert!(
            c["endpoints"][k]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:"),
            "{k}"
        );
    }
    assert_eq!(c["read_source"].as_str(), Some("sentinel"));
    assert_eq!(c["resource_group"].as_str(), Some("rg-sentinel"));
}

#[test]
fn cli_writes_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connector.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sentinel-signl4"))
        .args([
            "sandbox",
            "--once",
            "--tenants",
            "2",
            "--incidents",
            "2",
            "--seed",
            "3",
            "--token-ttl",
            "90s",
            "--config-out",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let cfg: ConnectorFile = toml::from_str(&text).unwrap();
    assert_eq!(
        cfg.connector
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["tenant-1", "tenant-2"]
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        text.trim(),
        "printed config equals the file"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sandbox ready"));
    assert!(
        !stderr.contains(&cfg.connector[0].client_secret),
        "no secrets on stderr"
    );
}
