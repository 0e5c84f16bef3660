//! An outcome survives a router crash between publishing it and storing the
//! bus position (issue 10 point 3): the restarted router gets the event
//! again, makes no second ticket and publishes the outcome again with the
//! same outcome id. Needs the `crashpoints` feature, like `crash_safety.rs`
//! (`cargo test --features intake/crashpoints`).

mod common;

use std::time::Duration;

use common::{Backend, World, kafka_brokers};
use intake_event::{OutcomeEffect, TicketOutcome, outcome_id};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_outcome_republishes_it_with_the_same_id_embedded() {
    crash_after_outcome(Backend::Embedded, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_outcome_republishes_it_with_the_same_id_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    crash_after_outcome(Backend::Kafka, Some(&brokers)).await;
}

async fn crash_after_outcome(backend: Backend, brokers: Option<&str>) {
    let world = World::new(backend, brokers).await;
    let mut gateway = world.spawn("gateway", None);
    let mut router = world.spawn("router", Some("router.after_outcome_publish"));
    world.wait_ready(&mut gateway).await;
    world.wait_ready_on(world.router_ops, &mut router).await;

    let body = common::chat_body("conv-c1", "visitor-c1", None, "Где мой заказ?");
    let (status, accepted) = world.post_chat("crash-o1", &body).await;
    assert_eq!(status, 202, "{accepted}");
    let event_id: uuid::Uuid = accepted["event_id"].as_str().unwrap().parse().unwrap();
    router
        .wait_output("crashpoint reached: router.after_outcome_publish", WAIT)
        .await;
    router.kill();

    let mut router = world.spawn("router", None);
    world.wait_ready_on(world.router_ops, &mut router).await;
    router.wait_output("duplicate event suppressed", WAIT).await;
    let outcomes_topic = format!("{}.outcomes", world.topic_prefix);
    let records = world
        .read_topic(&outcomes_topic, 2, Duration::from_secs(3), WAIT)
        .await;
    let tickets = world.tickets().await;
    router.terminate(Duration::from_secs(30)).await;
    gateway.terminate(Duration::from_secs(30)).await;

    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(records.len(), 2, "published before the crash and after");
    let expected = outcome_id(event_id, OutcomeEffect::Created);
    let outcomes: Vec<TicketOutcome> = records
        .iter()
        .map(|r| TicketOutcome::from_json(&r.payload).unwrap())
        .collect();
    assert!(
        outcomes.iter().all(|o| o.outcome_id == expected),
        "{outcomes:#?}"
    );
    assert_eq!(outcomes[0], outcomes[1], "the copy is identical");
    assert_eq!(outcomes[0].ticket_id, tickets[0]["id"].as_u64());
    assert!(outcomes[0].deadline.is_some());
}
