//! Long polling (`mode = "polling"`), for teams that cannot expose a URL:
//! `getUpdates` with `offset`, run by the kit's pull runner. An update is
//! confirmed to Telegram (the next call's `offset` passes it) only after
//! its event is on the bus, or after it was counted as ignored or refused
//! for good; a bus or file failure ends the session unconfirmed, so the
//! runner's next session fetches the same update again, with the same event
//! id (the router drops the repeat).
//!
//! The offset lives in this value, across the runner's restarts. After a
//! process restart it starts empty: Telegram then hands out again every
//! update not yet confirmed (it keeps them for 24 hours), so nothing is
//! lost, and what was published but not confirmed has the same event id.

use std::time::Duration;

use async_trait::async_trait;
use intake_channel::events::MessageRejected;
use intake_channel::{
    ChannelContext, ChannelError, PublishRefusal, PullChannel, PullStatus, attach_raw,
    publish_event,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, BotApi};
use crate::normalise::{CHANNEL, Rules, Update, normalise};

/// The polling session's settings.
#[derive(Debug, Clone)]
pub struct PollSettings {
    /// `getUpdates` long-poll `timeout`.
    pub poll_timeout: Duration,
    /// Updates per `getUpdates`.
    pub limit: u32,
    pub max_file_bytes: u64,
    pub raw_inline_max_bytes: usize,
}

/// The Telegram channel in long-polling mode.
#[derive(Debug)]
pub struct TelegramPoller {
    api: BotApi,
    rules: Rules,
    settings: PollSettings,
    /// The next `offset`: one past the last update handled.
    offset: Option<i64>,
}

fn source(error: &ApiError) -> ChannelError {
    let unauthorized = matches!(
        error,
        ApiError::Refused {
            status: 401 | 404,
            ..
        }
    );
    if unauthorized {
        return ChannelError::Config {
            channel: CHANNEL,
            message: format!("{error} (check channels.telegram.token_env)"),
        };
    }
    ChannelError::Source {
        channel: CHANNEL,
        message: error.to_string(),
        retryable: true,
    }
}

impl TelegramPoller {
    pub fn new(api: BotApi, rules: Rules, settings: PollSettings) -> Self {
        Self {
            api,
            rules,
            settings,
            offset: None,
        }
    }

    /// The next offset (one past the last handled update).
    pub fn offset(&self) -> Option<i64> {
        self.offset
    }

    async fn get_updates(&self) -> Result<Vec<Value>, ApiError> {
        let mut body = json!({
            "timeout": self.settings.poll_timeout.as_secs(),
            "limit": self.settings.limit,
            "allowed_updates": ["message", "edited_message"],
        });
        if let Some(offset) = self.offset {
            body["offset"] = json!(offset);
        }
        let result = self
            .api
            .call_long("getUpdates", &body, self.settings.poll_timeout)
            .await?;
        Ok(result.as_array().cloned().unwrap_or_default())
    }

    /// Publishes one update; `Ok` when it is done with (published, ignored
    /// or refused for good), so its offset may be passed.
    async fn handle(&self, ctx: &ChannelContext, update: &Value) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(update).expect("a JSON value serialises");
        let now = intake_telemetry::clock::now();
        let mut message = match normalise(&self.rules, &bytes, now) {
            Ok(Update::Message(message)) => *message,
            Ok(Update::Ignored(reason)) => {
                crate::events::UpdateIgnored { reason }.emit();
                return Ok(());
            }
            Err(rejection) => {
                let detail = rejection
                    .log_detail
                    .as_deref()
                    .unwrap_or(&rejection.message);
                MessageRejected {
                    channel: CHANNEL,
                    reason: rejection.reason,
                    event_id: None,
                    detail,
                }
                .emit();
                return Ok(());
            }
        };
        let event_id = message.event.event_id;
        let limit = self.settings.max_file_bytes;
        if let Err(rejection) =
            crate::files::fetch_all(&self.api, limit, ctx, event_id, &mut message).await
        {
            return Err(ChannelError::Source {
                channel: CHANNEL,
                message: rejection.message,
                retryable: true,
            });
        }
        attach_raw(
            ctx.blobs.as_ref(),
            &mut message.event,
            &bytes,
            self.settings.raw_inline_max_bytes,
        )
        .await?;
        match publish_event(ctx, &message.event).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_retryable() => Err(ChannelError::Bus(error)),
            Err(error) => {
                let refusal = PublishRefusal::of(&error);
                MessageRejected {
                    channel: CHANNEL,
                    reason: refusal.reason,
                    event_id: Some(event_id),
                    detail: &refusal.message,
                }
                .emit();
                Ok(())
            }
        }
    }
}

#[async_trait]
impl PullChannel for TelegramPoller {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    async fn run(
        &mut self,
        ctx: ChannelContext,
        status: PullStatus,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        loop {
            let updates = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                updates = self.get_updates() => updates.map_err(|e| source(&e))?,
            };
            status.set_connected(true);
            for update in &updates {
                let Some(update_id) = update["update_id"].as_i64() else {
                    continue;
                };
                if self.offset.is_some_and(|offset| update_id < offset) {
                    continue;
                }
                self.handle(&ctx, update).await?;
                self.offset = Some(update_id + 1);
            }
            status.fetched();
            if shutdown.is_cancelled() {
                return Ok(());
            }
        }
    }
}
