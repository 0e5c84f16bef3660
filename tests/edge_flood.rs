//! Issue 8, points 9 and 10, against the built binary: unauthenticated
//! clients that trickle bodies or send large forged uploads cannot take the
//! gateway down. While 160 slow connections hold their bodies open (more
//! than the 128 that used to exhaust every slot) and then 40 forged 8 MiB
//! uploads arrive, `/healthz` and `/readyz` answer, a correctly signed chat
//! message is accepted at its first attempt, and the process's peak
//! resident memory (`VmHWM` in `/proc/<pid>/status`) stays within the
//! configured buffer budget plus a fixed overhead.
//!
//! Bounded: a fixed number of loopback connections, every wait on a
//! condition with a deadline, no timed assertions.
#![cfg(target_os = "linux")]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Backend, Intake, World, chat_body, metric_value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// More than the 128 connections that used to hold every in-flight permit.
const SLOW_CONNECTIONS: usize = 160;
const LARGE_UPLOADS: usize = 40;
/// Under `http.max_body_bytes` (10 MiB), so each is read, not refused by size.
const LARGE_BODY_BYTES: usize = 8 << 20;
/// `http.max_unauthenticated_buffer_bytes` of this test: 256 slots × 64 KiB
/// (the default slot count) plus 16 MiB shared. Without the budget the 40
/// uploads alone would buffer 320 MiB.
const BUFFER_BUDGET_BYTES: u64 = 256 * 64 * 1024 + (16 << 20);
/// What a process may grow by besides request bodies while it serves ~200
/// connections at once: connection buffers, tasks, allocator slack.
const OVERHEAD_BYTES: u64 = 64 << 20;
const WAIT: Duration = Duration::from_secs(60);

/// A `/proc/<pid>/status` field in bytes (`VmRSS`, `VmHWM`).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kib * 1024
}

/// Opens a chat webhook request with well-formed but forged signature
/// headers, declaring `length` body bytes, and sends `first` of them.
async fn open_forged(addr: SocketAddr, id: usize, length: usize, first: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let timestamp = chrono::Utc::now().timestamp();
    let head = format!(
        "POST /v1/chat/messages HTTP/1.1\r\nhost: intake\r\n\
         content-type: application/json\r\ncontent-length: {length}\r\n\
         webhook-id: forged-{id}\r\nwebhook-timestamp: {timestamp}\r\n\
         webhook-signature: v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(first).await.expect("send first bytes");
    stream
}

/// The status code of the answer on `stream`, or `None` if the connection
/// ended without one.
async fn answer_status(stream: &mut TcpStream) -> Option<u16> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    let read = tokio::time::timeout(WAIT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&byte[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within {WAIT:?}");
    let text = String::from_utf8_lossy(&head);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

async fn metrics(world: &World) -> String {
    reqwest::get(world.ops_url("/metrics"))
        .await
        .expect("the ops listener answers")
        .text()
        .await
        .unwrap()
}

/// Waits (bounded) until `/metrics` satisfies `done`.
async fn wait_metrics(world: &World, what: &str, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = metrics(world).await;
        if done(&text) {
            return;
        }
        assert!(Instant::now() < deadline, "never: {what}\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn unauthenticated_in_flight(text: &str) -> f64 {
    metric_value(
        text,
        "intake_http_requests_in_flight",
        &[("phase", "unauthenticated")],
    )
    .unwrap_or(0.0)
}

/// `/healthz`, `/readyz` and a signed chat message all succeed, the message
/// at its first attempt.
async fn still_serving(world: &World, message_id: &str) {
    let client = reqwest::Client::new();
    for route in ["/healthz", "/readyz"] {
        let response = client
            .get(world.ops_url(route))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        assert_eq!(response.status(), 200, "{route}");
    }
    let body = chat_body(
        "flood",
        "visitor-1",
        None,
        &format!("still here: {message_id}"),
    );
    let (status, answer) = world
        .try_post_chat(message_id, &body, Duration::from_secs(20))
        .await
        .expect("the gateway answers a signed message");
    assert_eq!(status, 202, "{answer}");
}

/// One forged upload: sends all but the last byte, reports whether it got
/// that far, waits for `go`, sends the last byte and returns the answer.
async fn forged_upload(
    addr: SocketAddr,
    id: usize,
    stalled: tokio::sync::mpsc::Sender<bool>,
    mut go: watch::Receiver<bool>,
) -> Option<u16> {
    let mut stream = open_forged(addr, id, LARGE_BODY_BYTES, b"{").await;
    let piece = vec![b' '; 64 * 1024];
    let mut sent = 1;
    let mut refused = false;
    while sent < LARGE_BODY_BYTES - 1 {
        let len = piece.len().min(LARGE_BODY_BYTES - 1 - sent);
        if stream.write_all(&piece[..len]).await.is_err() {
            refused = true;
            break;
        }
        sent += len;
    }
    let _ = stalled.send(!refused).await;
    if refused {
        return answer_status(&mut stream).await;
    }
    let _ = go.wait_for(|go| *go).await;
    if stream.write_all(b"}").await.is_err() {
        return answer_status(&mut stream).await;
    }
    answer_status(&mut stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_large_unauthenticated_floods_leave_health_and_signed_messages_working() {
    let world = World::new(Backend::Embedded, None).await;
    let budget = BUFFER_BUDGET_BYTES.to_string();
    let mut intake = Intake::spawn_with_env(
        &world.config_path,
        "all",
        &[
            (
                "INTAKE__HTTP__MAX_UNAUTHENTICATED_BUFFER_BYTES",
                budget.as_str(),
            ),
            // Slow clients are never cut here: the worst case for the slots.
            ("INTAKE__HTTP__MIN_BODY_BYTES_PER_SEC", "0"),
            ("INTAKE__HTTP__BODY_READ_TIMEOUT_SECS", "600"),
            ("INTAKE__HTTP__REQUEST_TIMEOUT_SECS", "600"),
        ],
    );
    world.wait_ready(&mut intake).await;
    still_serving(&world, "before-the-flood").await;
    let pid = intake.pid();
    let baseline = proc_status_bytes(pid, "VmRSS");

    // 160 connections that send their head and then trickle a byte a second.
    let mut slow = Vec::with_capacity(SLOW_CONNECTIONS);
    for id in 0..SLOW_CONNECTIONS {
        slow.push(open_forged(world.http, id, 2000, b"{").await);
    }
    wait_metrics(&world, "every slow connection is in flight", |text| {
        unauthenticated_in_flight(text) >= SLOW_CONNECTIONS as f64
    })
    .await;
    let trickle = tokio::spawn(async move {
        for _ in 0..600 {
            for stream in &mut slow {
                let _ = stream.write_all(b" ").await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    still_serving(&world, "during-the-slow-flood").await;

    // 40 forged 8 MiB uploads on top, each stalling before its last byte.
    let (stalled_tx, mut stalled_rx) = tokio::sync::mpsc::channel(LARGE_UPLOADS);
    let (go_tx, go_rx) = watch::channel(false);
    let uploads: Vec<_> = (0..LARGE_UPLOADS)
        .map(|id| {
            tokio::spawn(forged_upload(
                world.http,
                10_000 + id,
                stalled_tx.clone(),
                go_rx.clone(),
            ))
        })
        .collect();
    let mut holding = 0;
    for _ in 0..LARGE_UPLOADS {
        let reached = tokio::time::timeout(WAIT, stalled_rx.recv())
            .await
            .expect("every upload sends or is refused");
        holding += usize::from(reached == Some(true));
    }
    wait_metrics(&world, "the shared buffer refuses uploads", |text| {
        metric_value(
            text,
            "intake_http_requests_shed_total",
            &[("limit", "max_unauthenticated_buffer_bytes")],
        )
        .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    still_serving(&world, "during-the-large-flood").await;

    go_tx.send_replace(true);
    let mut answers = Vec::new();
    for upload in uploads {
        answers.push(upload.await.expect("upload task"));
    }
    for answer in &answers {
        assert!(
            matches!(answer, None | Some(401) | Some(503)),
            "a forged upload got {answer:?}"
        );
    }
    let peak = proc_status_bytes(pid, "VmHWM");
    let grown = peak.saturating_sub(baseline);
    assert!(
        grown < BUFFER_BUDGET_BYTES + OVERHEAD_BYTES,
        "peak RSS grew by {} MiB (baseline {} MiB, {holding} uploads got all but \
         their last byte in, answers {answers:?}); the bound is the {} MiB budget \
         plus {} MiB",
        grown >> 20,
        baseline >> 20,
        BUFFER_BUDGET_BYTES >> 20,
        OVERHEAD_BYTES >> 20
    );

    trickle.abort();
    still_serving(&world, "after-the-flood").await;
    // Every accepted message reached Zendesk, and nothing forged did: one
    // conversation, one ticket with the four signed messages.
    let deadline = Instant::now() + WAIT;
    let tickets = loop {
        let tickets = world.tickets().await;
        let comments: usize = tickets
            .iter()
            .map(|t| t["comments"].as_array().map_or(0, Vec::len))
            .sum();
        if comments >= 4 || Instant::now() > deadline {
            break tickets;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(tickets.len(), 1, "one conversation: {tickets:#?}");
    let comments = tickets[0]["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 4, "{comments:#?}");
    let code = intake.terminate(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{}", intake.output());
}
