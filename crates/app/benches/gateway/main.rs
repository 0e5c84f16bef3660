#![forbid(unsafe_code)]
//! `cargo bench -p intake-app --bench gateway`: how many signed chat messages
//! the gateway accepts (onto the bus) per second, and how long a message
//! takes from its POST to a ticket in the Zendesk simulator, for each bus
//! backend. The service and the simulator (rate limiting off) run in this
//! process on loopback; see `docs/performance.md` for figures.
//!
//! Environment:
//! - `INTAKE_BENCH_MESSAGES` (default 2000): messages in the throughput phase;
//! - `INTAKE_BENCH_CONCURRENCY` (default 16): requests in flight there;
//! - `INTAKE_BENCH_TICKETS` (default 200): messages in the latency phase;
//! - `INTAKE_BENCH_RATE` (default 20): messages per second in the latency phase;
//! - `INTAKE_BENCH_LOG` (default `warn`): the service's log filter;
//! - `INTAKE_TEST_KAFKA`: Kafka bootstrap servers; without it the Kafka half
//!   is skipped (`scripts/test-services start`, then
//!   `eval "$(scripts/test-services env)"`).

mod phases;
mod stats;
mod world;

use std::process::ExitCode;
use std::time::Duration;

use phases::{Latency, Throughput};
use stats::ms;
use world::Backend;

struct Options {
    messages: usize,
    concurrency: usize,
    tickets: usize,
    rate_per_sec: f64,
}

impl Options {
    fn from_env() -> anyhow::Result<Options> {
        Ok(Options {
            messages: env_number("INTAKE_BENCH_MESSAGES", 2000)?,
            concurrency: env_number("INTAKE_BENCH_CONCURRENCY", 16)?,
            tickets: env_number("INTAKE_BENCH_TICKETS", 200)?,
            rate_per_sec: env_number("INTAKE_BENCH_RATE", 20.0)?,
        })
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={text:?} is not a valid number")),
        _ => Ok(default),
    }
}

struct Row {
    backend: &'static str,
    throughput: Throughput,
    latency: Latency,
}

#[tokio::main]
async fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("benchmark failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let options = Options::from_env()?;
    let mut backends = vec![Backend::Embedded];
    match std::env::var("INTAKE_TEST_KAFKA") {
        Ok(brokers) if !brokers.trim().is_empty() => backends.push(Backend::Kafka(brokers)),
        _ => println!(
            "kafka half skipped: INTAKE_TEST_KAFKA is not set \
             (scripts/test-services start; eval \"$(scripts/test-services env)\")"
        ),
    }
    println!(
        "gateway benchmark: {} cpu(s); throughput {} messages, {} in flight (gateway role only); \
         latency {} tickets at {}/s (gateway + router), simulator rate limit off",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        options.messages,
        options.concurrency,
        options.tickets,
        options.rate_per_sec,
    );

    let mut rows = Vec::new();
    for backend in &backends {
        println!("[{}] throughput phase…", backend.name());
        let throughput = phases::throughput(backend, options.messages, options.concurrency).await?;
        anyhow::ensure!(
            throughput.published >= throughput.messages as f64,
            "[{}] the gateway answered 202 to {} messages but published {} events",
            backend.name(),
            throughput.messages,
            throughput.published
        );
        println!("[{}] latency phase…", backend.name());
        let latency = phases::latency(backend, options.tickets, options.rate_per_sec).await?;
        rows.push(Row {
            backend: backend.name(),
            throughput,
            latency,
        });
    }
    print_table(&rows);
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| backend | accepted msg/s | POST p50 / p99 ms | receipt→ticket p50 / p99 / max (mean) ms | router histogram mean ms (n) |"
    );
    println!("|---|---|---|---|---|");
    for row in rows {
        let t = &row.throughput;
        let l = &row.latency;
        println!(
            "| {} | {:.0} ({} msgs in {:.2} s, {} in flight) | {} / {} | {} / {} / {} ({}) ({} tickets at {}/s) | {} ({}) |",
            row.backend,
            t.accepted_per_sec,
            t.messages,
            t.elapsed.as_secs_f64(),
            t.concurrency,
            ms(t.round_trip.p50),
            ms(t.round_trip.p99),
            ms(l.receipt_to_ticket.p50),
            ms(l.receipt_to_ticket.p99),
            ms(l.receipt_to_ticket.max),
            ms(l.receipt_to_ticket.mean),
            l.tickets,
            l.rate_per_sec,
            l.router_histogram.mean().map_or_else(|| "-".to_owned(), ms),
            l.router_histogram.count,
        );
    }
    for row in rows {
        let mut slowest: Vec<&(Duration, Duration)> = row.latency.samples.iter().collect();
        slowest.sort_unstable_by_key(|(_, latency)| std::cmp::Reverse(*latency));
        let listed: Vec<String> = slowest
            .iter()
            .take(5)
            .map(|(at, latency)| {
                format!("{} ms (sent at +{:.2} s)", ms(*latency), at.as_secs_f64())
            })
            .collect();
        println!("{} slowest tickets: {}", row.backend, listed.join(", "));
    }
    let by_name = |name: &str| rows.iter().find(|row| row.backend == name);
    if let (Some(embedded), Some(kafka)) = (by_name("embedded"), by_name("kafka")) {
        println!(
            "\nratio kafka/embedded (same run): throughput {:.2}x, receipt→ticket p50 {:.2}x, p99 {:.2}x",
            kafka.throughput.accepted_per_sec / embedded.throughput.accepted_per_sec,
            ratio(
                kafka.latency.receipt_to_ticket.p50,
                embedded.latency.receipt_to_ticket.p50
            ),
            ratio(
                kafka.latency.receipt_to_ticket.p99,
                embedded.latency.receipt_to_ticket.p99
            ),
        );
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON)
}
