//! Typed router events: each logs (with `event_id`) and bumps its metric.

use std::time::Duration;

use metrics::{counter, gauge, histogram};
use tracing::{debug, info, warn};

/// A new ticket (or follow-up) was created.
pub struct TicketCreated<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub ticket_id: u64,
    pub follow_up_of: Option<u64>,
    pub already_in_zendesk: bool,
    pub receipt_to_ticket: Duration,
    /// Wall-clock time from receipt to the first-response deadline, when
    /// an SLA policy covers the channel.
    pub until_deadline: Option<Duration>,
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
        if let Some(until_deadline) = self.until_deadline {
            histogram!("intake_ticket_deadline_seconds", "channel" => self.channel.to_owned())
                .record(until_deadline.as_secs_f64());
        }
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

/// A channel consumer's lag was sampled: records on its topic that the
/// group has not marked done yet.
pub struct ConsumerLagSampled<'a> {
    pub topic: &'a str,
    pub records: u64,
    /// Partitions of the topic assigned to this consumer now.
    pub partitions: usize,
}

impl ConsumerLagSampled<'_> {
    pub fn emit(&self) {
        debug!(
            topic = self.topic,
            records = self.records,
            partitions = self.partitions,
            "bus consumer lag sampled"
        );
        // Precision loss above 2^53 records is irrelevant for a gauge.
        #[allow(clippy::cast_precision_loss)]
        let records = self.records as f64;
        gauge!("intake_bus_consumer_lag_records", "topic" => self.topic.to_owned()).set(records);
    }
}

/// A lag sample failed; the gauge keeps its last value.
pub struct LagSampleFailed<'a> {
    pub topic: &'a str,
    /// A bounded error kind (`BusError::kind` or `timeout`).
    pub kind: &'static str,
    pub message: &'a str,
}

impl LagSampleFailed<'_> {
    pub fn emit(&self) {
        warn!(
            topic = self.topic,
            kind = self.kind,
            error = self.message,
            "bus consumer lag sample failed"
        );
        counter!(
            "intake_bus_lag_sample_failures_total",
            "topic" => self.topic.to_owned(),
            "kind" => self.kind
        )
        .increment(1);
    }
}

/// Zendesk said a cached requester is gone (deleted or merged): the cached
/// id was dropped and the contact resolved again.
pub struct RequesterForgotten<'a> {
    pub channel: &'a str,
    pub user_id: u64,
    pub new_user_id: u64,
}

impl RequesterForgotten<'_> {
    pub fn emit(&self) {
        warn!(
            channel = self.channel,
            user_id = self.user_id,
            new_user_id = self.new_user_id,
            "cached requester is gone in zendesk, resolved again"
        );
        counter!("intake_router_requesters_resolved_again_total", "channel" => self.channel.to_owned())
            .increment(1);
    }
}

/// A dead letter the DLQ refused as it was (too large with the error
/// headers) was written in a smaller form instead.
pub struct DeadLetterReduced<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    /// `payload_in_blob` (payload moved to the blob store) or `minimal`
    /// (also without the original headers).
    pub form: &'static str,
    pub payload_bytes: usize,
    pub refusal: &'a str,
}

impl DeadLetterReduced<'_> {
    pub fn emit(&self) {
        warn!(
            event_id = self.event_id,
            channel = self.channel,
            form = self.form,
            payload_bytes = self.payload_bytes,
            error = self.refusal,
            "dead letter refused by the bus, written reduced"
        );
        counter!(
            "intake_dead_letters_reduced_total",
            "channel" => self.channel.to_owned(),
            "form" => self.form
        )
        .increment(1);
    }
}

/// An outcome went onto the outcomes topic (before the event is marked done).
pub struct OutcomePublished<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub outcome_id: &'a str,
    pub effect: &'static str,
}

impl OutcomePublished<'_> {
    pub fn emit(&self) {
        debug!(
            event_id = self.event_id,
            channel = self.channel,
            outcome_id = self.outcome_id,
            effect = self.effect,
            "outcome published"
        );
        counter!(
            "intake_outcomes_published_total",
            "channel" => self.channel.to_owned(),
            "effect" => self.effect
        )
        .increment(1);
    }
}

/// The calendar could not give a deadline (a calendar without working
/// hours): the ticket is made without one.
pub struct DeadlineFailed<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub error: &'a str,
}

impl DeadlineFailed<'_> {
    pub fn emit(&self) {
        warn!(
            event_id = self.event_id,
            channel = self.channel,
            error = self.error,
            "no first-response deadline for the new ticket"
        );
        counter!("intake_deadline_failures_total", "channel" => self.channel.to_owned())
            .increment(1);
    }
}

/// A contact key was linked to the Zendesk user its verified detail belongs
/// to (decision 52).
pub struct ContactLinked<'a> {
    pub channel: &'a str,
    /// `phone_number` or `email`.
    pub detail: &'static str,
    pub user_id: u64,
}

impl ContactLinked<'_> {
    pub fn emit(&self) {
        info!(
            channel = self.channel,
            detail = self.detail,
            user_id = self.user_id,
            "contact linked to the zendesk user of its verified detail"
        );
        counter!(
            "intake_contact_links_made_total",
            "channel" => self.channel.to_owned(),
            "detail" => self.detail
        )
        .increment(1);
    }
}

/// A link was refused: the contact keeps a requester of its own.
pub struct ContactLinkRefused<'a> {
    pub channel: &'a str,
    pub detail: &'static str,
    /// The user the identity was going to be added to.
    pub user_id: u64,
    pub reason: crate::linking::RefusedReason,
}

impl ContactLinkRefused<'_> {
    pub fn emit(&self) {
        warn!(
            channel = self.channel,
            detail = self.detail,
            user_id = self.user_id,
            reason = self.reason.as_str(),
            "contact not linked: zendesk refused the identity; users are not merged"
        );
        counter!(
            "intake_contact_links_refused_total",
            "channel" => self.channel.to_owned(),
            "reason" => self.reason.as_str()
        )
        .increment(1);
    }
}

/// A message was taken as a near-duplicate of one from another channel and
/// added to that message's ticket (decision 53).
pub struct CrossChannelDuplicate<'a> {
    pub channel: &'a str,
    pub original_channel: &'a str,
    pub event_id: &'a str,
    pub ticket_id: u64,
}

impl CrossChannelDuplicate<'_> {
    pub fn emit(&self) {
        info!(
            event_id = self.event_id,
            channel = self.channel,
            original_channel = self.original_channel,
            ticket_id = self.ticket_id,
            "near-duplicate from a second channel added to the first one's ticket"
        );
        counter!(
            "intake_cross_channel_duplicates_total",
            "channel" => self.channel.to_owned()
        )
        .increment(1);
    }
}

/// The rulebook was applied to a ticket Zendesk created in its own channel
/// (`native.rs`), or found applied before (a replay).
pub struct NativeTicketApplied<'a> {
    pub event_id: &'a str,
    pub ticket_id: u64,
    /// Zendesk's `via` channel (logged only: unbounded).
    pub via: &'a str,
    /// Found applied before (marker or tag): nothing was written.
    pub again: bool,
}

impl NativeTicketApplied<'_> {
    pub fn emit(&self) {
        let result = if self.again {
            "already_applied"
        } else {
            "applied"
        };
        info!(
            event_id = self.event_id,
            ticket_id = self.ticket_id,
            via = self.via,
            result,
            "rulebook applied to a ticket zendesk created"
        );
        counter!("intake_zendesk_channel_rules_applied_total", "result" => result).increment(1);
    }
}
