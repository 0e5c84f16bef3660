//! The two measurements: signed chat messages accepted per second by the
//! gateway (gateway role only, so no router competes for the CPU), and the
//! time from a POST being sent to its ticket existing in the simulator
//! (gateway and router in one process, a steady modest send rate).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use intake_app::Role;
use tokio::task::JoinSet;

use crate::stats::{Histogram, Percentiles, counter_value, histogram_value};
use crate::world::{Backend, World};

/// Upper bound on one whole throughput batch.
const BATCH_TIMEOUT: Duration = Duration::from_secs(900);
/// How long the first (warm-up) ticket may take: a Kafka consumer group
/// needs a few seconds to get its partitions.
const WARMUP_TICKET_TIMEOUT: Duration = Duration::from_secs(120);
/// Extra time, beyond the sending itself, for the last tickets to appear.
const DRAIN_GRACE: Duration = Duration::from_secs(120);
/// How long the router's histogram may lag behind the tickets.
const HISTOGRAM_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the simulator's ticket count is looked at.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// Phase 1 result.
pub struct Throughput {
    pub messages: usize,
    pub concurrency: usize,
    pub elapsed: Duration,
    /// Requests answered 202, per second of wall time.
    pub accepted_per_sec: f64,
    /// Round trip of one POST (send to 202) under this load.
    pub round_trip: Percentiles,
    /// Increase of `intake_events_published_total{channel="chat"}`.
    pub published: f64,
}

/// Phase 2 result.
pub struct Latency {
    pub tickets: usize,
    pub rate_per_sec: f64,
    /// POST sent until the ticket exists in the simulator.
    pub receipt_to_ticket: Percentiles,
    /// What the router itself recorded in `intake_receipt_to_ticket_seconds`.
    pub router_histogram: Histogram,
    /// Each message's (send time after the first send, send-to-ticket time), in send order.
    pub samples: Vec<(Duration, Duration)>,
}

/// Phase 1: `messages` signed chat messages with `concurrency` in flight,
/// against a gateway-only service; every one must be answered 202.
pub async fn throughput(
    backend: &Backend,
    messages: usize,
    concurrency: usize,
) -> anyhow::Result<Throughput> {
    let world = World::start(backend, Role::Gateway, "tp").await?;
    let outcome = measure_throughput(&world, messages, concurrency).await;
    world.stop().await?;
    outcome
}

async fn measure_throughput(
    world: &World,
    messages: usize,
    concurrency: usize,
) -> anyhow::Result<Throughput> {
    let warmup = (messages / 10).clamp(1, 200);
    post_batch(world, "warm", warmup, concurrency).await?;
    let published_before = counter_value(&world.metrics().await?, PUBLISHED, "chat");
    let started = Instant::now();
    let round_trips = post_batch(world, "msg", messages, concurrency).await?;
    let elapsed = started.elapsed();
    let published_after = counter_value(&world.metrics().await?, PUBLISHED, "chat");
    Ok(Throughput {
        messages,
        concurrency,
        elapsed,
        accepted_per_sec: messages as f64 / elapsed.as_secs_f64(),
        round_trip: Percentiles::of(round_trips),
        published: published_after - published_before,
    })
}

const PUBLISHED: &str = "intake_events_published_total";
const RECEIPT_TO_TICKET: &str = "intake_receipt_to_ticket_seconds";

/// Posts `count` messages with `concurrency` in flight; fails unless every
/// answer is 202. Returns each request's round trip.
async fn post_batch(
    world: &World,
    tag: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Duration>> {
    let requests = futures::stream::iter(0..count)
        .map(|i| async move {
            let started = Instant::now();
            let status = world.poster.post_chat(&format!("{tag}-{i}"), i % 500).await;
            (status, started.elapsed())
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>();
    let answers = tokio::time::timeout(BATCH_TIMEOUT, requests)
        .await
        .map_err(|_| anyhow::anyhow!("{count} posts did not finish within {BATCH_TIMEOUT:?}"))?;
    let mut round_trips = Vec::with_capacity(count);
    let mut unexpected: HashMap<String, usize> = HashMap::new();
    for (status, round_trip) in answers {
        match status {
            Ok(202) => round_trips.push(round_trip),
            Ok(other) => *unexpected.entry(other.to_string()).or_default() += 1,
            Err(error) => *unexpected.entry(format!("{error:#}")).or_default() += 1,
        }
    }
    if !unexpected.is_empty() {
        anyhow::bail!("not every message was accepted with 202: {unexpected:?}");
    }
    Ok(round_trips)
}

/// Phase 2: `tickets` messages, each from a new customer, sent at
/// `rate_per_sec`; each one's time from send to ticket in the simulator.
pub async fn latency(
    backend: &Backend,
    tickets: usize,
    rate_per_sec: f64,
) -> anyhow::Result<Latency> {
    let world = World::start(backend, Role::All, "lat").await?;
    let outcome = measure_latency(&world, tickets, rate_per_sec).await;
    world.stop().await?;
    outcome
}

async fn measure_latency(
    world: &World,
    tickets: usize,
    rate_per_sec: f64,
) -> anyhow::Result<Latency> {
    // One ticket first, so consumer start-up (and Kafka's group join) is not measured.
    let histogram_start = histogram_value(&world.metrics().await?, RECEIPT_TO_TICKET, "chat");
    let warm_id = "latency-warmup";
    let sent = Arc::new(Mutex::new(HashMap::from([(
        external_id(warm_id),
        Instant::now(),
    )])));
    let status = world.poster.post_chat(warm_id, 0).await?;
    anyhow::ensure!(status == 202, "the warm-up message was answered {status}");
    let warm = watch_tickets(world, &sent, 1, WARMUP_TICKET_TIMEOUT).await;
    anyhow::ensure!(
        warm.len() == 1,
        "the warm-up ticket did not appear within {WARMUP_TICKET_TIMEOUT:?}"
    );
    sent.lock().unwrap_or_else(PoisonError::into_inner).clear();
    // The router records the histogram just after Zendesk answered: wait for
    // the warm-up's sample so it is not counted with the measured ones.
    let histogram_before = histogram_reaching(world, histogram_start.count + 1.0).await?;

    let interval = Duration::from_secs_f64(1.0 / rate_per_sec.max(0.1));
    let deadline = interval * u32::try_from(tickets).unwrap_or(u32::MAX) + DRAIN_GRACE;
    let (posts, seen) = tokio::join!(
        send_steadily(world, &sent, tickets, interval),
        watch_tickets(world, &sent, tickets, deadline),
    );
    posts?;
    anyhow::ensure!(
        seen.len() == tickets,
        "only {} of {tickets} tickets appeared within {deadline:?}",
        seen.len()
    );
    let histogram_after =
        histogram_reaching(world, histogram_before.count + tickets as f64).await?;
    let mut samples: Vec<(Instant, Duration)> = seen.into_values().collect();
    samples.sort_unstable_by_key(|(sent_at, _)| *sent_at);
    let first = samples
        .first()
        .map_or_else(Instant::now, |(sent_at, _)| *sent_at);
    Ok(Latency {
        tickets,
        rate_per_sec,
        receipt_to_ticket: Percentiles::of(samples.iter().map(|(_, d)| *d).collect()),
        samples: samples
            .into_iter()
            .map(|(sent_at, d)| (sent_at.duration_since(first), d))
            .collect(),
        router_histogram: histogram_after.minus(&histogram_before),
    })
}

/// The router's receipt-to-ticket histogram once it holds `count` samples
/// (or after [`HISTOGRAM_TIMEOUT`], as it is then).
async fn histogram_reaching(world: &World, count: f64) -> anyhow::Result<Histogram> {
    let deadline = Instant::now() + HISTOGRAM_TIMEOUT;
    loop {
        let histogram = histogram_value(&world.metrics().await?, RECEIPT_TO_TICKET, "chat");
        if histogram.count >= count || Instant::now() >= deadline {
            return Ok(histogram);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ticket's `external_id`: the event id of the chat message.
fn external_id(message_id: &str) -> String {
    intake_event::event_id("chat", message_id).to_string()
}

/// Sends one message per `interval` (each from a new customer), recording
/// the send instant before the POST leaves; fails unless all get 202.
async fn send_steadily(
    world: &World,
    sent: &Mutex<HashMap<String, Instant>>,
    count: usize,
    interval: Duration,
) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut posts = JoinSet::new();
    for i in 0..count {
        ticker.tick().await;
        let message_id = format!("ticket-{i}");
        sent.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(external_id(&message_id), Instant::now());
        let poster = world.poster.clone();
        posts.spawn(async move { poster.post_chat(&message_id, 1_000_000 + i).await });
    }
    let mut failures = Vec::new();
    while let Some(joined) = posts.join_next().await {
        match joined? {
            Ok(202) => {}
            Ok(status) => failures.push(status.to_string()),
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    anyhow::ensure!(failures.is_empty(), "posts not accepted: {failures:?}");
    Ok(())
}

/// Watches the simulator's state in-process until `expected` of the ids in
/// `sent` have a ticket (or `timeout`); returns each one's send instant and
/// send-to-ticket time.
async fn watch_tickets(
    world: &World,
    sent: &Mutex<HashMap<String, Instant>>,
    expected: usize,
    timeout: Duration,
) -> HashMap<String, (Instant, Duration)> {
    let deadline = Instant::now() + timeout;
    let state = world.sim.state();
    let mut seen: HashMap<String, (Instant, Duration)> = HashMap::with_capacity(expected);
    let mut known_tickets = 0u64;
    while seen.len() < expected && Instant::now() < deadline {
        tokio::time::sleep(POLL_INTERVAL).await;
        // The ticket count is cheap; the full listing only when it moved.
        let count = state.stats()["tickets"].as_u64().unwrap_or(0);
        if count == known_tickets {
            continue;
        }
        let now = Instant::now();
        known_tickets = count;
        let sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
        for ticket in state.tickets() {
            let Some(id) = ticket["external_id"].as_str() else {
                continue;
            };
            if let Some(sent_at) = sent.get(id) {
                seen.entry(id.to_owned())
                    .or_insert_with(|| (*sent_at, now.duration_since(*sent_at)));
            }
        }
    }
    seen
}
