//! Replies by `chat.postMessage` (`POST {api_base_url}chat.postMessage`,
//! bot token as bearer), in the thread of the conversation
//! (`<team>:<channel>:<thread_ts>`, as the channel's events carry it).
//! Slack answers 200 with `ok: false` and an `error` code for a refusal,
//! and 429 with `Retry-After` when the app sends too fast: the reply is
//! then `rate_limited` with that wait, which the caller honours.

use std::time::Duration;

use async_trait::async_trait;
use intake_channel::{Delivery, Reply, ReplyError, ReplyFailure, ReplySender};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use crate::CHANNEL;

/// Sends replies into Slack threads.
#[derive(Debug, Clone)]
pub struct SlackReplies {
    pub(crate) http: reqwest::Client,
    pub(crate) api_base_url: Url,
    pub(crate) bot_token: SecretString,
}

/// The failure of one of Slack's `error` codes.
fn failure(code: &str) -> ReplyFailure {
    match code {
        "ratelimited" | "rate_limited" => ReplyFailure::RateLimited,
        "channel_not_found" | "not_in_channel" | "is_archived" | "user_not_found" => {
            ReplyFailure::UnknownRecipient
        }
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" | "missing_scope" => {
            ReplyFailure::Unauthorized
        }
        "msg_too_long" | "no_text" => ReplyFailure::Invalid,
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            ReplyFailure::UpstreamError
        }
        _ => ReplyFailure::Rejected,
    }
}

#[async_trait]
impl ReplySender for SlackReplies {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    async fn send(&self, reply: &Reply) -> Result<Delivery, ReplyError> {
        let conversation = reply.conversation_id.as_deref().unwrap_or_default();
        let mut parts = conversation.splitn(3, ':');
        let (Some(_team), Some(channel), Some(thread_ts)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(ReplyError::new(
                ReplyFailure::Invalid,
                "the reply names no Slack conversation (<team>:<channel>:<thread_ts>)",
            ));
        };
        let url = self
            .api_base_url
            .join("chat.postMessage")
            .map_err(|_| ReplyError::new(ReplyFailure::Invalid, "bad api_base_url"))?;
        // Files go as links: uploading needs Slack's multi-step upload flow.
        let body =
            json!({"channel": channel, "thread_ts": thread_ts, "text": reply.text_with_links()});
        let answer = self
            .http
            .post(url)
            .bearer_auth(self.bot_token.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                let reason = if e.is_timeout() {
                    ReplyFailure::Timeout
                } else {
                    ReplyFailure::Unreachable
                };
                ReplyError::new(reason, format!("chat.postMessage: {}", e.without_url()))
            })?;
        let status = answer.status();
        let retry_after = answer
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if !status.is_success() {
            let error = ReplyError::from_http_status(
                status.as_u16(),
                format!("chat.postMessage answered {status}"),
            );
            return Err(match retry_after {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            });
        }
        let json: Value = answer.json().await.unwrap_or(Value::Null);
        if json["ok"].as_bool() != Some(true) {
            let code = json["error"].as_str().unwrap_or("unknown");
            let error = ReplyError::new(failure(code), format!("chat.postMessage: {code}"));
            return Err(match retry_after {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            });
        }
        Ok(Delivery {
            message_id: json["ts"].as_str().map(str::to_owned),
        })
    }
}
