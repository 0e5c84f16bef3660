//! Draining a backlog at Zendesk's rate budget (issue 13): the router
//! against the simulator with a per-call response time (100–400 ms, seeded)
//! and a 700/min account limit, on the embedded bus and a SQLite store.
//!
//! Per contact: two mails in one thread (a ticket and a comment, from an
//! e-mail address) published as a backlog before the router starts, and one
//! chat message (a website visitor; every third gives an e-mail address)
//! sent while the mail drains. Runs in one process, each on a fresh
//! simulator and store: the default lanes (with the held-back slot), then
//! the serial router (`max_in_flight = 1`) on the same backlog, stopped
//! after `INTAKE_BENCH_SERIAL_SECS` (its rates over that part: at the
//! issue's size it would take ~27 minutes). Prints, per run: calls per
//! minute ÷ the limit, 429s, Zendesk calls per new ticket and per comment,
//! tickets per minute, chat receipt-to-ticket p50/p99 while the mail drains,
//! and whether every event was applied exactly once.
//!
//! `cargo bench -p intake-router --bench drain`; knobs (environment):
//! `INTAKE_BENCH_CONTACTS` (default 1000: 3,000 events),
//! `INTAKE_BENCH_ENDPOINT_LIMITS` (1: Zendesk's Update Ticket and
//! user-creation limits on as well, in the simulator and the client; the
//! figures then name the limit that binds),
//! `INTAKE_BENCH_CHAT_INTERVAL_MS` (default 250), `INTAKE_BENCH_MODES`
//! (`lanes,serial` by default; also `lanes-no-reserve`), `INTAKE_BENCH_IN_FLIGHT`
//! (the lanes runs' `max_in_flight`, default sized from the limit as the
//! service does), `INTAKE_BENCH_SERIAL_SECS` (default 240; 0: no bound).

#[path = "drain/figures.rs"]
mod figures;
#[path = "drain/load.rs"]
mod load;
#[path = "drain/setup.rs"]
mod setup;
#[path = "drain/watch.rs"]
mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use intake_blob::{BlobStore, LocalDirBlobStore};
use intake_bus::{BusOptions, EmbeddedOptions, Topics};
use intake_router::{ChannelRoute, Router, RouterOptions};
use intake_store::{SqliteStore, StateStore};
use intake_zendesk::{Auth, Client, ClientOptions, EndpointLimitOptions};
use intake_zendesk_sim::Simulator;
use tokio_util::sync::CancellationToken;

use figures::Figures;
use load::{chat, mail, record};
use setup::{LIMIT_PER_MINUTE, contacts_and_chat_interval, env_number, sim_config};
use watch::collect;

/// One run's settings.
struct Mode {
    name: String,
    max_in_flight: usize,
    reserved_in_flight: usize,
    /// Stop after this long even if the backlog is not drained.
    stop_after: Option<Duration>,
}

async fn run(mode: &Mode, contacts: usize, chat_every: Duration) -> Figures {
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
    let sim = Simulator::start(sim_config(), listener).await.unwrap();
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
    if setup::endpoint_limits_on() {
        client.set_endpoint_limits(EndpointLimitOptions {
            update_ticket_per_minute: Some(setup::UPDATE_TICKET_PER_MINUTE),
            user_creates_per_minute: Some(setup::USER_CREATES_PER_MINUTE),
        });
    }
    let publisher = bus.publisher();
    for round in 0..2 {
        for c in 0..contacts {
            publisher
                .publish(record(&topics, &mail(c, round)))
                .await
                .unwrap();
        }
    }
    let routes = vec![ChannelRoute::new("chat"), ChannelRoute::new("email")];
    let mut options = RouterOptions::new(topics.clone(), routes);
    options.max_in_flight = mode.max_in_flight;
    options.reserved_in_flight = mode.reserved_in_flight;
    let router = Router::new(bus.clone(), store, blobs, client, options).unwrap();
    let shutdown = CancellationToken::new();
    bus.ensure_topics(&[topics.outcomes()]).await.unwrap();
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = watch::outcomes(&bus, topics.outcomes(), watching.clone()).await;
    let started = Instant::now();
    let started_at = sim.state().now();
    let task = tokio::spawn(router.run(shutdown.clone()));
    let past_bound = || {
        mode.stop_after
            .is_some_and(|bound| started.elapsed() >= bound)
    };

    // Chat arrives while the mail drains; each chat makes a ticket.
    let mut pending = Vec::new();
    let mut latencies = Vec::new();
    let mut chats_sent = 0;
    let mut mail_left_at_last_chat = None;
    let mail_events = contacts * 2;
    for c in 0..contacts {
        tokio::time::sleep(chat_every).await;
        if past_bound() {
            break;
        }
        let event = chat(c);
        publisher.publish(record(&topics, &event)).await.unwrap();
        chats_sent += 1;
        pending.push((event.event_id.to_string(), Instant::now()));
        collect(&seen, &mut pending, &mut latencies);
    }
    let total_events = mail_events + contacts;
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut stopped_early = false;
    loop {
        collect(&seen, &mut pending, &mut latencies);
        let done = seen.count();
        // Every chat answered: how much mail is still to come (a chat ticket
        // is one comment).
        if chats_sent == contacts && pending.is_empty() && mail_left_at_last_chat.is_none() {
            let mail_applied = done.saturating_sub(latencies.len());
            mail_left_at_last_chat = Some(mail_events.saturating_sub(mail_applied));
        }
        if done >= total_events && pending.is_empty() {
            break;
        }
        if past_bound() {
            stopped_early = true;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the backlog did not drain within an hour",
            mode.name
        );
        assert!(!task.is_finished(), "{}: the router stopped", mode.name);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let ended_at = sim.state().now();
    // Measured up to here; what finishes during the stop is not counted.
    let requests = sim.state().requests();
    let stats = sim.state().stats();
    let tickets = sim.state().tickets();
    shutdown.cancel();
    watching.store(true, std::sync::atomic::Ordering::Relaxed);
    task.await.unwrap().unwrap();
    latencies.sort();
    Figures {
        mode: mode.name.clone(),
        limits: setup::limits(),
        elapsed,
        stopped_early,
        events_total: total_events,
        chats_sent,
        chat_latencies: latencies,
        chat_unanswered: pending.iter().map(|(_, sent)| sent.elapsed()).collect(),
        mail_left_at_last_chat,
        span: Some((started_at, ended_at)),
        ..figures::recorded(&requests, &stats, &tickets)
    }
}

#[tokio::main]
async fn main() {
    let (contacts, chat_every) = contacts_and_chat_interval();
    let modes = std::env::var("INTAKE_BENCH_MODES").unwrap_or_else(|_| "lanes,serial".to_owned());
    let in_flight = env_number(
        "INTAKE_BENCH_IN_FLIGHT",
        (intake_router::in_flight_for(LIMIT_PER_MINUTE)
            + intake_router::default_reserved_in_flight()) as u64,
    ) as usize;
    let serial_secs = env_number("INTAKE_BENCH_SERIAL_SECS", 240);
    println!(
        "drain: {contacts} contacts, {} events ({} mail backlog, {} chats every {} ms), \
         limit {LIMIT_PER_MINUTE}/min{}, response 100-400 ms, lanes max_in_flight {in_flight}",
        contacts * 3,
        contacts * 2,
        contacts,
        chat_every.as_millis(),
        setup::describe_endpoint_limits(),
    );
    for name in modes.split(',').map(str::trim) {
        let mode = match name {
            "lanes" => Mode {
                name: format!("lanes ({in_flight}, 1 held back)"),
                max_in_flight: in_flight,
                reserved_in_flight: 1,
                stop_after: None,
            },
            "lanes-no-reserve" => Mode {
                name: format!("lanes ({in_flight}, none held back)"),
                max_in_flight: in_flight,
                reserved_in_flight: 0,
                stop_after: None,
            },
            "serial" => Mode {
                name: "serial (1)".to_owned(),
                max_in_flight: 1,
                reserved_in_flight: 0,
                stop_after: (serial_secs > 0).then(|| Duration::from_secs(serial_secs)),
            },
            other => panic!("unknown mode {other:?} (lanes, lanes-no-reserve, serial)"),
        };
        let figures = run(&mode, contacts, chat_every).await;
        figures::print(&figures);
    }
}
