//! `max.poll.interval.ms` exceeded during a long Zendesk outage (issue 13
//! point 4, first part): the router's consumers stop polling while every
//! held event waits for Zendesk, librdkafka takes them out of the group,
//! and the router must rejoin and go on from the committed position instead
//! of stopping, applying every event once.
//!
//! Checked that it fails without the change: with `PollExceeded` treated as
//! fatal (as before), the router ends with `__MAX_POLL_EXCEEDED` once the
//! outage ends and the test fails with "the router stopped".

mod harness;

use std::time::Duration;

use harness::{Harness, chat_event, fault, routes};
use intake_event::TicketEvent;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::Value;

const CONVERSATIONS: usize = 4;
const MESSAGES: usize = 3;

fn message(conversation: usize, index: usize) -> TicketEvent {
    let mut event = chat_event(
        &format!("m-{conversation}-{index}"),
        &format!("v{conversation}"),
        &format!("conversation {conversation} message {index}"),
    );
    event.conversation.thread_id = Some(format!("thread-{conversation}"));
    event
}

fn bodies(ticket: &Value) -> Vec<String> {
    ticket["comments"]
        .as_array()
        .map(|comments| {
            comments
                .iter()
                .filter_map(|c| c["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The group's state and member count on the broker.
fn group_state(brokers: &str, group: &str) -> (String, usize) {
    let client: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("kafka client");
    let list = client
        .fetch_group_list(Some(group), Duration::from_secs(10))
        .expect("group list");
    list.groups()
        .first()
        .map(|g| (g.state().to_owned(), g.members().len()))
        .unwrap_or_default()
}

/// Waits (bounded: 90 s) until `condition` holds for the group's state.
async fn wait_for_group(
    brokers: &str,
    group: &str,
    what: &str,
    condition: impl Fn(&str, usize) -> bool,
) {
    for _ in 0..180 {
        let (brokers, group) = (brokers.to_owned(), group.to_owned());
        let (state, members) = tokio::task::spawn_blocking(move || group_state(&brokers, &group))
            .await
            .unwrap();
        if condition(&state, members) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("group {group} never {what}");
}

#[tokio::test]
async fn max_poll_interval_exceeded_in_an_outage_rejoins_and_applies_every_event_once() {
    // The broker asks for session.timeout.ms >= 6000 (the harness's), and
    // librdkafka for max.poll.interval.ms >= session.timeout.ms.
    let Some(mut h) = Harness::kafka(&[("max.poll.interval.ms", "7000")]).await else {
        eprintln!("INTAKE_TEST_KAFKA not set: skipping");
        return;
    };
    let brokers = std::env::var("INTAKE_TEST_KAFKA").unwrap();
    // Zendesk is down for every call until the fault is cleared.
    h.add_fault(fault(503, 1_000_000, "/api/v2")).await;
    for index in 0..MESSAGES {
        for conversation in 0..CONVERSATIONS {
            h.publish(&message(conversation, index)).await;
        }
    }
    let mut options = h.options(routes());
    // Three events held, all failing: the router stops polling, so
    // max.poll.interval.ms passes.
    options.max_in_flight = 2;
    options.max_held_events = 3;
    options.retry_max_attempts = 1_000_000;
    options.retry_max_age = Duration::from_secs(3600);
    let group = format!("{}.chat", options.consumer_group);
    h.start_router(options);

    wait_for_group(
        &brokers,
        &group,
        "had the router as member",
        |state, members| state == "Stable" && members == 1,
    )
    .await;
    // librdkafka takes the member out of the group once it has not polled
    // for max.poll.interval.ms.
    wait_for_group(&brokers, &group, "lost its member", |_, members| {
        members == 0
    })
    .await;
    assert!(!h.router_finished(), "the router stopped during the outage");

    // Zendesk is back.
    let cleared = h
        .http
        .delete(format!("{}/admin/faults", h.sim.base_url))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());
    let everything = |h: &Harness| {
        let tickets = h.tickets();
        tickets.len() >= CONVERSATIONS && tickets.iter().all(|t| bodies(t).len() >= MESSAGES)
    };
    h.wait_until(everything).await;
    // The router is a member again.
    wait_for_group(&brokers, &group, "got its member back", |state, members| {
        state == "Stable" && members == 1
    })
    .await;
    h.stop_router().await;

    let tickets = h.tickets();
    assert_eq!(tickets.len(), CONVERSATIONS, "one ticket per conversation");
    for ticket in &tickets {
        let bodies = bodies(ticket);
        let conversation = (0..CONVERSATIONS)
            .find(|c| {
                bodies
                    .iter()
                    .any(|b| b == &format!("conversation {c} message 0"))
            })
            .unwrap_or_else(|| panic!("unknown ticket {ticket:#}"));
        let expected: Vec<String> = (0..MESSAGES)
            .map(|i| format!("conversation {conversation} message {i}"))
            .collect();
        assert_eq!(bodies, expected, "each message once, in order");
    }
}
