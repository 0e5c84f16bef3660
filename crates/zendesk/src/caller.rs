//! On whose behalf a call is made: the channel of the event being handled,
//! so `intake_zendesk_calls_total` can be read per channel. Set by the caller
//! around its work with [`for_channel`]; calls outside such a scope are
//! labelled `none`. Label values stay bounded: channel names come from the
//! configuration.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

tokio::task_local! {
    static CHANNEL: Arc<str>;
    static TICKET_WAIT_LIMIT: Duration;
}

/// Runs `work` with per-ticket waits bounded by `limit`: an update of a
/// ticket whose update slot frees up later than that (the 30-per-10-minutes
/// limit, a per-ticket 429's hold) fails at once with
/// [`crate::Error::TicketHeld`] saying when to come back, instead of sleeping.
/// The router uses it to park the conversation and serve the others.
pub async fn with_ticket_wait_limit<F: Future>(limit: Duration, work: F) -> F::Output {
    TICKET_WAIT_LIMIT.scope(limit, work).await
}

/// The per-ticket wait limit of the current call, if any.
pub(crate) fn ticket_wait_limit() -> Option<Duration> {
    TICKET_WAIT_LIMIT.try_with(|limit| *limit).ok()
}

/// Runs `work` with every Zendesk call inside it labelled with `channel`.
pub async fn for_channel<F: Future>(channel: &str, work: F) -> F::Output {
    CHANNEL.scope(Arc::from(channel), work).await
}

/// The `channel` label of the current call.
pub(crate) fn channel_label() -> String {
    CHANNEL
        .try_with(|channel| channel.to_string())
        .unwrap_or_else(|_| "none".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_label_follows_the_scope() {
        assert_eq!(channel_label(), "none");
        let inside = for_channel("chat", async { channel_label() }).await;
        assert_eq!(inside, "chat");
        assert_eq!(channel_label(), "none", "the scope ends with the future");
    }
}
