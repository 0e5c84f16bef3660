//! The reply role: a channel that can send a text back to a contact or a
//! conversation (mail via SMTP, a bot API, the chat site's callback).
//!
//! A channel implements [`ReplySender`]; the app holds every sender in a
//! [`ReplySenders`] registry keyed by channel name, and the work that answers
//! customers (acknowledgements, department routing) calls
//! [`ReplySenders::send`], which picks the sender and emits the telemetry.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::events::{ReplyFailed, ReplySent};

/// What a reply is: senders tell them apart (the chat callback's `type`,
/// the automatic-mail headers that only automatic mail carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReplyKind {
    /// Intake's automatic answer that a request was received.
    #[default]
    Acknowledgement,
    /// An agent's public comment in Zendesk, carried back to the customer.
    AgentReply,
    /// Any other automatic message of intake (a pointer to the right address).
    Notice,
}

impl ReplyKind {
    /// The stable spelling (`acknowledgement`, `agent_reply`, `notice`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyKind::Acknowledgement => "acknowledgement",
            ReplyKind::AgentReply => "agent_reply",
            ReplyKind::Notice => "notice",
        }
    }

    /// True for what intake writes by itself (not a person's answer).
    pub fn is_automatic(self) -> bool {
        !matches!(self, ReplyKind::AgentReply)
    }
}

/// A file that goes with a reply: sent as a file where the messenger takes
/// files by URL, as a `name: url` line otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyAttachment {
    pub file_name: String,
    pub url: String,
}

/// One text to deliver in a channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// What the reply is (acknowledgement, agent reply, notice).
    pub kind: ReplyKind,
    /// The channel to answer in (`mail`, `telegram`, ...).
    pub channel: String,
    /// The contact's key (`email:…`, `telegram:…`), as on the ticket event.
    pub contact_key: String,
    /// The conversation in the channel (mail thread, chat id), when known.
    pub conversation_id: Option<String>,
    /// The Zendesk ticket the reply belongs to, when there is one.
    pub ticket_id: Option<u64>,
    /// The text (plain).
    pub text: String,
    /// A subject, for channels that have one (mail).
    pub subject: Option<String>,
    /// Source message ids this reply answers (mail `In-Reply-To`/`References`).
    pub in_reply_to: Vec<String>,
    /// Stable id of the outcome this reply reports: a sender passes it on as
    /// an idempotency key (or a `Message-ID`) so that a retried send is not
    /// delivered twice where the upstream supports it.
    pub outcome_id: Uuid,
    /// When the first answer is due, for channels that pass it on as data
    /// (the chat callback); the text already says it in words.
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
    /// The channel account to send from (the mail account the message came
    /// in on, `TicketOutcome::channel_account`); None: the channel's default.
    pub account: Option<String>,
    /// When the customer last wrote in this conversation, when known (the
    /// WhatsApp sender sends its template outside the 24-hour window).
    pub last_inbound_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Files of the reply (an agent comment's attachments).
    pub attachments: Vec<ReplyAttachment>,
}

impl Reply {
    /// The text followed by one `name: url` line per attachment, for
    /// channels that send no files.
    pub fn text_with_links(&self) -> String {
        let mut text = self.text.clone();
        for attachment in &self.attachments {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("{}: {}", attachment.file_name, attachment.url));
        }
        text
    }
}

/// What the channel says about a delivered reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The upstream's id for the sent message (SMTP `Message-ID`, bot message id).
    pub message_id: Option<String>,
}

/// Why a reply was not delivered: a bounded set, used as the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyFailure {
    /// The upstream could not be reached or the connection broke.
    Unreachable,
    /// No answer within the sender's timeout.
    Timeout,
    /// The upstream asked to slow down (HTTP 429, SMTP 421/451 with a limit).
    RateLimited,
    /// The upstream failed on its side (HTTP 5xx, SMTP 4xx).
    UpstreamError,
    /// The upstream refused intake's credentials (HTTP 401/403, SMTP 530/535).
    Unauthorized,
    /// The contact or conversation does not exist there (HTTP 404/410, SMTP 550/551/553).
    UnknownRecipient,
    /// The upstream refused this reply for good (HTTP 4xx, SMTP 5xx).
    Rejected,
    /// The reply cannot be sent in this channel (too long, no address to answer to).
    Invalid,
    /// No sender is registered for the reply's channel.
    NoSender,
}

impl ReplyFailure {
    pub const ALL: [ReplyFailure; 9] = [
        ReplyFailure::Unreachable,
        ReplyFailure::Timeout,
        ReplyFailure::RateLimited,
        ReplyFailure::UpstreamError,
        ReplyFailure::Unauthorized,
        ReplyFailure::UnknownRecipient,
        ReplyFailure::Rejected,
        ReplyFailure::Invalid,
        ReplyFailure::NoSender,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyFailure::Unreachable => "unreachable",
            ReplyFailure::Timeout => "timeout",
            ReplyFailure::RateLimited => "rate_limited",
            ReplyFailure::UpstreamError => "upstream_error",
            ReplyFailure::Unauthorized => "unauthorized",
            ReplyFailure::UnknownRecipient => "unknown_recipient",
            ReplyFailure::Rejected => "rejected",
            ReplyFailure::Invalid => "invalid",
            ReplyFailure::NoSender => "no_sender",
        }
    }

    /// True when sending the same reply later may work.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ReplyFailure::Unreachable
                | ReplyFailure::Timeout
                | ReplyFailure::RateLimited
                | ReplyFailure::UpstreamError
        )
    }
}

/// A reply that was not delivered. Retryable or not follows from the
/// [`ReplyFailure`]; the message names what failed, never a secret or the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reply not delivered ({}): {message}", reason.as_str())]
pub struct ReplyError {
    reason: ReplyFailure,
    message: String,
    retry_after: Option<Duration>,
}

impl ReplyError {
    pub fn new(reason: ReplyFailure, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// How long the upstream asked to wait (kept only for a retryable failure).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        if self.reason.is_retryable() {
            self.retry_after = Some(wait);
        }
        self
    }

    /// The failure for an HTTP answer of a bot or callback API.
    pub fn from_http_status(status: u16, message: impl Into<String>) -> Self {
        let reason = match status {
            429 => ReplyFailure::RateLimited,
            408 | 500..=599 => ReplyFailure::UpstreamError,
            401 | 403 => ReplyFailure::Unauthorized,
            404 | 410 => ReplyFailure::UnknownRecipient,
            _ => ReplyFailure::Rejected,
        };
        Self::new(reason, message)
    }

    /// The failure for an SMTP reply code (RFC 5321: 4yz transient, 5yz permanent).
    pub fn from_smtp_code(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            421 | 450..=452 => ReplyFailure::RateLimited,
            400..=499 => ReplyFailure::UpstreamError,
            530 | 535 => ReplyFailure::Unauthorized,
            550 | 551 | 553 => ReplyFailure::UnknownRecipient,
            _ => ReplyFailure::Rejected,
        };
        Self::new(reason, message)
    }

    pub fn reason(&self) -> ReplyFailure {
        self.reason
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when sending the same reply later may work.
    pub fn is_retryable(&self) -> bool {
        self.reason.is_retryable()
    }

    /// The upstream's requested wait, for a retryable failure.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// A channel's way of sending text back. One per channel, in `src/reply.rs`
/// of the channel crate.
#[async_trait]
pub trait ReplySender: Send + Sync {
    /// The channel name, as used in topics and metrics.
    fn channel(&self) -> &'static str;
    /// Delivers `reply`; returns once the upstream accepted it.
    async fn send(&self, reply: &Reply) -> Result<Delivery, ReplyError>;
}

/// Every registered reply sender, by channel name.
#[derive(Clone, Default)]
pub struct ReplySenders {
    senders: BTreeMap<&'static str, Arc<dyn ReplySender>>,
}

impl std::fmt::Debug for ReplySenders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplySenders")
            .field("channels", &self.senders.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ReplySenders {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `sender` under its channel name (replacing none: a second
    /// sender for the same channel is a programming error, returned as such).
    pub fn register(&mut self, sender: Arc<dyn ReplySender>) -> Result<(), DuplicateSender> {
        let channel = sender.channel();
        if self.senders.contains_key(channel) {
            return Err(DuplicateSender { channel });
        }
        self.senders.insert(channel, sender);
        Ok(())
    }

    /// The sender of `channel`, if one is registered.
    pub fn get(&self, channel: &str) -> Option<&Arc<dyn ReplySender>> {
        self.senders.get(channel)
    }

    /// The channels that can reply.
    pub fn channels(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.senders.keys().copied()
    }

    /// Sends `reply` with its channel's sender, logging and counting the outcome.
    pub async fn send(&self, reply: &Reply) -> Result<Delivery, ReplyError> {
        let Some(sender) = self.get(&reply.channel) else {
            let error = ReplyError::new(
                ReplyFailure::NoSender,
                format!("no reply sender for channel {:?}", reply.channel),
            );
            ReplyFailed {
                channel: UNREGISTERED_CHANNEL_LABEL,
                outcome_id: reply.outcome_id,
                ticket_id: reply.ticket_id,
                error: &error,
            }
            .emit();
            return Err(error);
        };
        let channel = sender.channel();
        match sender.send(reply).await {
            Ok(delivery) => {
                ReplySent {
                    channel,
                    outcome_id: reply.outcome_id,
                    ticket_id: reply.ticket_id,
                }
                .emit();
                Ok(delivery)
            }
            Err(error) => {
                ReplyFailed {
                    channel,
                    outcome_id: reply.outcome_id,
                    ticket_id: reply.ticket_id,
                    error: &error,
                }
                .emit();
                Err(error)
            }
        }
    }
}

/// The `channel` label of a reply for a channel with no sender.
pub const UNREGISTERED_CHANNEL_LABEL: &str = "unregistered";

/// Two senders were registered for one channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a reply sender for channel {channel} is already registered")]
pub struct DuplicateSender {
    pub channel: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_become_link_lines() {
        let reply = Reply {
            kind: ReplyKind::AgentReply,
            text: "See the invoice.".into(),
            attachments: vec![ReplyAttachment {
                file_name: "invoice.pdf".into(),
                url: "https://x.example/invoice.pdf".into(),
            }],
            ..Reply::default()
        };
        assert_eq!(
            reply.text_with_links(),
            "See the invoice.\ninvoice.pdf: https://x.example/invoice.pdf"
        );
        assert!(!reply.kind.is_automatic());
        assert!(ReplyKind::default().is_automatic());
        assert_eq!(ReplyKind::AgentReply.as_str(), "agent_reply");
    }

    #[test]
    fn failures_have_distinct_labels() {
        let mut labels: Vec<_> = ReplyFailure::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), ReplyFailure::ALL.len());
    }

    #[test]
    fn http_statuses_are_classified() {
        let cases = [
            (429, ReplyFailure::RateLimited, true),
            (500, ReplyFailure::UpstreamError, true),
            (503, ReplyFailure::UpstreamError, true),
            (408, ReplyFailure::UpstreamError, true),
            (401, ReplyFailure::Unauthorized, false),
            (403, ReplyFailure::Unauthorized, false),
            (404, ReplyFailure::UnknownRecipient, false),
            (410, ReplyFailure::UnknownRecipient, false),
            (400, ReplyFailure::Rejected, false),
            (422, ReplyFailure::Rejected, false),
        ];
        for (status, reason, retryable) in cases {
            let error = ReplyError::from_http_status(status, "x");
            assert_eq!(error.reason(), reason, "{status}");
            assert_eq!(error.is_retryable(), retryable, "{status}");
        }
    }

    #[test]
    fn smtp_codes_are_classified() {
        let cases = [
            (421, ReplyFailure::RateLimited, true),
            (451, ReplyFailure::RateLimited, true),
            (454, ReplyFailure::UpstreamError, true),
            (535, ReplyFailure::Unauthorized, false),
            (550, ReplyFailure::UnknownRecipient, false),
            (553, ReplyFailure::UnknownRecipient, false),
            (554, ReplyFailure::Rejected, false),
        ];
        for (code, reason, retryable) in cases {
            let error = ReplyError::from_smtp_code(code, "x");
            assert_eq!(error.reason(), reason, "{code}");
            assert_eq!(error.is_retryable(), retryable, "{code}");
        }
    }

    #[test]
    fn retry_after_is_kept_only_for_retryable_failures() {
        let wait = Duration::from_secs(30);
        let limited = ReplyError::from_http_status(429, "slow").with_retry_after(wait);
        assert_eq!(limited.retry_after(), Some(wait));
        let refused = ReplyError::from_http_status(400, "bad").with_retry_after(wait);
        assert_eq!(refused.retry_after(), None);
        assert_eq!(
            refused.to_string(),
            "reply not delivered (rejected): bad",
            "the reason code is in the message"
        );
    }
}
