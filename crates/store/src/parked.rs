//! Parked lanes: a conversation whose head event must wait (a per-ticket
//! limit hold, a ticket lock, repeated retryable failures), with the reason
//! and the time it may resume. Written by the router for operators
//! (`intake parked list`) and so that the retry bounds of an event survive a
//! restart.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Most failure lines kept in [`ParkedLane::history`] (the newest).
pub const PARKED_HISTORY_LINES: usize = 20;

/// One parked lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedLane {
    /// The router's consumer group (replicas of one deployment share it).
    pub consumer_group: String,
    /// The lane: `thread:<channel>:<thread id>`, `contact:<contact key>`, ...
    pub lane: String,
    pub channel: String,
    /// The event at the lane's head, the one that waits.
    pub event_id: Uuid,
    /// Why: `ticket_limit`, `ticket_locked` or `failing`.
    pub reason: String,
    /// Retryable failures of the event so far.
    pub attempts: u32,
    /// When the event first failed (the retry age counts from here).
    pub first_failure_at: DateTime<Utc>,
    /// When the lane may go on.
    pub resume_at: DateTime<Utc>,
    /// The last failure, as it may be logged (no Zendesk details).
    pub last_error: String,
    /// One line per failure, oldest first, at most [`PARKED_HISTORY_LINES`].
    pub history: Vec<String>,
}

/// The stored form of a history: one line each (newlines inside a line
/// become spaces).
pub(crate) fn encode_history(history: &[String]) -> String {
    let start = history.len().saturating_sub(PARKED_HISTORY_LINES);
    history[start..]
        .iter()
        .map(|line| line.replace(['\n', '\r'], " "))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn decode_history(stored: &str) -> Vec<String> {
    stored
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
