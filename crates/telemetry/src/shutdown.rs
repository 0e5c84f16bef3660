//! One shutdown signal for the whole process, and draining with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::events::{DrainFinished, ShutdownStarted};

/// Why the process is shutting down (a bounded metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// SIGTERM (e.g. from the container runtime).
    Sigterm,
    /// SIGINT (Ctrl-C).
    Sigint,
    /// Asked for by the program itself (a test, the demo ending).
    Requested,
}

impl ShutdownReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownReason::Sigterm => "sigterm",
            ShutdownReason::Sigint => "sigint",
            ShutdownReason::Requested => "requested",
        }
    }
}

/// A token cancelled on the first SIGTERM or SIGINT (Ctrl-C).
///
/// The signal handlers are registered before this returns, so a signal that
/// arrives right after is not missed. Once registered, the signals no longer
/// kill the process: whoever holds the token must shut down.
///
/// # Panics
/// Outside a Tokio runtime (it spawns the task that waits for the signal).
pub fn shutdown_signal() -> CancellationToken {
    cancel_on(os_signals())
}

/// A token cancelled when `signal` completes; the reason is logged and
/// counted ([`ShutdownStarted`]). Cancelling the token otherwise also ends the
/// waiting task. This is [`shutdown_signal`] with any signal source.
///
/// # Panics
/// Outside a Tokio runtime.
pub fn cancel_on<F>(signal: F) -> CancellationToken
where
    F: Future<Output = ShutdownReason> + Send + 'static,
{
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            reason = signal => {
                ShutdownStarted { reason }.emit();
                cancel.cancel();
            }
            () = cancel.cancelled() => {}
        }
    });
    token
}

#[cfg(unix)]
fn os_signals() -> impl Future<Output = ShutdownReason> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
                _ = terminate.recv() => ShutdownReason::Sigterm,
                _ = interrupt.recv() => ShutdownReason::Sigint,
            },
            (terminate, interrupt) => {
                let error = terminate.err().or(interrupt.err());
                tracing::error!(
                    error = ?error,
                    "cannot listen for shutdown signals, falling back to ctrl-c"
                );
                wait_ctrl_c().await
            }
        }
    }
}

#[cfg(not(unix))]
fn os_signals() -> impl Future<Output = ShutdownReason> + Send + 'static {
    wait_ctrl_c()
}

async fn wait_ctrl_c() -> ShutdownReason {
    match tokio::signal::ctrl_c().await {
        Ok(()) => ShutdownReason::Sigint,
        Err(error) => {
            tracing::error!(error = %error, "cannot listen for ctrl-c; shutdown only by deadline or kill");
            std::future::pending().await
        }
    }
}

/// How long aborted tasks get to unwind after the drain deadline.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// How draining went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Tasks that ended by themselves before the deadline.
    pub finished: usize,
    /// Tasks that panicked (counted in `finished` too).
    pub panicked: usize,
    /// Tasks still running at the deadline, then aborted.
    pub aborted: usize,
}

/// Waits up to `deadline` for every task in `tasks` to end (they should be
/// watching the shutdown token), then aborts the rest. Logs and counts the
/// outcome ([`DrainFinished`]).
pub async fn drain<T: 'static>(tasks: JoinSet<T>, deadline: Duration) -> DrainReport {
    drain_with(tasks, deadline, |_| {}).await
}

/// [`drain`] that hands the output of every task that ended in time to
/// `on_output` (e.g. to report the errors components stopped with).
pub async fn drain_with<T: 'static>(
    mut tasks: JoinSet<T>,
    deadline: Duration,
    mut on_output: impl FnMut(T),
) -> DrainReport {
    let started = Instant::now();
    let mut report = DrainReport {
        finished: 0,
        panicked: 0,
        aborted: 0,
    };
    let all_done = async {
        while let Some(result) = tasks.join_next().await {
            report.finished += 1;
            match result {
                Ok(output) => on_output(output),
                Err(error) if error.is_panic() => {
                    report.panicked += 1;
                    tracing::error!(error = %error, "task panicked during shutdown");
                }
                Err(_) => {}
            }
        }
    };
    let in_time = tokio::time::timeout(deadline, all_done).await.is_ok();
    if !in_time {
        report.aborted = tasks.len();
        tasks.abort_all();
        // Aborted tasks end at their next await; one stuck in blocking code
        // would not, so this wait is bounded too.
        let _ = tokio::time::timeout(ABORT_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }
    DrainFinished {
        finished: report.finished,
        panicked: report.panicked,
        aborted: report.aborted,
        elapsed: started.elapsed(),
    }
    .emit();
    report
}
