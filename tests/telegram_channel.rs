//! The Telegram channel end to end, with the built binary: enabled by its
//! `[channels.telegram]` section, served by the gateway on
//! `/v1/telegram/<bot>`, routed and ticketed in the Zendesk simulator, and
//! acknowledged by `sendMessage` to a loopback stand-in of the Bot API
//! (which answers the first send 429 with `retry_after`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, Intake, World, wait_for};
use serde_json::{Value, json};

const SECRET: &str = "e2e-telegram-webhook-secret";
const TOKEN: &str = "4242:e2e-token";
const WAIT: Duration = Duration::from_secs(90);
const GROUP: i64 = -1001234567890;

#[derive(Default)]
struct BotApi {
    sent: Mutex<Vec<Value>>,
    calls: AtomicUsize,
}

/// The Bot API stand-in: `sendMessage` answers 429 (retry_after 1) once, then ok.
async fn start_bot_api(state: Arc<BotApi>) -> String {
    let app = axum::Router::new().route(
        &format!("/bot{TOKEN}/sendMessage"),
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let state = Arc::clone(&state);
            async move {
                if state.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    let answer = json!({"ok": false, "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1}});
                    return (
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        axum::Json(answer),
                    );
                }
                state.sent.lock().unwrap().push(body);
                let result =
                    json!({"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}});
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"ok": true, "result": result})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn section(api: &str) -> String {
    format!(
        r#"
[channels.telegram]
enabled = true
bot = "support"
bot_username = "intake_support_bot"
token_env = "E2E_TELEGRAM_TOKEN"
secret_token_env = "E2E_TELEGRAM_SECRET"
api_base_url = "{api}"
tags = ["telegram", "e2e"]
[acknowledgements.channels.telegram]
template_ru = "Ticket #{{{{ ticket_id }}}}."
template_en = "Ticket #{{{{ ticket_id }}}}."
"#
    )
}

fn private(update_id: i64, message_id: i64, user: i64, name: &str, text: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": message_id, "date": 1764590000, "text": text,
        "from": {"id": user, "is_bot": false, "first_name": name},
        "chat": {"id": user, "first_name": name, "type": "private"}}})
}

fn in_group(update_id: i64, message_id: i64, user: i64, name: &str, text: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": message_id, "date": 1764590000, "text": text,
        "from": {"id": user, "is_bot": false, "first_name": name},
        "chat": {"id": GROUP, "title": "ACME support", "type": "supergroup"}}})
}

async fn post(world: &World, update: &Value, secret: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(world.url("/v1/telegram/support"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(update).unwrap())
        .timeout(Duration::from_secs(20));
    if let Some(secret) = secret {
        request = request.header("x-telegram-bot-api-secret-token", secret);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_updates_become_tickets_once_and_the_customer_hears_back() {
    let bot = Arc::new(BotApi::default());
    let api = start_bot_api(Arc::clone(&bot)).await;
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &section(&api)).await;
    let env = [
        ("E2E_TELEGRAM_TOKEN", TOKEN),
        ("E2E_TELEGRAM_SECRET", SECRET),
    ];
    let mut intake = Intake::spawn_with_env(&world.config_path, "all", &env);
    world.wait_ready(&mut intake).await;

    // Wrong and missing secrets: 401, nothing on the bus.
    let first = private(900001, 42, 111222333, "Anna", "My order has not arrived");
    let forged_update = private(900009, 49, 111222333, "Anna", "forged message");
    let (status, forged) = post(&world, &forged_update, Some("not the secret")).await;
    assert_eq!(status, 401, "{forged}");
    let (status, missing) = post(&world, &forged_update, None).await;
    assert_eq!(status, 401, "{missing}");
    // /start: answered, no ticket.
    let start = private(900000, 41, 111222333, "Anna", "/start");
    let (status, ignored) = post(&world, &start, Some(SECRET)).await;
    assert_eq!(
        (status, ignored["reason"].as_str()),
        (200, Some("start")),
        "{ignored}"
    );

    // Signed, then redelivered by Telegram: one event id, one ticket.
    let (status, accepted) = post(&world, &first, Some(SECRET)).await;
    assert_eq!(status, 200, "{accepted}");
    let (status, again) = post(&world, &first, Some(SECRET)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["event_id"], accepted["event_id"]);

    // A group: two people, one conversation (the group's ticket).
    let mention = in_group(
        900002,
        310,
        111222333,
        "Anna",
        "@intake_support_bot the export fails",
    );
    let second = in_group(
        900003,
        311,
        777888999,
        "Oleg",
        "@intake_support_bot same for me",
    );
    let chatter = in_group(900004, 312, 777888999, "Oleg", "lunch at one?");
    for update in [&mention, &chatter] {
        let (status, body) = post(&world, update, Some(SECRET)).await;
        assert_eq!(status, 200, "{body}");
    }
    // The group ticket exists before the second person writes.
    let tickets = world.wait_tickets(2, WAIT).await;
    assert_eq!(tickets.len(), 2, "{tickets:#?}");
    let (status, body) = post(&world, &second, Some(SECRET)).await;
    assert_eq!(status, 200, "{body}");

    let group_ticket = |tickets: &[Value]| {
        tickets
            .iter()
            .find(|t| {
                t["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("export fails"))
            })
            .cloned()
    };
    wait_for(
        "the second person's comment on the group ticket",
        async || {
            let tickets = world.tickets().await;
            group_ticket(&tickets)
                .is_some_and(|t| t["comments"].as_array().map_or(0, Vec::len) >= 2)
        },
    )
    .await;
    let tickets = world.tickets().await;
    assert_eq!(
        tickets.len(),
        2,
        "the redelivery and the chatter made no ticket: {tickets:#?}"
    );
    let group = group_ticket(&tickets).unwrap();
    let authors: Vec<u64> = group["comments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["author_id"].as_u64())
        .collect();
    assert_eq!(authors.len(), 2, "{group:#}");
    assert_ne!(
        authors[0], authors[1],
        "two requesters in one conversation: {group:#}"
    );
    let private_ticket = tickets
        .iter()
        .find(|t| t["subject"] == "My order has not arrived");
    let private_ticket = private_ticket.expect("the private chat's ticket");
    assert_eq!(private_ticket["external_id"], accepted["event_id"]);

    // The acknowledgements reach Telegram, after the 429.
    // One per sender within `sender_window_secs`: Anna's private chat; the
    // group's ticket (Anna again) falls within her window.
    let deadline = Instant::now() + WAIT;
    while bot.sent.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no acknowledgement: {}",
            intake.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent = bot.sent.lock().unwrap().clone();
    let to_private = sent
        .iter()
        .find(|s| s["chat_id"] == "111222333")
        .expect("{sent:?}");
    let number = format!("Ticket #{}.", private_ticket["id"]);
    assert!(
        to_private["text"].as_str().unwrap().contains(&number),
        "{to_private}"
    );
    assert!(
        bot.calls.load(Ordering::SeqCst) > sent.len(),
        "sent again after the 429"
    );

    // On the bus: the private message twice (the router made one ticket),
    // the mention and the second person; never the refused update.
    let topic = format!("{}.events.telegram", world.topic_prefix);
    let records = world
        .read_topic(&topic, 4, Duration::from_secs(2), WAIT)
        .await;
    let texts: Vec<String> = records
        .iter()
        .map(|d| {
            intake_event::TicketEvent::from_json(&d.payload)
                .unwrap()
                .text
        })
        .collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains("forged")), "{texts:?}");

    let metrics = world.metrics().await;
    let ignored = common::metric_value(
        &metrics,
        "intake_telegram_updates_ignored_total",
        &[("reason", "not_addressed")],
    );
    assert_eq!(ignored, Some(1.0), "chatter counted");
    intake.terminate(Duration::from_secs(30)).await;
}
