//! Outcomes (issue 10 point 3): one `intake.ticket_outcome/v1` per effect on
//! `<prefix>.outcomes`, keyed like the event, published before the event is
//! marked done; the deadline on the outcome and on the ticket (tag and
//! custom field).

mod harness;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use harness::flaky::FlakyBus;
use harness::limited::LimitedBus;
use harness::{Harness, chat_event, fault, has_tag, routes};
use intake_event::{OutcomeEffect, TicketEvent, outcome_id, record_outcome_id};
use intake_router::{OUTCOME_CE_TYPE, RouterOptions};
use serde_json::json;

/// The deadline custom field the tests configure.
const FIELD_ID: u64 = 360_001;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A chat message received on Friday 4 December 2026 at 17:57 Moscow time.
fn friday_chat(message_id: &str, thread: &str) -> TicketEvent {
    let mut event = chat_event(message_id, "v1", "Не проходит оплата");
    event.received_at = at("2026-12-04T17:57:00+03:00");
    event.conversation.thread_id = Some(thread.to_owned());
    event.contact.locale = Some("ru".to_owned());
    event
}

fn options(h: &Harness) -> RouterOptions {
    let mut options = h.options(routes());
    options.deadline_field_id = Some(FIELD_ID);
    options
}

fn ticket_creates(requests: &[serde_json::Value]) -> usize {
    requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/api/v2/tickets")
        .count()
}

async fn new_ticket_publishes_one_created_outcome_with_the_deadline(mut h: Harness) {
    let event = friday_chat("o-1", "conv-1");
    h.publish(&event).await;
    h.start_router(options(&h));
    let outcomes = h.wait_for_outcomes(1).await;
    let tickets = h.wait_for_tickets(1).await;
    h.stop_router().await;

    assert_eq!(outcomes.len(), 1, "exactly one outcome");
    let (record, outcome) = &outcomes[0];
    assert_eq!(record.key, event.contact.key, "keyed like the event");
    assert_eq!(record.header("ce_type"), Some(OUTCOME_CE_TYPE));
    assert_eq!(
        record.header("ce_id"),
        Some(outcome.outcome_id.to_string().as_str())
    );
    assert_eq!(outcome.effect, OutcomeEffect::Created);
    assert_eq!(
        outcome.outcome_id,
        outcome_id(event.event_id, OutcomeEffect::Created)
    );
    assert_eq!(outcome.event_id, Some(event.event_id));
    assert_eq!(outcome.channel, "chat");
    assert_eq!(outcome.contact.key, "chat:v1");
    assert_eq!(outcome.contact.locale.as_deref(), Some("ru"));
    assert_eq!(outcome.locale.as_deref(), Some("ru"));
    assert_eq!(outcome.conversation_id.as_deref(), Some("conv-1"));
    assert!(!outcome.auto_submitted);
    assert_eq!(outcome.ticket_id, tickets[0]["id"].as_u64());
    let deadline = outcome
        .deadline
        .as_ref()
        .expect("a new ticket has a deadline");
    // 3 working minutes on Friday, 2 on Monday (the calendar's golden table).
    assert_eq!(deadline.due_at, at("2026-12-07T10:02:00+03:00"));
    assert_eq!(deadline.policy, "chat");
    assert_eq!(deadline.calendar, "default");

    let ticket = &tickets[0];
    assert!(has_tag(ticket, "intake_sla_chat"), "{ticket:#}");
    assert!(
        ticket["custom_fields"]
            .as_array()
            .unwrap()
            .contains(&json!({"id": FIELD_ID, "value": "2026-12-07T07:02:00Z"})),
        "{ticket:#}"
    );
}

#[tokio::test]
async fn a_new_ticket_publishes_one_created_outcome_with_the_deadline_embedded() {
    new_ticket_publishes_one_created_outcome_with_the_deadline(Harness::new().await).await;
}

#[tokio::test]
async fn a_new_ticket_publishes_one_created_outcome_with_the_deadline_kafka() {
    let Some(h) = Harness::kafka(&[]).await else {
        eprintln!("INTAKE_TEST_KAFKA not set: skipping");
        return;
    };
    new_ticket_publishes_one_created_outcome_with_the_deadline(h).await;
}

#[tokio::test]
async fn a_comment_publishes_commented_without_a_deadline_and_no_field_without_config() {
    let mut h = Harness::new().await;
    let first = friday_chat("o-1", "conv-2");
    let mut second = friday_chat("o-2", "conv-2");
    second.auto_submitted = true;
    h.publish(&first).await;
    h.publish(&second).await;
    // No deadline field configured: only the tag.
    h.start_router(h.options(routes()));
    let outcomes = h.wait_for_outcomes(2).await;
    h.stop_router().await;
    let tickets = h.tickets();
    assert_eq!(tickets.len(), 1, "the second message is a comment");
    assert!(has_tag(&tickets[0], "intake_sla_chat"));
    assert_eq!(tickets[0]["custom_fields"], json!([]), "{:#}", tickets[0]);

    assert_eq!(outcomes.len(), 2);
    let (_, comment) = &outcomes[1];
    assert_eq!(comment.effect, OutcomeEffect::Commented);
    assert_eq!(
        comment.outcome_id,
        outcome_id(second.event_id, OutcomeEffect::Commented)
    );
    assert_eq!(comment.ticket_id, tickets[0]["id"].as_u64());
    assert_eq!(comment.deadline, None, "no deadline for a comment");
    assert!(comment.auto_submitted, "carried from the event");
}

#[tokio::test]
async fn a_dead_letter_publishes_dead_lettered() {
    let mut h = Harness::new().await;
    let refused = friday_chat("o-1", "conv-3");
    h.publish(&refused).await;
    h.publish_raw("chat", "chat:v9", b"{not json".to_vec(), Vec::new())
        .await;
    h.add_fault(fault(422, 1, "/api/v2/tickets")).await;
    h.start_router(options(&h));
    let outcomes = h.wait_for_outcomes(2).await;
    let letters = h.wait_for_dead_letters(2).await;
    h.stop_router().await;
    assert!(h.tickets().is_empty());

    // Two lanes (two contacts): their outcomes come in either order.
    let by_key = |key: &str| {
        outcomes
            .iter()
            .find(|(record, _)| record.key == key)
            .unwrap_or_else(|| panic!("no outcome keyed {key}"))
    };
    let (record, outcome) = by_key(&refused.contact.key);
    assert_eq!(record.key, refused.contact.key);
    assert_eq!(outcome.effect, OutcomeEffect::DeadLettered);
    assert_eq!(
        outcome.outcome_id,
        outcome_id(refused.event_id, OutcomeEffect::DeadLettered)
    );
    assert_eq!(outcome.ticket_id, None);
    assert_eq!(outcome.deadline, None);
    assert_eq!(
        outcome.dead_letter_reason.as_deref(),
        Some("zendesk_rejected")
    );

    // Undecodable, without a ce_id: named by the record's position.
    let (record, garbage) = by_key("chat:v9");
    assert_eq!(record.key, "chat:v9");
    assert_eq!(garbage.event_id, None);
    assert_eq!(garbage.channel, "chat");
    assert_eq!(
        garbage.dead_letter_reason.as_deref(),
        Some("undecodable_event")
    );
    let source = letters
        .iter()
        .find(|letter| letter.key == "chat:v9")
        .expect("the undecodable record's letter");
    let offset: i64 = source
        .header("intake_source_offset")
        .unwrap()
        .parse()
        .unwrap();
    let partition: i32 = source
        .header("intake_source_partition")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        garbage.outcome_id,
        record_outcome_id(&h.topics.events("chat"), partition, offset)
    );
}

#[tokio::test]
async fn an_outcome_the_bus_refuses_leaves_the_event_unmarked_and_a_restart_publishes_it() {
    let mut h = Harness::new().await;
    let real = Arc::clone(&h.bus);
    h.bus = LimitedBus::wrap(Arc::clone(&real), h.topics.outcomes(), 0);
    let event = friday_chat("o-1", "conv-4");
    h.publish(&event).await;
    h.start_router(options(&h));
    for _ in 0..900 {
        if h.router_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let stopped = h.stop_router_with().await;
    assert!(stopped.is_err(), "the router stops: {stopped:?}");
    assert_eq!(h.tickets().len(), 1, "the effect happened");
    assert!(h.outcomes("peek").await.is_empty(), "no outcome yet");

    // The event was not marked done: a restarted router gets it again,
    // finds the recorded ticket and publishes the outcome.
    h.bus = real;
    h.start_router(options(&h));
    let outcomes = h.wait_for_outcomes(1).await;
    h.stop_router().await;
    assert_eq!(h.tickets().len(), 1, "exactly one ticket");
    assert_eq!(ticket_creates(&h.requests().await), 1, "created once");
    let expected = outcome_id(event.event_id, OutcomeEffect::Created);
    assert!(outcomes.iter().all(|(_, o)| o.outcome_id == expected));
    let (_, outcome) = &outcomes[0];
    assert_eq!(outcome.effect, OutcomeEffect::Created);
    assert_eq!(outcome.ticket_id, h.tickets()[0]["id"].as_u64());
    assert_eq!(
        outcome.deadline.as_ref().unwrap().due_at,
        at("2026-12-07T10:02:00+03:00"),
        "the replay computes the same deadline"
    );

    // And now it is done: a third start does nothing new.
    h.start_router(options(&h));
    h.publish(&friday_chat("o-2", "conv-5")).await;
    let after = h.wait_for_outcomes(2).await;
    h.stop_router().await;
    assert_eq!(after.len(), 2, "the first event was not redelivered again");
}

#[tokio::test]
async fn a_briefly_failing_outcome_publish_is_retried_before_the_event_is_done() {
    let mut h = Harness::new().await;
    let (bus, publisher) = FlakyBus::wrap(Arc::clone(&h.bus), h.topics.outcomes(), 3);
    h.bus = bus;
    let event = friday_chat("o-1", "conv-6");
    h.publish(&event).await;
    h.start_router(options(&h));
    let outcomes = h.wait_for_outcomes(1).await;
    h.stop_router().await;
    assert_eq!(publisher.refused.load(Ordering::SeqCst), 3);
    assert_eq!(outcomes.len(), 1);
    assert_eq!(h.tickets().len(), 1);
    assert_eq!(ticket_creates(&h.requests().await), 1);
}
