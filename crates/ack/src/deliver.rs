//! Sending one acknowledgement: retries with backoff on retryable
//! failures (honouring `Retry-After`) until `give_up_after`.

use intake_channel::{Reply, ReplyError, ReplySenders};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::AckOptions;
use crate::run::sleep;
use crate::telemetry::AckRetrying;

/// How a send ended.
pub(crate) enum Sent {
    Delivered {
        attempts: u32,
    },
    Failed {
        reason: &'static str,
        message: String,
    },
    Stopped,
}

/// Sends with retries on retryable failures, until `give_up_after`.
pub(crate) async fn send(
    senders: &ReplySenders,
    options: &AckOptions,
    reply: &Reply,
    channel: &str,
    shutdown: &CancellationToken,
) -> Sent {
    let started = Instant::now();
    let mut wait = options.retry_initial_backoff;
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
        if started.elapsed() + wait > options.give_up_after {
            return Sent::Failed {
                reason: "retries_exhausted",
                message: format!("still failing after {attempts} attempts: {error}"),
            };
        }
        let delay = error
            .retry_after()
            .unwrap_or(wait)
            .min(options.retry_max_backoff);
        AckRetrying {
            channel,
            outcome_id: reply.outcome_id,
            attempt: attempts,
            reason: error.reason().as_str(),
            retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        }
        .emit();
        if !sleep(shutdown, delay).await {
            return Sent::Stopped;
        }
        wait = (wait * 2).min(options.retry_max_backoff);
    }
}
