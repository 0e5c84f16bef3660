//! Acknowledgements end to end with the built binary (issue 10 points 4 and
//! 5): a chat message at 17:57 Moscow time on Friday 4 December 2026 (the
//! gateway's business clock set with `INTAKE_TEST_NOW`) gets exactly one
//! signed callback naming Monday 10:02 (5 working minutes), although
//! - the router is SIGKILLed between publishing the outcome and storing its
//!   position (so the outcome arrives twice),
//! - the site's callback endpoint is down for the first 30 seconds;
//!
//! and an auto-submitted event gets none (since issue 11 the router makes
//! no ticket and no outcome for it: it refers to no ticket, so it is
//! dropped and counted as a loop suppressed). Needs the `crashpoints` feature
//! (`cargo test --features intake/crashpoints`), like `crash_safety.rs`.
#![cfg(feature = "crashpoints")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{Backend, Callbacks, World, metric_value, start_callback_endpoint, wait_for};
use intake_bus::Record;
use intake_event::{Contact, TicketEvent};
use serde_json::Value;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(90);
/// How long the site's endpoint stays down after the message.
const DOWN_FOR: Duration = Duration::from_secs(30);
/// Friday 4 December 2026, 17:57 in Moscow.
const FRIDAY_17_57: &str = "2026-12-04T17:57:00+03:00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_callback_naming_monday_10_02_across_a_router_crash_and_an_endpoint_outage_embedded() {
    one_callback(Backend::Embedded, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_callback_naming_monday_10_02_across_a_router_crash_and_an_endpoint_outage_kafka() {
    let Some(brokers) = common::kafka_brokers() else {
        return;
    };
    one_callback(Backend::Kafka, Some(&brokers)).await;
}

async fn one_callback(backend: Backend, brokers: Option<&str>) {
    let port = common::free_port();
    let site_key: Vec<u8> = (0..32).map(|i| (i * 11 + 5) as u8).collect();
    let extra = format!(
        r#"
[channels.chat.callback]
url = "http://127.0.0.1:{port}/intake/replies"
secret_file = "SITE_SECRET_FILE"
timeout_secs = 5
[acknowledgements]
retry_initial_backoff_ms = 200
retry_max_backoff_secs = 2
"#
    );
    let world = World::with_sim(backend, brokers, Default::default(), &extra).await;
    let secret_path = world.path("site-secret");
    std::fs::write(
        &secret_path,
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(&site_key)
        ),
    )
    .unwrap();
    for path in [&world.config_path, &world.router_config_path] {
        let text = std::fs::read_to_string(path).unwrap();
        let text = text.replace("\"SITE_SECRET_FILE\"", &format!("{secret_path:?}"));
        std::fs::write(path, text).unwrap();
    }

    let clock = [("INTAKE_TEST_NOW", FRIDAY_17_57)];
    let mut gateway = world.spawn_env("gateway", None, &clock);
    let mut router = world.spawn_env("router", Some("router.after_outcome_publish"), &clock);
    world.wait_ready(&mut gateway).await;
    world.wait_ready_on(world.router_ops, &mut router).await;
    gateway
        .wait_output("the business clock is shifted for a test", WAIT)
        .await;

    let mut body = common::chat_body("conv-ack-1", "visitor-ack-1", None, "Не проходит оплата");
    body["locale"] = Value::from("ru-RU");
    let (status, accepted) = world.post_chat("ack-msg-1", &body).await;
    assert_eq!(status, 202, "{accepted}");
    let posted = Instant::now();

    // The router dies after publishing the outcome, before storing its
    // position; the restarted one gets the event again and republishes.
    router
        .wait_output("crashpoint reached: router.after_outcome_publish", WAIT)
        .await;
    router.kill();
    let mut router = world.spawn_env("router", None, &clock);
    world.wait_ready_on(world.router_ops, &mut router).await;
    router.wait_output("duplicate event suppressed", WAIT).await;

    // An auto-reply arrives on the bus like any chat event.
    let contact = Contact {
        key: "chat:autoresponder".to_owned(),
        ..Contact::default()
    };
    let mut auto = TicketEvent::new("chat", "auto-1", contact, "Я в отпуске", chrono::Utc::now());
    auto.auto_submitted = true;
    let bus = intake_bus::connect(world.bus_options()).await.unwrap();
    bus.publisher()
        .publish(Record {
            topic: world.chat_topic(),
            key: auto.contact.key.clone(),
            payload: auto.to_json(),
            headers: Vec::new(),
        })
        .await
        .unwrap();

    // The endpoint is down: the gateway retries.
    gateway
        .wait_output("acknowledgement not delivered, retrying", WAIT)
        .await;
    tokio::time::sleep_until(posted + DOWN_FOR).await;
    let seen: Callbacks = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    start_callback_endpoint(listener, Arc::clone(&seen)).await;

    let sent = |metrics: &str| {
        metric_value(
            metrics,
            "intake_acknowledgements_sent_total",
            &[("channel", "chat")],
        )
    };
    let suppressed = |metrics: &str, reason: &str| {
        metric_value(
            metrics,
            "intake_acknowledgements_suppressed_total",
            &[("channel", "chat"), ("reason", reason)],
        )
    };
    let router_metrics = async || {
        let url = format!("http://{}/metrics", world.router_ops);
        reqwest::get(url).await.unwrap().text().await.unwrap()
    };
    wait_for(
        "the acknowledgement, the duplicate and the auto-reply dropped",
        async || {
            let metrics = world.metrics().await;
            sent(&metrics) == Some(1.0)
                && suppressed(&metrics, "duplicate") == Some(1.0)
                && metric_value(
                    &router_metrics().await,
                    "intake_loops_suppressed_total",
                    &[("channel", "chat"), ("action", "dropped_no_ticket")],
                ) == Some(1.0)
        },
    )
    .await;
    let tickets = world.wait_tickets(1, WAIT).await;
    router.terminate(Duration::from_secs(30)).await;
    gateway.terminate(Duration::from_secs(30)).await;

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "exactly one callback: {seen:#?}");
    let (headers, body) = &seen[0];
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    let signature = World::sign_with(
        &site_key,
        &header("webhook-id"),
        header("webhook-timestamp").parse().unwrap(),
        body,
    );
    assert_eq!(
        header("webhook-signature"),
        signature,
        "signed with the site's secret"
    );
    let callback: Value = serde_json::from_slice(body).unwrap();
    let ticket =
        common::ticket_by_subject(&tickets, "Не проходит оплата").expect("the chat ticket");
    assert_eq!(callback["ticket_id"], ticket["id"]);
    assert_eq!(callback["conversation_id"], "conv-ack-1");
    assert_eq!(callback["type"], "ticket.acknowledgement");
    let deadline = callback["deadline"].as_str().unwrap();
    assert!(
        deadline.starts_with("2026-12-07T07:02:"),
        "Monday 10:02 Moscow: {deadline}"
    );
    let text = callback["text"].as_str().unwrap();
    assert!(
        text.contains("Мы ответим до 10:02 по московскому времени в понедельник, 7 декабря."),
        "{text}"
    );
    assert!(text.contains(&format!("номер {}", ticket["id"])), "{text}");
}
