//! Agent replies end to end in the messengers, with the built binary
//! (`--role all`, issue 16): a customer message becomes a ticket in the
//! simulator; the simulator's agent replies on it and delivers the signed
//! webhook; the text arrives once at the loopback stand-in of the
//! messenger's API, in the customer's conversation (a Telegram group as a
//! reply to the customer's message, a WhatsApp session message, a Slack
//! thread), with the comment's file. An internal note, intake's own comment
//! (written as the requester), a redelivery and a forged request send
//! nothing. The gateway SIGKILLed after answering the webhook but before
//! sending delivers once after its restart.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use common::{Backend, Intake, World, hmac_hex, metric_value, wait_for};
use intake_channel::testing::{SeenRequest, api_stand_in};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const HOOK_SECRET: &str = "e2e-zendesk-webhook-secret";
const AGENT_TEXT: &str = "Your parcel left the warehouse today.";
const FILE: (&str, &str) = ("label.pdf", "https://files.sim.test/label.pdf");

type Seen = Arc<Mutex<Vec<SeenRequest>>>;

/// The webhook section, acknowledgements off (only agent replies reach the stand-in).
const HOOK_SECTION: &str = r#"
[zendesk_webhook]
enabled = true
signing_secret_env = "E2E_HOOK_SECRET"
[acknowledgements]
enabled = false
retry_initial_backoff_ms = 200
retry_max_backoff_secs = 2
"#;

/// A stand-in answering every call with `answer`.
async fn stand_in(base_path: &str, answer: Value) -> (String, Seen) {
    api_stand_in(base_path, move |_, _| {
        axum::Json(answer.clone()).into_response()
    })
    .await
}

async fn post(world: &World, path: &str, body: &[u8], headers: &[(&str, String)]) -> u16 {
    let mut request = reqwest::Client::new()
        .post(world.url(path))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .timeout(Duration::from_secs(20));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request
        .send()
        .await
        .expect("gateway answers")
        .status()
        .as_u16()
}

/// Posts a webhook body signed with `secret`, as Zendesk would.
async fn post_webhook(world: &World, body: &str, secret: &str) -> u16 {
    let timestamp = chrono::Utc::now().to_rfc3339();
    let signature = intake_zendesk_sim::webhooks::sign(secret, &timestamp, body.as_bytes());
    let headers = [
        ("x-zendesk-webhook-signature-timestamp", timestamp),
        ("x-zendesk-webhook-signature", signature),
    ];
    post(world, "/v1/zendesk/events", body.as_bytes(), &headers).await
}

async fn register_webhook(world: &World) {
    world
        .sim_admin(
            reqwest::Method::POST,
            "/admin/webhooks",
            Some(json!({"url": world.url("/v1/zendesk/events"), "signing_secret": HOOK_SECRET})),
        )
        .await;
}

async fn agent_reply(world: &World, ticket_id: u64, body: Value) -> Value {
    world
        .sim_admin(
            reqwest::Method::POST,
            &format!("/admin/tickets/{ticket_id}/agent_reply"),
            Some(body),
        )
        .await
}

fn count(seen: &Seen, matches: impl Fn(&SeenRequest) -> bool) -> usize {
    seen.lock().unwrap().iter().filter(|r| matches(r)).count()
}

fn skipped(metrics: &str, reason: &str) -> Option<f64> {
    metric_value(
        metrics,
        "intake_agent_replies_skipped_total",
        &[("reason", reason)],
    )
}

/// The ticket's first ticket id once the router made it.
async fn the_ticket(world: &World) -> u64 {
    world.wait_tickets(1, WAIT).await[0]["id"].as_u64().unwrap()
}

/// The checks every channel shares, once the agent's reply was delivered
/// (`delivered` counts the stand-in's requests carrying it): an internal
/// note, intake's own comment, a redelivery and a forged request send
/// nothing more.
async fn nothing_more_is_sent(world: &World, ticket_id: u64, channel: &str, reply: &Value) {
    let payload = reply["payload"].clone();
    agent_reply(
        world,
        ticket_id,
        json!({"body": "note: check the warehouse", "public": false}),
    )
    .await;
    let mut own = payload.clone();
    own["comment_id"] = json!("990001");
    own["author_id"] = own["requester_id"].clone();
    assert_eq!(
        post_webhook(world, &own.to_string(), HOOK_SECRET).await,
        200
    );
    assert_eq!(
        post_webhook(world, &payload.to_string(), HOOK_SECRET).await,
        200
    );
    let mut forged = payload.clone();
    forged["comment_id"] = json!("990002");
    assert_eq!(
        post_webhook(world, &forged.to_string(), "not the secret").await,
        401
    );
    wait_for(
        "note, own comment, duplicate and forgery counted",
        async || {
            let metrics = world.metrics().await;
            skipped(&metrics, "internal_note") == Some(1.0)
                && skipped(&metrics, "own_comment") == Some(1.0)
                && skipped(&metrics, "duplicate") == Some(1.0)
                && metric_value(
                    &metrics,
                    "intake_zendesk_webhooks_rejected_total",
                    &[("reason", "bad_signature")],
                ) == Some(1.0)
                && metric_value(
                    &metrics,
                    "intake_agent_replies_sent_total",
                    &[("channel", channel)],
                ) == Some(1.0)
        },
    )
    .await;
}

const TELEGRAM_TOKEN: &str = "4242:e2e-token";
const TELEGRAM_SECRET: &str = "e2e-telegram-webhook-secret";
const GROUP: i64 = -1001234567890;

fn telegram_section(api: &str) -> String {
    format!(
        r#"
[channels.telegram]
enabled = true
bot = "support"
bot_username = "intake_support_bot"
token_env = "E2E_TELEGRAM_TOKEN"
secret_token_env = "E2E_TELEGRAM_SECRET"
api_base_url = "{api}"
{HOOK_SECTION}"#
    )
}

const TELEGRAM_ENV: [(&str, &str); 3] = [
    ("E2E_TELEGRAM_TOKEN", TELEGRAM_TOKEN),
    ("E2E_TELEGRAM_SECRET", TELEGRAM_SECRET),
    ("E2E_HOOK_SECRET", HOOK_SECRET),
];

/// A customer's message in the support group.
async fn telegram_group_message(world: &World, message_id: i64) {
    let update = json!({"update_id": 910000 + message_id, "message": {
        "message_id": message_id, "date": 1764590000, "text": "@intake_support_bot where is my order?",
        "from": {"id": 111222333, "is_bot": false, "first_name": "Anna"},
        "chat": {"id": GROUP, "title": "ACME support", "type": "supergroup"}}});
    let secret = [(
        "x-telegram-bot-api-secret-token",
        TELEGRAM_SECRET.to_owned(),
    )];
    let body = serde_json::to_vec(&update).unwrap();
    assert_eq!(
        post(world, "/v1/telegram/support", &body, &secret).await,
        200
    );
}

fn is_telegram_reply(request: &SeenRequest) -> bool {
    request.path.ends_with("/sendMessage") && request.body["text"] == AGENT_TEXT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reply_reaches_the_telegram_group_as_a_reply_once() {
    let sent = json!({"ok": true, "result": {"message_id": 501}});
    let (api, seen) = stand_in("/", sent).await;
    let world = World::with_sim(
        Backend::Embedded,
        None,
        Default::default(),
        &telegram_section(&api),
    )
    .await;
    let mut intake = Intake::spawn_with_env(&world.config_path, "all", &TELEGRAM_ENV);
    world.wait_ready(&mut intake).await;
    register_webhook(&world).await;

    telegram_group_message(&world, 77).await;
    let ticket_id = the_ticket(&world).await;
    let reply = agent_reply(
        &world,
        ticket_id,
        json!({"body": AGENT_TEXT, "attachments": [{"file_name": FILE.0, "url": FILE.1}]}),
    )
    .await;
    wait_for("the reply and its file at the Bot API", async || {
        count(&seen, is_telegram_reply) == 1
            && count(&seen, |r| r.path.ends_with("/sendDocument")) == 1
    })
    .await;
    nothing_more_is_sent(&world, ticket_id, "telegram", &reply).await;
    intake.terminate(Duration::from_secs(30)).await;

    let seen = seen.lock().unwrap().clone();
    let message = seen.iter().find(|r| is_telegram_reply(r)).unwrap();
    assert_eq!(message.path, format!("/bot{TELEGRAM_TOKEN}/sendMessage"));
    assert_eq!(message.body["chat_id"], GROUP.to_string());
    assert_eq!(
        message.body["reply_parameters"]["message_id"], 77,
        "a reply to the customer's message: {:?}",
        message.body
    );
    let document = seen
        .iter()
        .find(|r| r.path.ends_with("/sendDocument"))
        .unwrap();
    assert_eq!(document.body["document"], FILE.1);
    assert_eq!(
        seen.iter().filter(|r| is_telegram_reply(r)).count(),
        1,
        "exactly once: {seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_killed_before_sending_delivers_the_reply_once_after_a_restart() {
    let sent = json!({"ok": true, "result": {"message_id": 502}});
    let (api, seen) = stand_in("/", sent).await;
    let world = World::with_sim(
        Backend::Embedded,
        None,
        Default::default(),
        &telegram_section(&api),
    )
    .await;
    let mut intake = world.spawn_env("all", Some("replies.before_send"), &TELEGRAM_ENV);
    world.wait_ready(&mut intake).await;
    register_webhook(&world).await;
    telegram_group_message(&world, 78).await;
    let ticket_id = the_ticket(&world).await;
    agent_reply(&world, ticket_id, json!({"body": AGENT_TEXT})).await;
    intake
        .wait_output("crashpoint reached: replies.before_send", WAIT)
        .await;
    intake.kill();
    assert_eq!(
        count(&seen, is_telegram_reply),
        0,
        "nothing sent before the crash"
    );

    let mut intake = world.spawn_env("all", None, &TELEGRAM_ENV);
    world.wait_ready(&mut intake).await;
    wait_for("the resumed reply at the Bot API", async || {
        count(&seen, is_telegram_reply) == 1
    })
    .await;
    wait_for("the reply recorded sent", async || {
        metric_value(
            &world.metrics().await,
            "intake_agent_replies_sent_total",
            &[("channel", "telegram")],
        ) == Some(1.0)
    })
    .await;
    intake.terminate(Duration::from_secs(30)).await;
    assert_eq!(count(&seen, is_telegram_reply), 1, "once");
}

const WA_SECRET: &str = "e2e-meta-app-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reply_reaches_whatsapp_as_a_session_message_with_its_file_once() {
    let sent = json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.AGENT"}]});
    let (api, seen) = stand_in("/v21.0/", sent).await;
    let section = format!(
        r#"
[channels.whatsapp]
enabled = true
app_secret_env = "E2E_WA_APP_SECRET"
verify_token_env = "E2E_WA_VERIFY"
access_token_env = "E2E_WA_TOKEN"
api_base_url = "{api}"
reply_template_name = "agent_reply"
{HOOK_SECTION}"#
    );
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &section).await;
    let env = [
        ("E2E_WA_APP_SECRET", WA_SECRET),
        ("E2E_WA_VERIFY", "e2e-verify"),
        ("E2E_WA_TOKEN", "e2e-graph-token"),
        ("E2E_HOOK_SECRET", HOOK_SECRET),
    ];
    let mut intake = Intake::spawn_with_env(&world.config_path, "all", &env);
    world.wait_ready(&mut intake).await;
    register_webhook(&world).await;

    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Anna"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": "wamid.AGENT-1", "timestamp": "1764590000",
                          "type": "text", "text": {"body": "Payment failed twice"}}]}}]}]})
    .to_string()
    .into_bytes();
    let signature = format!("sha256={}", hmac_hex(WA_SECRET, &[&body]));
    let signed = [("x-hub-signature-256", signature)];
    assert_eq!(post(&world, "/v1/whatsapp", &body, &signed).await, 200);
    let ticket_id = the_ticket(&world).await;
    let reply = agent_reply(
        &world,
        ticket_id,
        json!({"body": AGENT_TEXT, "attachments": [{"file_name": FILE.0, "url": FILE.1}]}),
    )
    .await;
    let is_reply = |r: &SeenRequest| r.body["text"]["body"] == AGENT_TEXT;
    wait_for("the session message and the document", async || {
        count(&seen, is_reply) == 1 && count(&seen, |r| r.body["type"] == "document") == 1
    })
    .await;
    nothing_more_is_sent(&world, ticket_id, "whatsapp", &reply).await;
    intake.terminate(Duration::from_secs(30)).await;

    let seen = seen.lock().unwrap().clone();
    let message = seen.iter().find(|r| is_reply(r)).unwrap();
    assert_eq!(message.path, "/v21.0/106540352242922/messages");
    assert_eq!(message.body["to"], "16505551234");
    assert_eq!(message.body["type"], "text", "inside the 24-hour window");
    let document = seen.iter().find(|r| r.body["type"] == "document").unwrap();
    assert_eq!(document.body["document"]["link"], FILE.1);
    assert_eq!(seen.iter().filter(|r| is_reply(r)).count(), 1, "{seen:#?}");
    assert!(
        seen.iter().all(|r| r.body["type"] != "template"),
        "no template inside the window"
    );
}

const SLACK_SECRET: &str = "e2e-slack-signing-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reply_reaches_the_slack_thread_once() {
    let (api, seen) = stand_in("/api/", json!({"ok": true, "ts": "1764590200.000100"})).await;
    let section = format!(
        r#"
[channels.slack]
enabled = true
signing_secret_env = "E2E_SLACK_SIGNING"
bot_token_env = "E2E_SLACK_BOT"
api_base_url = "{api}"
support_channels = ["C0SUPPORT"]
{HOOK_SECTION}"#
    );
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &section).await;
    let env = [
        ("E2E_SLACK_SIGNING", SLACK_SECRET),
        ("E2E_SLACK_BOT", "xoxb-e2e"),
        ("E2E_HOOK_SECRET", HOOK_SECRET),
    ];
    let mut intake = Intake::spawn_with_env(&world.config_path, "all", &env);
    world.wait_ready(&mut intake).await;
    register_webhook(&world).await;

    let ts = "1764590000.000100";
    let body = json!({"token": "x", "team_id": "T0E2E", "api_app_id": "A0E2E",
        "event": {"type": "message", "user": "U0ANNA", "text": "VPN drops every hour", "ts": ts,
                  "channel": "C0SUPPORT", "channel_type": "channel", "event_ts": ts},
        "type": "event_callback", "event_id": "Ev0AGENT", "event_time": 1764590000,
        "authorizations": [{"team_id": "T0E2E", "user_id": "U0INTAKE", "is_bot": true}]})
    .to_string()
    .into_bytes();
    let now = chrono::Utc::now().timestamp().to_string();
    let signature = format!(
        "v0={}",
        hmac_hex(SLACK_SECRET, &[b"v0:", now.as_bytes(), b":", &body])
    );
    let headers = [
        ("x-slack-request-timestamp", now),
        ("x-slack-signature", signature),
    ];
    assert_eq!(post(&world, "/v1/slack/events", &body, &headers).await, 200);
    let ticket_id = the_ticket(&world).await;
    let reply = agent_reply(
        &world,
        ticket_id,
        json!({"body": AGENT_TEXT, "attachments": [{"file_name": FILE.0, "url": FILE.1}]}),
    )
    .await;
    let with_link = format!("{AGENT_TEXT}\n{}: {}", FILE.0, FILE.1);
    let is_reply = |r: &SeenRequest| r.body["text"] == with_link.as_str();
    wait_for("the reply in the thread", async || {
        count(&seen, is_reply) == 1
    })
    .await;
    nothing_more_is_sent(&world, ticket_id, "slack", &reply).await;
    intake.terminate(Duration::from_secs(30)).await;

    let seen = seen.lock().unwrap().clone();
    let message = seen.iter().find(|r| is_reply(r)).unwrap();
    assert_eq!(message.path, "/api/chat.postMessage");
    assert_eq!(message.body["channel"], "C0SUPPORT");
    assert_eq!(message.body["thread_ts"], ts, "in the customer's thread");
    assert_eq!(seen.iter().filter(|r| is_reply(r)).count(), 1, "{seen:#?}");
}
