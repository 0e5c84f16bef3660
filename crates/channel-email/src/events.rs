//! Typed telemetry of the email channel: each struct is one thing that
//! happens; `emit` logs it and counts it. Labels are bounded: `account` is
//! an account name from the configuration, every `reason`/`action` a fixed set.

use metrics::{counter, gauge};

/// Metric names, for dashboards and tests.
pub mod names {
    pub const CONNECTED: &str = "intake_email_connected";
    pub const LAST_SYNC: &str = "intake_email_last_sync_timestamp_seconds";
    pub const BACKLOG: &str = "intake_email_backlog_messages";
    pub const CONNECTION_FAILURES: &str = "intake_email_connection_failures_total";
    pub const REJECTED: &str = "intake_email_rejected_messages_total";
    pub const AUTO_SUBMITTED: &str = "intake_email_auto_submitted_messages_total";
    pub const FOREIGN_RECIPIENT: &str = "intake_email_foreign_recipient_messages_total";
    pub const HANDOFFS: &str = "intake_email_handoffs_total";
    pub const UIDVALIDITY_CHANGES: &str = "intake_email_uidvalidity_changes_total";
    pub const ATTACHMENTS_OMITTED: &str = "intake_email_attachments_omitted_total";
    pub const TOKEN_FAILURES: &str = "intake_email_token_failures_total";
}

/// Registers help texts with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_gauge!(
        names::CONNECTED,
        "1 while a mailbox has a logged-in IMAP session"
    );
    metrics::describe_gauge!(
        names::LAST_SYNC,
        "Unix time of a mailbox's last complete catch-up (every new mail handed off)"
    );
    metrics::describe_gauge!(
        names::BACKLOG,
        "Mails in the mailbox not yet handed off, at the last catch-up"
    );
    metrics::describe_counter!(
        names::CONNECTION_FAILURES,
        "IMAP sessions that failed or were replaced, by reason"
    );
    metrics::describe_counter!(
        names::REJECTED,
        "Mails not turned into events, by reason (set aside in the processed folder, dead-lettered or answered)"
    );
    metrics::describe_counter!(
        names::AUTO_SUBMITTED,
        "Automatic mails (auto-replies, bounces, lists) marked so that no acknowledgement answers them, by reason"
    );
    metrics::describe_counter!(
        names::FOREIGN_RECIPIENT,
        "Mails addressed only to someone else (rule 2), by action"
    );
    metrics::describe_counter!(
        names::HANDOFFS,
        "Mails flagged (and moved) after the bus confirmed their event, by mode"
    );
    metrics::describe_counter!(
        names::UIDVALIDITY_CHANGES,
        "Mailboxes whose UIDVALIDITY changed (catch-up by flag instead of by UID)"
    );
    metrics::describe_counter!(
        names::TOKEN_FAILURES,
        "OAuth2 access tokens not obtained or refused by the IMAP server, by reason"
    );
    metrics::describe_counter!(
        names::ATTACHMENTS_OMITTED,
        "Attachments left out of a ticket, by reason (named in the ticket text)"
    );
}

/// The session opened or closed.
pub fn connected(account: &str, connected: bool) {
    gauge!(names::CONNECTED, "account" => account.to_owned()).set(if connected {
        1.0
    } else {
        0.0
    });
}

/// A catch-up ended with `backlog` mails still waiting (0 when all were handed off).
pub fn synced(account: &str, backlog: usize) {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    gauge!(names::LAST_SYNC, "account" => account.to_owned()).set(now);
    gauge!(names::BACKLOG, "account" => account.to_owned()).set(backlog as f64);
}

/// Mails found waiting at the start of a catch-up.
pub fn backlog(account: &str, waiting: usize) {
    gauge!(names::BACKLOG, "account" => account.to_owned()).set(waiting as f64);
}

/// A session failed.
pub fn connection_failed(account: &str, error: &crate::error::EmailError) {
    tracing::warn!(channel = "email", account, reason = error.label(), error = %error, "imap session failed");
    counter!(names::CONNECTION_FAILURES, "account" => account.to_owned(), "reason" => error.label())
        .increment(1);
}

/// A mail was not turned into an event.
pub fn rejected(account: &str, uid: u32, reason: &'static str, detail: &str) {
    tracing::warn!(
        channel = "email",
        account,
        uid,
        reason,
        detail,
        "mail rejected"
    );
    counter!(names::REJECTED, "account" => account.to_owned(), "reason" => reason).increment(1);
}

/// An automatic mail was marked.
pub fn auto_submitted(account: &str, uid: u32, reason: crate::autoreply::AutoReason) {
    tracing::info!(
        channel = "email",
        account,
        uid,
        reason = reason.as_str(),
        "automatic mail marked, no acknowledgement"
    );
    counter!(names::AUTO_SUBMITTED, "account" => account.to_owned(), "reason" => reason.as_str())
        .increment(1);
}

/// A mail addressed only to someone else; `action` is `accepted_tagged`,
/// `pointer_sent` or `pointer_failed`.
pub fn foreign_recipient(account: &str, uid: u32, action: &'static str) {
    tracing::info!(
        channel = "email",
        account,
        uid,
        action,
        "mail not addressed to the support address"
    );
    counter!(names::FOREIGN_RECIPIENT, "account" => account.to_owned(), "action" => action)
        .increment(1);
}

/// A mail was handed off; `mode` is `moved`, `copied` (COPY + EXPUNGE) or `flagged`.
pub fn handed_off(account: &str, uid: u32, mode: &'static str) {
    tracing::debug!(channel = "email", account, uid, mode, "mail handed off");
    counter!(names::HANDOFFS, "account" => account.to_owned(), "mode" => mode).increment(1);
}

/// The mailbox's UIDVALIDITY differs from the stored one.
pub fn uidvalidity_changed(account: &str, stored: u32, current: u32) {
    tracing::warn!(
        channel = "email",
        account,
        stored,
        current,
        "uidvalidity changed, catching up by flag"
    );
    counter!(names::UIDVALIDITY_CHANGES, "account" => account.to_owned()).increment(1);
}

/// Attachments were left out of a ticket.
pub fn attachments_omitted(account: &str, uid: u32, count: usize) {
    tracing::info!(
        channel = "email",
        account,
        uid,
        count,
        "attachments left out (over a limit)"
    );
    counter!(names::ATTACHMENTS_OMITTED, "account" => account.to_owned(), "reason" => "limit")
        .increment(count as u64);
}

/// No OAuth2 access token, or the server refused it; `reason` is
/// `unreachable`, `refused`, `invalid_grant`, `invalid_response`, `persist` or `rejected`.
pub fn token_failed(account: &str, reason: &'static str, message: &str) {
    tracing::warn!(
        channel = "email",
        account,
        reason,
        error = message,
        "oauth2 token failure"
    );
    counter!(names::TOKEN_FAILURES, "account" => account.to_owned(), "reason" => reason)
        .increment(1);
}
