//! Two router processes (the built binary) sharing one Zendesk budget
//! (issue 13, benchmark): real Kafka (2 partitions per topic) and one
//! PostgreSQL state store, the simulator at 100–400 ms per call with a
//! 700/min account limit, and both routers configured with the whole
//! 700/min and `zendesk.replicas = 2` (each paces by its half of the
//! account's remainder, decisions 39 and 62). The same
//! load as `crates/router/benches/drain.rs`: per contact a mail thread of
//! two (a backlog published as the routers start) and one chat sent while
//! the mail drains, published straight to the channel topics.
//!
//! Prints calls/min ÷ 700 for both together, 429s, calls per new ticket and
//! per comment, tickets/min, chat receipt-to-ticket p50/p99, and checks in
//! the simulator's tickets that every event was applied exactly once, in
//! each thread's order (exit 1 otherwise).
//!
//! Needs `INTAKE_TEST_KAFKA` and `INTAKE_TEST_POSTGRES` (`eval "$(scripts/test-services env)"`).
//! `cargo bench --bench two_routers_drain` (release) or `cargo test --bench
//! two_routers_drain` (debug binary). Knobs: `INTAKE_BENCH_CONTACTS`
//! (default 1000: 3,000 events), `INTAKE_BENCH_CHAT_INTERVAL_MS` (250),
//! `INTAKE_BENCH_ENDPOINT_LIMITS` (1: Zendesk's endpoint limits in the
//! simulator and the routers' defaults for them; otherwise the routers'
//! endpoint buckets are set far above the load, as the simulator has none).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../crates/router/benches/drain/figures.rs"]
mod figures;
#[path = "../crates/router/benches/drain/load.rs"]
mod load;
#[path = "../crates/router/benches/drain/setup.rs"]
mod setup;
#[path = "../crates/router/benches/drain/watch.rs"]
mod watch;

use std::time::{Duration, Instant};

use common::{Backend, Intake, World, kafka_brokers};
use intake_bus::Topics;
use serde_json::Value;

use figures::Figures;
use setup::{LIMIT_PER_MINUTE, contacts_and_chat_interval, sim_config};
use watch::collect;

/// The e-mail channel, enabled so the routers consume its topic; its
/// mailbox is never opened (no gateway runs: the events are published
/// straight to the topic).
fn email_channel(dir: &std::path::Path) -> String {
    let password = dir.join("imap-password");
    std::fs::write(&password, "unused").unwrap();
    format!(
        r#"[channels.email]
enabled = true
[[channels.email.accounts]]
name = "help"
address = "help@bench.test"
[channels.email.accounts.imap]
host = "127.0.0.1"
port = {port}
tls = "none"
username = "help@bench.test"
password_file = {password:?}
"#,
        port = common::free_port(),
    )
}

/// A router process on `world`'s router config with its own listeners,
/// logging warnings only.
fn router(world: &World, name: &str) -> (Intake, std::net::SocketAddr) {
    // Both spend the one account budget: each paces by half its remainder.
    let mut env = vec![("INTAKE__ZENDESK__REPLICAS", "2")];
    if !setup::endpoint_limits_on() {
        // The account's limit alone, as in the simulator: the endpoints'
        // buckets far above anything this load sends.
        env.push(("INTAKE__ZENDESK__UPDATE_TICKET_PER_MINUTE", "1000000"));
        env.push(("INTAKE__ZENDESK__USER_CREATES_PER_MINUTE", "1000000"));
    }
    world.spawn_another_router(&format!("intake-{name}.toml"), &env, |config| {
        config.replace("level = \"info,intake=debug\"", "level = \"warn\"")
    })
}

fn bodies(ticket: &Value) -> Vec<String> {
    ticket["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["body"].as_str())
        // A chat whose visitor typed an e-mail address gets a note under the
        // text (the detail is unverified): the message is what comes before.
        .map(|body| body.split("\n\n---\n").next().unwrap_or(body).to_owned())
        .collect()
}

/// Every event applied once: one ticket per mail thread with its two mails
/// in order, one per chat with its message; nothing else.
fn check_exactly_once(tickets: &[Value], contacts: usize) -> Result<(), String> {
    let mut expected: std::collections::HashSet<Vec<String>> = (0..contacts)
        .flat_map(|c| {
            [
                vec![load::mail_text(c, 0), load::mail_text(c, 1)],
                vec![load::chat_text(c)],
            ]
        })
        .collect();
    for ticket in tickets {
        let got = bodies(ticket);
        if !expected.remove(&got) {
            return Err(format!("unexpected ticket or second copy: {got:?}"));
        }
    }
    if !expected.is_empty() {
        return Err(format!("{} tickets missing or incomplete", expected.len()));
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let Some(brokers) = kafka_brokers() else {
        return std::process::ExitCode::SUCCESS;
    };
    let store_dir = tempfile::tempdir().unwrap();
    let Some(store) = common::postgres::store_toml(store_dir.path()).await else {
        return std::process::ExitCode::SUCCESS;
    };
    let (contacts, chat_every) = contacts_and_chat_interval();
    let sim = sim_config();
    let extra = email_channel(store_dir.path());
    let world = World::with_store(Backend::Kafka, Some(&brokers), sim, &extra, Some(&store)).await;
    println!(
        "two routers: {contacts} contacts, {} events ({} mail backlog, {} chats every {} ms), \
         Kafka + PostgreSQL, limit {LIMIT_PER_MINUTE}/min shared{}, response 100-400 ms",
        contacts * 3,
        contacts * 2,
        contacts,
        chat_every.as_millis(),
        setup::describe_endpoint_limits(),
    );
    let (mut first, first_ops) = router(&world, "router-1");
    world.wait_ready_on(first_ops, &mut first).await;
    let (mut second, second_ops) = router(&world, "router-2");
    world.wait_ready_on(second_ops, &mut second).await;

    let bus = intake_bus::connect(world.bus_options()).await.unwrap();
    let publisher = bus.publisher();
    let topics = Topics::new(&world.topic_prefix);
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = watch::outcomes(&bus, topics.outcomes(), watching.clone()).await;
    let started = Instant::now();
    let started_at = world.sim.state().now();
    for round in 0..2 {
        for c in 0..contacts {
            let record = load::record(&topics, &load::mail(c, round));
            publisher.publish(record).await.unwrap();
        }
    }
    // The watcher has joined its group before the first chat is timed.
    while seen.count() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no outcome came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut pending = Vec::new();
    let mut latencies = Vec::new();
    let mut mail_left_at_last_chat = None;
    for c in 0..contacts {
        tokio::time::sleep(chat_every).await;
        let event = load::chat(c);
        publisher
            .publish(load::record(&topics, &event))
            .await
            .unwrap();
        pending.push((event.event_id.to_string(), Instant::now()));
        collect(&seen, &mut pending, &mut latencies);
    }
    let total = contacts * 3;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        collect(&seen, &mut pending, &mut latencies);
        let applied = seen.count();
        if pending.is_empty() && mail_left_at_last_chat.is_none() {
            let mail_applied = applied.saturating_sub(latencies.len());
            mail_left_at_last_chat = Some((contacts * 2).saturating_sub(mail_applied));
        }
        if applied >= total && pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backlog did not drain within an hour"
        );
        assert!(
            first.running() && second.running(),
            "a router stopped:\n{}\n{}",
            first.output(),
            second.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let ended_at = world.sim.state().now();
    let requests = world.sim.state().requests();
    let stats = world.sim.state().stats();
    // Stops that drain: anything still running is in Zendesk afterwards.
    assert_eq!(first.terminate(Duration::from_secs(30)).await, Some(0));
    assert_eq!(second.terminate(Duration::from_secs(30)).await, Some(0));
    watching.store(true, std::sync::atomic::Ordering::Relaxed);
    let tickets = world.sim.state().tickets();
    latencies.sort();
    let figures = Figures {
        mode: "two routers".to_owned(),
        limits: setup::limits(),
        elapsed,
        stopped_early: false,
        events_total: total,
        chats_sent: contacts,
        chat_latencies: latencies,
        mail_left_at_last_chat,
        span: Some((started_at, ended_at)),
        ..figures::recorded(&requests, &stats, &tickets)
    };
    figures::print(&figures);
    match check_exactly_once(&tickets, contacts) {
        Ok(()) => {
            println!(
                "    every event applied exactly once, in order (checked in the simulator's tickets)"
            );
            std::process::ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("two routers: {problem}");
            std::process::ExitCode::FAILURE
        }
    }
}
