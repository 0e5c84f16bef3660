//! On whose behalf a call is made: the channel of the event being handled,
//! so `intake_zendesk_calls_total` can be read per channel. Set by the caller
//! around its work with [`for_channel`]; calls outside such a scope are
//! labelled `none`. Label values stay bounded: channel names come from the
//! configuration.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static CHANNEL: Arc<str>;
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
