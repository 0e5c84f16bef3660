#![forbid(unsafe_code)]
//! The Telegram Bot API channel on the kit: `POST /v1/telegram/<bot>`
//! (setWebhook with `secret_token`), authenticated by
//! `X-Telegram-Bot-Api-Secret-Token` in constant time before anything is
//! parsed. Updates that make no ticket (`/start`, group chatter not for the
//! bot, other update kinds) are answered 200 and counted by the kit's
//! `handshake` step, so Telegram does not redeliver them; files are fetched with `getFile` into the blob store;
//! replies go back with `sendMessage` ([`reply`]).

mod api;
pub mod config;
pub mod events;
mod files;
pub mod normalise;
pub mod poll;
pub mod reply;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use intake_channel::webhook::{Authenticated, Normalised, Rejection, WebhookSettings};
use intake_channel::{ChannelContext, RejectReason, SenderLimiter, WebhookChannel};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use api::{ApiError, BotApi};
pub use config::{GroupMessages, Mode, Telegram, TelegramOptions};
pub use normalise::{CHANNEL, FileRef, Ignored, Rules, Update, normalise};
pub use poll::{PollSettings, TelegramPoller};

/// The header Telegram sends the webhook secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The long-polling channel for `options` (`mode = "polling"`).
pub fn poller(options: &TelegramOptions) -> Result<TelegramPoller, reqwest::Error> {
    let api = BotApi::new(
        &options.api_base_url,
        options.token.clone(),
        options.request_timeout,
    )?;
    let rules = Rules {
        bot: options.bot.clone(),
        bot_username: options.bot_username.clone(),
        group_messages: options.group_messages,
    };
    let settings = PollSettings {
        poll_timeout: options.poll_timeout,
        limit: options.poll_limit,
        max_file_bytes: options.max_file_bytes,
        raw_inline_max_bytes: intake_channel::DEFAULT_RAW_INLINE_MAX_BYTES,
    };
    Ok(TelegramPoller::new(api, rules, settings))
}

/// The webhook path of bot `bot`.
pub fn webhook_path(bot: &str) -> String {
    format!("/v1/telegram/{bot}")
}

/// The Telegram channel in webhook mode (an `HttpChannel` through
/// [`WebhookChannel`]).
pub struct TelegramChannel {
    path: &'static str,
    secret_token: Option<SecretString>,
    rules: Rules,
    api: BotApi,
    max_file_bytes: u64,
    settings: WebhookSettings,
}

impl std::fmt::Debug for TelegramChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramChannel")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TelegramChannel {
    /// The channel for `options`; the client cannot be built only when the
    /// TLS backend fails to start.
    pub fn new(options: TelegramOptions) -> Result<Arc<Self>, reqwest::Error> {
        let per_minute = options.sender_messages_per_minute;
        let api = BotApi::new(
            &options.api_base_url,
            options.token.clone(),
            options.request_timeout,
        )?;
        // Built once per process start: the path lives as long as the routes.
        let path: &'static str = Box::leak(webhook_path(&options.bot).into_boxed_str());
        let channel = TelegramChannel {
            path,
            secret_token: options.secret_token,
            rules: Rules {
                bot: options.bot,
                bot_username: options.bot_username,
                group_messages: options.group_messages,
            },
            api,
            max_file_bytes: options.max_file_bytes,
            settings: WebhookSettings {
                sender_limiter: SenderLimiter::new(per_minute, per_minute.max(1)),
                ..WebhookSettings::new(options.max_body_bytes)
            },
        };
        Ok(Arc::new(channel))
    }

    fn secret_matches(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let refuse = |message: &str| Rejection::new(RejectReason::Signature, message);
        let given = headers
            .get(SECRET_HEADER)
            .ok_or_else(|| refuse("missing X-Telegram-Bot-Api-Secret-Token header"))?;
        let Some(secret) = &self.secret_token else {
            return Err(refuse(
                "no channels.telegram.secret_token_env is configured",
            ));
        };
        let expected = secret.expose_secret().as_bytes();
        if bool::from(given.as_bytes().ct_eq(expected)) {
            Ok(())
        } else {
            Err(refuse("X-Telegram-Bot-Api-Secret-Token does not match"))
        }
    }
}

#[async_trait::async_trait]
impl WebhookChannel for TelegramChannel {
    type Extra = Vec<FileRef>;
    const ACCEPTED: StatusCode = StatusCode::OK;

    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn path(&self) -> &'static str {
        self.path
    }

    fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    fn check_headers(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        self.secret_matches(headers)
    }

    fn verify(&self, headers: &HeaderMap, _body: &[u8]) -> Result<Authenticated, Rejection> {
        // The secret is a header: checked before the body is read, and again here.
        self.secret_matches(headers)?;
        Ok(Authenticated::default())
    }

    /// Updates that make no ticket are answered 200 here, so that Telegram
    /// does not redeliver them, and counted.
    fn handshake(&self, body: &[u8]) -> Option<Response> {
        let Ok(Update::Ignored(reason)) = normalise(&self.rules, body, Utc::now()) else {
            return None;
        };
        events::UpdateIgnored { reason }.emit();
        let answer = serde_json::json!({"status": "ignored", "reason": reason.as_str()});
        Some((StatusCode::OK, axum::Json(answer)).into_response())
    }

    fn normalise(
        &self,
        _: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Normalised<Vec<FileRef>>, Rejection> {
        match normalise(&self.rules, body, received_at)? {
            Update::Message(message) => Ok(*message),
            // Answered by `handshake` before the pipeline normalises.
            Update::Ignored(reason) => Err(Rejection::new(
                RejectReason::Schema,
                format!("update makes no ticket ({})", reason.as_str()),
            )),
        }
    }

    async fn complete(
        &self,
        ctx: &ChannelContext,
        event_id: Uuid,
        message: &mut Normalised<Vec<FileRef>>,
    ) -> Result<(), Rejection> {
        files::fetch_all(&self.api, self.max_file_bytes, ctx, event_id, message).await
    }
}
