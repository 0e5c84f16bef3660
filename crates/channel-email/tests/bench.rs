//! Benchmarks, printed, never asserted on time (run them on purpose):
//! `cargo test -p intake-channel-email --release --test bench -- --ignored --nocapture`
//! - APPEND (another IMAP connection) to event on the bus, p50/p99 over 100 mails, with IDLE;
//! - mails per second through `normalise` on the golden corpus, beside the raw
//!   `mail-parser` parse rate of the same corpus in the same run.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use intake_channel::{PullRunner, PullRunnerOptions};
use intake_channel_email::EmailChannel;
use intake_channel_email::cursor::MemoryCursors;
use intake_channel_email::normalise::{Limits, Mailbox, normalise};
use tokio_util::sync::CancellationToken;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn append_to_event_latency() {
    let Some(()) = servers(false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let (ctx, publisher) = context(dir.path());
    let channel = EmailChannel::new(
        account(&user, "", ""),
        Vec::new(),
        Arc::new(MemoryCursors::default()),
        None,
    )
    .unwrap();
    let mut runner = PullRunner::new(PullRunnerOptions::default());
    runner.add(Box::new(channel));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(ctx.clone(), shutdown.clone()));

    let tcp = tokio::net::TcpStream::connect(env("INTAKE_TEST_IMAP"))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    let mut sender = client
        .login(&user, env("INTAKE_TEST_IMAP_PASSWORD"))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    wait_until("the first catch-up", || {
        imap_tool(&["uidvalidity", &user, "Processed"], None)
            .trim()
            .parse::<u64>()
            .is_ok()
    })
    .await;

    let mut latencies = Vec::new();
    for i in 0..100 {
        let raw = mail(
            &user,
            &format!("bench-{i}@customer.test"),
            "bench",
            &format!("bench {i}"),
        );
        let started = Instant::now();
        sender.append("INBOX", None, None, &raw).await.unwrap();
        let deadline = Instant::now() + WAIT;
        while events(&publisher).len() <= i {
            assert!(Instant::now() < deadline, "event {i} did not arrive");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed());
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
    latencies.sort();
    println!(
        "APPEND -> event on the bus over {} mails (IDLE): p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn normaliser_throughput_beside_raw_mail_parser() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let corpus: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let mailbox = Mailbox {
        address: "help@example.test".to_owned(),
        aliases: Vec::new(),
        limits: Limits {
            max_attachment_bytes: 1 << 20,
            max_attachments: 50,
        },
        trusted_authserv_ids: Vec::new(),
        ticket_token: Default::default(),
    };
    let rounds = 2000;
    let started = Instant::now();
    let mut parsed = 0usize;
    for _ in 0..rounds {
        for raw in &corpus {
            parsed += usize::from(mail_parser::MessageParser::default().parse(raw).is_some());
        }
    }
    let raw_rate = (rounds * corpus.len()) as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut normalised = 0usize;
    for _ in 0..rounds {
        for raw in &corpus {
            normalised += usize::from(normalise(raw, &mailbox, Utc::now()).is_ok());
        }
    }
    let rate = (rounds * corpus.len()) as f64 / started.elapsed().as_secs_f64();
    println!(
        "corpus of {} mails x {rounds}: mail-parser {raw_rate:.0} mails/s ({parsed} parsed), normalise {rate:.0} mails/s ({normalised} events)",
        corpus.len()
    );
}
