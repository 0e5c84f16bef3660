//! The shutdown token and draining with a deadline. The real signal source is
//! not triggered here (a signal to the test process could kill it); the token
//! logic is tested through `cancel_on` with a channel standing in for it.

use std::time::Duration;

use intake_telemetry::{DrainReport, ShutdownReason, cancel_on, drain, shutdown_signal};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

#[tokio::test]
async fn the_token_is_cancelled_when_the_signal_arrives_and_not_before() {
    let (send, receive) = oneshot::channel::<()>();
    let token = cancel_on(async move {
        let _ = receive.await;
        ShutdownReason::Sigterm
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!token.is_cancelled());

    send.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), token.cancelled())
        .await
        .expect("cancelled after the signal");
}

#[tokio::test]
async fn the_real_signal_token_starts_uncancelled_and_can_be_cancelled() {
    let token = shutdown_signal();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!token.is_cancelled(), "no signal was sent");
    let child = token.child_token();
    token.cancel();
    tokio::time::timeout(Duration::from_secs(5), child.cancelled())
        .await
        .expect("children follow the token");
}

#[tokio::test]
async fn drain_waits_for_tasks_that_finish_in_time() {
    let token = cancel_on(std::future::pending());
    let mut tasks = JoinSet::new();
    for delay_ms in [10_u64, 30, 60] {
        let token = token.clone();
        tasks.spawn(async move {
            token.cancelled().await;
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        });
    }
    token.cancel();
    let report = drain(tasks, Duration::from_secs(5)).await;
    assert_eq!(
        report,
        DrainReport {
            finished: 3,
            panicked: 0,
            aborted: 0
        }
    );
}

#[tokio::test]
async fn drain_aborts_what_is_still_running_at_the_deadline() {
    let mut tasks = JoinSet::new();
    tasks.spawn(async {});
    tasks.spawn(async { panic!("task failure under test") });
    tasks.spawn(std::future::pending::<()>());
    tasks.spawn(std::future::pending::<()>());
    let started = std::time::Instant::now();
    let report = drain(tasks, Duration::from_millis(200)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        report,
        DrainReport {
            finished: 2,
            panicked: 1,
            aborted: 2
        }
    );
}
