#![forbid(unsafe_code)]
//! `cargo bench -p intake-bus --bench embedded_publish`: publishes per second
//! and publish latency of the embedded bus alone, with one commit per record
//! (`max_batch_records = 1`) and with group commit, in the same run, so the
//! two are comparable on a shared machine. See `docs/performance.md`.
//!
//! Environment: `INTAKE_BENCH_MESSAGES` (default 4000) records per variant,
//! `INTAKE_BENCH_CONCURRENCY` (default 64) publishes in flight,
//! `INTAKE_BENCH_WAIT_MICROS` (default 0 and 500) the batch waits tried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use intake_bus::{Bus as _, EmbeddedBus, EmbeddedOptions, Publisher, Record};
use tokio::task::JoinSet;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(default)
}

struct Outcome {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

async fn measure(
    max_batch_records: usize,
    wait_micros: u64,
    messages: u64,
    concurrency: u64,
) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = EmbeddedOptions::new(dir.path().join("bus.sqlite"));
    options.max_batch_records = max_batch_records;
    options.max_batch_wait_micros = wait_micros;
    let bus = EmbeddedBus::open(options).await.expect("open");
    let publisher: Arc<dyn Publisher> = bus.publisher();
    let payload = vec![b'x'; 600];
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..concurrency {
        let publisher = Arc::clone(&publisher);
        let payload = payload.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            for n in (worker..messages).step_by(concurrency as usize) {
                let sent = Instant::now();
                publisher
                    .publish(Record {
                        topic: "bench".to_owned(),
                        key: format!("contact-{}", n % 500),
                        payload: payload.clone(),
                        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                    })
                    .await
                    .expect("publish");
                latencies.push(sent.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined.expect("publisher task"));
    }
    let elapsed = started.elapsed();
    bus.close().await.expect("close");
    latencies.sort_unstable();
    let rank = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    Outcome {
        per_sec: messages as f64 / elapsed.as_secs_f64(),
        p50: rank(0.50),
        p99: rank(0.99),
    }
}

#[tokio::main]
async fn main() {
    let messages = env_number("INTAKE_BENCH_MESSAGES", 4000).max(1);
    let concurrency = env_number("INTAKE_BENCH_CONCURRENCY", 64).max(1);
    let waits: Vec<u64> = match std::env::var("INTAKE_BENCH_WAIT_MICROS") {
        Ok(text) => text
            .split(',')
            .filter_map(|w| w.trim().parse().ok())
            .collect(),
        Err(_) => vec![0, 500],
    };
    println!("embedded publish benchmark: {messages} records, {concurrency} in flight");
    println!("| variant | publishes/s | p50 / p99 ms |");
    println!("|---|---|---|");
    let serial = measure(1, 0, messages, concurrency).await;
    let row = |name: String, o: &Outcome| {
        println!(
            "| {name} | {:.0} | {:.1} / {:.1} |",
            o.per_sec,
            o.p50.as_secs_f64() * 1e3,
            o.p99.as_secs_f64() * 1e3
        );
    };
    row(
        "one commit per record (max_batch_records = 1)".to_owned(),
        &serial,
    );
    for wait in waits {
        let grouped = measure(256, wait, messages, concurrency).await;
        row(
            format!("group commit (256 records, wait {wait} µs)"),
            &grouped,
        );
        println!(
            "  same run, group / one per record: {:.2}x publishes/s, p99 {:.2}x",
            grouped.per_sec / serial.per_sec,
            grouped.p99.as_secs_f64() / serial.p99.as_secs_f64()
        );
    }
}
