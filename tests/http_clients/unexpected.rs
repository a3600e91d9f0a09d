//! Answers the emulators never give (a raw TCP server on loopback): every malformed or
//! unexpected answer is a transient error, never a panic.

use std::time::Duration;

use actors::ports::{ApiError, IncidentSource, LogAnalyticsApi, Signl4Api};
use sandbox::{FaultKind, SandboxOptions, Service};
use sentinel_signl4::http::budget::BudgetLimits;
use sentinel_signl4::http::{
    HttpContext, HttpSettings, LogAnalyticsClient, LogAnalyticsSettings, SentinelClient,
};
use serde_json::json;
use uuid::Uuid;

use crate::common::http::*;

/// A raw HTTP/1.1 server on loopback answering each request by the last path segment before the
/// query string; closes every connection after one response.
async fn raw_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                for _ in 0..64 {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                // The case is the last path segment (`/incidents/{case}`), or the one before
                // `/query` (`/workspaces/{case}/query`).
                let mut segs = path.split('?').next().unwrap_or("").rsplit('/');
                let mut case = segs.next().unwrap_or("").to_string();
                if case == "query" {
                    case = segs.next().unwrap_or("").to_string();
                }
                let resp: Vec<u8> = match case.as_str() {
                    "html" => b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 46\r\nConnection: close\r\n\r\n<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
                    "html200" => b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 25\r\nConnection: close\r\n\r\n<html>Please log in</html>".to_vec(),
                    "truncated" => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 24\r\nConnection: close\r\n\r\n{\"name\":\"x\",\"etag\":\"\\\"1".to_vec(),
                    "short" => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n{\"name\":\"x\"".to_vec(),
                    "html404" => b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 20\r\nConnection: close\r\n\r\n<html>nothing</html>".to_vec(),
                    "noetag" => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 29\r\nConnection: close\r\n\r\n{\"name\":\"x\",\"properties\":{}}".to_vec(),
                    "laprefer" if head.to_ascii_lowercase().contains("\r\nprefer: wait=7\r\n") => {
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"tables\":[]}".to_vec()
                    }
                    "la204" => b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec(),
                    "la200empty" => b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    "la200tables" => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\nConnection: close\r\n\r\n{\"tables\":[{\"name\":\"PrimaryResult\",\"columns\":[],\"rows\":[]}]}".to_vec(),
                    "hang" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        Vec::new()
                    }
                    _ => Vec::new(), // close without answering
                };
                let _ = s.write_all(&resp).await;
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn unexpected_answers_are_transient_never_a_panic() {
    let (sb, t) = start(SandboxOptions::for_tests());
    let name = incident(&sb, &t, "New", "High");
    let ctx = ctx();
    let c = sentinel(&ctx, &sb, &t);

    fault(
        &sb,
        Service::Sentinel,
        FaultKind::Status {
            status: 500,
            retry_after: None,
        },
        1,
        None,
    );
    let err = c.get_incident(&name).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Transient(m) if m.contains("500")),
        "{err:?}"
    );
    fault(&sb, Service::Sentinel, FaultKind::Reset, 1, None);
    let err = c.get_incident(&name).await.unwrap_err();
    assert!(matches!(err, ApiError::Transient(_)), "{err:?}");
    fault(&sb, Service::Signl4, FaultKind::Reset, 1, None);
    let err = signl4(&ctx, &sb, &t, false)
        .send_event(&json!({"Title": "x"}), Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transient(_)), "{err:?}");
    assert_no_secret(&err, &[&t.team_secret]);
    fault(
        &sb,
        Service::LogAnalytics,
        FaultKind::Status {
            status: 504,
            retry_after: None,
        },
        1,
        None,
    );
    let err = log_analytics(&ctx, &sb, &t)
        .query("SecurityAlert", "P1D")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transient(_)), "{err:?}");
    assert!(c.get_incident(&name).await.is_ok(), "healthy again");

    // Malformed answers from a raw server posing as ARM (tokens still come from the sandbox).
    let raw = raw_server().await;
    let mut s = sentinel_settings(&sb, &t);
    s.arm_endpoint = raw;
    let mut http = HttpSettings::for_tests();
    http.timeout = Duration::from_secs(1);
    http.budget = BudgetLimits::unlimited();
    let rc = SentinelClient::new(&HttpContext::new(http).expect("ctx"), s);
    for case in [
        "html",
        "html200",
        "truncated",
        "short",
        "html404",
        "noetag",
        "reset",
        "hang",
    ] {
        let err = rc.get_incident(case).await.unwrap_err();
        match &err {
            ApiError::Transient(m) => {
                assert!(!m.contains("http://"), "no URL in messages: {m}");
                if case.starts_with("html") {
                    assert!(m.contains("text/html"), "{case}: {m}");
                }
            }
            other => panic!("{case}: expected Transient, got {other:?}"),
        }
        assert_no_secret(&err, &[&t.client_secret]);
    }
    let err = rc.list_alerts("truncated").await.unwrap_err();
    assert!(matches!(err, ApiError::Transient(_)));

    // Log Analytics: 204 and the documented empty 200 are "no tables"; broken answers Transient.
    let raw_la = raw_server().await;
    let la_at = |ws: &str| {
        LogAnalyticsClient::new(
            &ctx,
            LogAnalyticsSettings::new(creds(&sb, &t), raw_la.clone(), ws.to_string()),
        )
    };
    for ws in ["la204", "la200empty"] {
        let r = la_at(ws).query("SecurityAlert", "P1D").await.expect(ws);
        assert_eq!(r.tables, json!([]), "{ws}");
        assert_eq!(r.partial_error, None);
    }
    let mut prefer = LogAnalyticsSettings::new(creds(&sb, &t), raw_la.clone(), "laprefer");
    prefer.server_timeout = Duration::from_secs(7);
    let r = LogAnalyticsClient::new(&ctx, prefer)
        .query("x", "P1D")
        .await
        .expect("Prefer: wait=7 sent");
    assert_eq!(r.tables, json!([]));
    let r = la_at("la200tables")
        .query("x", "P1D")
        .await
        .expect("tables");
    assert_eq!(r.tables[0]["name"], "PrimaryResult");
    for ws in ["html", "html200", "truncated", "reset"] {
        let err = la_at(ws).query("x", "P1D").await.unwrap_err();
        assert!(matches!(err, ApiError::Transient(_)), "{ws}: {err:?}");
    }
}
