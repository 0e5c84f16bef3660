//! The per-ticket update limit and concurrent updates of one ticket: a
//! per-ticket 429 holds only that ticket, and a 409 (nothing was applied) is
//! retried even for a comment.
//!
//! The tests run on paused tokio time, which drives the client's timers and
//! the simulator's clock and delays alike: "at once" and "held" are measured
//! on that clock, and a race is set up by the simulator's delay, not by how
//! fast the machine is.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{comment, gap_secs, ticket};
use intake_zendesk_sim::SimConfig;
use serde_json::json;

/// Longer than any pacing gap at 700/min, far shorter than the ticket's hold
/// (on the paused clock, so no allowance for a slow machine is needed).
const AT_ONCE: Duration = Duration::from_secs(3);

#[tokio::test(start_paused = true)]
async fn a_per_ticket_429_holds_that_ticket_and_nobody_else() -> Result<()> {
    let sim = common::start(SimConfig {
        ticket_updates_per_10_min: 2,
        // A real account budget, so the 429 shows plenty of it left.
        ..common::config(Some(700))
    })
    .await?;
    // One attempt: the 429 comes back at once, the hold it started stays.
    let client = sim.client(700, 1);
    let busy = client
        .create_ticket(&ticket("busy"), Some("k-busy"))
        .await?
        .ticket
        .id;
    client.update_ticket(busy, &comment("one")).await?;
    client.update_ticket(busy, &comment("two")).await?;
    let error = client
        .update_ticket(busy, &comment("three"))
        .await
        .expect_err("the third update is over the sim's per-ticket limit");
    assert!(error.is_rate_limited(), "{error}");
    let hold = error.retry_after().expect("a Retry-After");
    assert!(hold > AT_ONCE * 10, "Retry-After {hold:?}");

    // Calls about anything else go on at once: the account was not paused.
    let other = tokio::time::timeout(AT_ONCE, client.create_ticket(&ticket("other"), Some("k-o")))
        .await
        .expect("a create on another ticket was held by the per-ticket 429")?;
    tokio::time::timeout(AT_ONCE, client.groups())
        .await
        .expect("a read was held by the per-ticket 429")?;
    let log = sim.requests().await?;
    let hit = log
        .iter()
        .position(|r| r.status == 429)
        .expect("the per-ticket 429");
    let after = &log[hit + 1..];
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!((after[0].method.as_str(), after[0].status), ("POST", 201));
    for later in after {
        let gap = gap_secs(&log[hit], later);
        assert!(
            gap < AT_ONCE.as_secs_f64(),
            "{} {} went {gap} s after the 429",
            later.method,
            later.path
        );
    }
    assert_ne!(other.ticket.id, busy);

    // The held ticket itself: a new update waits for the hold and sends nothing.
    let held = tokio::time::timeout(
        Duration::from_secs(1),
        client.update_ticket(busy, &comment("four")),
    )
    .await;
    assert!(
        held.is_err(),
        "an update of the held ticket went through: {held:?}"
    );
    let puts = sim
        .requests_to("PUT", &format!("/api/v2/tickets/{busy}"))
        .await?;
    assert_eq!(puts.len(), 3, "no update sent during the hold: {puts:?}");
    // An update of another ticket is not held.
    tokio::time::timeout(
        AT_ONCE,
        client.update_ticket(other.ticket.id, &comment("fine")),
    )
    .await
    .expect("an update of another ticket was held")?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_comment_is_retried_after_a_409() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let id = client
        .create_ticket(&ticket("conflict"), Some("k-409"))
        .await?
        .ticket
        .id;
    let path = format!("/api/v2/tickets/{id}");
    sim.fault(json!({"status": 409, "count": 1, "path_prefix": path}))
        .await?;
    client
        .update_ticket(id, &comment("after the conflict"))
        .await?;
    let statuses: Vec<u16> = sim
        .requests_to("PUT", &path)
        .await?
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![409, 200]);
    let stored = sim
        .handle
        .state()
        .tickets()
        .into_iter()
        .find(|t| t["id"] == json!(id))
        .expect("ticket");
    assert_eq!(
        stored["comments"].as_array().map(Vec::len),
        Some(2),
        "the comment was added once"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_real_concurrent_update_409_is_retried() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    // Two clients do not share their per-ticket locks, as two processes would not.
    let first = sim.client(700, 4);
    let second = sim.client(700, 4);
    let id = first
        .create_ticket(&ticket("race"), Some("k-race"))
        .await?
        .ticket
        .id;
    // Each update holds the ticket for 500 ms in the simulator.
    sim.fault(json!({"delay_ms": 500, "count": 1, "path_prefix": format!("/api/v2/tickets/{id}")}))
        .await?;
    let slow_update = comment("slow");
    let slow = first.update_ticket(id, &slow_update);
    let racing = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        second.update_ticket(id, &comment("racing")).await
    };
    let (slow, racing) = futures::join!(slow, racing);
    slow?;
    racing?;
    let statuses: Vec<u16> = sim
        .requests_to("PUT", &format!("/api/v2/tickets/{id}"))
        .await?
        .iter()
        .map(|r| r.status)
        .collect();
    assert!(
        statuses.contains(&409),
        "the race was not provoked: {statuses:?}"
    );
    let stored = sim
        .handle
        .state()
        .tickets()
        .into_iter()
        .find(|t| t["id"] == json!(id))
        .expect("ticket");
    assert_eq!(stored["comments"].as_array().map(Vec::len), Some(3));
    Ok(())
}
