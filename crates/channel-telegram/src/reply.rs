//! The reply role: `sendMessage` in the customer's chat (in a group, as a
//! reply to the message when the reply names it), then `sendDocument` by
//! URL for each file of the reply. A 429 is retried after
//! Telegram's `parameters.retry_after`, up to `reply_max_attempts` and
//! `reply_max_wait_secs`; past those the failure is returned as
//! `rate_limited` with that wait, so the caller retries later.

use std::time::Duration;

use async_trait::async_trait;
use intake_channel::{Delivery, Reply, ReplyError, ReplyFailure, ReplySender};
use serde_json::{Value, json};

use crate::api::{ApiError, BotApi};
use crate::config::TelegramOptions;

/// Telegram's limit on a message text, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Sends replies through the Bot API.
#[derive(Debug)]
pub struct TelegramReplySender {
    api: BotApi,
    bot: String,
    max_attempts: u32,
    max_wait: Duration,
}

impl TelegramReplySender {
    pub fn new(options: &TelegramOptions) -> Result<Self, reqwest::Error> {
        Ok(Self {
            api: BotApi::new(
                &options.api_base_url,
                options.token.clone(),
                options.request_timeout,
            )?,
            bot: options.bot.clone(),
            max_attempts: options.reply_max_attempts.max(1),
            max_wait: options.reply_max_wait,
        })
    }

    /// The `sendMessage` body of `reply`.
    pub fn request(&self, reply: &Reply) -> Result<Value, ReplyError> {
        let chat = reply
            .conversation_id
            .clone()
            .or_else(|| {
                reply
                    .contact_key
                    .strip_prefix("telegram:")
                    .map(str::to_owned)
            })
            .filter(|chat| chat.parse::<i64>().is_ok())
            .ok_or_else(|| {
                ReplyError::new(ReplyFailure::Invalid, "no Telegram chat id in the reply")
            })?;
        let text: String = reply.text.chars().take(MAX_MESSAGE_CHARS).collect();
        let mut body = json!({ "chat_id": chat, "text": text });
        // `<bot>:<chat>:<message>`, the channel message id of the message answered.
        let answered = reply.in_reply_to.iter().find_map(|id| {
            let mut parts = id.split(':');
            let (bot, in_chat, message) = (parts.next()?, parts.next()?, parts.next()?);
            (bot == self.bot && in_chat == chat).then(|| message.parse::<i64>().ok())?
        });
        if let Some(message_id) = answered {
            body["reply_parameters"] =
                json!({ "message_id": message_id, "allow_sending_without_reply": true });
        }
        Ok(body)
    }
}

fn reply_error(method: &str, error: ApiError) -> ReplyError {
    match error {
        ApiError::Timeout => ReplyError::new(ReplyFailure::Timeout, format!("{method} timed out")),
        ApiError::Unreachable(e) => ReplyError::new(ReplyFailure::Unreachable, e),
        ApiError::Refused {
            status,
            description,
            retry_after,
        } => {
            let error = ReplyError::from_http_status(status, format!("{method}: {description}"));
            match retry_after {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            }
        }
        ApiError::TooLarge { .. } => ReplyError::new(ReplyFailure::Invalid, error.to_string()),
    }
}

#[async_trait]
impl ReplySender for TelegramReplySender {
    fn channel(&self) -> &'static str {
        crate::CHANNEL
    }

    async fn send(&self, reply: &Reply) -> Result<Delivery, ReplyError> {
        let body = self.request(reply)?;
        // A reply of files alone sends no empty text (Telegram refuses one).
        let file_only = reply.text.trim().is_empty() && !reply.attachments.is_empty();
        let sent = if file_only {
            Value::Null
        } else {
            self.call("sendMessage", &body, reply).await?
        };
        // The files follow as documents by URL (Telegram fetches them).
        for attachment in &reply.attachments {
            let mut document = json!({
                "chat_id": body["chat_id"],
                "document": attachment.url,
                "caption": attachment.file_name,
            });
            if let Some(parameters) = body.get("reply_parameters") {
                document["reply_parameters"] = parameters.clone();
            }
            self.call("sendDocument", &document, reply).await?;
        }
        Ok(Delivery {
            message_id: sent["message_id"].as_i64().map(|id| id.to_string()),
        })
    }
}

impl TelegramReplySender {
    /// One Bot API call, waiting out a short 429 (see the module docs).
    async fn call(&self, method: &str, body: &Value, reply: &Reply) -> Result<Value, ReplyError> {
        let mut attempt = 1;
        loop {
            match self.api.call(method, body).await {
                Ok(sent) => return Ok(sent),
                Err(ApiError::Refused {
                    status: 429,
                    retry_after: Some(wait),
                    ..
                }) if attempt < self.max_attempts && wait <= self.max_wait => {
                    tracing::info!(
                        channel = crate::CHANNEL,
                        outcome_id = %reply.outcome_id,
                        retry_after_secs = wait.as_secs(),
                        "telegram asked to slow down, waiting"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error) => return Err(reply_error(method, error)),
            }
        }
    }
}
