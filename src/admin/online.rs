//! Online checks of a connector's configuration (`check-config --online`) and the test Signl
//! (`test-signl`): the same clients the connector runs with, one small call each, and a precise
//! result per check.
//!
//! Invariants: the checks only read, except the two that exist to write something harmless —
//! an empty batch (`[]`) to the Logs Ingestion endpoint and, in `test-signl` only, one Signl
//! whose title says it is a test. Results carry the services' own error texts (redacted by the
//! HTTP layer: never a secret).

use std::rc::Rc;

use actors::ports::{IncidentQuery, IncidentSource, LogAnalyticsApi, LogsIngestionApi, Signl4Api};
use uuid::Uuid;

use crate::config::ConnectorConfig;
use crate::http::signl4::Signl4Client;
use crate::http::token::AzureCredentials;
use crate::http::HttpContext;
use crate::run::clients;

/// One check and how it went: `Ok(detail)` or `Err(reason)`.
#[derive(Debug, Clone)]
pub struct Check {
    pub what: &'static str,
    pub result: Result<String, String>,
}

fn signl4_client(c: &ConnectorConfig, http: &HttpContext) -> Result<Signl4Client, String> {
    clients::signl4_client(c, http).map_err(|e| e.to_string())
}

/// Runs every check that applies to `c`.
pub async fn check(c: &ConnectorConfig, http: &HttpContext) -> Vec<Check> {
    let mut checks = Vec::new();
    let creds = clients::credentials(c);
    let audience = clients::incident_audience(c);
    let token = http
        .tokens(&creds)
        .token_for(c.token_scope(audience), &c.name)
        .await;
    let token_ok = token.is_ok();
    checks.push(Check {
        what: "token",
        result: token
            .map(|_| format!("Entra issued a token for {}", c.token_scope(audience)))
            .map_err(|e| e.to_string()),
    });
    if token_ok {
        checks.push(read_one_incident(c, http, &creds).await);
        if let Some(client) = clients::log_analytics_client(c, http, &creds) {
            let result = client.query("SecurityAlert | take 1", "PT1H").await;
            checks.push(Check {
                what: "workspace query",
                result: result
                    .map(|_| "Log Analytics answered SecurityAlert | take 1".to_string())
                    .map_err(|e| e.to_string()),
            });
        }
        if let Some(cl) = c.signl4_cl.as_ref().filter(|cl| cl.enabled) {
            if let Some(client) = clients::ingestion_client(c, http, &creds) {
                checks.push(Check {
                    what: "SIGNL4_CL ingestion",
                    result: client
                        .upload(b"[]", Uuid::new_v4())
                        .await
                        .map(|()| format!("an empty batch was accepted by {}", cl.stream))
                        .map_err(|e| e.to_string()),
                });
            }
        }
    }
    checks.push(match signl4_client(c, http) {
        Err(reason) => Check {
            what: "SIGNL4",
            result: Err(reason),
        },
        Ok(client) if client.has_rest_api() => Check {
            what: "SIGNL4 API key",
            result: match client.find_signls("sentinel-signl4-online-check").await {
                Ok(_) => Ok("the REST API accepted the key".to_string()),
                Err(e) => Err(e.to_string()),
            },
        },
        Ok(_) => Check {
            what: "SIGNL4",
            result: Ok(
                "no api_key: the team secret is checked only by sending a Signl \
                        (`sentinel-signl4 test-signl --connector NAME`)"
                    .to_string(),
            ),
        },
    });
    checks
}

async fn read_one_incident(
    c: &ConnectorConfig,
    http: &HttpContext,
    creds: &AzureCredentials,
) -> Check {
    let client = clients::incident_client(c, http, creds);
    let query = IncidentQuery {
        statuses: c.status_names(),
        severities: c.severity_names(),
        modified_since_ms: chrono::Utc::now().timestamp_millis() - c.lookback.as_millis() as i64,
        page_size: 1,
    };
    let client = Rc::new(client);
    Check {
        what: "read incidents",
        result: client
            .list_incidents(&query, None)
            .await
            .map(|page| {
                format!(
                    "listed {} incident(s) of the lookback window (page of 1)",
                    page.incidents.len()
                )
            })
            .map_err(|e| e.to_string()),
    }
}

/// Sends one Signl marked as a test through `c`'s SIGNL4 target; returns SIGNL4's event id.
pub async fn test_signl(c: &ConnectorConfig, http: &HttpContext) -> Result<String, String> {
    let client = signl4_client(c, http)?;
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let mut body = serde_json::json!({
        "Title": format!("TEST from sentinel-signl4 ({})", c.name),
        "Message": format!(
            "This is a test Signl sent by `sentinel-signl4 test-signl --connector {}` at {now}. \
             It is not an incident; close it.",
            c.name
        ),
        "X-S4-ExternalID": format!("sentinel-signl4-test-{}", Uuid::new_v4()),
        "X-S4-Status": "new",
    });
    if let Some(service) = &c.signl4.service {
        body["X-S4-Service"] = service.clone().into();
    }
    client
        .send_event(&body, Uuid::new_v4())
        .await
        .map_err(|e| e.to_string())
}
