//! The pacing test: a backlog of 300 creates against an account limited to
//! 200 requests per minute drains with no 429 at close to the limit.
//!
//! It runs on paused tokio time, which drives the client's pacer and the
//! simulator's clock (its sliding rate window and its request log) alike:
//! the ~92 s the drain takes pass on that clock only, time moves only when
//! every task waits, so the rate measured on the sim clock is the client's
//! pacing and not the machine's speed.

mod common;

use anyhow::Result;
use intake_zendesk::{Comment, NewTicket};

const LIMIT_PER_MINUTE: u32 = 200;
const CREATES: usize = 300;

#[tokio::test(start_paused = true)]
async fn a_backlog_drains_at_the_limit_without_429() -> Result<()> {
    let sim = common::start(common::config(Some(LIMIT_PER_MINUTE))).await?;
    let client = sim.client(LIMIT_PER_MINUTE, 5);
    // The whole backlog at once, as a router catching up would send it.
    let creates = (0..CREATES).map(|i| {
        let client = client.clone();
        async move {
            let ticket = NewTicket {
                subject: Some(format!("backlog {i}")),
                comment: Comment {
                    body: Some("queued while Zendesk was away".into()),
                    public: true,
                    ..Comment::default()
                },
                ..NewTicket::default()
            };
            client
                .create_ticket(&ticket, Some(&format!("backlog-{i}")))
                .await
        }
    });
    let results = futures::future::join_all(creates).await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(
        failed,
        0,
        "first error: {:?}",
        results.iter().find(|r| r.is_err())
    );

    assert_eq!(
        sim.responses_with_status(429).await?,
        0,
        "no 429 may be provoked"
    );
    assert_eq!(sim.handle.state().tickets().len(), CREATES);
    let log = sim.requests_to("POST", "/api/v2/tickets").await?;
    assert_eq!(log.len(), CREATES, "one request per create, no retries");

    // In any 60 s of the sim clock, at most the limit.
    for (i, first) in log.iter().enumerate() {
        let in_window = log[i..]
            .iter()
            .take_while(|later| common::gap_secs(first, later) < 60.0)
            .count();
        assert!(
            in_window <= LIMIT_PER_MINUTE as usize,
            "{in_window} creates within 60 s from request {i}"
        );
    }
    let span = common::gap_secs(&log[0], &log[CREATES - 1]);
    let per_minute = (CREATES - 1) as f64 / span * 60.0;
    assert!(
        per_minute >= 0.95 * f64::from(LIMIT_PER_MINUTE),
        "achieved {per_minute:.1}/min over {span:.1} s, limit {LIMIT_PER_MINUTE}/min"
    );
    assert!(
        per_minute <= f64::from(LIMIT_PER_MINUTE),
        "achieved {per_minute:.1}/min is above the limit"
    );
    Ok(())
}
