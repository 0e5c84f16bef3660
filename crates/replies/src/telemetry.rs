//! Typed agent-reply events: each logs and bumps its metric. Labels are
//! bounded: fixed reason codes and the channel (a registered reply sender's
//! name, else `other`).

use metrics::counter;
use tracing::{info, warn};

/// Metric names, for dashboards and tests.
pub mod names {
    pub const WEBHOOKS_REJECTED: &str = "intake_zendesk_webhooks_rejected_total";
    pub const SKIPPED: &str = "intake_agent_replies_skipped_total";
    pub const SENT: &str = "intake_agent_replies_sent_total";
    pub const FAILED: &str = "intake_agent_replies_failed_total";
    pub const RETRIES: &str = "intake_agent_reply_retries_total";
    pub const ZENDESK_CHANNEL_TICKETS: &str = "intake_zendesk_channel_tickets_total";
}

/// Registers help texts with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        names::WEBHOOKS_REJECTED,
        "Zendesk webhook requests refused (bad signature, stale, bad JSON), by reason"
    );
    metrics::describe_counter!(
        names::SKIPPED,
        "Zendesk comments not delivered on purpose, by reason"
    );
    metrics::describe_counter!(
        names::SENT,
        "Agent replies delivered into the customer's conversation"
    );
    metrics::describe_counter!(
        names::FAILED,
        "Agent replies not delivered for good (an internal note says so), by reason"
    );
    metrics::describe_counter!(
        names::RETRIES,
        "Agent reply sends retried after a retryable failure"
    );
    metrics::describe_counter!(
        names::ZENDESK_CHANNEL_TICKETS,
        "Tickets Zendesk created in its own channels that the webhook told of, by result (accepted, duplicate, api, own_ticket)"
    );
}

/// A webhook request was refused before anything was delivered.
pub struct WebhookRejected<'a> {
    pub reason: &'static str,
    pub message: &'a str,
}

impl WebhookRejected<'_> {
    pub fn emit(&self) {
        warn!(
            reason = self.reason,
            message = self.message,
            "zendesk webhook rejected"
        );
        counter!(names::WEBHOOKS_REJECTED, "reason" => self.reason).increment(1);
    }
}

/// A comment was not delivered on purpose.
pub struct ReplySkipped {
    pub ticket_id: u64,
    pub comment_id: u64,
    pub reason: &'static str,
}

impl ReplySkipped {
    pub fn emit(&self) {
        info!(
            ticket_id = self.ticket_id,
            comment_id = self.comment_id,
            reason = self.reason,
            "agent comment not delivered"
        );
        counter!(names::SKIPPED, "reason" => self.reason).increment(1);
    }
}

/// An agent reply was delivered.
pub struct ReplyDelivered<'a> {
    pub channel: &'a str,
    pub ticket_id: u64,
    pub comment_id: u64,
    pub attempts: u32,
}

impl ReplyDelivered<'_> {
    pub fn emit(&self) {
        info!(
            channel = self.channel,
            ticket_id = self.ticket_id,
            comment_id = self.comment_id,
            attempts = self.attempts,
            "agent reply delivered"
        );
        counter!(names::SENT, "channel" => self.channel.to_owned()).increment(1);
    }
}

/// An agent reply failed for good.
pub struct ReplyGaveUp<'a> {
    pub channel: &'a str,
    pub ticket_id: u64,
    pub comment_id: u64,
    pub reason: &'static str,
    pub message: &'a str,
}

impl ReplyGaveUp<'_> {
    pub fn emit(&self) {
        warn!(
            channel = self.channel,
            ticket_id = self.ticket_id,
            comment_id = self.comment_id,
            reason = self.reason,
            message = self.message,
            "agent reply not delivered"
        );
        counter!(names::FAILED, "channel" => self.channel.to_owned(), "reason" => self.reason)
            .increment(1);
    }
}

/// A send is retried.
pub struct ReplyRetrying<'a> {
    pub channel: &'a str,
    pub comment_id: u64,
    pub attempt: u32,
    pub reason: &'static str,
    pub retry_in_ms: u64,
}

impl ReplyRetrying<'_> {
    pub fn emit(&self) {
        warn!(
            channel = self.channel,
            comment_id = self.comment_id,
            attempt = self.attempt,
            reason = self.reason,
            retry_in_ms = self.retry_in_ms,
            "agent reply not delivered, retrying"
        );
        counter!(names::RETRIES, "channel" => self.channel.to_owned()).increment(1);
    }
}

/// The webhook told of a ticket Zendesk created (decision 54).
pub struct NativeTicketReceived<'a> {
    pub ticket_id: u64,
    /// Zendesk's via channel (logged only: unbounded).
    pub via: &'a str,
    /// `accepted` (handed to the router), `duplicate`, `api` (made through
    /// the API, not a Zendesk channel), `own_ticket` (intake's own).
    pub result: &'static str,
}

impl NativeTicketReceived<'_> {
    pub fn emit(&self) {
        info!(
            ticket_id = self.ticket_id,
            via = self.via,
            result = self.result,
            "zendesk webhook: a ticket zendesk created"
        );
        counter!(names::ZENDESK_CHANNEL_TICKETS, "result" => self.result).increment(1);
    }
}
