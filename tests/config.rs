//! The connector configuration as users meet it: a full file, the defaults, the file the real
//! sandbox writes, every kind of mistake reported with its line and key (all at once), secrets
//! that never leak into errors or debug output, and `check-config` as the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use actors::settings::ConnectorSettings;
use sandbox::control::TenantSpec;
use sandbox::{Sandbox, SandboxOptions};
use sentinel_signl4::config::{
    self, AlertingScenario, Audience, Classification, ClassificationReason, Cloud, ConfigErrors,
    EntraUser, Env, ErrorKind, IncidentStatus, ReadSource, SecretSource, Severity, Signl4Target,
};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel-signl4");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

/// The environment `full.toml` reads its secrets from.
fn full_env() -> Env {
    Env::fixed([
        ("CONTOSO_CLIENT_SECRET", "contoso-client-secret-from-env"),
        ("CONTOSO_S4_API_KEY", "contoso-api-key-from-env"),
    ])
}

/// Parses `text` as a file named `t.toml` in the fixtures directory (so secret files resolve).
fn parse(text: &str) -> Result<config::Config, ConfigErrors> {
    config::parse_str(
        text,
        &fixture("t.toml"),
        &Env::fixed([("SET", "0123456789abcdef0123456789abcdef-env")]),
    )
}

fn parse_err(text: &str) -> ConfigErrors {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(e) => e,
    }
}

/// A valid connector to which a test appends or in which it replaces lines.
const BASE: &str = r#"
[[connector]]
name = "base"
tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"
subscription_id = "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"
client_id = "a8fdfbd0-da97-42d9-8f1a-fd6a7cb650b4"
client_secret = "base-client-secret"
resource_group = "rg-sentinel"
workspace_name = "ws-base"
"#;

const BASE_SIGNL4: &str = "\n[connector.signl4]\nteam_secret = \"baseteam\"\n";

fn with_connector_keys(extra: &str) -> String {
    format!("{BASE}{extra}\n{BASE_SIGNL4}")
}

#[test]
fn a_full_file_loads_with_every_value_normalised() {
    let c = config::load_with(fixture("full.toml"), &full_env()).expect("full.toml is valid");
    assert_eq!(c.data_dir, fixture("data"));
    assert_eq!(c.webhook.bind.to_string(), "0.0.0.0:8443");
    assert_eq!(
        c.webhook.public_base_url.as_ref().map(|u| u.as_str()),
        Some("https://s4.mssp.example/hooks")
    );
    assert_eq!(c.connectors.len(), 2);
    assert!(
        c.warnings
            .iter()
            .all(|w| w.contains("readable by every user")),
        "only the file-mode warning may apply: {:?}",
        c.warnings
    );

    let contoso = c.connector("contoso").unwrap();
    assert_eq!(
        contoso.tenant_id.to_string(),
        "72f988bf-86f1-41af-91ab-2d7cd011db47"
    );
    assert_eq!(contoso.read_source, ReadSource::Sentinel);
    assert_eq!(
        contoso.statuses,
        [IncidentStatus::New, IncidentStatus::Active]
    );
    assert_eq!(contoso.severities, [Severity::High, Severity::Medium]);
    assert_eq!(contoso.status_names(), ["New", "Active"]);
    assert_eq!(contoso.lookback, Duration::from_secs(7200));
    assert_eq!(contoso.poll_interval, Duration::from_secs(30));
    assert_eq!(contoso.poll_overlap, Duration::from_secs(120));
    assert_eq!(contoso.tag.as_deref(), Some("Paged-by-SIGNL4"));
    assert!(!contoso.on_acknowledge.set_active && contoso.on_acknowledge.assign_owner);
    assert_eq!(
        contoso.on_close.classification,
        Classification::FalsePositive
    );
    assert_eq!(
        contoso.on_close.classification_reason,
        Some(ClassificationReason::InaccurateData)
    );
    assert_eq!(
        contoso.on_close.classification_comment.as_deref(),
        Some("Closed in SIGNL4")
    );
    assert!(!contoso.on_close.assign_owner);
    // Emails are matched without case; object ids are recognised; others map to themselves.
    assert_eq!(
        contoso.entra_user_for("rene@signl4.com"),
        EntraUser::Upn("rene@contoso.com".into())
    );
    assert!(matches!(
        contoso.entra_user_for("OPS@signl4.com"),
        EntraUser::ObjectId(_)
    ));
    assert_eq!(
        contoso.entra_user_for("anna@contoso.com"),
        EntraUser::Upn("anna@contoso.com".into())
    );
    // Secrets: from env and from files (trimmed), with their sources.
    assert_eq!(
        contoso.client_secret.expose(),
        "contoso-client-secret-from-env"
    );
    assert_eq!(
        contoso.client_secret.source(),
        &SecretSource::Env("CONTOSO_CLIENT_SECRET".into())
    );
    let Signl4Target::TeamSecret(team) = &contoso.signl4.target else {
        panic!("contoso uses a team secret")
    };
    assert_eq!(team.expose(), "contoso-team-secret-value");
    assert_eq!(
        contoso.webhook_token.as_ref().unwrap().expose(),
        "abcdefghijabcdefghijabcdefghij-contoso"
    );
    assert_eq!(
        contoso.signl4.api_key.as_ref().unwrap().expose(),
        "contoso-api-key-from-env"
    );
    assert_eq!(
        contoso.signl4.alerting_scenario,
        Some(AlertingScenario::MultiAck)
    );
    assert_eq!(
        contoso.signl4_webhook_url().expose(),
        "https://connect.signl4.com/webhook/contoso-team-secret-value"
    );
    assert_eq!(contoso.endpoints.sentinel_api_version, "2024-03-01");
    assert_eq!(
        contoso.token_url().as_str(),
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
    );
    assert_eq!(
        contoso.sentinel_base().as_str(),
        "https://management.azure.com/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/rg-sentinel/providers/Microsoft.OperationalInsights/workspaces/ws-contoso/providers/Microsoft.SecurityInsights"
    );

    assert_eq!(contoso.endpoints.arm_base(), "https://management.azure.com");
    assert_eq!(
        c.webhook_url(contoso).unwrap().expose(),
        "https://s4.mssp.example/hooks/signl4/contoso/abcdefghijabcdefghijabcdefghij-contoso"
    );
    assert_eq!(format!("{:?}", c.webhook_url(contoso)), "Some(***)");
    let settings = contoso.settings();
    assert_eq!(settings.name, "contoso");
    assert_eq!(settings.statuses, ["New", "Active"]);
    assert_eq!(settings.overlap, Duration::from_secs(120));
    assert_eq!(settings.page_size, 500);
    assert_eq!(settings.enrichment_concurrency, 2);
    assert_eq!(settings.enrichment_deadline, Duration::from_secs(10));
    assert!(!settings.sync.resolve_on_sentinel_close);
    assert!(!settings.sync.ack_signl_on_sentinel_owner);
    assert!(!settings.sync.comments_to_signl4);
    assert_eq!(
        settings.sync.signl4_poll_interval,
        Some(Duration::from_secs(120))
    );
    assert_eq!(settings.alerting_scenario, "multi_ack");
    assert_eq!(settings.sync.classification, "FalsePositive");
    assert_eq!(
        settings.sync.classification_reason.as_deref(),
        Some("InaccurateData")
    );
    assert_eq!(
        settings.sync.owner_for("Rene@signl4.com"),
        "rene@contoso.com"
    );
    assert_eq!(
        settings.sync.owner_for("ops@signl4.com"),
        "2046feea-040d-4a46-9e2b-91c2941bfa70"
    );
    assert!(!format!("{settings:?}").contains("contoso-client-secret-from-env"));

    let gov = c.connector("fabrikam-gov").unwrap();
    assert_eq!(gov.read_source, ReadSource::Graph);
    assert_eq!(
        gov.workspace_id, None,
        "empty workspace_id: no augmentation"
    );
    assert_eq!(gov.tag, None, "empty tag: none");
    assert_eq!(gov.settings().tag, "", "the actors' spelling of none");
    assert_eq!(gov.signl4.alerting_scenario, None);
    assert!(gov.signl4.api_key.is_none());
    assert_eq!(gov.endpoints.cloud, Cloud::UsGov);
    assert_eq!(
        gov.endpoints.graph.as_str(),
        "https://graph.microsoft.us/v1.0"
    );
    assert_eq!(
        gov.token_scope(Audience::Arm),
        "https://management.usgovcloudapi.net/.default"
    );
    assert_eq!(
        gov.signl4_webhook_url().expose(),
        "https://connect.signl4.com/webhook/fabrikam-team-secret?ExtIDParam=id"
    );
}

#[test]
fn a_minimal_file_takes_the_documented_defaults() {
    let c = config::load_with(fixture("minimal.toml"), &Env::fixed::<&str, &str>([])).unwrap();
    assert_eq!(
        c.data_dir,
        Path::new(config::DEFAULT_DATA_DIR),
        "as audit's default"
    );
    assert_eq!(c.webhook.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.webhook.public_base_url, None);
    let m = &c.connectors[0];
    assert_eq!(m.read_source, ReadSource::Sentinel);
    assert_eq!(m.statuses, [IncidentStatus::New]);
    assert_eq!(m.severities, Severity::ALL);
    assert_eq!(m.lookback, Duration::from_secs(24 * 3600));
    assert_eq!(m.poll_interval, Duration::from_secs(60));
    assert_eq!(m.poll_overlap, Duration::from_secs(300));
    assert_eq!(m.tag.as_deref(), Some("SIGNL4"));
    assert!(m.on_acknowledge.set_active && m.on_acknowledge.assign_owner);
    assert_eq!(m.on_close.classification, Classification::Undetermined);
    assert_eq!(m.on_close.classification_reason, None);
    assert_eq!(
        m.on_close.classification_comment.as_deref(),
        Some("Closed in SIGNL4")
    );
    assert!(!m.on_close.assign_owner);
    assert!(m.resolve_on_sentinel_close);
    assert!(m.ack_signl_on_sentinel_owner && m.comments_to_signl4);
    assert_eq!(m.signl4.status_poll, None);
    assert_eq!(m.page_size, 200);
    assert_eq!(m.enrichment_deadline, Duration::from_secs(30));
    assert_eq!(m.enrichment_concurrency, 4);
    // The pipeline's own defaults are the configuration's.
    assert_eq!(
        format!("{:?}", m.settings()),
        format!("{:?}", ConnectorSettings::new("minimal"))
    );
    assert!(m.user_map.is_empty());
    assert_eq!(m.workspace_id, None);
    assert_eq!(m.endpoints.cloud, Cloud::Public);
    assert_eq!(m.endpoints.arm.as_str(), "https://management.azure.com/");
    assert_eq!(
        m.endpoints.log_analytics.as_str(),
        "https://api.loganalytics.io/v1"
    );
    assert_eq!(m.endpoints.sentinel_api_version, "2025-12-01");
    assert_eq!(
        m.token_scope(Audience::LogAnalytics),
        "https://api.loganalytics.io/.default"
    );
    assert_eq!(m.webhook_token, None);
    assert!(
        c.warnings.iter().any(|w| w.contains("no webhook_token")),
        "one-way mode is warned about: {:?}",
        c.warnings
    );
}

#[test]
fn the_file_the_real_sandbox_writes_loads_unchanged() {
    let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox starts");
    for name in ["tenant-1", "tenant-2"] {
        sb.control()
            .create_tenant(TenantSpec {
                name: Some(name.into()),
                ..Default::default()
            })
            .expect("tenant created");
    }
    let text = sb.connector_toml();
    let urls = sb.urls().clone();
    let tenants = sb.control().tenants();
    sb.stop();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.toml");
    std::fs::write(&path, &text).unwrap();
    let c = config::load_with(&path, &Env::fixed::<&str, &str>([]))
        .unwrap_or_else(|e| panic!("the sandbox's file must load:\n{e}\n{text}"));
    assert_eq!(c.connectors.len(), tenants.len());
    for (conn, t) in c.connectors.iter().zip(&tenants) {
        assert_eq!(conn.name, t.name);
        assert_eq!(conn.tenant_id.to_string(), t.tenant_id);
        assert_eq!(conn.client_secret.expose(), t.client_secret);
        assert_eq!(
            conn.workspace_id.map(|w| w.to_string()),
            Some(t.workspace_id.clone())
        );
        let Signl4Target::TeamSecret(team) = &conn.signl4.target else {
            panic!("the sandbox writes a team secret")
        };
        assert_eq!(team.expose(), t.team_secret);
        assert_eq!(conn.signl4.api_key.as_ref().unwrap().expose(), t.api_key);
        assert_eq!(conn.statuses, [IncidentStatus::New, IncidentStatus::Active]);
        assert_eq!(
            conn.signl4.alerting_scenario,
            Some(AlertingScenario::SingleAck)
        );
        // The emulator URLs are kept (http is fine: loopback); scopes stay the public cloud's,
        // which is what the sandbox's Entra accepts.
        assert_eq!(conn.endpoints.arm.as_str().trim_end_matches('/'), urls.arm);
        assert_eq!(conn.endpoints.log_analytics.as_str(), urls.log_analytics);
        assert_eq!(conn.endpoints.graph.as_str(), urls.graph);
        assert!(conn.token_url().as_str().starts_with(&urls.entra));
        assert_eq!(
            conn.token_scope(Audience::Arm),
            "https://management.azure.com/.default"
        );
        assert_eq!(
            conn.signl4_webhook_url().expose(),
            format!("{}/webhook/{}", urls.signl4, t.team_secret)
        );
    }
}

/// `errors.toml` holds one of each mistake: each is reported at its line with its key path,
/// and all of them in one go.
#[test]
fn every_kind_of_mistake_is_reported_with_line_key_and_expectation() {
    let path = fixture("errors.toml");
    let errors = match config::load_with(&path, &Env::fixed::<&str, &str>([])) {
        Ok(_) => panic!("errors.toml must not load"),
        Err(e) => e,
    };
    let expect: &[(&str, usize, ErrorKind, &str)] = &[
        ("colour", 3, ErrorKind::UnknownKey, "unknown key `colour`"),
        ("webhook.bind", 6, ErrorKind::Invalid, "expected IP:port"),
        (
            "webhook.public_base_url",
            7,
            ErrorKind::Invalid,
            "use https",
        ),
        (
            "connector[0].tenant_id",
            11,
            ErrorKind::Invalid,
            "not a GUID (10 characters)",
        ),
        (
            "connector[0].subscription_id",
            12,
            ErrorKind::Invalid,
            "placeholder",
        ),
        (
            "connector[0].client_secret_env",
            15,
            ErrorKind::Conflict,
            "expected exactly one",
        ),
        (
            "connector[0].read_source",
            18,
            ErrorKind::Invalid,
            "\"sentinel\", \"graph\" or \"defender\"",
        ),
        (
            "connector[0].statuses[1]",
            19,
            ErrorKind::Invalid,
            "\"Open\"",
        ),
        (
            "connector[0].severities",
            20,
            ErrorKind::Invalid,
            "empty list",
        ),
        (
            "connector[0].lookback",
            21,
            ErrorKind::Invalid,
            "invalid duration \"yesterday\"",
        ),
        (
            "connector[0].poll_interval",
            22,
            ErrorKind::WrongType,
            "found an integer",
        ),
        (
            "connector[0].poll_intervall",
            23,
            ErrorKind::UnknownKey,
            "did you mean `poll_interval`",
        ),
        (
            "connector[0].classification",
            24,
            ErrorKind::UnknownKey,
            "on_close.classification",
        ),
        (
            "connector[0].webhook_token",
            25,
            ErrorKind::Invalid,
            "at least 32",
        ),
        (
            "connector[0].on_close.classification_reason",
            27,
            ErrorKind::Conflict,
            "BenignPositive needs a classification_reason; expected \"SuspiciousButExpected\"",
        ),
        (
            "connector[0].signl4.team_secret_env",
            31,
            ErrorKind::Secret,
            "environment variable ACME_TEAM_SECRET is not set",
        ),
        (
            "connector[0].signl4.api_key_file",
            32,
            ErrorKind::Secret,
            "does-not-exist",
        ),
        (
            "connector[0].signl4.alerting_scenario",
            33,
            ErrorKind::Invalid,
            "\"single_ack\"",
        ),
        (
            "connector[0].endpoints.arm",
            36,
            ErrorKind::Invalid,
            "not loopback",
        ),
        (
            "connector[0].endpoints.graph",
            37,
            ErrorKind::Invalid,
            "not a valid URL",
        ),
        (
            "connector[0].endpoints.sentinel_api_version",
            38,
            ErrorKind::Invalid,
            "\"2025-12-01\"",
        ),
        (
            "connector[1].name",
            41,
            ErrorKind::Duplicate,
            "already used by connector[0]",
        ),
        (
            "connector[1].signl4.webhook_url",
            50,
            ErrorKind::Invalid,
            "use https",
        ),
    ];
    for (key, line, kind, text) in expect {
        let found = errors.at(key);
        assert_eq!(found.len(), 1, "one error at {key}; all errors:\n{errors}");
        let e = found[0];
        assert_eq!(e.line, Some(*line), "line of {key}: {e}");
        assert!(e.column.is_some(), "{e}");
        assert_eq!(e.kind, *kind, "kind of {key}: {e}");
        assert!(e.message.contains(text), "{key}: {e:?} should say {text:?}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}:{line}:", path.display())),
            "{e}"
        );
    }
    assert_eq!(errors.len(), expect.len(), "no other errors:\n{errors}");
    assert!(!errors.is_unreadable());
}

#[test]
fn no_secret_value_reaches_an_error_message() {
    let secrets = [
        "SUPER-SECRET-CLIENT-VALUE",
        "SHORT-SECRET-TOKEN",
        "LEAKY-TEAM-SECRET",
        "ANOTHER-SECRET-VALUE",
    ];
    let errors = config::load_with(fixture("errors.toml"), &Env::fixed::<&str, &str>([]))
        .unwrap_err()
        .to_string();
    for s in secrets {
        assert!(!errors.contains(s), "{s} leaked:\n{errors}");
    }
    // Syntax errors on a secret's line, a secret of the wrong type, an empty secret file or
    // variable, a bad team secret, a bad webhook URL: none quotes the value.
    let cases = [
        "client_secret = \"TOPSECRET-1\nname = \"x\"\n",
        "client_secret = TOPSECRET-1\n",
        "[[connector]]\nclient_secret = \"TOPSECRET-1\"\nclient_secret = \"TOPSECRET-1\"\n",
    ];
    for text in cases {
        let e = parse_err(text);
        assert_eq!(e.errors[0].kind, ErrorKind::Syntax);
        assert!(!e.to_string().contains("TOPSECRET"), "{e}");
    }
    // A secret pasted where the client id belongs is not echoed.
    let e = parse_err(&with_connector_keys("").replace(
        "a8fdfbd0-da97-42d9-8f1a-fd6a7cb650b4",
        "Abc8Q~TOPSECRET.value",
    ));
    assert!(e.to_string().contains("not a GUID"), "{e}");
    assert!(!e.to_string().contains("TOPSECRET"), "{e}");
    // The secret pasted where the variable's name belongs is not echoed either.
    let e = parse_err(&with_connector_keys("").replace(
        "client_secret = \"base-client-secret\"",
        "client_secret_env = \"Abc8Q~TOPSECRET.value\"",
    ));
    let shown = e.to_string();
    assert!(
        shown.contains("not an environment variable name"),
        "{shown}"
    );
    assert!(!shown.contains("TOPSECRET"), "{shown}");
    let e = parse_err(&with_connector_keys("webhook_token = 12345678987654321"));
    assert!(e.to_string().contains("found an integer"), "{e}");
    assert!(!e.to_string().contains("12345678987654321"), "{e}");
    let text = format!(
        "{BASE}\n[connector.signl4]\nteam_secret = \"TOP SECRET/1\"\napi_key_env = \"EMPTY\"\n"
    );
    let e =
        config::parse_str(&text, &fixture("t.toml"), &Env::fixed([("EMPTY", " ")])).unwrap_err();
    let shown = e.to_string();
    assert!(!shown.contains("TOP SECRET"), "{shown}");
    assert!(
        shown.contains("environment variable EMPTY is empty"),
        "{shown}"
    );
    let text = format!(
        "{BASE}\n[connector.signl4]\nwebhook_url = \"https://user:TOPSECRET@connect.signl4.com/webhook/x\"\n"
    );
    let shown = parse_err(&text).to_string();
    assert!(
        shown.contains("user name or password") && !shown.contains("TOPSECRET"),
        "{shown}"
    );
}

#[test]
fn secrets_print_as_stars_in_debug_output() {
    let c = config::load_with(fixture("full.toml"), &full_env()).unwrap();
    let debug = format!("{c:?} {c:#?}");
    for s in [
        "contoso-client-secret-from-env",
        "contoso-team-secret-value",
        "abcdefghijabcdefghijabcdefghij-contoso",
        "contoso-api-key-from-env",
        "inline-client-secret-value",
        "fabrikam-team-secret",
        "0123456789abcdef0123456789abcdef-fabrikam",
    ] {
        assert!(!debug.contains(s), "{s} in Debug output");
    }
    assert!(debug.contains("client_secret: ***"), "{debug}");
}

#[test]
fn missing_secret_sources_name_the_variable_or_file() {
    let e = parse_err(&format!(
        "{BASE}webhook_token_env = \"NOT_SET\"\n[connector.signl4]\nteam_secret_file = \"secrets/absent\"\n"
    ));
    let token = e.at("connector[0].webhook_token_env");
    assert!(
        token[0]
            .message
            .contains("environment variable NOT_SET is not set"),
        "{e}"
    );
    let file = e.at("connector[0].signl4.team_secret_file");
    assert_eq!(file[0].kind, ErrorKind::Secret);
    assert!(file[0].message.contains("secrets/absent"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty"), "\n").unwrap();
    let text = format!("{BASE}client_secret_file = \"empty\"\n{BASE_SIGNL4}")
        .replace("client_secret = \"base-client-secret\"\n", "");
    let e = config::parse_str(&text, &dir.path().join("c.toml"), &Env::default()).unwrap_err();
    assert!(e.errors[0].message.contains("is empty"), "{e}");

    let e = parse_err(&BASE.replace("client_secret = \"base-client-secret\"\n", ""));
    let missing = e.at("connector[0].client_secret");
    assert_eq!(missing[0].kind, ErrorKind::Missing);
    assert!(missing[0].message.contains("client_secret_env"), "{e}");
    assert_eq!(e.at("connector[0].signl4")[0].kind, ErrorKind::Missing);
}

#[test]
fn classification_pairing_follows_sentinel() {
    let close = |body: &str| with_connector_keys(&format!("\n[connector.on_close]\n{body}"));
    let ok = [
        "classification = \"Undetermined\"",
        "classification = \"TruePositive\"\nclassification_reason = \"SuspiciousActivity\"",
        "classification = \"benign_positive\"\nclassification_reason = \"suspiciousbutexpected\"",
        "classification = \"FalsePositive\"\nclassification_reason = \"IncorrectAlertLogic\"",
        "classification = \"Undetermined\"\nclassification_reason = \"\"",
    ];
    for body in ok {
        let c = parse(&close(body)).unwrap_or_else(|e| panic!("{body}: {e}"));
        let on_close = &c.connectors[0].on_close;
        assert_eq!(
            on_close.classification_reason.map(|r| r.as_str()).is_some(),
            !on_close.classification.allowed_reasons().is_empty()
        );
    }
    let bad = [
        (
            "classification = \"TruePositive\"",
            "needs a classification_reason",
        ),
        (
            "classification = \"FalsePositive\"",
            "\"IncorrectAlertLogic\" or \"InaccurateData\"",
        ),
        (
            "classification = \"TruePositive\"\nclassification_reason = \"InaccurateData\"",
            "does not go with classification TruePositive",
        ),
        (
            "classification = \"Undetermined\"\nclassification_reason = \"SuspiciousActivity\"",
            "expected none",
        ),
        (
            "classification = \"Maybe\"",
            "\"Undetermined\", \"TruePositive\"",
        ),
    ];
    for (body, text) in bad {
        let e = parse_err(&close(body));
        assert_eq!(e.len(), 1, "{e}");
        assert!(e.errors[0].message.contains(text), "{body}: {e}");
        assert!(e.errors[0].key.starts_with("connector[0].on_close."), "{e}");
    }
}

#[test]
fn http_is_accepted_only_for_loopback_hosts() {
    for (url, ok) in [
        ("http://127.0.0.1:8443", true),
        ("http://127.1.2.3:1", true),
        ("http://localhost:9", true),
        ("http://[::1]:9", true),
        ("https://arm.proxy.example", true),
        ("http://10.0.0.5:8443", false),
        ("http://arm.proxy.example", false),
    ] {
        let text = with_connector_keys(&format!("\n[connector.endpoints]\narm = \"{url}\""));
        assert_eq!(parse(&text).is_ok(), ok, "{url}");
    }
}

#[test]
fn smaller_rules_hold() {
    // Unknown keys in sub-tables, with the line.
    let e = parse_err(&format!("{BASE}{BASE_SIGNL4}servce = \"x\"\n"));
    let err = &e.at("connector[0].signl4.servce")[0];
    assert_eq!(err.kind, ErrorKind::UnknownKey);
    assert!(err.message.contains("did you mean `service`"), "{e}");
    assert_eq!(err.line, Some(13));
    // REST polling without an API key has nothing to authenticate with.
    let e = parse_err(&format!("{BASE}{BASE_SIGNL4}poll_status = true\n"));
    let err = &e.at("connector[0].signl4.poll_status")[0];
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(err.message.contains("needs the SIGNL4 REST API key"), "{e}");
    assert_eq!(err.line, Some(13));
    let ok = parse(&format!(
        "{BASE}{BASE_SIGNL4}api_key = \"k\"\npoll_status = true\npoll_interval = \"20s\"\n"
    ))
    .unwrap();
    assert_eq!(
        ok.connectors[0].signl4.status_poll,
        Some(Duration::from_secs(20))
    );
    // Zero poll interval, empty name, wrong types, no connector at all.
    let e = parse_err(&with_connector_keys("poll_interval = \"0s\""));
    assert!(e.errors[0].message.contains("must not be zero"), "{e}");
    let e = parse_err(
        &BASE
            .replace("name = \"base\"", "name = \"bad name\"")
            .to_string(),
    );
    assert!(!e.at("connector[0].name").is_empty(), "{e}");
    let e = parse_err("data_dir = \"x\"\n");
    assert_eq!(e.at("connector")[0].kind, ErrorKind::Missing);
    let e = parse_err(&with_connector_keys("statuses = \"New\""));
    assert!(
        e.errors[0].message.contains("expected an array of strings"),
        "{e}"
    );
    // Integers: range and type.
    let e = parse_err(&with_connector_keys(
        "page_size = 5000\nenrichment_concurrency = \"4\"",
    ));
    assert!(
        e.at("connector[0].page_size")[0]
            .message
            .contains("5000 is out of range; expected an integer from 1 to 1000"),
        "{e}"
    );
    assert_eq!(
        e.at("connector[0].enrichment_concurrency")[0].kind,
        ErrorKind::WrongType
    );
    // Team secret and webhook URL together; user_map values.
    let e = parse_err(&format!(
        "{BASE}{BASE_SIGNL4}webhook_url = \"https://connect.signl4.com/webhook/x\"\n"
    ));
    assert_eq!(e.errors[0].kind, ErrorKind::Conflict, "{e}");
    let e = parse_err(&with_connector_keys(
        "\n[connector.user_map]\n\"a@b.c\" = \"not a user\"\n\"nobody\" = \"x@y.z\"",
    ));
    assert_eq!(e.len(), 2, "{e}");
    // Duplicate webhook tokens across connectors.
    let token = "webhook_token = \"0123456789abcdef0123456789abcdef\"";
    let two = format!(
        "{}{}",
        with_connector_keys(token),
        with_connector_keys(token).replace("name = \"base\"", "name = \"other\"")
    );
    let e = parse_err(&two);
    assert_eq!(
        e.at("connector[1].webhook_token")[0].kind,
        ErrorKind::Duplicate,
        "{e}"
    );
    assert!(!e.to_string().contains("0123456789abcdef"), "{e}");
    // An env-provided value is read through Env, and its source recorded.
    let c = parse(&with_connector_keys("webhook_token_env = \"SET\"")).unwrap();
    let token = c.connectors[0].webhook_token.as_ref().unwrap();
    assert_eq!(token.expose(), "0123456789abcdef0123456789abcdef-env");
    assert_eq!(token.source(), &SecretSource::Env("SET".into()));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn sweep_interval_is_a_checked_duration_that_reaches_the_pipeline() {
    // Default: the pipeline's own.
    let c = parse(&with_connector_keys("")).unwrap();
    assert_eq!(
        c.connectors[0].sweep_interval,
        actors::settings::DEFAULT_SWEEP_INTERVAL
    );
    // Set: normalised, and handed to the actors.
    let c = parse(&with_connector_keys("sweep_interval = \"1h\"")).unwrap();
    assert_eq!(c.connectors[0].sweep_interval, Duration::from_secs(3600));
    assert_eq!(
        c.connectors[0].settings().sweep_interval,
        Duration::from_secs(3600)
    );
    assert!(c.warnings.iter().all(|w| !w.contains("sweep_interval")));
    // Zero, a bad word and a wrong type are errors naming the key and its line.
    let e = parse_err(&with_connector_keys("sweep_interval = \"0s\""));
    let err = &e.at("connector[0].sweep_interval")[0];
    assert!(err.message.contains("must not be zero"), "{e}");
    assert_eq!(err.line, Some(10), "{e}");
    let e = parse_err(&with_connector_keys("sweep_interval = \"soon\""));
    assert_eq!(e.at("connector[0].sweep_interval").len(), 1, "{e}");
    let e = parse_err(&with_connector_keys("sweep_interval = 900"));
    assert_eq!(
        e.at("connector[0].sweep_interval")[0].kind,
        ErrorKind::WrongType,
        "{e}"
    );
    // Shorter than the poll interval: allowed, but every poll would be a sweep.
    let c = parse(&with_connector_keys(
        "poll_interval = \"5m\"\nsweep_interval = \"1m\"",
    ))
    .unwrap();
    assert!(
        c.warnings.iter().any(|w| w.contains("sweep_interval")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn a_graph_connector_takes_no_tag_and_says_so_when_one_is_written() {
    let c = parse(&with_connector_keys("read_source = \"graph\"")).unwrap();
    assert_eq!(c.connectors[0].read_source, ReadSource::Graph);
    assert_eq!(c.connectors[0].tag, None, "the default tag does not apply");
    assert_eq!(c.connectors[0].settings().tag, "");
    assert!(c.warnings.iter().all(|w| !w.contains("labels")));
    let c = parse(&with_connector_keys(
        "read_source = \"graph\"\ntag = \"SIGNL4\"",
    ))
    .unwrap();
    assert_eq!(c.connectors[0].tag, None);
    assert!(
        c.warnings.iter().any(|w| w.contains("no labels")),
        "{:?}",
        c.warnings
    );
}

#[cfg(unix)]
#[test]
fn inline_secrets_in_a_world_readable_file_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, with_connector_keys("")).unwrap();
    let warned = |mode: u32| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let c = config::load_with(&path, &Env::default()).unwrap();
        c.warnings
            .iter()
            .any(|w| w.contains("readable by every user"))
    };
    assert!(warned(0o644));
    assert!(!warned(0o600));
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn check_config_binary_exits_0_1_or_2() {
    let full = fixture("full.toml");
    let out = run(
        &["check-config", "--config", full.to_str().unwrap()],
        &[
            ("CONTOSO_CLIENT_SECRET", "contoso-client-secret-from-env"),
            ("CONTOSO_S4_API_KEY", "contoso-api-key-from-env"),
        ],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    for part in [
        "valid, 2 connectors",
        "connector \"contoso\"",
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "statuses New, Active; severities High, Medium",
        "https://management.usgovcloudapi.net\n",
        "client_secret  set (env CONTOSO_CLIENT_SECRET)",
        "SIGNL4 outbound webhook  https://s4.mssp.example/hooks/signl4/contoso/***",
        "api_key        not set",
    ] {
        assert!(shown.contains(part), "{part:?} missing:\n{shown}");
    }
    for secret in [
        "contoso-client-secret-from-env",
        "contoso-team-secret-value",
        "fabrikam-team-secret",
    ] {
        assert!(!shown.contains(secret), "{secret} printed:\n{shown}");
    }

    let errors = fixture("errors.toml");
    let out = run(&["check-config", "--config", errors.to_str().unwrap()], &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("23 configuration errors"), "{shown}");
    assert!(
        shown.contains("errors.toml:23:1: connector[0].poll_intervall"),
        "{shown}"
    );
    assert!(!shown.contains("SUPER-SECRET-CLIENT-VALUE") && !shown.contains("LEAKY-TEAM-SECRET"));

    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, b"name = \"\xff\xfe\"\n").unwrap();
    let out = run(&["check-config", "--config", binary.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not UTF-8"), "{}", text(&out));

    let out = run(
        &["check-config", "--config", "/nonexistent/connector.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cannot read the configuration file"));
}

#[test]
fn check_config_accepts_what_sandbox_config_out_writes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox.toml");
    let out = run(
        &[
            "sandbox",
            "--once",
            "--tenants",
            "2",
            "--incidents",
            "1",
            "--config-out",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["check-config", "--config", file.to_str().unwrap()], &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("valid, 2 connectors"), "{shown}");
    assert!(shown.contains("client_secret  set (inline)"), "{shown}");
    assert!(
        !shown.contains("sbx~"),
        "sandbox secrets must not be printed:\n{shown}"
    );
    // Two-way out of the box: a webhook token per connector, listeners on loopback, and the
    // file private (it holds the sandbox's secrets).
    assert!(
        shown.contains("SIGNL4 outbound webhook  path /signl4/tenant-1/***"),
        "{shown}"
    );
    assert!(
        shown.contains("admin           listen 127.0.0.1:"),
        "{shown}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(shown.contains("SIGNL4_CL     http://127.0.0.1:"), "{shown}");
    assert!(
        shown.contains("stream Custom-SIGNL4_CL, every 30s"),
        "{shown}"
    );
}

mod mutations {
    //! Whatever one-character typo a file gets, loading never panics and no message quotes a
    //! secret (syntax errors included).

    use proptest::prelude::*;

    use super::*;

    const MARK: &str = "Zq7MARK";

    fn secret_file() -> String {
        let base = BASE.replace("base-client-secret", &format!("{MARK}client{MARK}"));
        format!(
            "{base}webhook_token = \"{MARK}tok{MARK}0123456789abcdef0123\"\n\
             [connector.signl4]\nteam_secret = \"{MARK}team\"\napi_key = \"{MARK}key\"\n\
             [connector.endpoints]\narm = \"http://127.0.0.1:1\"\n"
        )
    }

    #[test]
    fn the_unmutated_file_is_valid() {
        let c = parse(&secret_file()).expect("valid");
        assert!(c.connectors[0].client_secret.expose().contains(MARK));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn one_typo_never_leaks_a_secret(
            at in 0usize..10_000,
            edit in 0u8..3,
            ch in prop::sample::select(vec!['"', '\n', '=', '[', ']', ',', ' ', 'x', '.', '#', '{']),
        ) {
            let mut text = secret_file();
            let mut at = at % text.len();
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match edit {
                0 => { text.remove(at); }
                1 => text.insert(at, ch),
                _ => { text.remove(at); text.insert(at, ch); }
            }
            if let Err(e) = parse(&text) {
                let shown = e.to_string();
                prop_assert!(!shown.contains(MARK), "{}\n---\n{}", shown, text);
            }
        }
    }
}

#[test]
fn the_signl4_cl_section_is_read_with_defaults_and_checked_with_positions() {
    let c = config::load_with(fixture("full.toml"), &full_env()).expect("full.toml is valid");
    let cl = c.connectors[0]
        .signl4_cl
        .as_ref()
        .expect("contoso ships SIGNL4_CL");
    assert!(cl.enabled);
    assert_eq!(
        cl.endpoint.as_ref().unwrap().as_str(),
        "https://dcr-sentinel-signl4-abcd.westeurope-1.ingest.monitor.azure.com/"
    );
    assert_eq!(cl.dcr_immutable_id, "dcr-0123456789abcdef0123456789abcdef");
    assert_eq!(cl.interval, Duration::from_secs(60));
    assert!(c.connectors[1].signl4_cl.is_none(), "absent: off");
    assert_eq!(
        config::ingestion_scope(c.connectors[1].endpoints.cloud),
        "https://monitor.azure.us/.default"
    );

    // Defaults: the stream and the interval.
    let section = "\n[connector.signl4_cl]\nendpoint = \"http://127.0.0.1:9\"\n\
                   dcr_immutable_id = \"dcr-0123456789abcdef0123456789abcdef\"\n";
    let c = parse(&format!("{BASE}{BASE_SIGNL4}{section}")).unwrap();
    let cl = c.connectors[0].signl4_cl.as_ref().unwrap();
    assert_eq!(cl.stream, config::DEFAULT_SIGNL4_CL_STREAM);
    assert_eq!(cl.interval, config::DEFAULT_SIGNL4_CL_INTERVAL);

    // Mistakes name their key and line.
    let bad = "\n[connector.signl4_cl]\nendpoint = \"http://dce.example\"\n\
               dcr_immutable_id = \"/subscriptions/x/resourceGroups/rg/providers/Microsoft.Insights/dataCollectionRules/r\"\n\
               stream = \"SIGNL4_CL\"\ninterval = \"0s\"\nenable = true\n";
    let e = parse_err(&format!("{BASE}{BASE_SIGNL4}{bad}"));
    let line = |key: &str| e.at(&format!("connector[0].signl4_cl.{key}"))[0].line;
    assert!(
        e.at("connector[0].signl4_cl.endpoint")[0]
            .message
            .contains("use https"),
        "{e}"
    );
    assert_eq!(line("endpoint"), Some(15));
    assert!(
        e.at("connector[0].signl4_cl.dcr_immutable_id")[0]
            .message
            .contains("resource id, not its immutable id"),
        "{e}"
    );
    assert_eq!(line("dcr_immutable_id"), Some(16));
    assert!(
        e.at("connector[0].signl4_cl.stream")[0]
            .message
            .contains("\"Custom-\""),
        "{e}"
    );
    assert!(
        e.at("connector[0].signl4_cl.interval")[0]
            .message
            .contains("must not be zero"),
        "{e}"
    );
    let unknown = &e.at("connector[0].signl4_cl.enable")[0];
    assert_eq!(unknown.kind, ErrorKind::UnknownKey);
    assert!(unknown.message.contains("did you mean `enabled`"), "{e}");

    // Enabled without a rule is missing keys; disabled, the section may stay incomplete.
    let e = parse_err(&format!("{BASE}{BASE_SIGNL4}\n[connector.signl4_cl]\n"));
    assert_eq!(
        e.at("connector[0].signl4_cl.endpoint")[0].kind,
        ErrorKind::Missing
    );
    assert_eq!(
        e.at("connector[0].signl4_cl.dcr_immutable_id")[0].kind,
        ErrorKind::Missing
    );
    let c = parse(&format!(
        "{BASE}{BASE_SIGNL4}\n[connector.signl4_cl]\nenabled = false\n"
    ))
    .unwrap();
    assert!(!c.connectors[0].signl4_cl.as_ref().unwrap().enabled);
}

/// `[connector.sentinel_budget]`: absent means the documented planning numbers (the same as the
/// HTTP layer's default), any key may be set alone, and a mistake names the key and connector.
#[test]
fn sentinel_budgets_are_set_per_connector_with_documented_defaults() {
    use sentinel_signl4::config::SentinelBudget;
    use sentinel_signl4::http::BudgetLimits;
    // Absent: the defaults, which are the HTTP layer's documented limits.
    let c = parse(&with_connector_keys("")).unwrap();
    assert_eq!(c.connectors[0].sentinel_budget, None);
    let defaults = SentinelBudget::default();
    let http = BudgetLimits::default();
    assert_eq!(
        (
            defaults.incident_writes,
            defaults.comment_writes,
            defaults.reads,
            defaults.window
        ),
        (
            http.incident_writes,
            http.comment_writes,
            http.reads,
            http.window
        )
    );
    // Set: each key alone keeps the others' defaults.
    let c = parse(&with_connector_keys(
        "\n[connector.sentinel_budget]\nincident_writes = 150\nwindow = \"1m\"",
    ))
    .unwrap();
    assert_eq!(
        c.connectors[0].sentinel_budget,
        Some(SentinelBudget {
            incident_writes: 150,
            comment_writes: 75,
            reads: 100,
            window: Duration::from_secs(60),
        })
    );
    // Mistakes, all at once, each naming its key and the connector.
    let e = parse_err(&with_connector_keys(
        "\n[connector.sentinel_budget]\nincident_writes = 0\ncomment_writes = \"75\"\n\
         reads = 2000000\nwindow = \"0s\"\nrate = 3",
    ));
    let at = |key: &str| e.at(&format!("connector[0].sentinel_budget.{key}"));
    assert_eq!(at("incident_writes")[0].kind, ErrorKind::Invalid, "{e}");
    assert!(
        at("incident_writes")[0]
            .message
            .contains("connector \"base\": out of range; expected an integer from 1 to 1000000"),
        "{e}"
    );
    assert_eq!(at("comment_writes")[0].kind, ErrorKind::WrongType, "{e}");
    assert!(at("reads")[0].message.contains("connector \"base\""), "{e}");
    assert!(
        at("window")[0]
            .message
            .contains("expected a window from \"1s\" to \"1h\""),
        "{e}"
    );
    assert!(!at("rate").is_empty(), "an unknown key is reported: {e}");
    // Two connectors of one subscription share its budget, so they must agree on it.
    let second = BASE
        .replace("name = \"base\"", "name = \"second\"")
        .replace("ws-base", "ws-second");
    let text = format!(
        "{}\n[connector.sentinel_budget]\nreads = 50\n{BASE_SIGNL4}{second}{BASE_SIGNL4}",
        BASE
    );
    let e = parse_err(&text);
    let conflict = &e.at("connector[1].sentinel_budget")[0];
    assert_eq!(conflict.kind, ErrorKind::Conflict, "{e}");
    assert!(
        conflict.message.contains(
            "connector \"second\" sets a different sentinel_budget than connector \"base\""
        ),
        "{e}"
    );
    // The same budget written in both is fine.
    let text = format!(
        "{BASE}\n[connector.sentinel_budget]\nreads = 50\n{BASE_SIGNL4}{second}\n\
         [connector.sentinel_budget]\nreads = 50\n{BASE_SIGNL4}"
    );
    assert!(parse(&text).is_ok());
}
