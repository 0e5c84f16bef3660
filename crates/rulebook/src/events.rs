//! Typed telemetry of the rulebook: each struct logs and counts one thing
//! that happened. Labels are bounded (fixed enums); ids go to logs only.

use metrics::counter;

/// Metric names, for dashboards and tests.
pub mod names {
    pub const ORIGINAL_AGENT_DECISIONS: &str = "intake_rulebook_original_agent_decisions_total";
    pub const SOURCE_FAILURES: &str = "intake_rulebook_source_failures_total";
    pub const NOTES: &str = "intake_rulebook_notes_total";
    pub const DEPARTMENT_NOTICES: &str = "intake_rulebook_department_notices_total";
    pub const ABSENCE_REFRESHES: &str = "intake_rulebook_absence_refreshes_total";
}

/// Registers help texts with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        names::ORIGINAL_AGENT_DECISIONS,
        "New tickets decided by rule 4 (original agent), by outcome: original, substitute, usual (skipped), none (no earlier agent)"
    );
    metrics::describe_counter!(
        names::SOURCE_FAILURES,
        "Reads the rulebook could not make (Zendesk tickets, users, groups, availability), by source; the rule went on without them"
    );
    metrics::describe_counter!(
        names::NOTES,
        "Internal notes of the rulebook on new tickets, by result: added, failed (the ticket keeps its tags and assignee)"
    );
    metrics::describe_counter!(
        names::DEPARTMENT_NOTICES,
        "Slack notices to a department of a request passed to it (rule 6), by result: sent, failed (the ticket is in the department's group either way)"
    );
    metrics::describe_counter!(
        names::ABSENCE_REFRESHES,
        "Reads of the iCalendar absence calendar (rulebook.original_agent.absence_ical), by outcome; on failure the last good copy stays in use"
    );
}

/// How rule 4 decided one new ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule4Outcome {
    /// Assigned to the original agent.
    Original,
    /// Assigned to the original agent's substitute.
    Substitute,
    /// The original agent was skipped: routed as usual.
    Usual,
    /// No earlier ticket with an agent (or the rule is off).
    None,
}

impl Rule4Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule4Outcome::Original => "original",
            Rule4Outcome::Substitute => "substitute",
            Rule4Outcome::Usual => "usual",
            Rule4Outcome::None => "none",
        }
    }
}

/// Rule 4 decided a new ticket.
pub struct OriginalAgentDecided<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub outcome: Rule4Outcome,
    pub agent_id: Option<u64>,
}

impl OriginalAgentDecided<'_> {
    pub fn emit(&self) {
        tracing::info!(
            channel = self.channel,
            event_id = self.event_id,
            outcome = self.outcome.as_str(),
            agent_id = self.agent_id,
            "rule 4 decided the new ticket's agent"
        );
        counter!(names::ORIGINAL_AGENT_DECISIONS, "outcome" => self.outcome.as_str()).increment(1);
    }
}

/// Which read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadSource {
    RequestedTickets,
    User,
    Groups,
    Availability,
}

impl ReadSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadSource::RequestedTickets => "requested_tickets",
            ReadSource::User => "user",
            ReadSource::Groups => "groups",
            ReadSource::Availability => "availability",
        }
    }
}

/// A read failed; the rule went on without it.
pub struct SourceFailed<'a> {
    pub source: ReadSource,
    pub error: &'a crate::RulebookError,
}

impl SourceFailed<'_> {
    pub fn emit(&self) {
        tracing::warn!(
            source = self.source.as_str(),
            error = %self.error,
            "a rulebook read failed, the rule goes on without it"
        );
        counter!(names::SOURCE_FAILURES, "source" => self.source.as_str()).increment(1);
    }
}

/// The rulebook's internal note on a new ticket was added, or not.
pub struct NoteWritten<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub ticket_id: u64,
    /// The failure, when Zendesk did not take the note.
    pub error: Option<&'a str>,
}

impl NoteWritten<'_> {
    pub fn emit(&self) {
        let result = match self.error {
            None => {
                tracing::info!(
                    channel = self.channel,
                    event_id = self.event_id,
                    ticket_id = self.ticket_id,
                    "rulebook note added"
                );
                "added"
            }
            Some(error) => {
                tracing::warn!(
                    channel = self.channel,
                    event_id = self.event_id,
                    ticket_id = self.ticket_id,
                    error,
                    "rulebook note not added"
                );
                "failed"
            }
        };
        counter!(names::NOTES, "result" => result).increment(1);
    }
}

/// A department was told in Slack about a request (or not).
pub struct DepartmentNotified<'a> {
    pub department: &'a str,
    pub event_id: &'a str,
    pub ticket_id: u64,
    pub error: Option<&'a crate::NoticeError>,
}

impl DepartmentNotified<'_> {
    pub fn emit(&self) {
        let result = match self.error {
            None => {
                tracing::info!(
                    department = self.department,
                    event_id = self.event_id,
                    ticket_id = self.ticket_id,
                    "department notified in slack"
                );
                "sent"
            }
            Some(error) => {
                tracing::warn!(
                    department = self.department,
                    event_id = self.event_id,
                    ticket_id = self.ticket_id,
                    error = %error,
                    "department slack notice failed"
                );
                "failed"
            }
        };
        counter!(names::DEPARTMENT_NOTICES, "result" => result).increment(1);
    }
}

/// How one read of the iCalendar absence source ended (the `outcome` label
/// of `intake_rulebook_absence_refreshes_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Read and parsed; the calendar now uses it.
    Refreshed,
    /// The server answered with a non-2xx status (a redirect included).
    HttpStatus,
    /// No answer within `fetch_timeout_secs`.
    Timeout,
    /// Connection refused, DNS failure, broken transfer, unreadable file.
    Unreachable,
    /// Larger than `max_bytes`.
    TooLarge,
    /// Not an iCalendar document (or not UTF-8).
    Invalid,
}

impl RefreshOutcome {
    pub const ALL: [RefreshOutcome; 6] = [
        RefreshOutcome::Refreshed,
        RefreshOutcome::HttpStatus,
        RefreshOutcome::Timeout,
        RefreshOutcome::Unreachable,
        RefreshOutcome::TooLarge,
        RefreshOutcome::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefreshOutcome::Refreshed => "refreshed",
            RefreshOutcome::HttpStatus => "http_status",
            RefreshOutcome::Timeout => "timeout",
            RefreshOutcome::Unreachable => "unreachable",
            RefreshOutcome::TooLarge => "too_large",
            RefreshOutcome::Invalid => "invalid",
        }
    }
}

/// The iCalendar absence source was read (or not). `source` is redacted
/// (scheme and host, or the file); `detail` never holds the URL.
pub struct AbsenceRefresh<'a> {
    pub source: &'a str,
    pub outcome: RefreshOutcome,
    pub detail: &'a str,
    /// Events not used, with the reason (logged at debug level).
    pub skipped: &'a [String],
}

impl AbsenceRefresh<'_> {
    pub fn emit(&self) {
        if self.outcome == RefreshOutcome::Refreshed {
            tracing::info!(
                source = self.source,
                detail = self.detail,
                "absence calendar refreshed"
            );
            for skipped in self.skipped {
                tracing::debug!(
                    source = self.source,
                    skipped,
                    "absence calendar event not used"
                );
            }
        } else {
            tracing::warn!(
                source = self.source,
                outcome = self.outcome.as_str(),
                error = self.detail,
                "absence calendar read failed, keeping the last good copy"
            );
        }
        counter!(names::ABSENCE_REFRESHES, "outcome" => self.outcome.as_str()).increment(1);
    }
}
