//! The runner of pull channels (IMAP, Telegram long polling): starts each
//! channel, restarts it with a bounded, jittered exponential backoff after a
//! retryable [`ChannelError`], stops with the channel's message on a
//! non-retryable one (bad configuration), drains on shutdown, and reports
//! each channel's state for `/readyz` and in metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt as _;
use metrics::{counter, gauge};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::names;
use crate::{ChannelContext, ChannelError, PullChannel};

/// Registers help texts for the runner's metrics.
pub(crate) fn describe_metrics() {
    metrics::describe_gauge!(
        names::PULL_CONNECTED,
        "1 while a pull channel is connected to its upstream, else 0"
    );
    metrics::describe_gauge!(
        names::PULL_LAST_FETCH,
        "Unix time of a pull channel's last successful fetch"
    );
    metrics::describe_counter!(
        names::PULL_RESTARTS,
        "Pull channel restarts after a retryable failure, by reason"
    );
    metrics::describe_counter!(
        names::PULL_FATAL_ERRORS,
        "Pull channels stopped for good (configuration errors); the process stops"
    );
}

/// A channel's live state, shared by the channel (which reports) and the
/// runner's readiness check (which reads).
#[derive(Clone)]
pub struct PullStatus {
    inner: Arc<StatusInner>,
}

struct StatusInner {
    channel: &'static str,
    connected: AtomicBool,
    last_fetch: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for PullStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullStatus")
            .field("channel", &self.inner.channel)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl PullStatus {
    /// A status for `channel`: not connected, never fetched.
    pub fn new(channel: &'static str) -> Self {
        gauge!(names::PULL_CONNECTED, "channel" => channel).set(0.0);
        Self {
            inner: Arc::new(StatusInner {
                channel,
                connected: AtomicBool::new(false),
                last_fetch: Mutex::new(None),
                last_error: Mutex::new(None),
            }),
        }
    }

    pub fn channel(&self) -> &'static str {
        self.inner.channel
    }

    /// The channel reached its upstream (logged in, session open), or lost it.
    pub fn set_connected(&self, connected: bool) {
        self.inner.connected.store(connected, Ordering::SeqCst);
        gauge!(names::PULL_CONNECTED, "channel" => self.inner.channel).set(if connected {
            1.0
        } else {
            0.0
        });
    }

    /// A fetch round ended well (messages published and acknowledged, or
    /// nothing new): call it once per poll, IDLE wake-up or long-poll answer.
    pub fn fetched(&self) {
        *self.inner.last_fetch.lock().expect("status lock") = Some(Instant::now());
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        gauge!(names::PULL_LAST_FETCH, "channel" => self.inner.channel).set(now);
    }

    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::SeqCst)
    }

    /// Time since the last successful fetch, if there was one.
    pub fn last_fetch_age(&self) -> Option<Duration> {
        let last = *self.inner.last_fetch.lock().expect("status lock");
        last.map(|at| at.elapsed())
    }

    fn set_last_error(&self, error: Option<String>) {
        *self.inner.last_error.lock().expect("status lock") = error;
    }

    fn last_error(&self) -> Option<String> {
        self.inner.last_error.lock().expect("status lock").clone()
    }
}

/// How the runner restarts and judges its channels.
#[derive(Debug, Clone, Copy)]
pub struct PullRunnerOptions {
    /// Wait before the first restart; doubled per restart.
    pub initial_backoff: Duration,
    /// Longest wait between restarts.
    pub max_backoff: Duration,
    /// A run that lasted this long resets the backoff to `initial_backoff`.
    pub healthy_after: Duration,
    /// A connected channel with no successful fetch for this long is not ready.
    pub stale_fetch_after: Duration,
}

impl Default for PullRunnerOptions {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            healthy_after: Duration::from_secs(120),
            stale_fetch_after: Duration::from_secs(1800),
        }
    }
}

/// Exponential backoff with equal jitter: the n-th wait is drawn from
/// `[b/2, b]` with `b = min(initial * 2^n, max)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    ceiling: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            ceiling: initial.min(max),
        }
    }

    /// The next wait; the one after is up to twice as long.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (ceiling * 2).min(self.max);
        let half = ceiling / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// Back to the initial wait.
    pub fn reset(&mut self) {
        self.ceiling = self.initial.min(self.max);
    }
}

/// A pull channel stopped for good.
#[derive(Debug, thiserror::Error)]
#[error("pull channel {channel} stopped: {source}")]
pub struct PullRunnerError {
    pub channel: &'static str,
    #[source]
    pub source: ChannelError,
}

/// The per-channel readiness of a runner, for the app's `/readyz`.
#[derive(Debug, Clone)]
pub struct PullReadiness {
    statuses: Vec<PullStatus>,
    stale_fetch_after: Duration,
}

impl PullReadiness {
    /// `Ok` when every channel is connected and fetched within
    /// `stale_fetch_after` (or has not had to fetch yet since connecting);
    /// otherwise every channel that is not, with why.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        for status in &self.statuses {
            let channel = status.channel();
            if !status.is_connected() {
                let why = status.last_error().unwrap_or_else(|| "starting".to_owned());
                problems.push(format!("{channel}: not connected ({why})"));
            } else if let Some(age) = status.last_fetch_age()
                && age > self.stale_fetch_after
            {
                problems.push(format!(
                    "{channel}: no successful fetch for {} s",
                    age.as_secs()
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Runs the registered pull channels until shutdown.
pub struct PullRunner {
    channels: Vec<(Box<dyn PullChannel>, PullStatus)>,
    options: PullRunnerOptions,
}

impl std::fmt::Debug for PullRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.channels.iter().map(|(c, _)| c.name()).collect();
        f.debug_struct("PullRunner")
            .field("channels", &names)
            .field("options", &self.options)
            .finish()
    }
}

impl PullRunner {
    pub fn new(options: PullRunnerOptions) -> Self {
        Self {
            channels: Vec::new(),
            options,
        }
    }

    /// Adds a channel to run.
    pub fn add(&mut self, channel: Box<dyn PullChannel>) {
        let status = PullStatus::new(channel.name());
        self.channels.push((channel, status));
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// The readiness check of every channel added so far.
    pub fn readiness(&self) -> PullReadiness {
        PullReadiness {
            statuses: self.channels.iter().map(|(_, s)| s.clone()).collect(),
            stale_fetch_after: self.options.stale_fetch_after,
        }
    }

    /// Runs every channel until `shutdown` (then waits for all of them to
    /// return) or until one fails for good (then stops the others and
    /// returns that channel's error). With no channel it returns at once:
    /// the app spawns a runner only when a pull channel is registered.
    pub async fn run(
        self,
        ctx: ChannelContext,
        shutdown: CancellationToken,
    ) -> Result<(), PullRunnerError> {
        let stop = shutdown.child_token();
        let mut tasks = JoinSet::new();
        for (channel, status) in self.channels {
            let ctx = ctx.clone();
            let stop = stop.clone();
            let options = self.options;
            tasks.spawn(supervise(channel, status, ctx, stop, options));
        }
        let mut failure = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    stop.cancel();
                    failure.get_or_insert(error);
                }
                Err(join_error) if join_error.is_panic() => {
                    std::panic::resume_unwind(join_error.into_panic())
                }
                Err(_) => {}
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

/// Why a run ended, as the `reason` label of a restart.
fn restart_reason(outcome: &RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Returned(Ok(())) => "returned",
        RunOutcome::Returned(Err(ChannelError::Bus(_))) => "bus",
        RunOutcome::Returned(Err(ChannelError::Blob(_))) => "blob",
        RunOutcome::Returned(Err(ChannelError::Source { .. })) => "source",
        RunOutcome::Returned(Err(ChannelError::Config { .. })) => "config",
        RunOutcome::Panicked => "panicked",
    }
}

enum RunOutcome {
    Returned(Result<(), ChannelError>),
    Panicked,
}

async fn supervise(
    mut channel: Box<dyn PullChannel>,
    status: PullStatus,
    ctx: ChannelContext,
    stop: CancellationToken,
    options: PullRunnerOptions,
) -> Result<(), PullRunnerError> {
    let name = channel.name();
    let mut backoff = Backoff::new(options.initial_backoff, options.max_backoff);
    loop {
        let started = Instant::now();
        let run = channel.run(ctx.clone(), status.clone(), stop.clone());
        let outcome = match std::panic::AssertUnwindSafe(run).catch_unwind().await {
            Ok(result) => RunOutcome::Returned(result),
            Err(_) => RunOutcome::Panicked,
        };
        status.set_connected(false);
        if stop.is_cancelled() {
            tracing::info!(channel = name, "pull channel stopped");
            return Ok(());
        }
        if let RunOutcome::Returned(Err(error)) = &outcome
            && !error.is_retryable()
        {
            tracing::error!(channel = name, error = %error, "pull channel failed for good");
            counter!(names::PULL_FATAL_ERRORS, "channel" => name).increment(1);
            let RunOutcome::Returned(Err(source)) = outcome else {
                unreachable!("matched above")
            };
            return Err(PullRunnerError {
                channel: name,
                source,
            });
        }
        if started.elapsed() >= options.healthy_after {
            backoff.reset();
        }
        let reason = restart_reason(&outcome);
        let error = match &outcome {
            RunOutcome::Returned(Err(error)) => error.to_string(),
            RunOutcome::Returned(Ok(())) => "returned before shutdown".to_owned(),
            RunOutcome::Panicked => "panicked".to_owned(),
        };
        let wait = backoff.next_delay();
        tracing::warn!(
            channel = name,
            reason,
            error = %error,
            retry_in_ms = wait.as_millis() as u64,
            "pull channel failed, restarting"
        );
        counter!(names::PULL_RESTARTS, "channel" => name, "reason" => reason).increment(1);
        status.set_last_error(Some(error));
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_bounds_up_to_the_max_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        for ceiling in [1, 2, 4, 8, 8, 8] {
            let ceiling = Duration::from_secs(ceiling);
            let wait = backoff.next_delay();
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} for {ceiling:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_secs(1));
    }
}
