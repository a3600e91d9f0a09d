//! The two-way sync over real HTTP against the sandbox, with the real clients, log, actors and
//! webhook listener: SIGNL4 changes arriving by outbound webhook and by REST polling recorded
//! once; duplicated and out-of-order deliveries and a 409 storm; a restart between a Sentinel
//! PUT and its outcome; and a longer round of users and analysts on both sides in which the
//! connector's own changes echo back through SIGNL4's outbound webhooks without any ping-pong.

mod common;

use common::world::{analyst, http, outbound_done, roomy, signl_of, wait_until, World};

use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actors::status_sync::notification::Notification;
use actors::status_sync::write_back_effects;
use sandbox::control::{AnalystAction, IncidentSpec, UserAction};
use sandbox::state::Actor;
use sandbox::{FaultKind, FaultSpec, SandboxOptions, Service};
use sentinel_signl4::config::{Secret, SecretSource};
use sentinel_signl4::http::{BudgetLimits, HttpContext, HttpSettings};
use sentinel_signl4::run::{serve_webhooks, start_connectors, Running};
use serde_json::json;
use store::events::{Effect, EffectResult, Event, Signl4Action, Signl4ActionReceived};
use store::keys::{inbox, InboxSource};
use store::writer::Execution;
use store::{Command, IncidentKey};

const TENANT: &str = "contoso";

/// How the connector hears about SIGNL4 changes.
#[derive(Clone, Copy, PartialEq)]
struct Channels {
    webhook: bool,
    rest_poll: bool,
}

/// The shared world with one tenant and `incidents` New incidents, listening on `channels`.
fn world(incidents: usize, options: SandboxOptions, channels: Channels) -> World {
    World::with_incidents(options, TENANT, incidents, |c| {
        c.webhook_token = channels
            .webhook
            .then(|| Secret::new("w".repeat(32), SecretSource::Inline));
        c.signl4.status_poll = channels.rest_poll.then_some(Duration::from_millis(300));
    })
}

/// Starts the connectors and, when configured, the webhook listener SIGNL4 delivers to.
async fn start(world: &World) -> (Running, Option<ServerHandle>) {
    let running = world.start().await;
    let server = world.config.connectors[0]
        .webhook_token
        .as_ref()
        .map(|token| world.serve_webhooks(&running, TENANT, token.expose()));
    (running, server)
}

/// Everything countable on both sides, to see that nothing grows any more.
#[derive(Debug, Clone, PartialEq, Default)]
struct Counts {
    /// Per incident: comments by the connector, comments by analysts, annotations on its
    /// Signls, Sentinel status, Signl statuses.
    incidents: Vec<(usize, usize, usize, String, Vec<u8>)>,
}

fn counts(world: &World) -> Counts {
    let tenant = world.config.connectors[0].settings().tenant();
    world.sandbox.control().with_world(|w| {
        let t = w.tenants.iter().find(|t| t.name == TENANT).unwrap();
        Counts {
            incidents: world
                .names
                .iter()
                .map(|name| {
                    let i = &t.incidents[&name.to_ascii_lowercase()];
                    let ours = i
                        .comments
                        .iter()
                        .filter(|c| matches!(c.by, Actor::Api { .. }))
                        .count();
                    let analysts = i.comments.len() - ours;
                    let external =
                        store::ids::external_id(tenant, IncidentKey::from_source_id(name));
                    let signls: Vec<_> = t
                        .team
                        .signls
                        .iter()
                        .filter(|s| s.external_id.as_deref() == Some(external.as_str()))
                        .collect();
                    (
                        ours,
                        analysts,
                        signls.iter().map(|s| s.annotations.len()).sum(),
                        i.prop_str("status").unwrap_or_default().to_string(),
                        signls.iter().map(|s| s.status).collect(),
                    )
                })
                .collect(),
        }
    })
}

/// Waits (bounded) until the log has no open intent, every outbound webhook was answered and
/// the counts did not change over several polls of both sides.
async fn quiet(world: &World, limit: Duration) -> Counts {
    let started = Instant::now();
    let mut last = Counts::default();
    let mut stable = 0;
    loop {
        let settled = world.store.read(|p| p.open_effects().is_empty()) && outbound_done(world);
        let now = counts(world);
        stable = if settled && now == last {
            stable + 1
        } else {
            0
        };
        if stable >= 4 {
            return now;
        }
        assert!(
            started.elapsed() < limit,
            "no quiet state within {limit:?}: {now:?}; open intents {:?}",
            world.store.read(|p| p.open_effects())
        );
        last = now;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The SIGNL4 actions recorded for one incident.
fn recorded_actions(world: &World, name: &str) -> Vec<Signl4ActionReceived> {
    let tenant = world.config.connectors[0].settings().tenant();
    world
        .store
        .log()
        .incident_events(tenant, IncidentKey::from_source_id(name))
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Signl4ActionReceived(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn user(world: &World, tenant: &str, action: UserAction, name: &str) {
    let signl = signl_of(world, name).expect("paged");
    world
        .sandbox
        .control()
        .user_action(tenant, &signl, None, action)
        .unwrap();
}

/// Every incident paged and tagged, nothing in flight. (The tag is waited for too: between a
/// Signl's outcome and the tag's intent nothing is open, and a restart there tags afterwards.)
async fn paged(world: &World) {
    let tag = world.config.connectors[0].tag.clone().unwrap_or_default();
    wait_until("every incident paged", Duration::from_secs(60), || {
        world.names.iter().all(|n| {
            signl_of(world, n).is_some()
                && (tag.is_empty()
                    || world
                        .sandbox
                        .control()
                        .incident(TENANT, n)
                        .map(|i| {
                            i["properties"]["labels"]
                                .as_array()
                                .is_some_and(|l| l.iter().any(|l| l["labelName"] == tag.as_str()))
                        })
                        .unwrap_or(false))
        }) && world.store.read(|p| p.open_effects().is_empty())
    })
    .await;
}

#[actix_rt::test]
async fn webhook_and_rest_poll_of_the_same_changes_record_each_once() {
    let world = world(
        3,
        roomy(),
        Channels {
            webhook: true,
            rest_poll: true,
        },
    );
    let (_running, server) = start(&world).await;
    paged(&world).await;
    for name in &world.names {
        user(&world, TENANT, UserAction::Acknowledge, name);
        let note = UserAction::Annotate {
            text: "On my way".into(),
        };
        user(&world, TENANT, note, name);
        user(&world, TENANT, UserAction::Close, name);
    }
    let counts = quiet(&world, Duration::from_secs(60)).await;
    for (name, (ours, analysts, notes, status, signls)) in world.names.iter().zip(&counts.incidents)
    {
        let actions: Vec<Signl4Action> = recorded_actions(&world, name)
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert_eq!(actions.len(), 3, "{name}: {actions:?}");
        assert!(actions.contains(&Signl4Action::Closed));
        assert_eq!(
            (*ours, *analysts, *notes, status.as_str(), signls.as_slice()),
            (3, 0, 1, "Closed", &[4u8][..]),
            "{name}"
        );
    }
    server.unwrap().stop(true).await;
}

#[actix_rt::test]
async fn rest_polling_alone_brings_every_change_to_sentinel() {
    let world = world(
        2,
        roomy(),
        Channels {
            webhook: false,
            rest_poll: true,
        },
    );
    let (_running, _) = start(&world).await;
    paged(&world).await;
    let (first, second) = (&world.names[0], &world.names[1]);
    user(&world, TENANT, UserAction::Acknowledge, first);
    let note = UserAction::Annotate {
        text: "Looking into it".into(),
    };
    user(&world, TENANT, note, first);
    user(&world, TENANT, UserAction::Close, second);
    let counts = quiet(&world, Duration::from_secs(60)).await;
    assert_eq!(counts.incidents[0].3, "Active");
    assert_eq!(counts.incidents[1].3, "Closed");
    let comments = world.sandbox.control().comments(TENANT, first).unwrap();
    let texts: Vec<&str> = comments
        .iter()
        .map(|c| c["properties"]["message"].as_str().unwrap())
        .collect();
    let alice = &world.sandbox.control().tenants()[0].users[0];
    assert_eq!(
        texts,
        vec![
            format!("Acknowledged in SIGNL4 by {} ({}).", alice.name, alice.mail),
            format!(
                "{} ({}) via SIGNL4: Looking into it",
                alice.name, alice.mail
            ),
        ]
    );
    let incident = world.sandbox.control().incident(TENANT, first).unwrap();
    assert_eq!(
        incident["properties"]["owner"]["userPrincipalName"],
        alice.mail.as_str()
    );
    // No outbound webhook was ever delivered: every change came through REST.
    assert!(world
        .sandbox
        .control()
        .outbound()
        .iter()
        .all(|r| r.deliveries == 0));
}

#[actix_rt::test]
async fn duplicated_and_out_of_order_deliveries_and_a_409_storm_change_sentinel_once() {
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: true,
            rest_poll: false,
        },
    );
    let (_running, server) = start(&world).await;
    paged(&world).await;
    let control = world.sandbox.control();
    let fault = |kind: FaultKind, service: Service, times: u32| FaultSpec {
        service,
        kind,
        times: Some(times),
        probability: None,
        path_contains: None,
        method: None,
    };
    // The acknowledge is held back until the close went out, and both arrive twice; every
    // incident write meets stale etags first.
    control.add_fault(fault(FaultKind::OutOfOrder, Service::Outbound, 1));
    control.add_fault(fault(FaultKind::Duplicate, Service::Outbound, 4));
    control.add_fault(FaultSpec {
        method: Some("PUT".into()),
        path_contains: Some("/incidents/".into()),
        ..fault(
            FaultKind::Status {
                status: 409,
                retry_after: None,
            },
            Service::Sentinel,
            5,
        )
    });
    let name = &world.names[0];
    user(&world, TENANT, UserAction::Acknowledge, name);
    user(&world, TENANT, UserAction::Close, name);
    let counts = quiet(&world, Duration::from_secs(60)).await;
    let (ours, _, _, status, _) = &counts.incidents[0];
    assert_eq!(status, "Closed");
    assert_eq!(
        *ours, 2,
        "one comment for the acknowledge, one for the close"
    );
    let actions: Vec<Signl4Action> = recorded_actions(&world, name)
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        vec![Signl4Action::Closed, Signl4Action::Acknowledged]
    );
    let incident = control.incident(TENANT, name).unwrap();
    assert_eq!(incident["properties"]["classification"], "Undetermined");
    let history = control.incident_history(TENANT, name).unwrap();
    let status_changes = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["what"].as_str().unwrap_or("").contains("status"))
        .count();
    assert_eq!(
        status_changes, 1,
        "closed once, never set Active after: {history}"
    );
    assert!(
        control.faults().iter().all(|f| f.fired > 0),
        "every fault fired"
    );
    server.unwrap().stop(true).await;
}

#[test]
fn a_restart_between_the_put_and_its_outcome_ends_with_one_comment_and_one_status_change() {
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: false,
            rest_poll: false,
        },
    );
    let name = world.names[0].clone();
    actix_rt::System::new().block_on(async {
        let _running = start(&world).await;
        paged(&world).await;
    });
    // A SIGNL4 user acknowledges; the connector records the notification with its intents,
    // performs the PUT, and dies before recording the outcome.
    let control = world.sandbox.control();
    let alice = control.tenants()[0].users[0].clone();
    let signl = signl_of(&world, &name).unwrap();
    control
        .user_action(TENANT, &signl, None, UserAction::Acknowledge)
        .unwrap();
    let settings = world.config.connectors[0].settings();
    let tenant = settings.tenant();
    let incident = IncidentKey::from_source_id(&name);
    let notification = Notification {
        id: "dd209a2d-e037-41ee-b37d-f605cc0a39fb".into(),
        signl_id: signl.clone(),
        external_id: Some(store::ids::external_id(tenant, incident)),
        action: Signl4Action::Acknowledged,
        user_email: Some(alice.mail.clone()),
        user_name: Some(alice.name.clone()),
        user_id: Some(alice.id.clone()),
        annotation_id: None,
        raised_at_ms: 0,
    };
    let effects = world.store.read(|p| {
        write_back_effects(
            &settings.sync,
            p.incident(tenant, incident).unwrap(),
            &notification,
        )
    });
    assert!(matches!(effects[0], Effect::AcknowledgeIncident { .. }));
    assert!(matches!(effects[1], Effect::WriteComment { .. }));
    let mut batch = vec![Execution::incident(
        tenant,
        incident,
        Command::RecordSignl4Action(Signl4ActionReceived {
            notification_id: notification.id.clone(),
            signl_id: signl.clone(),
            action: Signl4Action::Acknowledged,
            user_email: notification.user_email.clone(),
            user_name: notification.user_name.clone(),
            raised_at_ms: 0,
        }),
    )
    .with_inbox_key(inbox(
        InboxSource::Signl4Change,
        tenant,
        notification.change_key().as_bytes(),
    ))];
    batch.extend(
        effects
            .iter()
            .map(|e| Execution::incident(tenant, incident, Command::Request(e.clone()))),
    );
    world.store.execute_many_blocking(batch).unwrap();
    // The PUT happened remotely (the way the connector makes it: read, change, PUT).
    let mut current = control.incident(TENANT, &name).unwrap();
    let mut properties = current["properties"].take();
    properties["status"] = json!("Active");
    properties["owner"] = json!({"userPrincipalName": alice.mail});
    let etag = current["etag"].clone();
    actix_rt::System::new().block_on(async {
        let sentinel = sentinel_client(&world);
        let body = json!({"etag": etag, "properties": properties});
        sentinel
            .put_incident(&name, &body, uuid::Uuid::new_v4())
            .await
            .unwrap();
    });
    let world = world.reopen();
    world.sandbox.control().clear_requests();
    actix_rt::System::new().block_on(async {
        let _running = start(&world).await;
        quiet(&world, Duration::from_secs(60)).await;
    });
    let control = world.sandbox.control();
    let comments = control.comments(TENANT, &name).unwrap();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(
        comments[0]["properties"]["message"],
        format!("Acknowledged in SIGNL4 by {} ({}).", alice.name, alice.mail)
    );
    // The reconcile starts from the log's last observation (no read first): its PUT carries
    // that stale etag, is refused with a 409, and the fresh read finds the work done. So at most
    // one refused PUT, and no incident write that went through.
    let puts: Vec<u16> = control
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && !r.path.contains("/comments/"))
        .map(|r| r.status)
        .collect();
    assert!(
        puts.iter().all(|s| *s == 409) && puts.len() <= 1,
        "the reconcile did not write the incident again: {puts:?}"
    );
    let history = control.incident_history(TENANT, &name).unwrap();
    let to_active = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["what"].as_str().unwrap_or("").contains("Active"))
        .count();
    assert_eq!(to_active, 1, "{history}");
    let outcomes: Vec<EffectResult> = world
        .store
        .log()
        .incident_events(tenant, incident)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::EffectSucceeded(s) => Some(s.result),
            _ => None,
        })
        .collect();
    assert!(
        outcomes.iter().any(
            |r| matches!(r, EffectResult::AlreadyDone { detail } if detail.contains("Active"))
        ),
        "{outcomes:?}"
    );
}

fn sentinel_client(world: &World) -> sentinel_signl4::http::sentinel::SentinelClient {
    use sentinel_signl4::http::sentinel::{SentinelClient, SentinelSettings};
    use sentinel_signl4::http::token::AzureCredentials;
    let info = &world.sandbox.control().tenants()[0];
    let c = &world.config.connectors[0];
    let credentials = AzureCredentials::new(
        c.endpoints.authority_host.as_str().trim_end_matches('/'),
        info.tenant_id.clone(),
        info.client_id.clone(),
        sentinel_signl4::http::Secret::new(info.client_secret.clone()),
    );
    SentinelClient::new(
        &http(),
        SentinelSettings::new(
            credentials,
            c.endpoints.arm.as_str().trim_end_matches('/'),
            info.subscription_id.clone(),
            info.resource_group.clone(),
            info.workspace_name.clone(),
        ),
    )
}

/// One step of a simulated person on either side.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    UserAck,
    UserNote,
    UserClose,
    AnalystOwner,
    AnalystComment,
    AnalystClose,
}

/// What people do to one incident, one step per phase.
const SCRIPTS: [&[Step]; 6] = [
    &[Step::UserAck, Step::UserNote, Step::UserClose],
    &[Step::UserAck, Step::AnalystComment, Step::AnalystClose],
    &[
        Step::AnalystOwner,
        Step::AnalystComment,
        Step::UserNote,
        Step::UserClose,
    ],
    &[
        Step::UserNote,
        Step::AnalystComment,
        Step::AnalystComment,
        Step::AnalystClose,
    ],
    &[Step::UserClose],
    &[Step::AnalystComment, Step::UserAck, Step::AnalystClose],
];

fn act(world: &World, name: &str, step: Step, n: usize) {
    match step {
        Step::UserAck => user(world, TENANT, UserAction::Acknowledge, name),
        Step::UserNote => {
            let text = format!("note {n} from the phone");
            user(world, TENANT, UserAction::Annotate { text }, name)
        }
        Step::UserClose => user(world, TENANT, UserAction::Close, name),
        Step::AnalystOwner => analyst(
            world,
            name,
            AnalystAction {
                owner: Some(json!({"userPrincipalName": "ann@contoso.example"})),
                ..AnalystAction::default()
            },
        ),
        Step::AnalystComment => analyst(
            world,
            name,
            AnalystAction {
                comment: Some(format!("analyst note {n}")),
                ..AnalystAction::default()
            },
        ),
        Step::AnalystClose => analyst(
            world,
            name,
            AnalystAction {
                status: Some("Closed".into()),
                classification: Some("BenignPositive".into()),
                classification_reason: Some("SuspiciousButExpected".into()),
                ..AnalystAction::default()
            },
        ),
    }
}

#[actix_rt::test]
async fn a_round_of_users_and_analysts_on_both_sides_has_no_ping_pong() {
    let world = world(
        20,
        roomy(),
        Channels {
            webhook: true,
            rest_poll: true,
        },
    );
    // Our own resolves, acknowledges and annotations fire outbound webhooks back at us.
    assert!(world
        .sandbox
        .control()
        .with_world(|w| w.opts.signl4.outbound_for_api_changes));
    let (_running, server) = start(&world).await;
    paged(&world).await;
    // A fixed pseudo-random script per incident (a small LCG: reproducible, no dependency).
    let mut seed: u64 = 0x5eed;
    let scripts: Vec<&[Step]> = world
        .names
        .iter()
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            SCRIPTS[(seed >> 33) as usize % SCRIPTS.len()]
        })
        .collect();
    for script in SCRIPTS {
        assert!(
            scripts.contains(&script),
            "every script is played: {script:?}"
        );
    }
    let phases = scripts.iter().map(|s| s.len()).max().unwrap();
    for phase in 0..phases {
        for (n, (name, script)) in world.names.iter().zip(&scripts).enumerate() {
            if let Some(step) = script.get(phase) {
                act(&world, name, *step, n * 10 + phase);
            }
        }
        quiet(&world, Duration::from_secs(120)).await;
    }
    let settled = quiet(&world, Duration::from_secs(120)).await;
    for ((name, script), got) in world.names.iter().zip(&scripts).zip(&settled.incidents) {
        let count = |f: fn(&Step) -> bool| script.iter().filter(|s| f(s)).count();
        let user_changes = count(|s| matches!(s, Step::UserAck | Step::UserNote | Step::UserClose));
        let analyst_comments = count(|s| matches!(s, Step::AnalystComment));
        let user_notes = count(|s| matches!(s, Step::UserNote));
        let expected = (
            user_changes,
            analyst_comments,
            user_notes + analyst_comments,
            "Closed".to_string(),
            vec![4u8],
        );
        assert_eq!(got, &expected, "{name}: script {script:?}");
    }
    // And it stays so: several more polls change nothing.
    common::after_more_requests(
        &world.sandbox,
        "sentinel",
        "/incidents?",
        4,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(counts(&world), settled, "something kept growing");
    let report = world.verified();
    assert!(report.is_ok(), "{:?}", report.problems);
    let failures: Vec<_> = world
        .names
        .iter()
        .flat_map(|name| {
            let tenant = world.config.connectors[0].settings().tenant();
            world
                .store
                .log()
                .incident_events(tenant, IncidentKey::from_source_id(name))
                .unwrap()
        })
        .filter_map(|e| match e.event {
            Event::EffectFailed(f) => Some(f.reason),
            _ => None,
        })
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    server.unwrap().stop(true).await;
}

/// The Signls of one incident, oldest first (ids and statuses).
fn signls_of(world: &World, name: &str) -> Vec<(String, i64)> {
    let tenant = world.config.connectors[0].settings().tenant();
    let external = store::ids::external_id(tenant, IncidentKey::from_source_id(name));
    world
        .sandbox
        .control()
        .signls(TENANT)
        .unwrap()
        .iter()
        .filter(|s| s["externalId"] == external.as_str())
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["status"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The cause of the chaos run's "comment written 2 times: Acknowledged in SIGNL4 by Alice":
/// without an API key a Signl whose reply was lost is posted again, so one round has two
/// Signls; a user acknowledging and closing both must still leave one comment per action (and
/// change Sentinel once), since comment ids name the round and the user, not the Signl.
#[actix_rt::test]
async fn a_user_acting_on_two_signls_of_one_round_leaves_one_comment_per_action() {
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: true,
            rest_poll: false,
        },
    );
    let (_running, server) = start(&world).await;
    paged(&world).await;
    let name = world.names[0].clone();
    // The re-post of a Signl whose reply was lost: the same ExternalID, a second Signl.
    let tenant = world.config.connectors[0].settings().tenant();
    let external = store::ids::external_id(tenant, IncidentKey::from_source_id(&name));
    let url = world.config.connectors[0].signl4_webhook_url();
    let response = reqwest::Client::new()
        .post(url.expose())
        .json(&json!({"Title": "re-sent", "X-S4-ExternalID": external, "X-S4-Status": "new"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let signls = signls_of(&world, &name);
    assert_eq!(signls.len(), 2, "two Signls for one ExternalID: {signls:?}");
    for (id, _) in &signls {
        let control = world.sandbox.control();
        control
            .user_action(TENANT, id, None, UserAction::Acknowledge)
            .unwrap();
    }
    for (id, _) in &signls {
        let control = world.sandbox.control();
        control
            .user_action(TENANT, id, None, UserAction::Close)
            .unwrap();
    }
    let counts = quiet(&world, Duration::from_secs(60)).await;
    let actions = recorded_actions(&world, &name);
    assert_eq!(actions.len(), 4, "every change recorded: {actions:?}");
    let comments = world.sandbox.control().comments(TENANT, &name).unwrap();
    let texts: Vec<&str> = comments
        .iter()
        .map(|c| c["properties"]["message"].as_str().unwrap())
        .collect();
    let alice = &world.sandbox.control().tenants()[0].users[0];
    assert_eq!(
        texts,
        vec![
            format!("Acknowledged in SIGNL4 by {} ({}).", alice.name, alice.mail),
            format!("Closed in SIGNL4 by {} ({}).", alice.name, alice.mail),
        ],
        "one comment per action"
    );
    assert_eq!(counts.incidents[0].3, "Closed");
    server.unwrap().stop(true).await;
}

/// A 409 answers a stale etag, so the write reads again at once: no PUT is ever repeated with the
/// etag that was just refused (an end-to-end run saw one tag re-send the same etag 4-5 times
/// after a 503, delaying fresh pages behind it).
#[actix_rt::test]
async fn a_409_is_followed_by_a_fresh_read_never_by_the_same_put() {
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: false,
            rest_poll: false,
        },
    );
    let control = world.sandbox.control();
    let put_fault = |status: u16, times: u32| FaultSpec {
        service: Service::Sentinel,
        kind: FaultKind::Status {
            status,
            retry_after: None,
        },
        times: Some(times),
        probability: None,
        path_contains: Some("/incidents/".into()),
        method: Some("PUT".into()),
    };
    control.add_fault(put_fault(503, 1));
    control.add_fault(put_fault(409, 3));
    let (_running, _) = start(&world).await;
    paged(&world).await;
    assert!(
        control.faults().iter().all(|f| f.fired > 0),
        "every fault fired"
    );
    let name = world.names[0].to_ascii_lowercase();
    let calls: Vec<(String, u16)> = control
        .requests()
        .into_iter()
        .filter(|r| r.service == "sentinel" && r.path.to_ascii_lowercase().contains(&name))
        .filter(|r| !r.path.contains("/comments") && !r.path.contains("/alerts"))
        .filter(|r| !r.path.contains("/entities") && !r.path.contains("/relations"))
        .map(|r| (r.method, r.status))
        .collect();
    for pair in calls.windows(2) {
        if pair[0] == ("PUT".to_string(), 409) {
            assert_eq!(pair[1].0, "GET", "a read after every 409: {calls:?}");
        }
    }
    let puts = calls.iter().filter(|(m, _)| m == "PUT").count();
    assert_eq!(puts, 5, "503, three 409s, then the tag: {calls:?}");
}

/// Every event of the log's incidents.
fn incident_events(world: &World) -> Vec<Event> {
    let keys: Vec<(store::TenantId, IncidentKey)> = world
        .store
        .read(|p| p.incidents.values().map(|i| (i.tenant, i.key)).collect());
    keys.into_iter()
        .flat_map(|(tenant, key)| world.store.log().incident_events(tenant, key).unwrap())
        .map(|e| e.event)
        .collect()
}

/// The reasons of the intents the log holds as parked right now.
fn parked_reasons(world: &World) -> Vec<String> {
    world.store.read(|p| {
        p.incidents
            .values()
            .flat_map(|i| i.parked.values().cloned())
            .collect()
    })
}

fn create_incidents(world: &World, n: usize, prefix: &str) -> Vec<String> {
    (0..n)
        .map(|k| {
            let spec = IncidentSpec {
                title: format!("{prefix} {k}"),
                severity: "High".into(),
                ..IncidentSpec::default()
            };
            let incident = world
                .sandbox
                .control()
                .create_incident(TENANT, spec)
                .unwrap();
            incident["name"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Nothing failed for good: parked effects went through once the operator fixed the secret.
fn assert_nothing_failed_and_nothing_parked(world: &World) {
    let failures: Vec<String> = incident_events(world)
        .into_iter()
        .filter_map(|e| match e {
            Event::EffectFailed(f) => Some(f.reason),
            _ => None,
        })
        .collect();
    assert!(failures.is_empty(), "failed effects: {failures:?}");
    assert!(
        parked_reasons(world).is_empty(),
        "{:?}",
        parked_reasons(world)
    );
    let report = world.verified();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.parked.is_empty());
}

/// A tenant's client secret revoked during a burst of SIGNL4 actions and new incidents, then
/// restored: the write-backs and pages park (open, never failed), are listed as parked, and
/// every one goes through after the fix.
#[actix_rt::test]
async fn a_client_secret_revoked_during_a_burst_then_restored_loses_nothing() {
    use sandbox::control::Credential;
    let world = world(
        4,
        roomy(),
        Channels {
            webhook: true,
            rest_poll: false,
        },
    );
    let (_running, server) = start(&world).await;
    paged(&world).await;
    let control = world.sandbox.control();
    control.revoke(TENANT, Credential::ClientSecret).unwrap();
    let (acked, closed) = (&world.names[..2], &world.names[2..]);
    for name in acked {
        user(&world, TENANT, UserAction::Acknowledge, name);
    }
    for name in closed {
        user(&world, TENANT, UserAction::Close, name);
    }
    let fresh = create_incidents(&world, 2, "During the revocation");
    wait_until("write-backs parked", Duration::from_secs(30), || {
        parked_reasons(&world).len() >= 4
    })
    .await;
    let reasons = parked_reasons(&world);
    assert!(
        reasons.iter().all(|r| r.contains("authentication failed")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().all(|r| !r.contains("sbx~")),
        "no secret in a reason: {reasons:?}"
    );
    let report = world.verified();
    assert!(report.parked.len() >= 4, "verify lists them: {report:?}");
    control.restore(TENANT, Credential::ClientSecret).unwrap();
    wait_until(
        "every action written back and every new incident paged",
        Duration::from_secs(60),
        || {
            let status = |n: &str| {
                control.incident(TENANT, n).unwrap()["properties"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            };
            acked.iter().all(|n| status(n) == "Active")
                && closed.iter().all(|n| status(n) == "Closed")
                && fresh.iter().all(|n| signl_of(&world, n).is_some())
                && world.store.read(|p| p.open_effects().is_empty())
        },
    )
    .await;
    let counts = quiet(&world, Duration::from_secs(60)).await;
    for (ours, ..) in &counts.incidents {
        assert_eq!(*ours, 1, "one comment per action: {counts:?}");
    }
    assert_nothing_failed_and_nothing_parked(&world);
    server.unwrap().stop(true).await;
}

/// The SIGNL4 team secret unknown (404 code 3004) while incidents arrive and an analyst closes
/// a paged one: the pages and the resolve park, and go out once the secret is restored, each
/// Signl once.
#[actix_rt::test]
async fn an_unknown_team_secret_parks_pages_and_resolves_until_restored() {
    use sandbox::control::Credential;
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: false,
            rest_poll: false,
        },
    );
    let (_running, _) = start(&world).await;
    paged(&world).await;
    let control = world.sandbox.control();
    control.revoke(TENANT, Credential::TeamSecret).unwrap();
    let fresh = create_incidents(&world, 2, "While SIGNL4 refuses");
    analyst(
        &world,
        &world.names[0],
        AnalystAction {
            status: Some("Closed".into()),
            classification: Some("BenignPositive".into()),
            classification_reason: Some("SuspiciousButExpected".into()),
            classification_comment: Some("done".into()),
            ..AnalystAction::default()
        },
    );
    wait_until(
        "pages and the resolve parked",
        Duration::from_secs(30),
        || parked_reasons(&world).len() >= 3,
    )
    .await;
    assert!(fresh.iter().all(|n| signl_of(&world, n).is_none()));
    control.restore(TENANT, Credential::TeamSecret).unwrap();
    wait_until("paged and resolved", Duration::from_secs(60), || {
        fresh.iter().all(|n| signls_of(&world, n).len() == 1)
            && signls_of(&world, &world.names[0])
                .iter()
                .all(|(_, status)| *status == 4)
            && world.store.read(|p| p.open_effects().is_empty())
    })
    .await;
    for name in &fresh {
        assert_eq!(signls_of(&world, name).len(), 1, "paged once");
    }
    assert_nothing_failed_and_nothing_parked(&world);
}

fn signl4_fault(kind: FaultKind, path: &str, times: Option<u32>) -> FaultSpec {
    FaultSpec {
        service: Service::Signl4,
        kind,
        times,
        probability: None,
        path_contains: Some(path.into()),
        method: None,
    }
}

/// The results recorded for the pages of one incident.
fn page_results(world: &World, name: &str) -> Vec<String> {
    let tenant = world.config.connectors[0].settings().tenant();
    let events = world
        .store
        .log()
        .incident_events(tenant, IncidentKey::from_source_id(name))
        .unwrap();
    let pages: Vec<store::EffectId> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::EffectRequested(r) if matches!(r.effect, Effect::RaiseSignl { .. }) => {
                Some(r.effect_id)
            }
            _ => None,
        })
        .collect();
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::EffectSucceeded(s) if pages.contains(&s.effect_id) => {
                Some(format!("{:?}", s.result))
            }
            Event::EffectCancelled(c) if pages.contains(&c.effect_id) => {
                Some(format!("cancelled: {}", c.reason))
            }
            Event::EffectFailed(f) if pages.contains(&f.effect_id) => {
                Some(format!("failed: {}", f.reason))
            }
            _ => None,
        })
        .collect()
}

/// A page SIGNL4 processed but whose answer was lost (a 502 after handling, a reset after
/// handling) is never posted again in place: the reconcile finds it by ExternalID.
#[actix_rt::test]
async fn a_page_whose_answer_was_lost_is_found_not_sent_again() {
    let world = world(
        2,
        roomy(),
        Channels {
            webhook: false,
            rest_poll: false,
        },
    );
    let control = world.sandbox.control();
    control.add_fault(signl4_fault(
        FaultKind::StatusAfterHandling { status: 502 },
        "/webhook/",
        Some(1),
    ));
    control.add_fault(signl4_fault(
        FaultKind::ResetAfterHandling,
        "/webhook/",
        Some(1),
    ));
    let (_running, _) = start(&world).await;
    paged(&world).await;
    assert!(control.faults().iter().all(|f| f.fired == 1), "both fired");
    for name in &world.names {
        assert_eq!(signls_of(&world, name).len(), 1, "{name} paged once");
        let results = page_results(&world, name);
        assert_eq!(results.len(), 1, "{results:?}");
        assert!(results[0].contains("AlreadyDone"), "{results:?}");
    }
    assert_nothing_failed_and_nothing_parked(&world);
}

/// A Signl the on-call person closed before the lost page was settled exists all the same: the
/// reconcile counts it and pages nobody again.
#[actix_rt::test]
async fn a_lost_page_already_closed_by_the_on_call_person_is_not_raised_again() {
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: false,
            rest_poll: false,
        },
    );
    let control = world.sandbox.control();
    control.add_fault(signl4_fault(
        FaultKind::StatusAfterHandling { status: 500 },
        "/webhook/",
        Some(1),
    ));
    // The lookups fail until the Signl is closed.
    control.add_fault(signl4_fault(
        FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        "/alerts",
        None,
    ));
    let (_running, _) = start(&world).await;
    let name = world.names[0].clone();
    wait_until("the page reached SIGNL4", Duration::from_secs(30), || {
        signls_of(&world, &name).len() == 1
    })
    .await;
    let (signl, _) = signls_of(&world, &name).remove(0);
    control
        .user_action(TENANT, &signl, None, UserAction::Acknowledge)
        .unwrap();
    control
        .user_action(TENANT, &signl, None, UserAction::Close)
        .unwrap();
    control.clear_faults();
    wait_until("the page settled", Duration::from_secs(30), || {
        world.store.read(|p| p.open_effects().is_empty())
    })
    .await;
    assert_eq!(
        signls_of(&world, &name),
        vec![(signl, 4)],
        "not raised again"
    );
    let results = page_results(&world, &name);
    assert!(
        results.len() == 1 && results[0].contains("AlreadyDone"),
        "{results:?}"
    );
}

/// SIGNL4 unreachable while the analyst closes the incident: the open page is cancelled (and
/// recorded as such) instead of paging on-call for a closed incident once SIGNL4 is back.
#[actix_rt::test]
async fn signl4_unreachable_while_the_analyst_closes_leaves_no_signl() {
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: false,
            rest_poll: false,
        },
    );
    let control = world.sandbox.control();
    control.add_fault(FaultSpec {
        service: Service::Signl4,
        kind: FaultKind::Reset,
        times: None,
        probability: None,
        path_contains: None,
        method: None,
    });
    let (_running, _) = start(&world).await;
    let name = world.names[0].clone();
    let tenant = world.config.connectors[0].settings().tenant();
    let key = IncidentKey::from_source_id(&name);
    wait_until("the page asked for", Duration::from_secs(30), || {
        world.store.read(|p| {
            p.incident(tenant, key)
                .is_some_and(|i| !i.open_effects.is_empty())
        })
    })
    .await;
    analyst(
        &world,
        &name,
        AnalystAction {
            status: Some("Closed".into()),
            classification: Some("FalsePositive".into()),
            classification_reason: Some("IncorrectAlertLogic".into()),
            classification_comment: Some("noise".into()),
            ..AnalystAction::default()
        },
    );
    wait_until("the close observed", Duration::from_secs(30), || {
        world.store.read(|p| {
            p.incident(tenant, key)
                .is_some_and(|i| i.closed_in_sentinel())
        })
    })
    .await;
    control.clear_faults();
    wait_until("the page settled", Duration::from_secs(30), || {
        world.store.read(|p| p.open_effects().is_empty())
    })
    .await;
    assert!(
        signls_of(&world, &name)
            .iter()
            .all(|(_, status)| *status == 4),
        "no Signl left open: {:?}",
        signls_of(&world, &name)
    );
    assert!(signls_of(&world, &name).is_empty(), "nobody was paged");
    let results = page_results(&world, &name);
    assert!(
        results.len() == 1 && results[0].starts_with("cancelled"),
        "{results:?}"
    );
    assert_nothing_failed_and_nothing_parked(&world);
}

/// The lost hand-off of issue #16: an analyst's close recorded in the log without the resolve it
/// implies (a crash between the observation's commit and the intent's, as older builds had
/// it). Later polls see the same etag and record nothing, so only the state can tell: the
/// reconcile resolves the Signl from it.
#[test]
fn a_close_recorded_without_its_resolve_is_resolved_by_the_reconcile() {
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: false,
            rest_poll: false,
        },
    );
    let name = world.names[0].clone();
    actix_rt::System::new().block_on(async {
        let _running = start(&world).await;
        paged(&world).await;
    });
    analyst(
        &world,
        &name,
        AnalystAction {
            status: Some("Closed".into()),
            classification: Some("TruePositive".into()),
            classification_reason: Some("SuspiciousActivity".into()),
            classification_comment: Some("handled".into()),
            ..AnalystAction::default()
        },
    );
    let settings = world.config.connectors[0].settings();
    let tenant = settings.tenant();
    let incident = IncidentKey::from_source_id(&name);
    let record = actix_rt::System::new().block_on(async {
        use actors::ports::IncidentSource;
        sentinel_client(&world).get_incident(&name).await.unwrap()
    });
    let observation = actors::observation::observed(&record, settings.source);
    world
        .store
        .execute_blocking(Execution::incident(
            tenant,
            incident,
            Command::Observe(observation),
        ))
        .unwrap();
    assert!(world
        .store
        .read(|p| p.incident(tenant, incident).unwrap().closed_in_sentinel()));
    assert_eq!(signls_of(&world, &name)[0].1, 1, "still open");
    actix_rt::System::new().block_on(async {
        let _running = start(&world).await;
        wait_until("the Signl resolved", Duration::from_secs(30), || {
            signls_of(&world, &name)
                .iter()
                .all(|(_, status)| *status == 4)
        })
        .await;
        quiet(&world, Duration::from_secs(60)).await;
    });
    let resolves = world
        .store
        .log()
        .incident_events(tenant, incident)
        .unwrap()
        .into_iter()
        .filter(|e| {
            matches!(&e.event, Event::EffectRequested(r) if matches!(r.effect, Effect::ResolveSignl { .. }))
        })
        .count();
    assert_eq!(resolves, 1);
}

/// The resolve an analyst's close implies is recorded in the same commit as the observation
/// of the close (adjacent in the log, one correlation), so no crash can separate them.
#[actix_rt::test]
async fn an_analysts_close_and_its_resolve_are_recorded_together() {
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: false,
            rest_poll: false,
        },
    );
    let (_running, _) = start(&world).await;
    paged(&world).await;
    let name = world.names[0].clone();
    analyst(
        &world,
        &name,
        AnalystAction {
            status: Some("Closed".into()),
            classification: Some("TruePositive".into()),
            classification_reason: Some("SuspiciousActivity".into()),
            classification_comment: Some("handled".into()),
            ..AnalystAction::default()
        },
    );
    wait_until("the Signl resolved", Duration::from_secs(30), || {
        signls_of(&world, &name)
            .iter()
            .all(|(_, status)| *status == 4)
    })
    .await;
    quiet(&world, Duration::from_secs(60)).await;
    let tenant = world.config.connectors[0].settings().tenant();
    let events = world
        .store
        .log()
        .incident_events(tenant, IncidentKey::from_source_id(&name))
        .unwrap();
    let closed = events
        .iter()
        .find(|e| matches!(e.event, Event::ClosedInSentinel(_)))
        .expect("close recorded");
    let resolve = events
        .iter()
        .find(|e| {
            matches!(&e.event, Event::EffectRequested(r) if matches!(r.effect, Effect::ResolveSignl { .. }))
        })
        .expect("resolve asked for");
    assert_eq!(resolve.seq, closed.seq + 1, "adjacent");
    assert_eq!(resolve.correlation, closed.correlation, "one commit's work");
}

/// Under a spent budget a tag yields (nothing sent, its intent left open), and the acknowledge
/// that follows carries the label: one incident PUT for both, started from what the connector
/// knew (no GET of the incident), the label in the sandbox, and the tag recorded done with the
/// acknowledge's outcome, not by a write of its own (issue #16: bursts of tags made
/// acknowledges wait five minutes).
#[actix_rt::test]
async fn a_pending_tag_folds_into_the_acknowledge_write() {
    let world = world(
        1,
        roomy(),
        Channels {
            webhook: true,
            rest_poll: false,
        },
    );
    let http = HttpContext::new(HttpSettings {
        budget: BudgetLimits {
            incident_writes: 5,
            comment_writes: 5,
            reads: 1000,
            window: Duration::from_secs(3600),
        },
        ..HttpSettings::for_tests()
    })
    .unwrap();
    // Given the window's first fifth already spent (one incident write of five)...
    let subscription = world.config.connectors[0].subscription_id.to_string();
    http.budget(&subscription)
        .acquire(sentinel_signl4::http::budget::CallClass::IncidentWrite)
        .await
        .unwrap();
    let running = start_connectors(&world.config, &world.store, &http)
        .await
        .unwrap();
    let token = world.config.connectors[0].webhook_token.as_ref().unwrap();
    let (server, address) =
        serve_webhooks(running.routes.clone(), ([127, 0, 0, 1], 0).into()).unwrap();
    let url = format!("http://{address}/signl4/{TENANT}/{}", token.expose());
    let control = world.sandbox.control();
    control.set_outbound_url(TENANT, Some(url)).unwrap();
    let name = world.names[0].clone();
    let tenant = world.config.connectors[0].settings().tenant();
    let key = IncidentKey::from_source_id(&name);
    let tag_open = || {
        world.store.read(|p| {
            p.incident(tenant, key).is_some_and(|i| {
                i.open_effects
                    .values()
                    .any(|e| matches!(e, Effect::TagIncident { .. }))
            })
        })
    };
    // ...when the incident is paged, its tag is asked for and left pending...
    wait_until(
        "the page and a pending tag",
        Duration::from_secs(30),
        || signl_of(&world, &name).is_some() && tag_open(),
    )
    .await;
    let lower = name.to_ascii_lowercase();
    let incident_calls = || -> Vec<String> {
        control
            .requests()
            .into_iter()
            .filter(|r| r.service == "sentinel" && r.path.to_ascii_lowercase().contains(&lower))
            .filter(|r| !r.path.contains("/comments") && !r.path.contains("/alerts"))
            .filter(|r| !r.path.contains("/entities") && !r.path.contains("/relations"))
            .map(|r| r.method)
            .collect()
    };
    assert!(incident_calls().is_empty(), "{:?}", incident_calls());
    // ...and then the on-call person acknowledges.
    user(&world, TENANT, UserAction::Acknowledge, &name);
    wait_until(
        "the acknowledge written back",
        Duration::from_secs(30),
        || {
            world.store.read(|p| p.open_effects().is_empty())
                && control
                    .incident(TENANT, &name)
                    .is_ok_and(|i| i["properties"]["status"] == "Active")
        },
    )
    .await;
    // Then one PUT carried both, with no read before it...
    assert_eq!(incident_calls(), vec!["PUT".to_string()]);
    let incident = control.incident(TENANT, &name).unwrap();
    let labels = incident["properties"]["labels"].as_array().unwrap().clone();
    assert!(
        labels.iter().any(|l| l["labelName"] == "SIGNL4"),
        "{labels:?}"
    );
    assert!(
        incident["properties"]["owner"]["userPrincipalName"].is_string(),
        "{incident}"
    );
    // ...and the tag was recorded done with it, once.
    let outcomes: Vec<String> = world
        .store
        .log()
        .incident_events(tenant, key)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::EffectSucceeded(s) => Some(format!("{:?}", s.result)),
            _ => None,
        })
        .collect();
    let folded = outcomes
        .iter()
        .filter(|o| o.contains("label written with a SIGNL4 write-back"))
        .count();
    assert_eq!(folded, 1, "{outcomes:?}");
    server.stop(true).await;
}
