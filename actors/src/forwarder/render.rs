//! The Signl a person reads on their phone: one incident rendered as a SIGNL4 webhook body.
//!
//! Invariants: every `X-S4-*` control field is set explicitly (ExternalID stable per incident,
//! Status `new`), the title says severity, title and number at a glance, and linked items are
//! listed one per line with the most useful fields first; nothing here is secret (the body goes
//! to SIGNL4 and may be shown to anyone on duty). Long lists are cut with a count of what was
//! left out, so a huge incident cannot make an oversized Signl.

use serde_json::{json, Map, Value};

/// What goes into a Signl besides the incident itself.
#[derive(Clone, Debug, Default)]
pub struct SignlContext<'a> {
    /// `X-S4-ExternalID`.
    pub external_id: &'a str,
    /// `X-S4-Service` (empty: not sent).
    pub service: &'a str,
    /// `X-S4-AlertingScenario` (empty: team default).
    pub alerting_scenario: &'a str,
}

/// The incident fields shown.
#[derive(Clone, Debug, Default)]
pub struct IncidentView<'a> {
    pub number: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub severity: &'a str,
    pub status: &'a str,
    pub owner: Option<&'a str>,
    pub url: &'a str,
    pub products: &'a [String],
    pub tactics: &'a [String],
    /// The incident resource as recorded (a Sentinel incident, or the view of a Graph alert or
    /// Defender incident); where it came from names the Signl and its portal links.
    pub resource: Option<&'a Value>,
}

/// Where an incident was read, as the Signl names it, and the portal links it carries.
struct Origin {
    /// First word of the title: "Sentinel", "Defender", "Defender alert".
    name: &'static str,
    /// The portal `Incident URL` opens in, for the message line.
    portal: &'static str,
    /// `Defender portal` (`incidentWebUrl`, or a Sentinel incident's provider link), if known.
    defender_url: Option<String>,
    /// `Azure portal` (a Sentinel incident's `incidentUrl`), if any.
    azure_url: Option<String>,
}

fn nonempty(s: &str) -> Option<String> {
    Some(s.to_string()).filter(|s| !s.is_empty())
}

fn origin(incident: &IncidentView<'_>) -> Origin {
    let r = incident.resource.unwrap_or(&Value::Null);
    let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    match r["type"].as_str() {
        Some("microsoft.graph.security.incident") => Origin {
            name: "Defender",
            portal: "the Defender portal",
            defender_url: s(&r["incident"]["incidentWebUrl"]).or(nonempty(incident.url)),
            azure_url: None,
        },
        Some("microsoft.graph.security.alert") => Origin {
            name: "Defender alert",
            portal: "the Defender portal",
            defender_url: s(&r["alert"]["incidentWebUrl"]),
            azure_url: None,
        },
        _ => Origin {
            name: "Sentinel",
            portal: "Sentinel",
            // An incident synced from Defender XDR links to it.
            defender_url: s(&r["properties"]["additionalData"]["providerIncidentUrl"]),
            azure_url: nonempty(incident.url),
        },
    }
}

/// What enrichment found, as recorded in the log.
#[derive(Clone, Debug, Default)]
pub struct EnrichmentView<'a> {
    /// Alerts (Sentinel `SecurityAlert` entities) as JSON.
    pub alerts: &'a [Value],
    /// Entities as JSON.
    pub entities: &'a [Value],
    /// Search results summary lines (from Log Analytics), if any.
    pub search: &'a [String],
    /// What could not be fetched.
    pub missing: &'a [String],
}

/// Most alerts and entities listed before "... and N more".
const MAX_ITEMS: usize = 10;

/// The webhook body of the incident's Signl.
pub fn signl_body(
    context: &SignlContext<'_>,
    incident: &IncidentView<'_>,
    enrichment: &EnrichmentView<'_>,
) -> Value {
    let mut body = Map::new();
    let origin = origin(incident);
    let title = format!(
        "{} {}: {} (#{})",
        origin.name, incident.severity, incident.title, incident.number
    );
    body.insert("Title".into(), json!(title));
    body.insert("Message".into(), json!(message(incident, &origin)));
    body.insert("X-S4-ExternalID".into(), json!(context.external_id));
    body.insert("X-S4-Status".into(), json!("new"));
    body.insert("X-S4-SourceSystem".into(), json!("MicrosoftSentinel"));
    if !context.service.is_empty() {
        body.insert("X-S4-Service".into(), json!(context.service));
    }
    if !context.alerting_scenario.is_empty() {
        body.insert(
            "X-S4-AlertingScenario".into(),
            json!(context.alerting_scenario),
        );
    }
    body.insert("Incident number".into(), json!(incident.number));
    body.insert("Severity".into(), json!(incident.severity));
    body.insert("Status".into(), json!(incident.status));
    if let Some(owner) = incident.owner {
        body.insert("Owner".into(), json!(owner));
    }
    body.insert("Incident URL".into(), json!(incident.url));
    if let Some(url) = &origin.defender_url {
        body.insert("Defender portal".into(), json!(url));
    }
    if let Some(url) = &origin.azure_url {
        body.insert("Azure portal".into(), json!(url));
    }
    let products = products(incident, enrichment);
    if !products.is_empty() {
        body.insert("Products".into(), json!(products.join(", ")));
    }
    if !incident.tactics.is_empty() {
        body.insert("Tactics".into(), json!(incident.tactics.join(", ")));
    }
    if !enrichment.alerts.is_empty() {
        body.insert("Alerts".into(), json!(list(enrichment.alerts, alert_line)));
    }
    if !enrichment.entities.is_empty() {
        body.insert(
            "Entities".into(),
            json!(list(enrichment.entities, entity_line)),
        );
    }
    if !enrichment.search.is_empty() {
        body.insert("Search results".into(), json!(enrichment.search.join("\n")));
    }
    if !enrichment.missing.is_empty() {
        body.insert(
            "Not available".into(),
            json!(format!(
                "enrichment incomplete: {}",
                enrichment.missing.join("; ")
            )),
        );
    }
    Value::Object(body)
}

fn message(incident: &IncidentView<'_>, origin: &Origin) -> String {
    let mut text = String::new();
    if !incident.description.is_empty() {
        text.push_str(incident.description.trim());
        text.push_str("\n\n");
    }
    text.push_str(&format!(
        "Severity {}, status {}. Open in {}: {}",
        incident.severity, incident.status, origin.portal, incident.url
    ));
    text
}

fn products(incident: &IncidentView<'_>, enrichment: &EnrichmentView<'_>) -> Vec<String> {
    let mut products: Vec<String> = incident.products.to_vec();
    for alert in enrichment.alerts {
        if let Some(p) = alert["properties"]["productName"].as_str() {
            if !p.is_empty() && !products.iter().any(|q| q == p) {
                products.push(p.to_string());
            }
        }
    }
    products
}

fn list(items: &[Value], line: fn(&Value) -> String) -> String {
    let mut lines: Vec<String> = items
        .iter()
        .take(MAX_ITEMS)
        .enumerate()
        .map(|(i, item)| format!("{}. {}", i + 1, line(item)))
        .collect();
    if items.len() > MAX_ITEMS {
        lines.push(format!("... and {} more", items.len() - MAX_ITEMS));
    }
    lines.join("\n")
}

fn alert_line(alert: &Value) -> String {
    // A Sentinel SecurityAlert keeps its fields under `properties`; a Graph alert at the top.
    let p = alert.get("properties").unwrap_or(alert);
    let name = p["alertDisplayName"]
        .as_str()
        .or(p["friendlyName"].as_str())
        .or(p["title"].as_str())
        .unwrap_or("alert");
    let mut extras = Vec::new();
    let product = if p["productName"].is_string() {
        "productName"
    } else {
        "serviceSource"
    };
    for key in [product, "severity", "compromisedEntity"] {
        if let Some(v) = p[key].as_str().filter(|v| !v.is_empty()) {
            extras.push(v.to_string());
        }
    }
    if extras.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({})", extras.join(", "))
    }
}

fn entity_line(entity: &Value) -> String {
    if let Some(odata_type) = entity["@odata.type"].as_str() {
        return evidence_line(odata_type, entity);
    }
    let kind = entity["kind"].as_str().unwrap_or("Entity");
    let p = &entity["properties"];
    let detail = match kind {
        "Account" => p["userPrincipalName"]
            .as_str()
            .or(p["accountName"].as_str())
            .map(str::to_string),
        "Host" => p["hostName"]
            .as_str()
            .map(|h| match p["dnsDomain"].as_str() {
                Some(d) if !d.is_empty() => format!("{h}.{d}"),
                _ => h.to_string(),
            }),
        "Ip" => p["address"]
            .as_str()
            .map(|a| match p["location"]["countryName"].as_str() {
                Some(c) => format!("{a} ({c})"),
                None => a.to_string(),
            }),
        "Url" => p["url"].as_str().map(str::to_string),
        "FileHash" => p["hashValue"].as_str().map(|h| {
            format!("{} {h}", p["algorithm"].as_str().unwrap_or(""))
                .trim()
                .to_string()
        }),
        _ => None,
    };
    let detail = detail
        .or_else(|| p["friendlyName"].as_str().map(str::to_string))
        .unwrap_or_default();
    format!("{kind}: {detail}")
}

/// One item of a Graph alert's `evidence`, named by its `@odata.type`
/// (`#microsoft.graph.security.deviceEvidence` -> `Device`); unknown types show their
/// `displayName`, if any.
fn evidence_line(odata_type: &str, e: &Value) -> String {
    let short = odata_type.rsplit('.').next().unwrap_or(odata_type);
    let short = short.strip_suffix("Evidence").unwrap_or(short);
    let mut kind = short.to_string();
    if let Some(first) = kind.get(..1).map(str::to_ascii_uppercase) {
        kind.replace_range(..1, &first);
    }
    let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let detail = match short {
        "device" => s(&e["deviceDnsName"]).or(s(&e["hostName"])),
        "user" => s(&e["userAccount"]["userPrincipalName"]).or(s(&e["userAccount"]["accountName"])),
        "ip" => s(&e["ipAddress"]).map(|a| match s(&e["countryLetterCode"]) {
            Some(c) => format!("{a} ({c})"),
            None => a,
        }),
        "url" => s(&e["url"]),
        "file" => s(&e["fileDetails"]["fileName"]),
        "process" => s(&e["imageFile"]["fileName"]).or(s(&e["processCommandLine"])),
        "mailbox" => s(&e["primaryAddress"]),
        "analyzedMessage" => s(&e["subject"]),
        "registryKey" => s(&e["registryKey"]),
        "registryValue" => s(&e["registryValueName"]),
        _ => None,
    };
    let detail = detail.or(s(&e["displayName"])).unwrap_or_default();
    format!("{kind}: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signl_shows_the_incident_and_its_linked_items_readably() {
        let alerts: Vec<Value> = (0..12)
            .map(|i| {
                json!({"kind": "SecurityAlert", "properties": {
                    "alertDisplayName": format!("Alert {i}"), "productName": "Azure Sentinel",
                    "severity": "High"}})
            })
            .collect();
        let entities = vec![
            json!({"kind": "Account", "properties": {"accountName": "admin", "friendlyName": "admin"}}),
            json!({"kind": "Ip", "properties": {"address": "203.0.113.7", "location": {"countryName": "Utopia"}}}),
        ];
        let missing = vec!["log analytics: throttled".to_string()];
        let body = signl_body(
            &SignlContext {
                external_id: "ext-1",
                service: "Microsoft Sentinel",
                alerting_scenario: "single_ack",
            },
            &IncidentView {
                number: 3177,
                title: "My incident",
                description: "Something happened",
                severity: "High",
                status: "New",
                owner: None,
                url: "https://portal.azure.com/#x",
                products: &[],
                tactics: &["InitialAccess".into()],
                resource: None,
            },
            &EnrichmentView {
                alerts: &alerts,
                entities: &entities,
                search: &[],
                missing: &missing,
            },
        );
        assert_eq!(body["Title"], "Sentinel High: My incident (#3177)");
        assert_eq!(body["Azure portal"], "https://portal.azure.com/#x");
        assert!(body.get("Defender portal").is_none());
        assert_eq!(body["X-S4-ExternalID"], "ext-1");
        assert_eq!(body["X-S4-Status"], "new");
        assert_eq!(body["X-S4-AlertingScenario"], "single_ack");
        assert_eq!(body["Products"], "Azure Sentinel");
        let alerts = body["Alerts"].as_str().unwrap();
        assert!(alerts.starts_with("1. Alert 0 (Azure Sentinel, High)"));
        assert!(alerts.ends_with("... and 2 more"));
        assert_eq!(
            body["Entities"],
            "1. Account: admin\n2. Ip: 203.0.113.7 (Utopia)"
        );
        assert!(body["Not available"]
            .as_str()
            .unwrap()
            .contains("throttled"));
        assert!(body["Message"]
            .as_str()
            .unwrap()
            .starts_with("Something happened"));
    }

    #[test]
    fn graph_sources_say_defender_and_link_its_portal() {
        let incident = json!({"type": "microsoft.graph.security.incident", "incident": {
            "incidentWebUrl": "https://security.microsoft.com/incidents/7?tid=t"}});
        let view = IncidentView {
            number: 7,
            title: "Multi-stage",
            severity: "High",
            url: "https://security.microsoft.com/incidents/7?tid=t",
            resource: Some(&incident),
            ..IncidentView::default()
        };
        let body = signl_body(&SignlContext::default(), &view, &EnrichmentView::default());
        assert_eq!(body["Title"], "Defender High: Multi-stage (#7)");
        assert_eq!(
            body["Defender portal"],
            "https://security.microsoft.com/incidents/7?tid=t"
        );
        assert!(body.get("Azure portal").is_none());
        assert!(body["Message"]
            .as_str()
            .unwrap()
            .contains("Open in the Defender portal: https://security.microsoft.com/incidents/7"));
        let alert = json!({"type": "microsoft.graph.security.alert", "alert": {
            "incidentWebUrl": "https://security.microsoft.com/incidents/28?tid=t"}});
        let body = signl_body(
            &SignlContext::default(),
            &IncidentView {
                resource: Some(&alert),
                ..view.clone()
            },
            &EnrichmentView::default(),
        );
        assert!(body["Title"]
            .as_str()
            .unwrap()
            .starts_with("Defender alert High:"));
        assert_eq!(
            body["Defender portal"],
            "https://security.microsoft.com/incidents/28?tid=t"
        );
        let synced = json!({"properties": {"additionalData": {
            "providerIncidentUrl": "https://security.microsoft.com/incidents/9"}}});
        let body = signl_body(
            &SignlContext::default(),
            &IncidentView {
                url: "https://portal.azure.com/#y",
                resource: Some(&synced),
                ..view
            },
            &EnrichmentView::default(),
        );
        assert_eq!(body["Azure portal"], "https://portal.azure.com/#y");
        assert_eq!(
            body["Defender portal"],
            "https://security.microsoft.com/incidents/9"
        );
    }

    #[test]
    fn a_graph_alert_and_its_evidence_read_like_sentinel_items() {
        let alerts = vec![json!({"@odata.type": "#microsoft.graph.security.alert",
            "title": "Suspicious execution of hidden file", "severity": "low",
            "serviceSource": "microsoftDefenderForEndpoint"})];
        let entities = vec![
            json!({"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "host-7"}),
            json!({"@odata.type": "#microsoft.graph.security.userEvidence",
                "userAccount": {"accountName": "admin", "userPrincipalName": "admin@contoso.com"}}),
            json!({"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "203.0.113.7",
                "countryLetterCode": "NZ"}),
            json!({"@odata.type": "#microsoft.graph.security.futureEvidence", "displayName": "x"}),
        ];
        let body = signl_body(
            &SignlContext::default(),
            &IncidentView::default(),
            &EnrichmentView {
                alerts: &alerts,
                entities: &entities,
                ..EnrichmentView::default()
            },
        );
        assert_eq!(
            body["Alerts"],
            "1. Suspicious execution of hidden file (microsoftDefenderForEndpoint, low)"
        );
        assert_eq!(
            body["Entities"],
            "1. Device: host-7\n2. User: admin@contoso.com\n3. Ip: 203.0.113.7 (NZ)\n4. Future: x"
        );
    }
}
