//! Joining a consumer group when the bus may not be there yet: the
//! acknowledgements and the SLA watch start beside the gateway and wait for
//! the bus rather than fail the process.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{Bus, Consumer};

/// Sleeps `wait`; false when `shutdown` came first.
pub async fn sleep_or_shutdown(shutdown: &CancellationToken, wait: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// A consumer of `topics` in `group`, retried with a doubling wait from
/// `initial` up to `max` until the bus answers; `None` when `shutdown`
/// comes first. Each failed attempt is logged with the reason.
pub async fn consumer_when_ready(
    bus: &dyn Bus,
    group: &str,
    topics: &[String],
    (initial, max): (Duration, Duration),
    shutdown: &CancellationToken,
) -> Option<Box<dyn Consumer>> {
    let mut wait = initial;
    loop {
        match bus.consumer(group, topics).await {
            Ok(consumer) => return Some(consumer),
            Err(error) => {
                tracing::warn!(error = %error, ?topics, group, "cannot consume yet, retrying");
                if !sleep_or_shutdown(shutdown, wait).await {
                    return None;
                }
                wait = (wait * 2).min(max);
            }
        }
    }
}
