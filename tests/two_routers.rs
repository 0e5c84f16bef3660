//! Two router processes (the built binary) on one consumer group, real
//! Kafka and a shared PostgreSQL state store (issue 13, "done when"): 500
//! chat events, 15 conversations of 20 messages and 200 of one, with a
//! router joining in the middle (its partition is taken from the busy first
//! router) and the first one leaving near the end (SIGTERM, a second
//! rebalance). Every event is applied exactly once — checked in the
//! simulator's tickets and comments, in each conversation's order — and no
//! Zendesk write was sent twice: one ticket create per ticket and one
//! comment update per comment, which is what the conversation claims
//! (decision 39) buy over the replay guards alone.
//!
//! Checked that it fails without fencing and without ordering (each done,
//! seen failing, restored): with the claim neither taken nor checked
//! (`Fence::take` answering at once, `check_before_write` returning
//! `Ok(())`) the routers overlapped on events of the moved partition and
//! wrote twice in each of three runs (a comment twice in a 20-message
//! conversation, a single's message twice, a comment PUT sent again and
//! refused 409); with
//! every event in a lane of its own (`lane_of` returning the record's
//! offset) the conversations' comments came out of order in every run.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Backend, Intake, World, kafka_brokers};
use intake_zendesk_sim::SimConfig;
use serde_json::Value;

const LONG_CONVERSATIONS: usize = 15;
const MESSAGES_EACH: usize = 20;
const SINGLES: usize = 200;

/// Environment of both routers: a short claim life (so a test run is not
/// long) and a client budget that does not slow the run down.
const ROUTER_ENV: &[(&str, &str)] = &[
    ("INTAKE__ROUTER__CLAIM_TTL_SECS", "5"),
    ("INTAKE__ZENDESK__REQUESTS_PER_MINUTE", "6000"),
];

fn long_text(conversation: usize, message: usize) -> String {
    format!("long-{conversation:02} message {message:02}")
}

fn single_text(index: usize) -> String {
    format!("single-{index:03} only message")
}

/// A second router process: the router's config with its own listeners.
fn second_router(world: &World) -> (Intake, std::net::SocketAddr) {
    world.spawn_another_router("intake-router-2.toml", ROUTER_ENV, std::convert::identity)
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

/// Calls that reached the simulator, per (method, path without `.json`).
async fn calls(world: &World) -> Vec<(String, String, u16)> {
    let requests = world
        .sim_admin(reqwest::Method::GET, "/admin/requests", None)
        .await;
    requests["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap_or_default().to_owned(),
                r["path"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_end_matches(".json")
                    .to_owned(),
                r["status"].as_u64().unwrap_or_default() as u16,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_routers_apply_every_event_once_and_in_order_across_rebalances() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let store_dir = tempfile::tempdir().unwrap();
    let Some(store) = common::postgres::store_toml(store_dir.path()).await else {
        return;
    };
    let sim = SimConfig {
        requests_per_minute: None,
        // Zendesk takes its time, so events are in flight at each rebalance.
        response_delay: Some((Duration::from_millis(100), Duration::from_millis(300))),
        ..SimConfig::default()
    };
    let world = World::with_store(Backend::Kafka, Some(&brokers), sim, "", Some(&store)).await;
    let mut gateway = world.spawn("gateway", None);
    world.wait_ready(&mut gateway).await;
    let mut first = world.spawn_env("router", None, ROUTER_ENV);
    world.wait_ready_on(world.router_ops, &mut first).await;

    // Ten rounds of two messages of each long conversation, back to back
    // (so the second arrives while the first is being handled), and twenty
    // singles.
    const ROUNDS: usize = MESSAGES_EACH / 2;
    let per_round = SINGLES / ROUNDS;
    let mut second = None;
    for round in 0..ROUNDS {
        if round == ROUNDS / 2 {
            // Mid-way, with the first router busy: a second one joins and
            // takes a partition from it.
            let (mut router, ops) = second_router(&world);
            world.wait_ready_on(ops, &mut router).await;
            second = Some(router);
        }
        for conversation in 0..LONG_CONVERSATIONS {
            for message in [2 * round, 2 * round + 1] {
                let text = long_text(conversation, message);
                let body = common::chat_body(
                    &format!("long-{conversation:02}"),
                    &format!("visitor-long-{conversation:02}"),
                    None,
                    &text,
                );
                let (status, answer) = world.post_chat(&format!("m-{text}"), &body).await;
                assert_eq!(status, 202, "{answer}");
            }
        }
        for single in round * per_round..(round + 1) * per_round {
            let text = single_text(single);
            let body = common::chat_body(
                &format!("single-{single:03}"),
                &format!("visitor-single-{single:03}"),
                None,
                &text,
            );
            let (status, answer) = world.post_chat(&format!("m-{text}"), &body).await;
            assert_eq!(status, 202, "{answer}");
        }
    }
    let mut second = second.expect("the second router started");

    let events = LONG_CONVERSATIONS * MESSAGES_EACH + SINGLES;
    let comments_in = |tickets: &[Value]| tickets.iter().map(|t| bodies(t).len()).sum::<usize>();
    // Near the end the first router leaves: the second takes its partition.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let tickets = world.tickets().await;
        if comments_in(&tickets) >= events * 3 / 4 || Instant::now() > deadline {
            break;
        }
        assert!(first.running() && second.running(), "a router stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(first.terminate(Duration::from_secs(30)).await, Some(0));
    loop {
        let tickets = world.tickets().await;
        if comments_in(&tickets) >= events || Instant::now() > deadline {
            break;
        }
        assert!(
            second.running(),
            "the second router stopped:\n{}",
            second.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let applied = comments_in(&world.tickets().await);
    assert!(
        applied >= events,
        "{applied} of {events} messages in Zendesk after 300 s\n\
         first router (ended), last lines:\n{}\n\
         second router, last lines:\n{}",
        first.output_tail(60),
        second.output_tail(60)
    );
    // A stop that drains: anything still running is in Zendesk now.
    assert_eq!(second.terminate(Duration::from_secs(30)).await, Some(0));

    let tickets = world.tickets().await;
    let mut by_first: HashMap<String, &Value> = HashMap::new();
    for ticket in &tickets {
        let first_body = bodies(ticket).first().cloned().unwrap_or_default();
        assert!(
            by_first.insert(first_body.clone(), ticket).is_none(),
            "two tickets open with {first_body:?}"
        );
    }
    for conversation in 0..LONG_CONVERSATIONS {
        let ticket = by_first
            .get(&long_text(conversation, 0))
            .unwrap_or_else(|| panic!("no ticket for long-{conversation:02}"));
        let expected: Vec<String> = (0..MESSAGES_EACH)
            .map(|m| long_text(conversation, m))
            .collect();
        assert_eq!(bodies(ticket), expected, "long-{conversation:02}");
    }
    for single in 0..SINGLES {
        let ticket = by_first
            .get(&single_text(single))
            .unwrap_or_else(|| panic!("no ticket for single-{single:03}"));
        assert_eq!(bodies(ticket), [single_text(single)]);
    }
    assert_eq!(
        tickets.len(),
        LONG_CONVERSATIONS + SINGLES,
        "no other tickets"
    );
    assert_eq!(comments_in(&tickets), events);

    // No write went to Zendesk twice.
    let calls = calls(&world).await;
    let creates = calls
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/api/v2/tickets")
        .count();
    let updates: Vec<u16> = calls
        .iter()
        .filter(|(m, p, _)| m == "PUT" && p.starts_with("/api/v2/tickets/"))
        .map(|(_, _, status)| *status)
        .collect();
    assert_eq!(creates, tickets.len(), "one create per ticket");
    assert_eq!(
        updates.len(),
        events - tickets.len(),
        "one update per comment (statuses: {updates:?})"
    );
    drop(gateway);
}
