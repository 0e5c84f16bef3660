//! Typed SLA watch events: each logs (with the ticket id) and bumps its
//! metric. Labels are bounded: the policy (a configured SLA policy name),
//! and fixed codes.

use metrics::{counter, gauge};
use tracing::{debug, info, warn};

/// Metric names, for dashboards and tests.
pub mod names {
    pub const WATCHES_STARTED: &str = "intake_sla_watches_started_total";
    pub const WARNINGS: &str = "intake_sla_warnings_total";
    pub const BREACHES: &str = "intake_sla_breaches_total";
    pub const WATCHES_ENDED: &str = "intake_sla_watches_ended_total";
    pub const NOTIFICATIONS_FAILED: &str = "intake_sla_notifications_failed_total";
    pub const STEP_ERRORS: &str = "intake_sla_watch_errors_total";
    pub const LEADER: &str = "intake_sla_watch_leader";
    pub const UNDECODABLE_OUTCOMES: &str = "intake_sla_undecodable_outcomes_total";
}

/// Registers help texts with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        names::WATCHES_STARTED,
        "First-response deadlines of new tickets put under watch, by policy"
    );
    metrics::describe_counter!(
        names::WARNINGS,
        "Tickets warned about (tag and internal note) before their first-response deadline, by policy"
    );
    metrics::describe_counter!(
        names::BREACHES,
        "Tickets whose first-response deadline passed without a public agent answer, by policy"
    );
    metrics::describe_counter!(
        names::WATCHES_ENDED,
        "Watches ended before a breach: answered, closed or gone, by policy"
    );
    metrics::describe_counter!(
        names::NOTIFICATIONS_FAILED,
        "Slack posts of SLA warnings that failed, by reason (retried unless permanent)"
    );
    metrics::describe_counter!(
        names::STEP_ERRORS,
        "SLA watch steps that failed on Zendesk or the state store and are retried next scan, by step"
    );
    metrics::describe_counter!(
        names::UNDECODABLE_OUTCOMES,
        "Records on the outcomes topic the deadline recorder could not read (skipped; the acknowledgement consumer dead-letters them)"
    );
    metrics::describe_gauge!(
        names::LEADER,
        "1 while this process holds the SLA watch lease (one replica should)"
    );
}

/// A new ticket's deadline is under watch.
pub struct WatchStarted<'a> {
    pub ticket_id: u64,
    pub policy: &'a str,
    pub due_at: chrono::DateTime<chrono::Utc>,
}

impl WatchStarted<'_> {
    pub fn emit(&self) {
        debug!(ticket_id = self.ticket_id, policy = self.policy, due_at = %self.due_at, "sla watch started");
        counter!(names::WATCHES_STARTED, "policy" => self.policy.to_owned()).increment(1);
    }
}

/// A ticket was warned about on Zendesk.
pub struct Warned<'a> {
    pub ticket_id: u64,
    pub policy: &'a str,
    pub minutes_left: i64,
}

impl Warned<'_> {
    pub fn emit(&self) {
        info!(
            ticket_id = self.ticket_id,
            policy = self.policy,
            minutes_left = self.minutes_left,
            "sla warning put on the ticket"
        );
        counter!(names::WARNINGS, "policy" => self.policy.to_owned()).increment(1);
    }
}

/// A ticket's deadline passed unanswered; it is tagged.
pub struct Breached<'a> {
    pub ticket_id: u64,
    pub policy: &'a str,
}

impl Breached<'_> {
    pub fn emit(&self) {
        warn!(
            ticket_id = self.ticket_id,
            policy = self.policy,
            "first-response deadline breached"
        );
        counter!(names::BREACHES, "policy" => self.policy.to_owned()).increment(1);
    }
}

/// A watch ended without a breach.
pub struct WatchEnded<'a> {
    pub ticket_id: u64,
    pub policy: &'a str,
    /// `answered`, `closed` or `gone`.
    pub reason: &'static str,
}

impl WatchEnded<'_> {
    pub fn emit(&self) {
        debug!(
            ticket_id = self.ticket_id,
            policy = self.policy,
            reason = self.reason,
            "sla watch ended"
        );
        counter!(
            names::WATCHES_ENDED,
            "policy" => self.policy.to_owned(),
            "reason" => self.reason
        )
        .increment(1);
    }
}

/// A Slack post of a warning failed.
pub struct NotificationFailed<'a> {
    pub ticket_id: u64,
    /// A fixed code (`unreachable`, `rejected`, ...).
    pub reason: &'static str,
    /// Says what failed, never the webhook URL or the token.
    pub message: &'a str,
    pub permanent: bool,
}

impl NotificationFailed<'_> {
    pub fn emit(&self) {
        warn!(
            ticket_id = self.ticket_id,
            reason = self.reason,
            error = self.message,
            permanent = self.permanent,
            "slack post of an sla warning failed"
        );
        counter!(names::NOTIFICATIONS_FAILED, "reason" => self.reason).increment(1);
    }
}

/// A step failed on Zendesk or the store; the next scan retries it.
pub struct StepFailed<'a> {
    pub ticket_id: Option<u64>,
    /// `scan`, `read_ticket`, `comments`, `update_ticket`, `store`, `lease`.
    pub step: &'static str,
    pub message: &'a str,
}

impl StepFailed<'_> {
    pub fn emit(&self) {
        warn!(
            ticket_id = ?self.ticket_id,
            step = self.step,
            error = self.message,
            "sla watch step failed, retrying next scan"
        );
        counter!(names::STEP_ERRORS, "step" => self.step).increment(1);
    }
}

/// This process took or lost the lease.
pub struct Leadership<'a> {
    pub holder: &'a str,
    pub leading: bool,
}

impl Leadership<'_> {
    pub fn emit(&self) {
        if self.leading {
            info!(
                holder = self.holder,
                "sla watch lease taken: this replica schedules"
            );
        } else {
            info!(holder = self.holder, "sla watch lease given up or lost");
        }
        gauge!(names::LEADER).set(if self.leading { 1.0 } else { 0.0 });
    }
}

/// A record on the outcomes topic that is no outcome: nothing to watch.
pub struct OutcomeUndecodable<'a> {
    pub message: &'a str,
}

impl OutcomeUndecodable<'_> {
    pub fn emit(&self) {
        warn!(
            error = self.message,
            "undecodable outcome skipped by the sla deadline recorder"
        );
        counter!(names::UNDECODABLE_OUTCOMES).increment(1);
    }
}
