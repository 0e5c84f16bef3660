//! Tickets Zendesk created in its own channels (issue 16 point 6, decision
//! 54), end to end with the built binary on Kafka and PostgreSQL: `intake
//! zendesk setup` (twice: one webhook, two triggers) installs the trigger,
//! the simulator creates tickets "via e-mail" and "via the web widget" as
//! Zendesk's own channels would and delivers the trigger's signed webhook,
//! and the router applies the rulebook to the existing tickets:
//! - the customer whose earlier ticket agent X solved gets X (rule 4) with
//!   the note, in one update of that ticket (its audits);
//! - an invoice question goes to the sales group, and the sales Slack
//!   stand-in hears of it (rule 6);
//! - the support tickets' deadlines are watched (the 30-minute warning);
//! - a redelivered webhook and a replayed bus event change nothing;
//! - intake never creates a ticket (the simulator's count), an agent
//!   comment on such a ticket is not delivered (`zendesk_channel`), and a
//!   forged request is refused with 401 and does nothing.

mod common;

use std::time::Duration;

use axum::response::IntoResponse;
use base64::Engine as _;
use chrono::Utc;
use common::{Backend, Intake, World, kafka_brokers, metric_value, wait_for};
use hmac::{Hmac, Mac};
use intake_bus::{Record, cloudevent_headers};
use intake_channel::testing::{SeenRequest, api_stand_in};
use intake_event::{Contact, SCHEMA_ID, TicketEvent, ZendeskTicket};
use serde_json::{Value, json};
use sha2::Sha256;

const TAG_APPLIED: &str = "intake_zendesk_channel";

/// Runs `intake zendesk setup` (it ends by itself); its stdout.
fn setup(world: &World, env: &[(&str, &str)]) -> String {
    let config = world.config_path.display().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(["zendesk", "setup", "--config", &config])
        .env_remove("INTAKE_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("intake runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "setup failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The simulator's Zendesk API as the configured agent.
async fn api(world: &World, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let auth =
        base64::engine::general_purpose::STANDARD.encode("agent@intake-sim.test/token:sim-token");
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/api/v2/{path}", world.sim.base_url))
        .header("authorization", format!("Basic {auth}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().json().await.unwrap()
}

fn tags(ticket: &Value) -> Vec<String> {
    ticket["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A ticket "as Zendesk's own channel would" create it (the trigger fires).
async fn native(world: &World, via: &str, email: &str, subject: &str, body: &str) -> u64 {
    let created = world
        .sim_admin(
            reqwest::Method::POST,
            "/admin/tickets/native",
            Some(
                json!({"via": via, "requester_name": "Customer", "requester_email": email,
                "subject": subject, "body": body}),
            ),
        )
        .await;
    assert_eq!(
        created["triggered"], 1,
        "the created trigger fired: {created}"
    );
    created["ticket_id"].as_u64().unwrap()
}

/// Waits until intake marked ticket `id` applied; the ticket then.
async fn applied(world: &World, id: u64) -> Value {
    let mut ticket = Value::Null;
    wait_for(&format!("the rulebook on ticket {id}"), async || {
        ticket = api(world, reqwest::Method::GET, &format!("tickets/{id}"), None).await["ticket"]
            .clone();
        tags(&ticket).iter().any(|t| t == TAG_APPLIED)
    })
    .await;
    ticket
}

/// Posts `body` to the gateway's webhook route signed with `secret`.
async fn post_webhook(world: &World, secret: &str, body: &str) -> (u16, Value) {
    let timestamp = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(body.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let response = reqwest::Client::new()
        .post(world.url("/v1/zendesk/events"))
        .header("content-type", "application/json")
        .header("x-zendesk-webhook-signature-timestamp", timestamp)
        .header("x-zendesk-webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn created_body(ticket_id: u64, requester_id: u64) -> String {
    json!({"event": "ticket_created", "ticket_id": ticket_id.to_string(), "via": "Mail",
        "requester_id": requester_id.to_string(), "requester_email": "ann@example.test",
        "subject": "Printer", "description": "My printer is broken again"})
    .to_string()
}

fn posted_to(seen: &[SeenRequest], path: &str) -> Vec<SeenRequest> {
    seen.iter().filter(|r| r.path == path).cloned().collect()
}

async fn metric(world: &World, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric_value(&world.metrics().await, name, labels).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_zendesk_created_get_the_rules_once_and_no_second_ticket() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let store_dir = tempfile::tempdir().unwrap();
    let Some(store) = common::postgres::store_toml(store_dir.path()).await else {
        return;
    };
    let (slack, seen) = api_stand_in("/services/", |_, _| "ok".into_response()).await;
    let world = World::with_store(
        Backend::Kafka,
        Some(&brokers),
        Default::default(),
        "",
        Some(&store),
    )
    .await;
    let sim = world.sim.state();
    let group = sim.default_group_id();
    let agent_x = sim.create_user("Xenia Agent", "xenia@intake-sim.test", "agent");
    sim.add_membership(agent_x, group);
    let secret_file = world.path("zendesk-webhook-secret");
    std::fs::write(&secret_file, "placeholder").unwrap();
    let hook_file = world.path("sales-hook");
    std::fs::write(&hook_file, format!("{slack}T1/B1/sales")).unwrap();
    let extra = format!(
        r#"
[zendesk_webhook]
enabled = true
signing_secret_file = {secret_file:?}
public_base_url = "http://{http}"
[acknowledgements]
enabled = false
[sla_watch]
enabled = true
scan_interval_secs = 1
lease_ttl_secs = 3
[sla_watch.slack]
webhook_url_env = "SLA_SLACK_WEBHOOK_URL"
[rulebook.original_agent]
enabled = true
[[rulebook.departments]]
name = "sales"
group_id = {group}
keywords = ["invoice"]
slack_webhook_url_file = {hook_file:?}
"#,
        http = world.http,
    );
    let config = std::fs::read_to_string(&world.config_path).unwrap() + &extra;
    std::fs::write(&world.config_path, config).unwrap();

    let sla_hook = format!("{slack}T1/B1/sla");
    let env = [("SLA_SLACK_WEBHOOK_URL", sla_hook.as_str())];
    // Setup twice: one webhook, two triggers (comments; created tickets).
    let first = setup(&world, &env);
    assert_eq!(first.matches(": created").count(), 3, "{first}");
    let second = setup(&world, &env);
    assert_eq!(second.matches(": unchanged").count(), 3, "{second}");
    let webhooks = api(&world, reqwest::Method::GET, "webhooks", None).await;
    let triggers = api(&world, reqwest::Method::GET, "triggers", None).await;
    assert_eq!(webhooks["webhooks"].as_array().unwrap().len(), 1);
    let triggers = triggers["triggers"].as_array().unwrap().clone();
    assert_eq!(triggers.len(), 2, "{triggers:#?}");
    assert!(
        triggers
            .iter()
            .any(|t| t["conditions"]["all"][0]["field"] == "update_type"),
        "{triggers:#?}"
    );
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    // The configuration that consumes `<prefix>.events.zendesk` is valid.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(["check-config", "--role", "all", "--config"])
        .arg(&world.config_path)
        .env_remove("INTAKE_CONFIG")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(said.contains("configuration OK"), "{said}");

    let mut intake = Intake::spawn_with_env(&world.config_path, "all", &env);
    world.wait_ready(&mut intake).await;

    // The customer's first mail to Zendesk's own address: no rule fires,
    // the ticket is marked; then agent X solves it.
    let earlier = native(
        &world,
        "email",
        "ann@example.test",
        "Printer",
        "My printer is broken",
    )
    .await;
    let ticket = applied(&world, earlier).await;
    assert_eq!(ticket["assignee_id"], Value::Null, "{ticket:#}");
    assert_eq!(ticket["via"]["channel"], "email");
    api(
        &world,
        reqwest::Method::PUT,
        &format!("tickets/{earlier}"),
        Some(json!({"ticket": {"assignee_id": agent_x, "status": "solved"}})),
    )
    .await;

    // Her next mail goes to X (rule 4), noted, in one update.
    let again = native(
        &world,
        "email",
        "ann@example.test",
        "Printer again",
        "My printer is broken again",
    )
    .await;
    let ticket = applied(&world, again).await;
    assert_eq!(ticket["assignee_id"], agent_x, "{ticket:#}");
    let ticket_tags = tags(&ticket);
    assert!(
        ticket_tags.contains(&"intake_rule_original_agent".to_owned()),
        "{ticket_tags:?}"
    );
    assert!(
        ticket_tags.iter().any(|t| t == "intake_sla_email"),
        "the deadline by the via channel: {ticket_tags:?}"
    );
    let comments = api(
        &world,
        reqwest::Method::GET,
        &format!("tickets/{again}/comments"),
        None,
    )
    .await["comments"]
        .as_array()
        .unwrap()
        .clone();
    let notes: Vec<&Value> = comments.iter().filter(|c| c["public"] == false).collect();
    assert_eq!(notes.len(), 1, "{comments:#?}");
    let note = notes[0]["body"].as_str().unwrap();
    assert!(
        note.contains("Zendesk created this ticket itself (via email)"),
        "{note}"
    );
    assert!(note.contains("Xenia Agent"), "the note names X: {note}");

    // An invoice question through the web widget goes to sales (rule 6).
    let invoice = native(
        &world,
        "web_widget",
        "bob@example.test",
        "Invoice",
        "Please send the invoice for November",
    )
    .await;
    let ticket = applied(&world, invoice).await;
    assert_eq!(ticket["group_id"], group, "{ticket:#}");
    let ticket_tags = tags(&ticket);
    assert!(
        ticket_tags.contains(&"intake_department_sales".to_owned()),
        "{ticket_tags:?}"
    );
    wait_for("the sales department's Slack notice", async || {
        !posted_to(&seen.lock().unwrap(), "/services/T1/B1/sales").is_empty()
    })
    .await;
    let notices = posted_to(&seen.lock().unwrap(), "/services/T1/B1/sales");
    assert_eq!(notices.len(), 1, "{notices:?}");
    let text = notices[0].body["text"].as_str().unwrap();
    assert!(text.contains(&format!("ticket #{invoice}")), "{text}");

    // The two support tickets' deadlines are watched for the 30-minute
    // warning (a department's ticket is not, as on intake's own tickets).
    let email = [("policy", "email")];
    wait_for("both mail deadlines watched", async || {
        metric(&world, "intake_sla_watches_started_total", &email).await >= 2.0
    })
    .await;

    // Zendesk delivers the webhook again: nothing more.
    let requester = ticket_requester(&world, again).await;
    let (status, answer) = post_webhook(&world, &secret, &created_body(again, requester)).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    // The event itself replayed on the bus: the router finds it recorded.
    let duplicates = ("channel", "zendesk");
    let before = metric(&world, "intake_duplicates_suppressed_total", &[duplicates]).await;
    replay_on_bus(&world, again, requester).await;
    wait_for("the replayed event suppressed", async || {
        metric(&world, "intake_duplicates_suppressed_total", &[duplicates]).await > before
    })
    .await;
    let audits = api(
        &world,
        reqwest::Method::GET,
        &format!("tickets/{again}/audits"),
        None,
    )
    .await["audits"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(audits, 2, "the creation and intake's one update");

    // A forged request: 401, nothing recorded or handed on.
    let accepted = ("result", "accepted");
    let handed_on = metric(&world, "intake_zendesk_channel_tickets_total", &[accepted]).await;
    let (status, _) = post_webhook(&world, "not-the-secret", &created_body(9_999, requester)).await;
    assert_eq!(status, 401);
    assert_eq!(
        metric(&world, "intake_zendesk_channel_tickets_total", &[accepted]).await,
        handed_on
    );
    assert_eq!(handed_on, 3.0);

    // An agent's comment on such a ticket is Zendesk's to deliver.
    let reply = world
        .sim_admin(
            reqwest::Method::POST,
            &format!("/admin/tickets/{again}/agent_reply"),
            Some(json!({"body": "We are on it."})),
        )
        .await;
    assert_eq!(reply["triggered"], 1, "{reply}");
    wait_for("the agent comment skipped", async || {
        metric(
            &world,
            "intake_agent_replies_skipped_total",
            &[("reason", "zendesk_channel")],
        )
        .await
            == 1.0
    })
    .await;

    intake.terminate(Duration::from_secs(30)).await;
    // Intake never made a ticket of its own.
    let tickets = common::sim_tickets(&world.sim).await;
    assert_eq!(tickets.len(), 3, "{tickets:#?}");
    assert!(
        tickets.iter().all(|t| t["via"]["channel"] != "api"),
        "{tickets:#?}"
    );
}

async fn ticket_requester(world: &World, id: u64) -> u64 {
    api(world, reqwest::Method::GET, &format!("tickets/{id}"), None).await["ticket"]["requester_id"]
        .as_u64()
        .unwrap()
}

/// Puts the event the gateway published for ticket `id` on the bus again.
async fn replay_on_bus(world: &World, id: u64, requester_id: u64) {
    let contact = Contact {
        key: format!("zendesk:{requester_id}"),
        ..Contact::default()
    };
    let thread = format!("ticket:{id}");
    let mut event = TicketEvent::new("zendesk", &thread, contact, "again", Utc::now());
    event.conversation.thread_id = Some(thread.clone());
    event.zendesk_ticket = Some(ZendeskTicket {
        ticket_id: id,
        via: "email".into(),
        requester_id,
    });
    let bus = intake_bus::connect(world.bus_options()).await.unwrap();
    let topics = intake_bus::Topics::new(world.topic_prefix.clone());
    let record = Record {
        topic: topics.events("zendesk"),
        key: format!("thread:zendesk:{thread}"),
        payload: event.to_json(),
        headers: cloudevent_headers(
            &event.event_id.to_string(),
            "/intake/zendesk",
            SCHEMA_ID,
            event.received_at,
            None,
        ),
    };
    bus.publisher().publish(record).await.unwrap();
}
