//! Draining a backlog at Zendesk's rate budget (issue 13): the router
//! against the simulator with a per-call response time (100–400 ms, seeded)
//! and a 700/min account limit, on the embedded bus and a SQLite store.
//!
//! Per contact: two mails in one thread (a ticket and a comment) published
//! as a backlog before the router starts, and one chat message sent while
//! the mail drains. Run twice in one process: `max_in_flight = 1` (the
//! serial router) and the default lanes. Prints, per run: calls per minute
//! ÷ the limit, 429s, Zendesk calls per new ticket and per comment, tickets
//! per minute, chat receipt-to-ticket p50/p99.
//!
//! `cargo bench -p intake-router --bench drain`; knobs (environment):
//! `INTAKE_BENCH_CONTACTS` (default 200; the size is 1000, 3,000
//! events), `INTAKE_BENCH_CHAT_INTERVAL_MS` (default 250),
//! `INTAKE_BENCH_MODES` (`serial,lanes` by default), `INTAKE_BENCH_IN_FLIGHT`
//! (the lanes run's `max_in_flight`, default the router's default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use intake_blob::{BlobStore, LocalDirBlobStore};
use intake_bus::{BusOptions, EmbeddedOptions, Record, Topics, cloudevent_headers};
use intake_event::{Contact, SCHEMA_ID, TicketEvent};
use intake_router::{ChannelRoute, Router, RouterOptions};
use intake_store::{SqliteStore, StateStore};
use intake_zendesk::{Auth, Client, ClientOptions};
use intake_zendesk_sim::{SimConfig, Simulator};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const LIMIT_PER_MINUTE: u32 = 700;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(channel: &str, id: &str, key: &str, thread: &str, text: &str) -> TicketEvent {
    let contact = Contact {
        key: key.to_owned(),
        name: Some("Bench Customer".to_owned()),
        ..Contact::default()
    };
    let mut event = TicketEvent::new(channel, id, contact, text, Utc::now());
    event.conversation.thread_id = Some(thread.to_owned());
    event
}

fn record(topics: &Topics, event: &TicketEvent) -> Record {
    Record {
        topic: topics.events(&event.channel),
        key: event.contact.key.clone(),
        payload: event.to_json(),
        headers: cloudevent_headers(
            &event.event_id.to_string(),
            "/intake/bench",
            SCHEMA_ID,
            event.received_at,
            None,
        ),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Figures {
    mode: &'static str,
    elapsed: Duration,
    calls: u64,
    rate_limited: u64,
    tickets: usize,
    comments: usize,
    creation_calls: usize,
    comment_calls: usize,
    chat_p50: Duration,
    chat_p99: Duration,
}

async fn run(
    mode: &'static str,
    max_in_flight: usize,
    contacts: usize,
    chat_every: Duration,
) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let bus = intake_bus::connect(BusOptions::Embedded(EmbeddedOptions::new(
        dir.path().join("bus.db"),
    )))
    .await
    .unwrap();
    let topics = Topics::new("bench");
    let store: Arc<dyn StateStore> = Arc::new(
        SqliteStore::open(dir.path().join("state.db"))
            .await
            .unwrap(),
    );
    let blobs: Arc<dyn BlobStore> = Arc::new(LocalDirBlobStore::new(dir.path().join("blobs")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(
        SimConfig {
            requests_per_minute: Some(LIMIT_PER_MINUTE),
            search_lag: Duration::ZERO,
            response_delay: Some((Duration::from_millis(100), Duration::from_millis(400))),
            ..SimConfig::default()
        },
        listener,
    )
    .await
    .unwrap();
    let client = Client::new(ClientOptions {
        base_url: url::Url::parse(&sim.base_url).unwrap(),
        auth: Auth::ApiToken {
            email: "agent@intake-sim.test".to_owned(),
            token: secrecy::SecretString::from("sim-token"),
        },
        requests_per_minute: LIMIT_PER_MINUTE,
        request_timeout: Duration::from_secs(30),
        max_attempts: 5,
    })
    .unwrap();
    let publisher = bus.publisher();
    for round in 0..2 {
        for c in 0..contacts {
            let mail = event(
                "email",
                &format!("mail-{c}-{round}"),
                &format!("email:c{c}@bench.test"),
                &format!("mail-thread-{c}"),
                &format!("mail {round} of contact {c}"),
            );
            publisher.publish(record(&topics, &mail)).await.unwrap();
        }
    }
    let routes = vec![ChannelRoute::new("chat"), ChannelRoute::new("email")];
    let mut options = RouterOptions::new(topics.clone(), routes);
    options.max_in_flight = max_in_flight;
    let router = Router::new(bus.clone(), store, blobs, client, options).unwrap();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(router.run(shutdown.clone()));

    // Chat arrives while the mail drains; each chat makes a ticket.
    let mut pending = Vec::new();
    for c in 0..contacts {
        tokio::time::sleep(chat_every).await;
        let chat = event(
            "chat",
            &format!("chat-{c}"),
            &format!("chat:v{c}"),
            &format!("chat-thread-{c}"),
            &format!("chat of contact {c}"),
        );
        publisher.publish(record(&topics, &chat)).await.unwrap();
        pending.push((chat.event_id.to_string(), Instant::now()));
        collect(&sim.state().tickets(), &mut pending, &mut Vec::new());
    }
    let mut latencies = Vec::new();
    let total_events = contacts * 3;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let tickets = sim.state().tickets();
        collect(&tickets, &mut pending, &mut latencies);
        let comments: usize = tickets.iter().map(comment_count).sum();
        if comments >= total_events && pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{mode}: the backlog did not drain within an hour"
        );
        assert!(!task.is_finished(), "{mode}: the router stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    task.await.unwrap().unwrap();
    latencies.sort();

    let http = reqwest::Client::new();
    let stats: Value = http
        .get(format!("{}/admin/stats", sim.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests: Value = http
        .get(format!("{}/admin/requests", sim.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests = requests["requests"].as_array().cloned().unwrap_or_default();
    let creation_calls = requests
        .iter()
        .filter(|r| {
            r["method"] == "POST"
                && (r["path"] == "/api/v2/tickets" || r["path"] == "/api/v2/users/create_or_update")
        })
        .count();
    let comment_calls = requests
        .iter()
        .filter(|r| {
            let path = r["path"].as_str().unwrap_or_default();
            path.starts_with("/api/v2/tickets/") && (r["method"] == "PUT" || r["method"] == "GET")
        })
        .count();
    let tickets = sim.state().tickets();
    let comments: usize = tickets.iter().map(comment_count).sum::<usize>() - tickets.len();
    Figures {
        mode,
        elapsed,
        calls: stats["requests_total"].as_u64().unwrap_or(0),
        rate_limited: stats["by_status"]["429"].as_u64().unwrap_or(0),
        tickets: tickets.len(),
        comments,
        creation_calls,
        comment_calls,
        chat_p50: percentile(&latencies, 50.0),
        chat_p99: percentile(&latencies, 99.0),
    }
}

fn comment_count(ticket: &Value) -> usize {
    ticket["comments"].as_array().map_or(0, Vec::len)
}

/// Moves chats whose ticket exists from `pending` to `latencies`.
fn collect(tickets: &[Value], pending: &mut Vec<(String, Instant)>, latencies: &mut Vec<Duration>) {
    let made: std::collections::HashSet<&str> = tickets
        .iter()
        .filter_map(|t| t["external_id"].as_str())
        .collect();
    pending.retain(|(id, sent)| {
        if made.contains(id.as_str()) {
            latencies.push(sent.elapsed());
            false
        } else {
            true
        }
    });
}

fn print(f: &Figures) {
    let minutes = f.elapsed.as_secs_f64() / 60.0;
    let per_minute = f.calls as f64 / minutes;
    println!(
        "{:>6}: {:>6.1} s, {} calls = {:.0}/min = {:.3} of the limit, 429s {}, \
         calls per new ticket {:.2}, per comment {:.2}, tickets/min {:.1}, \
         chat receipt-to-ticket p50 {} ms p99 {} ms",
        f.mode,
        f.elapsed.as_secs_f64(),
        f.calls,
        per_minute,
        per_minute / f64::from(LIMIT_PER_MINUTE),
        f.rate_limited,
        f.creation_calls as f64 / f.tickets.max(1) as f64,
        f.comment_calls as f64 / f.comments.max(1) as f64,
        f.tickets as f64 / minutes,
        f.chat_p50.as_millis(),
        f.chat_p99.as_millis(),
    );
}

#[tokio::main]
async fn main() {
    let contacts = env_number("INTAKE_BENCH_CONTACTS", 200) as usize;
    let chat_every = Duration::from_millis(env_number("INTAKE_BENCH_CHAT_INTERVAL_MS", 250));
    let modes = std::env::var("INTAKE_BENCH_MODES").unwrap_or_else(|_| "serial,lanes".to_owned());
    println!(
        "drain: {contacts} contacts, {} events ({} mail backlog, {} chat every {} ms), \
         limit {LIMIT_PER_MINUTE}/min, response 100-400 ms",
        contacts * 3,
        contacts * 2,
        contacts,
        chat_every.as_millis()
    );
    for mode in modes.split(',').map(str::trim) {
        let figures = match mode {
            "serial" => run("serial", 1, contacts, chat_every).await,
            "lanes" => {
                run(
                    "lanes",
                    intake_router::default_max_in_flight(),
                    contacts,
                    chat_every,
                )
                .await
            }
            other => panic!("unknown mode {other:?} (serial, lanes)"),
        };
        print(&figures);
    }
}
