//! Crash safety at every crash point, on both bus backends. Gateway and router
//! run as separate processes so one can be SIGKILLed alone at the exact point
//! (`INTAKE_CRASHPOINT`, compiled in with the `crashpoints` feature); after a
//! restart every message is in Zendesk exactly once.

mod common;

use std::time::Duration;

use common::{Backend, Intake, World, kafka_brokers};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// Gateway and router, both ready; the router armed with `router_crashpoint`,
/// the gateway with `gateway_crashpoint`.
async fn start_pair(
    world: &World,
    gateway_crashpoint: Option<&str>,
    router_crashpoint: Option<&str>,
) -> (Intake, Intake) {
    let mut gateway = world.spawn("gateway", gateway_crashpoint);
    let mut router = world.spawn("router", router_crashpoint);
    world.wait_ready(&mut gateway).await;
    world.wait_ready_on(world.router_ops, &mut router).await;
    (gateway, router)
}

fn tickets_for_event<'a>(tickets: &'a [Value], event_id: &str) -> Vec<&'a Value> {
    tickets
        .iter()
        .filter(|t| t["external_id"].as_str() == Some(event_id))
        .collect()
}

/// How many ticket creations reached the simulator (`POST /api/v2/tickets`).
async fn create_calls(world: &World) -> usize {
    let requests = world
        .sim_admin(reqwest::Method::GET, "/admin/requests", None)
        .await;
    requests["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.trim_end_matches(".json") == "/api/v2/tickets")
        })
        .count()
}

/// (a)/(b): the router dies at `point` while handling a message; a restarted
/// router finishes it without a second ticket and stores the bus position.
async fn router_crash(backend: Backend, brokers: Option<&str>, point: &str) {
    let world = World::new(backend, brokers).await;
    let (gateway, mut router) = start_pair(&world, None, Some(point)).await;

    let (status, accepted) = world
        .post_chat(
            "crash-1",
            &common::chat_body(
                "conv-1",
                "v-1",
                Some("anna@example.com"),
                "Первое сообщение",
            ),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["event_id"].as_str().unwrap().to_owned();

    router
        .wait_output(&format!("crashpoint reached: {point}"), WAIT)
        .await;
    // At both points Zendesk already has the ticket.
    let tickets = world.tickets().await;
    assert_eq!(
        tickets_for_event(&tickets, &event_id).len(),
        1,
        "{tickets:#?}"
    );
    router.kill();

    let mut router = world.spawn("router", None);
    world.wait_ready_on(world.router_ops, &mut router).await;
    // The restarted router gets the event again and records it without a second create.
    let handled = |output: &str| {
        output.lines().any(|l| {
            l.contains(&event_id)
                && (l.contains("ticket created") || l.contains("duplicate event suppressed"))
        })
    };
    let deadline = std::time::Instant::now() + WAIT;
    while !handled(&router.output()) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        handled(&router.output()),
        "restarted router did not finish {event_id}:\n{}",
        router.output()
    );
    if point == "router.after_zendesk_create" {
        let line = router
            .output()
            .lines()
            .find(|l| l.contains(&event_id) && l.contains("ticket created"))
            .map(str::to_owned);
        let line = line.unwrap_or_else(|| {
            panic!(
                "recovered creation logged as a ticket:\n{}",
                router.output()
            )
        });
        assert!(line.contains("already_in_zendesk=true"), "{line}");
    }
    assert_eq!(
        create_calls(&world).await,
        1,
        "one creation call reached Zendesk"
    );

    // The position was stored: a third router never sees the first event again.
    // A clean stop (exit code: see cli.rs `sigterm_exits_zero`).
    router.terminate(Duration::from_secs(15)).await;
    let mut router = world.spawn("router", None);
    world.wait_ready_on(world.router_ops, &mut router).await;
    let (status, second) = world
        .post_chat(
            "crash-2",
            &common::chat_body(
                "conv-2",
                "v-1",
                Some("anna@example.com"),
                "Второе сообщение",
            ),
        )
        .await;
    assert_eq!(status, 202, "{second}");
    let tickets = world.wait_tickets(2, WAIT).await;
    assert_eq!(tickets.len(), 2, "{tickets:#?}\n{}", router.output());
    assert_eq!(tickets_for_event(&tickets, &event_id).len(), 1);
    assert!(
        !router.output().contains(&event_id),
        "the first event was delivered again after its position was stored:\n{}",
        router.output()
    );
    drop(gateway);
}

/// (c): the gateway dies after the bus confirmed, before answering; the
/// client retries the same message and still gets exactly one ticket.
async fn gateway_crash(backend: Backend, brokers: Option<&str>) {
    let world = World::new(backend, brokers).await;
    let (mut gateway, mut router) = start_pair(&world, Some("gateway.after_publish"), None).await;
    let message = common::chat_body(
        "conv-g",
        "v-g",
        Some("boris@example.com"),
        "Не могу войти в кабинет",
    );

    let first = world.try_post_chat("gw-crash-1", &message, Duration::from_secs(30));
    let (answer, ()) = tokio::join!(first, async {
        gateway
            .wait_output("crashpoint reached: gateway.after_publish", WAIT)
            .await;
        gateway.kill();
    });
    match &answer {
        Ok((status, body)) => assert!(
            !(200..300).contains(status),
            "a crashed gateway acknowledged: {status} {body}"
        ),
        Err(error) => eprintln!("first attempt failed as expected: {error}"),
    }

    let mut gateway = world.spawn("gateway", None);
    world.wait_ready(&mut gateway).await;
    // The client retries the SAME message (same webhook-id and body), freshly signed.
    let (status, accepted) = world.post_chat("gw-crash-1", &message).await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["event_id"].as_str().unwrap().to_owned();

    let tickets = world.wait_tickets(1, WAIT).await;
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    // The event is on the bus twice: the router suppresses the second copy.
    router.wait_output("duplicate event suppressed", WAIT).await;
    let tickets = world.tickets().await;
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(tickets_for_event(&tickets, &event_id).len(), 1);
    assert_eq!(
        tickets[0]["comments"].as_array().map(Vec::len),
        Some(1),
        "no comment added by the copy"
    );
    assert!(
        router
            .output()
            .lines()
            .any(|l| l.contains("duplicate event suppressed") && l.contains(&event_id)),
        "{}",
        router.output()
    );
    // Separate processes, one event id: the gateway's publish line and the
    // router's ticket line both carry it.
    assert!(
        gateway
            .output()
            .lines()
            .any(|l| l.contains("event published") && l.contains(&event_id)),
        "gateway publish line with {event_id}:\n{}",
        gateway.output()
    );
    assert!(
        router
            .output()
            .lines()
            .any(|l| l.contains("ticket created") && l.contains(&event_id)),
        "router ticket line with {event_id}:\n{}",
        router.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_after_zendesk_create_embedded() {
    router_crash(Backend::Embedded, None, "router.after_zendesk_create").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_after_zendesk_create_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    router_crash(
        Backend::Kafka,
        Some(&brokers),
        "router.after_zendesk_create",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_before_offset_store_embedded() {
    router_crash(Backend::Embedded, None, "router.before_offset_store").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_before_offset_store_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    router_crash(Backend::Kafka, Some(&brokers), "router.before_offset_store").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_after_publish_embedded() {
    gateway_crash(Backend::Embedded, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_after_publish_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    gateway_crash(Backend::Kafka, Some(&brokers)).await;
}
