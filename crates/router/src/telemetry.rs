//! Typed router events: each logs (with `event_id`) and bumps its metric.

use std::time::Duration;

use metrics::{counter, histogram};
use tracing::{info, warn};

/// A new ticket (or follow-up) was created.
pub struct TicketCreated<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub ticket_id: u64,
    pub follow_up_of: Option<u64>,
    pub already_in_zendesk: bool,
    pub receipt_to_ticket: Duration,
}

impl TicketCreated<'_> {
    pub fn emit(&self) {
        info!(
            event_id = self.event_id,
            channel = self.channel,
            ticket_id = self.ticket_id,
            follow_up_of = ?self.follow_up_of,
            already_in_zendesk = self.already_in_zendesk,
            "ticket created"
        );
        counter!("intake_tickets_created_total", "channel" => self.channel.to_owned()).increment(1);
        receipt_to_ticket(self.channel, self.receipt_to_ticket);
    }
}

/// A public comment was added to an open conversation ticket.
pub struct CommentAdded<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub ticket_id: u64,
    pub receipt_to_ticket: Duration,
}

impl CommentAdded<'_> {
    pub fn emit(&self) {
        info!(
            event_id = self.event_id,
            channel = self.channel,
            ticket_id = self.ticket_id,
            "comment added"
        );
        counter!("intake_comments_added_total", "channel" => self.channel.to_owned()).increment(1);
        receipt_to_ticket(self.channel, self.receipt_to_ticket);
    }
}

/// An event whose effect was already recorded (a replay or a double send).
pub struct DuplicateSuppressed<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub ticket_id: u64,
}

impl DuplicateSuppressed<'_> {
    pub fn emit(&self) {
        info!(
            event_id = self.event_id,
            channel = self.channel,
            ticket_id = self.ticket_id,
            "duplicate event suppressed"
        );
        counter!("intake_duplicates_suppressed_total", "channel" => self.channel.to_owned())
            .increment(1);
    }
}

/// A comment attempt interrupted by a crash, taken as delivered on replay
/// (see the `process` module docs for why).
pub struct CommentAssumedDelivered<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub ticket_id: u64,
}

impl CommentAssumedDelivered<'_> {
    pub fn emit(&self) {
        warn!(
            event_id = self.event_id,
            channel = self.channel,
            ticket_id = self.ticket_id,
            "comment interrupted by a restart, assumed delivered without verification"
        );
        counter!("intake_comments_unverified_total", "channel" => self.channel.to_owned())
            .increment(1);
    }
}

/// An event went to the dead-letter topic.
pub struct DeadLettered<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub reason: &'static str,
    pub message: &'a str,
    pub zendesk_status: Option<u16>,
    pub zendesk_request_id: Option<&'a str>,
}

impl DeadLettered<'_> {
    pub fn emit(&self) {
        warn!(
            event_id = self.event_id,
            channel = self.channel,
            reason = self.reason,
            error = self.message,
            zendesk_status = ?self.zendesk_status,
            zendesk_request_id = ?self.zendesk_request_id,
            "event dead-lettered"
        );
        counter!(
            "intake_dead_letters_total",
            "channel" => self.channel.to_owned(),
            "reason" => self.reason
        )
        .increment(1);
    }
}

/// A retryable failure: the same event is tried again after `delay`.
pub struct RetryScheduled<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub stage: &'static str,
    pub message: &'a str,
    pub delay: Duration,
}

impl RetryScheduled<'_> {
    pub fn emit(&self) {
        warn!(
            event_id = self.event_id,
            channel = self.channel,
            stage = self.stage,
            error = self.message,
            delay_ms = u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
            "retryable failure, retrying event"
        );
        counter!("intake_router_retries_total", "channel" => self.channel.to_owned()).increment(1);
    }
}

fn receipt_to_ticket(channel: &str, elapsed: Duration) {
    histogram!("intake_receipt_to_ticket_seconds", "channel" => channel.to_owned())
        .record(elapsed.as_secs_f64());
}
