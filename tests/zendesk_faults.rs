//! Zendesk failing: a 30-second outage loses and reorders nothing, and a
//! permanent refusal goes to the dead-letter queue (seen and replayed with the
//! real `intake dlq` command) without blocking the next message.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, World, kafka_brokers};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
/// How long Zendesk answers 503 to everything, on the simulator's clock.
const OUTAGE_SECS: u64 = 30;

/// The simulator's clock now (`GET /admin/clock`).
async fn sim_now(world: &World) -> chrono::DateTime<chrono::Utc> {
    let clock = world
        .sim_admin(reqwest::Method::GET, "/admin/clock", None)
        .await;
    clock["now"]
        .as_str()
        .and_then(|now| now.parse().ok())
        .unwrap_or_else(|| panic!("sim clock: {clock}"))
}

fn comment_bodies(ticket: &Value) -> Vec<String> {
    ticket["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap_or_default().trim().to_owned())
        .collect()
}

/// Zendesk answers 503 to everything for 30 s while two customers write
/// three messages each; afterwards each customer has one ticket whose
/// comments are their messages, once each, in send order.
async fn outage(backend: Backend, brokers: Option<&str>) {
    let world = World::new(backend, brokers).await;
    let mut intake = world.spawn("all", None);
    world.wait_ready(&mut intake).await;

    // The outage is measured on the simulator's clock, read before the fault
    // is added, so a slow machine cannot make it look shorter or longer.
    let outage_start = sim_now(&world).await;
    world
        .add_fault(json!({"status": 503, "duration_secs": OUTAGE_SECS}))
        .await;
    let started = Instant::now();
    let customers = [
        ("anna@example.com", "conv-anna"),
        ("boris@example.com", "conv-boris"),
    ];
    let mut sent: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    for round in 1..=3 {
        for (index, (email, conversation)) in customers.iter().enumerate() {
            let text = format!("{email} message {round}");
            let id = format!("{conversation}-{round}");
            let (status, body) = world
                .post_chat(
                    &id,
                    // No typed e-mail: the visitor id keys the customer.
                    &common::chat_body(conversation, email, None, &text),
                )
                .await;
            assert_eq!(
                status, 202,
                "the gateway takes messages while Zendesk is down: {body}"
            );
            sent[index].push(text);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Zendesk is down: the router did try.
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let stats = world
            .sim_admin(reqwest::Method::GET, "/admin/stats", None)
            .await;
        if stats["by_status"]["503"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the router never called Zendesk: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // After the outage: every message arrives, once, in order per customer.
    let deadline = started + Duration::from_secs(OUTAGE_SECS) + WAIT;
    let tickets = loop {
        let tickets = world.tickets().await;
        let comments: usize = tickets
            .iter()
            .map(|t| t["comments"].as_array().map_or(0, Vec::len))
            .sum();
        if comments >= 6 || Instant::now() > deadline {
            break tickets;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Nothing got through during the outage: on the sim clock, every API
    // answer before its end was the injected 503.
    let outage_end = outage_start + chrono::Duration::seconds(i64::try_from(OUTAGE_SECS).unwrap());
    let requests = world
        .sim_admin(reqwest::Method::GET, "/admin/requests", None)
        .await;
    for request in requests["requests"].as_array().unwrap() {
        let api = request["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/api/"));
        let at: chrono::DateTime<chrono::Utc> = request["at"]
            .as_str()
            .unwrap()
            .parse()
            .expect("request time");
        if api && request["status"] != 503 {
            assert!(
                at >= outage_end,
                "answered {} during the outage: {request}",
                request["status"]
            );
        }
    }
    assert_eq!(
        tickets.len(),
        2,
        "one ticket per customer: {tickets:#?}\n{}",
        intake.output()
    );
    let users = world.sim_users().await;
    for (index, (email, _)) in customers.iter().enumerate() {
        let user = users
            .iter()
            .find(|u| u["external_id"] == format!("chat:{email}"))
            .unwrap_or_else(|| panic!("user {email}: {users:#?}"));
        let ticket = tickets
            .iter()
            .find(|t| t["requester_id"] == user["id"])
            .unwrap_or_else(|| panic!("ticket of {email}: {tickets:#?}"));
        assert_eq!(
            comment_bodies(ticket),
            sent[index],
            "comments of {email} in send order, once each"
        );
    }
    // Every warning about a failed Zendesk call during the outage names the
    // event it was made for, so one message can be followed with one grep.
    let output = intake.output();
    let failed: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("zendesk call failed"))
        .collect();
    assert!(!failed.is_empty(), "the outage was seen:\n{output}");
    for line in &failed {
        assert!(line.contains("event_id="), "no event id in: {line}");
    }
    // Stopped (a drain that waits): a late duplicate would be in by now.
    intake.terminate(Duration::from_secs(30)).await;
    assert_eq!(world.tickets().await, tickets, "nothing more arrives later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_outage_loses_and_reorders_nothing_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    outage(Backend::Kafka, Some(&brokers)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_outage_loses_and_reorders_nothing_embedded() {
    outage(Backend::Embedded, None).await;
}

/// A 422 on ticket creation dead-letters the message with its reason; the
/// next message still becomes a ticket; `intake dlq replay` brings it back.
async fn dead_letter(backend: Backend, brokers: Option<&str>) {
    let world = World::new(backend, brokers).await;
    let mut intake = world.spawn("all", None);
    world.wait_ready(&mut intake).await;
    world
        .add_fault(json!({"status": 422, "count": 1, "path_prefix": "/api/v2/tickets"}))
        .await;

    let (status, rejected) = world
        .post_chat(
            "dlq-1",
            &common::chat_body(
                "conv-dlq-1",
                "v-1",
                Some("anna@example.com"),
                "Refused by Zendesk",
            ),
        )
        .await;
    assert_eq!(status, 202, "{rejected}");
    let rejected_id = rejected["event_id"].as_str().unwrap().to_owned();
    intake.wait_output("event dead-lettered", WAIT).await;
    assert!(
        intake
            .output()
            .lines()
            .any(|l| l.contains("event dead-lettered") && l.contains(&rejected_id)),
        "{}",
        intake.output()
    );

    let (status, next) = world
        .post_chat(
            "dlq-2",
            &common::chat_body(
                "conv-dlq-2",
                "v-2",
                Some("boris@example.com"),
                "Goes through",
            ),
        )
        .await;
    assert_eq!(status, 202, "{next}");
    let tickets = world.wait_tickets(1, WAIT).await;
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(
        tickets[0]["external_id"], next["event_id"],
        "the next message is not blocked"
    );

    let list = world.cli(&["dlq", "list"], Duration::from_secs(60)).await;
    assert_eq!(list.code, Some(0), "{list:?}");
    let letters: Vec<&str> = list
        .stdout
        .lines()
        .filter(|l| l.contains("reason="))
        .collect();
    assert_eq!(letters.len(), 1, "one dead letter: {list:?}");
    let letter = letters[0];
    assert!(letter.contains("reason=zendesk_rejected"), "{letter}");
    assert!(
        letter.contains(&format!("event_id={rejected_id}")),
        "{letter}"
    );
    assert!(
        letter.contains(&format!("source={}", world.chat_topic())),
        "{letter}"
    );

    let replay = world.cli(&["dlq", "replay"], Duration::from_secs(60)).await;
    assert_eq!(replay.code, Some(0), "{replay:?}");
    assert!(
        replay.stdout.contains("replayed 1 dead letter(s)"),
        "{replay:?}"
    );

    let tickets = world.wait_tickets(2, WAIT).await;
    assert_eq!(
        tickets.len(),
        2,
        "the replayed letter became a ticket: {tickets:#?}\n{}",
        intake.output()
    );
    let replayed = tickets
        .iter()
        .find(|t| t["external_id"].as_str() == Some(rejected_id.as_str()))
        .unwrap_or_else(|| panic!("ticket of the replayed event: {tickets:#?}"));
    assert_eq!(replayed["subject"], "Refused by Zendesk");

    let after = world.cli(&["dlq", "list"], Duration::from_secs(60)).await;
    assert_eq!(after.code, Some(0), "{after:?}");
    assert!(
        after.stdout.contains("no pending dead letters"),
        "{after:?}"
    );
    intake.terminate(Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_refusal_is_dead_lettered_and_replayed_embedded() {
    dead_letter(Backend::Embedded, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_refusal_is_dead_lettered_and_replayed_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    dead_letter(Backend::Kafka, Some(&brokers)).await;
}
