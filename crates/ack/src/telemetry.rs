//! Typed acknowledgement events: each logs (with the outcome id) and bumps
//! its metric. Labels are bounded: the channel (a configured or registered
//! channel name, else `other`) and fixed reason codes.

use metrics::{counter, gauge};
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::policy::Suppression;

/// Metric names, for dashboards and tests.
pub mod names {
    pub const SENT: &str = "intake_acknowledgements_sent_total";
    pub const FAILED: &str = "intake_acknowledgements_failed_total";
    pub const SUPPRESSED: &str = "intake_acknowledgements_suppressed_total";
    pub const RETRIES: &str = "intake_acknowledgement_retries_total";
    pub const OUTCOME_LAG: &str = "intake_acknowledgement_outcome_lag_records";
}

/// Registers help texts with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        names::SENT,
        "Acknowledgements delivered to customers (one per new ticket or follow-up)"
    );
    metrics::describe_counter!(
        names::FAILED,
        "Acknowledgements that failed for good and were dead-lettered, by reason"
    );
    metrics::describe_counter!(
        names::SUPPRESSED,
        "Outcomes that got no acknowledgement on purpose, by reason"
    );
    metrics::describe_counter!(
        names::RETRIES,
        "Acknowledgement sends retried after a retryable failure"
    );
    metrics::describe_gauge!(
        names::OUTCOME_LAG,
        "Outcomes the acknowledgement consumer group has not handled yet"
    );
}

/// An acknowledgement was delivered.
pub struct AckSent<'a> {
    pub channel: &'a str,
    pub outcome_id: Uuid,
    pub ticket_id: Option<u64>,
    pub attempts: u32,
}

impl AckSent<'_> {
    pub fn emit(&self) {
        info!(
            outcome_id = %self.outcome_id,
            channel = self.channel,
            ticket_id = ?self.ticket_id,
            attempts = self.attempts,
            "acknowledgement sent"
        );
        counter!(names::SENT, "channel" => self.channel.to_owned()).increment(1);
    }
}

/// An outcome got no acknowledgement on purpose.
pub struct AckSuppressed<'a> {
    pub channel: &'a str,
    pub outcome_id: Uuid,
    pub reason: Suppression,
}

impl AckSuppressed<'_> {
    pub fn emit(&self) {
        debug!(
            outcome_id = %self.outcome_id,
            channel = self.channel,
            reason = self.reason.as_str(),
            "acknowledgement suppressed"
        );
        counter!(
            names::SUPPRESSED,
            "channel" => self.channel.to_owned(),
            "reason" => self.reason.as_str()
        )
        .increment(1);
    }
}

/// A retryable send failure; the send is tried again after `retry_in_ms`.
pub struct AckRetrying<'a> {
    pub channel: &'a str,
    pub outcome_id: Uuid,
    pub attempt: u32,
    pub reason: &'static str,
    pub retry_in_ms: u64,
}

impl AckRetrying<'_> {
    pub fn emit(&self) {
        warn!(
            outcome_id = %self.outcome_id,
            channel = self.channel,
            attempt = self.attempt,
            reason = self.reason,
            retry_in_ms = self.retry_in_ms,
            "acknowledgement not delivered, retrying"
        );
        counter!(names::RETRIES, "channel" => self.channel.to_owned()).increment(1);
    }
}

/// An acknowledgement failed for good and went to the dead-letter topic.
pub struct AckFailed<'a> {
    pub channel: &'a str,
    pub outcome_id: Option<Uuid>,
    /// A fixed code (`rejected`, `retries_exhausted`, `template`, ...).
    pub reason: &'a str,
    /// Says what failed, never a secret or the customer's text.
    pub message: &'a str,
}

impl AckFailed<'_> {
    pub fn emit(&self) {
        warn!(
            outcome_id = ?self.outcome_id,
            channel = self.channel,
            reason = self.reason,
            error = self.message,
            "acknowledgement failed, dead-lettered"
        );
        counter!(
            names::FAILED,
            "channel" => self.channel.to_owned(),
            "reason" => self.reason.to_owned()
        )
        .increment(1);
    }
}

/// The consumer's lag on the outcomes topic.
pub struct OutcomeLagSampled {
    pub records: u64,
}

impl OutcomeLagSampled {
    pub fn emit(&self) {
        debug!(
            records = self.records,
            "acknowledgement outcome lag sampled"
        );
        gauge!(names::OUTCOME_LAG).set(self.records as f64);
    }
}
