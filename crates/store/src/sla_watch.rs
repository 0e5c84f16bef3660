//! The SLA watch (issue 14 rule 7): leader leases, so one replica runs the
//! scheduler, and the first-response deadlines it watches with how far each
//! watch went, so a restart neither loses nor repeats a warning.

use chrono::{DateTime, TimeZone, Utc};

use crate::StoreError;

/// How far the watch of one ticket went. Moves only forward, one step per
/// [`crate::StateStore::advance_sla_watch`], so two schedulers (a lease that
/// ran out during a pause) cannot both take the same step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlaStage {
    /// Recorded; nothing done yet.
    Watching,
    /// The warning tag and note are on the ticket; the Slack post is not yet confirmed.
    Warning,
    /// Warned on the ticket and in Slack.
    Warned,
    /// The deadline passed without a public answer; tagged. Final.
    Breached,
    /// An agent answered publicly before the deadline. Final.
    Answered,
    /// The ticket was solved or closed before the deadline. Final.
    Closed,
    /// Zendesk no longer has the ticket. Final.
    Gone,
}

impl SlaStage {
    /// The stored spelling (stable; never rename).
    pub fn as_str(self) -> &'static str {
        match self {
            SlaStage::Watching => "watching",
            SlaStage::Warning => "warning",
            SlaStage::Warned => "warned",
            SlaStage::Breached => "breached",
            SlaStage::Answered => "answered",
            SlaStage::Closed => "closed",
            SlaStage::Gone => "gone",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        Ok(match value {
            "watching" => SlaStage::Watching,
            "warning" => SlaStage::Warning,
            "warned" => SlaStage::Warned,
            "breached" => SlaStage::Breached,
            "answered" => SlaStage::Answered,
            "closed" => SlaStage::Closed,
            "gone" => SlaStage::Gone,
            other => return Err(StoreError::Corrupt(format!("unknown SLA stage {other:?}"))),
        })
    }

    /// True when nothing more happens to the watch.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SlaStage::Breached | SlaStage::Answered | SlaStage::Closed | SlaStage::Gone
        )
    }
}

/// One ticket's first-response deadline under watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaWatch {
    pub ticket_id: u64,
    pub channel: String,
    /// The SLA policy that set the deadline.
    pub policy: String,
    /// The working-time calendar it was counted on (its time zone words the note).
    pub calendar: String,
    /// The customer's locale, if known.
    pub locale: Option<String>,
    /// When the first public answer is due.
    pub due_at: DateTime<Utc>,
    /// When the warning is due (at most `due_at`; equal: no warning, only the breach mark).
    pub warn_at: DateTime<Utc>,
    pub stage: SlaStage,
    /// When the watch reached its stage.
    pub stage_at: DateTime<Utc>,
}

/// Unix milliseconds, as both backends store times of the SLA watch.
pub(crate) fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The instant of stored Unix milliseconds.
pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("time {ms} ms is out of range")))
}

/// Milliseconds of a lease's time to live, refusing zero and absurd values.
pub(crate) fn ttl_ms(ttl: std::time::Duration) -> Result<i64, StoreError> {
    match i64::try_from(ttl.as_millis()) {
        Ok(ms) if ms > 0 && ms <= 86_400_000 => Ok(ms),
        _ => Err(StoreError::InvalidValue(format!(
            "lease ttl {ttl:?} must be between 1 ms and 24 h"
        ))),
    }
}
