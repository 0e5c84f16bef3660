//! Sending one reply: retries with backoff on retryable failures
//! (honouring `Retry-After`) until `give_up_after`. Public for the other
//! senders of customer replies (agent replies, issue 16).

use std::time::Duration;

use intake_channel::{Reply, ReplyError, ReplySenders};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::AckOptions;
use crate::telemetry::AckRetrying;
use intake_bus::sleep_or_shutdown as sleep;

/// How a send is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First wait before retrying a retryable send failure.
    pub initial_backoff: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// A send still failing (retryably) this long after the first attempt
    /// ends as `retries_exhausted`.
    pub give_up_after: Duration,
}

/// One retry about to be waited for.
#[derive(Debug, Clone, Copy)]
pub struct Retrying {
    pub attempt: u32,
    pub reason: &'static str,
    pub retry_in: Duration,
}

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Delivered {
        attempts: u32,
    },
    /// For good: `reason` is a bounded code, `message` says what failed.
    Failed {
        reason: &'static str,
        message: String,
    },
    Stopped,
}

/// Sends with retries on retryable failures, until `policy.give_up_after`;
/// `on_retry` is told of each retry before its wait (to log and count it).
pub async fn send_with_retries(
    senders: &ReplySenders,
    policy: &RetryPolicy,
    reply: &Reply,
    shutdown: &CancellationToken,
    on_retry: impl Fn(Retrying),
) -> Sent {
    let started = Instant::now();
    let mut wait = policy.initial_backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error: ReplyError = match senders.send(reply).await {
            Ok(_) => return Sent::Delivered { attempts },
            Err(error) => error,
        };
        if !error.is_retryable() {
            return Sent::Failed {
                reason: error.reason().as_str(),
                message: error.message().to_owned(),
            };
        }
        if started.elapsed() + wait > policy.give_up_after {
            return Sent::Failed {
                reason: "retries_exhausted",
                message: format!("still failing after {attempts} attempts: {error}"),
            };
        }
        let delay = error.retry_after().unwrap_or(wait).min(policy.max_backoff);
        on_retry(Retrying {
            attempt: attempts,
            reason: error.reason().as_str(),
            retry_in: delay,
        });
        if !sleep(shutdown, delay).await {
            return Sent::Stopped;
        }
        wait = (wait * 2).min(policy.max_backoff);
    }
}

/// Sends an acknowledgement, counting retries as `AckRetrying`.
pub(crate) async fn send(
    senders: &ReplySenders,
    options: &AckOptions,
    reply: &Reply,
    channel: &str,
    shutdown: &CancellationToken,
) -> Sent {
    let policy = RetryPolicy {
        initial_backoff: options.retry_initial_backoff,
        max_backoff: options.retry_max_backoff,
        give_up_after: options.give_up_after,
    };
    send_with_retries(senders, &policy, reply, shutdown, |retry| {
        AckRetrying {
            channel,
            outcome_id: reply.outcome_id,
            attempt: retry.attempt,
            reason: retry.reason,
            retry_in_ms: u64::try_from(retry.retry_in.as_millis()).unwrap_or(u64::MAX),
        }
        .emit();
    })
    .await
}
