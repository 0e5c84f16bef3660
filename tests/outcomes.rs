//! Outcomes end to end (issue 10 point 3): a chat message through the built
//! binary puts exactly one `created` outcome on `<prefix>.outcomes`, keyed
//! like the event, with the seeds' chat deadline counted from the event's
//! receipt, and the ticket carries the policy tag and the deadline field.

mod common;

use std::time::Duration;

use common::{Backend, World, kafka_brokers, metric_value};
use intake_event::{OutcomeEffect, TicketEvent, TicketOutcome, outcome_id};
use serde_json::json;

const FIELD_ID: u64 = 360_001;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_message_puts_one_created_outcome_on_the_bus_embedded() {
    chat_message_outcome(Backend::Embedded, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_message_puts_one_created_outcome_on_the_bus_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    chat_message_outcome(Backend::Kafka, Some(&brokers)).await;
}

/// The seeds' policies on the seeds' calendar, as an empty config gives them.
fn seeds() -> intake_calendar::SlaPolicies {
    let (config, problems) =
        intake_calendar::config::validate(Default::default(), Default::default(), &[], &|_| {
            Err("no files".to_owned())
        });
    assert!(problems.is_empty(), "{problems:?}");
    config.sla
}

async fn chat_message_outcome(backend: Backend, brokers: Option<&str>) {
    let world = World::new(backend, brokers).await;
    let config = std::fs::read_to_string(&world.config_path).unwrap();
    let config = config.replacen(
        "[router]\n",
        &format!("[router]\ndeadline_field_id = {FIELD_ID}\n"),
        1,
    );
    std::fs::write(&world.config_path, config).unwrap();
    let mut intake = world.spawn("all", None);
    world.wait_ready(&mut intake).await;

    let body = common::chat_body("conv-o1", "visitor-o1", None, "Когда придёт заказ?");
    let (status, answer) = world.post_chat("msg-o1", &body).await;
    assert_eq!(status, 202, "{answer}");
    let outcomes_topic = format!("{}.outcomes", world.topic_prefix);
    let records = world
        .read_topic(
            &outcomes_topic,
            1,
            Duration::from_secs(3),
            Duration::from_secs(60),
        )
        .await;
    let tickets = world.wait_tickets(1, Duration::from_secs(30)).await;
    let events = world
        .read_topic(
            &world.chat_topic(),
            1,
            Duration::from_secs(1),
            Duration::from_secs(30),
        )
        .await;
    let metrics = world.metrics().await;
    intake.terminate(Duration::from_secs(30)).await;

    assert_eq!(records.len(), 1, "exactly one outcome: {}", intake.output());
    assert_eq!(tickets.len(), 1);
    let event = TicketEvent::from_json(&events[0].payload).unwrap();
    let record = &records[0];
    assert_eq!(record.key, events[0].key, "keyed like the event");
    let outcome = TicketOutcome::from_json(&record.payload).unwrap();
    assert_eq!(outcome.effect, OutcomeEffect::Created);
    assert_eq!(
        outcome.outcome_id,
        outcome_id(event.event_id, OutcomeEffect::Created)
    );
    assert_eq!(outcome.ticket_id, tickets[0]["id"].as_u64());
    assert_eq!(outcome.received_at, Some(event.received_at));
    assert_eq!(outcome.conversation_id.as_deref(), Some("conv-o1"));
    let expected = seeds()
        .first_response_deadline("chat", None, event.received_at)
        .unwrap();
    let deadline = outcome.deadline.expect("a new ticket has a deadline");
    assert_eq!(deadline.due_at, expected.due_at);
    assert_eq!(deadline.policy, "chat");

    let ticket = &tickets[0];
    assert!(
        ticket["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("intake_sla_chat")),
        "{ticket:#}"
    );
    let value = expected
        .due_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        ticket["custom_fields"]
            .as_array()
            .unwrap()
            .contains(&json!({"id": FIELD_ID, "value": value})),
        "{ticket:#}"
    );

    // Point 6: the deadline histogram of new tickets, in wall seconds.
    let chat = [("channel", "chat")];
    assert_eq!(
        metric_value(&metrics, "intake_ticket_deadline_seconds_count", &chat),
        Some(1.0),
        "{metrics}"
    );
    let wall = (expected.due_at - event.received_at).num_milliseconds() as f64 / 1000.0;
    let sum = metric_value(&metrics, "intake_ticket_deadline_seconds_sum", &chat).unwrap();
    assert!((sum - wall).abs() < 0.01, "{sum} vs {wall}");
    assert_eq!(
        metric_value(
            &metrics,
            "intake_outcomes_published_total",
            &[("channel", "chat"), ("effect", "created")]
        ),
        Some(1.0)
    );
}
