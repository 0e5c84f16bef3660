//! Retryable failures injected by the simulator: the client recovers within
//! `max_attempts`, and the simulator's request log shows the waits were honoured.
//!
//! The tests run on paused tokio time, which drives the client's timers and
//! the simulator's clock alike: the waits are measured exactly on the sim
//! clock and the machine's speed does not enter (time moves only when every
//! task waits).

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{gap_secs, ticket};
use intake_zendesk::BACKOFF_BASE;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn a_503_with_retry_after_is_waited_then_retried() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    sim.fault(
        json!({"status": 503, "retry_after_secs": 2, "count": 1, "path_prefix": "/api/v2/tickets"}),
    )
    .await?;
    let client = sim.client(700, 3);
    let created = client.create_ticket(&ticket("a"), Some("k-503")).await?;
    assert!(!created.idempotency_hit);
    let log = sim.requests_to("POST", "/api/v2/tickets").await?;
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 201]);
    let gap = gap_secs(&log[0], &log[1]);
    assert!(gap >= 2.0, "retried after {gap} s, Retry-After was 2 s");
    assert_eq!(log[1].idempotency_key.as_deref(), Some("k-503"));
    assert_eq!(sim.handle.state().tickets().len(), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_503_without_retry_after_and_a_500_back_off_exponentially() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    sim.fault(json!({"status": 503, "count": 1, "path_prefix": "/api/v2/tickets"}))
        .await?;
    sim.fault(json!({"status": 500, "count": 1, "path_prefix": "/api/v2/tickets"}))
        .await?;
    let client = sim.client(700, 3);
    client.create_ticket(&ticket("b"), Some("k-5xx")).await?;
    let log = sim.requests_to("POST", "/api/v2/tickets").await?;
    let mut failures: Vec<u16> = log[..2].iter().map(|r| r.status).collect();
    failures.sort_unstable();
    assert_eq!(failures, vec![500, 503]);
    assert_eq!(log.len(), 3);
    assert_eq!(log[2].status, 201);
    // Equal jitter: at least half of each step (base, then twice the base).
    let first = gap_secs(&log[0], &log[1]);
    let second = gap_secs(&log[1], &log[2]);
    let base = BACKOFF_BASE.as_secs_f64();
    assert!(first >= base / 2.0, "first backoff {first} s");
    assert!(second >= base, "second backoff {second} s");
    assert_eq!(sim.handle.state().tickets().len(), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_is_retried() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    sim.fault(json!({"drop_connection": true, "count": 1, "path_prefix": "/api/v2/tickets"}))
        .await?;
    let client = sim.client(700, 3);
    client.create_ticket(&ticket("c"), Some("k-drop")).await?;
    let log = sim.requests_to("POST", "/api/v2/tickets").await?;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_ne!(log[0].status, 201, "the first attempt got no answer");
    assert_eq!(log[1].status, 201);
    assert_eq!(sim.handle.state().tickets().len(), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn without_a_key_an_ambiguous_create_failure_is_not_repeated() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    sim.fault(json!({"status": 500, "count": 1, "path_prefix": "/api/v2/tickets"}))
        .await?;
    let client = sim.client(700, 3);
    let error = client
        .create_ticket(&ticket("d"), None)
        .await
        .expect_err("a 500 without a key is returned");
    assert!(
        error.is_retryable(),
        "the caller may try again later: {error}"
    );
    assert_eq!(sim.requests_to("POST", "/api/v2/tickets").await?.len(), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_a_retryable_error() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    sim.fault(json!({"status": 500, "path_prefix": "/api/v2/groups"}))
        .await?;
    let client = sim.client(700, 3);
    let error = client.groups().await.expect_err("always 500");
    assert!(error.is_retryable());
    assert_eq!(error.status(), Some(500));
    assert!(error.request_id().is_some());
    assert_eq!(sim.requests_to("GET", "/api/v2/groups").await?.len(), 3);
    Ok(())
}

/// The first caller gets a 429; the others start only once the client has
/// taken it in (its `intake_zendesk_rate_limit_hits_total` went up, which
/// happens after the hold is set), so no round-trip time is assumed. Every
/// later request, theirs and the first caller's retry, goes out after
/// Retry-After on the sim clock.
#[test]
fn a_429_holds_every_caller_for_retry_after() -> Result<()> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // A snapshot drains the counters: keep the running total.
    let seen = std::cell::Cell::new(0_u64);
    let hits = || {
        let new = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, _, _, _)| key.key().name() == "intake_zendesk_rate_limit_hits_total")
            .map(|(_, _, _, value)| match value {
                DebugValue::Counter(n) => n,
                _ => 0,
            })
            .sum::<u64>();
        seen.set(seen.get() + new);
        seen.get()
    };
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()?;
        runtime.block_on(async {
            let sim = common::start(common::config(None)).await?;
            sim.fault(json!({"status": 429, "retry_after_secs": 3, "count": 1, "path_prefix": "/api/v2/groups"}))
                .await?;
            let client = sim.client(700, 3);
            let first = tokio::spawn({
                let client = client.clone();
                async move { client.groups().await }
            });
            // Yielding (not sleeping) keeps paused time still while waiting.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while hits() == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the client never took in the 429"
                );
                tokio::task::yield_now().await;
            }
            let others = (0..3).map(|_| {
                let client = client.clone();
                async move { client.groups().await }
            });
            for result in futures::future::join_all(others).await {
                result?;
            }
            first.await??;

            let log = sim.requests().await?;
            let hit = log
                .iter()
                .position(|r| r.status == 429)
                .expect("the injected 429");
            assert_eq!(hit, 0, "the 429 came first: {log:?}");
            for later in &log[hit + 1..] {
                let gap = gap_secs(&log[hit], later);
                assert!(
                    gap >= 3.0,
                    "a call went {gap} s after the 429, Retry-After was 3 s"
                );
            }
            assert_eq!(log.len(), 5, "one 429 and four successes: {log:?}");
            anyhow::Ok(())
        })
    })?;
    assert_eq!(hits(), 1, "one 429, one hold");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_lower_server_limit_slows_the_client_down() -> Result<()> {
    // The account allows 30/min but the client was told 600.
    let sim = common::start(common::config(Some(30))).await?;
    let client = sim.client(600, 3);
    for _ in 0..4 {
        client.groups().await?;
    }
    let log = sim.requests_to("GET", "/api/v2/groups").await?;
    assert_eq!(log.len(), 4);
    // After the first answer the client paces at 29/min: about 2.07 s apart.
    for pair in log[1..].windows(2) {
        let gap = gap_secs(&pair[0], &pair[1]);
        assert!(gap >= 2.0, "calls {gap} s apart under a 30/min limit");
    }
    assert_eq!(sim.responses_with_status(429).await?, 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn concurrent_updates_of_one_ticket_are_serialised_so_no_409() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let id = client.create_ticket(&ticket("busy"), None).await?.ticket.id;
    // Each update holds the ticket for 300 ms in the simulator; overlapping ones get 409.
    sim.fault(json!({"delay_ms": 300, "path_prefix": format!("/api/v2/tickets/{id}")}))
        .await?;
    let updates = (0..4).map(|i| {
        let client = client.clone();
        async move {
            let update = common::comment(&format!("update {i}"));
            client.update_ticket(id, &update).await
        }
    });
    for result in futures::future::join_all(updates).await {
        result?;
    }
    assert_eq!(sim.responses_with_status(409).await?, 0);
    let puts = sim.requests_to("PUT", "/api/v2/tickets/").await?;
    assert_eq!(puts.len(), 4, "no retries were needed: {puts:?}");
    let stored = sim
        .handle
        .state()
        .tickets()
        .into_iter()
        .find(|t| t["id"] == json!(id))
        .expect("ticket");
    assert_eq!(stored["comments"].as_array().map(Vec::len), Some(5));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_comment_is_not_repeated_after_a_5xx_but_a_status_change_is() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let id = client
        .create_ticket(&ticket("c"), Some("k-c"))
        .await?
        .ticket
        .id;
    let path = format!("/api/v2/tickets/{id}");
    sim.fault(json!({"status": 500, "count": 1, "path_prefix": path}))
        .await?;
    let comment = common::comment("second");
    let error = client.update_ticket(id, &comment).await.unwrap_err();
    assert!(
        error.is_retryable(),
        "the caller decides whether to try again: {error}"
    );
    assert_eq!(
        sim.requests_to("PUT", &path).await?.len(),
        1,
        "a comment PUT is never repeated by the client"
    );

    sim.fault(json!({"status": 500, "count": 1, "path_prefix": path}))
        .await?;
    let status_only = intake_zendesk::TicketUpdate {
        status: Some(intake_zendesk::Status::Pending),
        ..intake_zendesk::TicketUpdate::default()
    };
    let updated = client.update_ticket(id, &status_only).await?;
    assert_eq!(updated.status, intake_zendesk::Status::Pending);
    assert_eq!(
        sim.requests_to("PUT", &path).await?.len(),
        3,
        "a status change is repeated after a 5xx"
    );
    Ok(())
}
