//! The chat channel's reply sender: an outbound webhook to the site's chat
//! backend, signed with the Standard Webhooks scheme under the site's own
//! secret (`channels.chat.callback.secret_env` / `_file`), so the site can
//! verify it with any Standard Webhooks library.
//!
//! `POST <url>` with `Content-Type: application/json` and the headers
//! `webhook-id` (the outcome id: the same for a retried delivery, so the site
//! can drop a repeat), `webhook-timestamp` (unix seconds) and
//! `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).
//! The body is a [`CallbackBody`]. Any 2xx is success; 408, 429 and 5xx
//! (and network failures, timeouts) are retried by the caller; other
//! answers are permanent ([`ReplyError::from_http_status`]).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use intake_channel::{Delivery, Reply, ReplyError, ReplyFailure, ReplyKind, ReplySender};
use secrecy::SecretString;
use serde::Serialize;
use url::Url;

use crate::signature::{SecretError, WebhookSecret, sign};

/// The `type` of an acknowledgement callback.
pub const ACKNOWLEDGEMENT_TYPE: &str = "ticket.acknowledgement";
/// The `type` of an agent's reply from Zendesk.
pub const AGENT_REPLY_TYPE: &str = "ticket.agent_reply";
/// The `type` of any other message of intake.
pub const NOTICE_TYPE: &str = "ticket.notice";

/// The callback `type` of a reply of `kind`.
pub fn callback_type(kind: ReplyKind) -> &'static str {
    match kind {
        ReplyKind::Acknowledgement => ACKNOWLEDGEMENT_TYPE,
        ReplyKind::AgentReply => AGENT_REPLY_TYPE,
        ReplyKind::Notice => NOTICE_TYPE,
    }
}
/// Default time a callback may take, connection included.
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to call the site back.
#[derive(Clone)]
pub struct CallbackOptions {
    /// The site's endpoint (`https://chat.example.com/intake/replies`).
    pub url: Url,
    /// The site's Standard Webhooks secret (`whsec_…`).
    pub secret: SecretString,
    /// Longest time one callback may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for CallbackOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackOptions")
            .field("url", &self.url.as_str())
            .field("secret", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why the callback sender cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackSetupError {
    #[error("channels.chat.callback secret: {0}")]
    Secret(#[from] SecretError),
    #[error("channels.chat.callback.url must be http or https")]
    Scheme,
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl CallbackSetupError {
    /// Never: the configuration must change.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// What the site receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallbackBody<'a> {
    /// [`ACKNOWLEDGEMENT_TYPE`], [`AGENT_REPLY_TYPE`] or [`NOTICE_TYPE`].
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The conversation to post into (the `conversation_id` the site sent).
    pub conversation_id: Option<&'a str>,
    /// The visitor (`chat:<author id>`, or `email:<address>` of a signed identity).
    pub contact_key: &'a str,
    /// The Zendesk ticket number.
    pub ticket_id: Option<u64>,
    /// The text to show the visitor (plain text, may hold line breaks).
    pub text: &'a str,
    /// When the first answer is due, RFC 3339 UTC.
    pub deadline: Option<String>,
    /// The same as `webhook-id`.
    pub outcome_id: String,
    /// Files to show with the text (an agent reply's attachments; the site
    /// renders them, the text does not repeat them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<CallbackAttachment<'a>>,
}

/// One file of a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallbackAttachment<'a> {
    pub file_name: &'a str,
    pub url: &'a str,
}

/// The chat callback [`ReplySender`].
pub struct ChatCallback {
    client: reqwest::Client,
    url: Url,
    secret: WebhookSecret,
}

impl std::fmt::Debug for ChatCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatCallback")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl ChatCallback {
    pub fn new(options: CallbackOptions) -> Result<Self, CallbackSetupError> {
        if !matches!(options.url.scheme(), "http" | "https") {
            return Err(CallbackSetupError::Scheme);
        }
        let secret = WebhookSecret::from_secret_string(&options.secret)?;
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CallbackSetupError::Client(e.to_string()))?;
        Ok(Self {
            client,
            url: options.url,
            secret,
        })
    }
}

/// The body of `reply`, as bytes (what is signed and sent).
pub fn callback_body(reply: &Reply) -> Vec<u8> {
    let body = CallbackBody {
        kind: callback_type(reply.kind),
        conversation_id: reply.conversation_id.as_deref(),
        contact_key: &reply.contact_key,
        ticket_id: reply.ticket_id,
        text: &reply.text,
        deadline: reply.deadline.map(rfc3339),
        outcome_id: reply.outcome_id.to_string(),
        attachments: reply
            .attachments
            .iter()
            .map(|a| CallbackAttachment {
                file_name: &a.file_name,
                url: &a.url,
            })
            .collect(),
    };
    serde_json::to_vec(&body).expect("the callback body always serialises")
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[async_trait]
impl ReplySender for ChatCallback {
    fn channel(&self) -> &'static str {
        crate::CHANNEL
    }

    async fn send(&self, reply: &Reply) -> Result<Delivery, ReplyError> {
        let body = callback_body(reply);
        let id = reply.outcome_id.to_string();
        // The transport clock: the site checks it against its own.
        let timestamp = Utc::now().timestamp();
        let signature = sign(&self.secret, &id, timestamp, &body);
        let answer = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = answer.status();
        if status.is_success() {
            return Ok(Delivery { message_id: None });
        }
        let retry_after = answer
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let error = ReplyError::from_http_status(
            status.as_u16(),
            format!("the chat callback answered HTTP {}", status.as_u16()),
        );
        Err(match retry_after {
            Some(wait) => error.with_retry_after(wait),
            None => error,
        })
    }
}

/// A request that got no HTTP answer. The message names no URL (it may
/// carry a token in its query).
fn transport_error(error: reqwest::Error) -> ReplyError {
    if error.is_timeout() {
        ReplyError::new(
            ReplyFailure::Timeout,
            "the chat callback did not answer in time",
        )
    } else if error.is_connect() {
        ReplyError::new(
            ReplyFailure::Unreachable,
            "cannot connect to the chat callback",
        )
    } else if error.is_builder() {
        ReplyError::new(
            ReplyFailure::Invalid,
            "the chat callback request cannot be built",
        )
    } else {
        ReplyError::new(
            ReplyFailure::Unreachable,
            "the chat callback connection failed",
        )
    }
}

#[cfg(test)]
mod tests {
    use intake_channel::ReplyAttachment;

    use super::*;

    fn body_of(reply: &Reply) -> serde_json::Value {
        serde_json::from_slice(&callback_body(reply)).unwrap()
    }

    #[test]
    fn the_type_follows_the_kind_of_reply() {
        let cases = [
            (ReplyKind::Acknowledgement, "ticket.acknowledgement"),
            (ReplyKind::AgentReply, "ticket.agent_reply"),
            (ReplyKind::Notice, "ticket.notice"),
        ];
        for (kind, expected) in cases {
            let reply = Reply {
                kind,
                text: "hi".into(),
                ..Reply::default()
            };
            assert_eq!(body_of(&reply)["type"], expected, "{kind:?}");
        }
    }

    #[test]
    fn attachments_are_listed_apart_from_the_text() {
        let reply = Reply {
            kind: ReplyKind::AgentReply,
            text: "The invoice.".into(),
            attachments: vec![ReplyAttachment {
                file_name: "a.pdf".into(),
                url: "https://x.example/a.pdf".into(),
            }],
            ..Reply::default()
        };
        let body = body_of(&reply);
        assert_eq!(body["text"], "The invoice.");
        assert_eq!(
            body["attachments"],
            serde_json::json!([{"file_name": "a.pdf", "url": "https://x.example/a.pdf"}])
        );
        let plain = body_of(&Reply::default());
        assert!(plain.get("attachments").is_none(), "{plain}");
    }
}
