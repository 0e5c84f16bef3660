//! Parked conversations instead of stalls.
//!
//! A transient failure of an event (a per-ticket limit hold, a ticket lock,
//! Zendesk or the state store failing) does not hold a worker: the worker
//! hands the event back, the dispatcher parks its lane until the hold ends
//! or the backoff passes (every other lane goes on), writes the lane down in
//! the state store (reason, resume time, attempts, history: `intake parked
//! list`) and tries the event again then. Failures are bounded: past
//! `retry_max_attempts` failures or `retry_max_age` since the first one the
//! event is dead-lettered (`retries_exhausted`) with its failure history and
//! the lane goes on. A per-ticket limit hold is a known wait that ends by
//! itself, so it does not count against the bounds.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use intake_store::{PARKED_HISTORY_LINES, ParkedLane};
use metrics::{counter, gauge};
use tracing::warn;

use crate::backoff::Backoff;
use crate::dlq::{DeadLetter, DlqReason};
use crate::worker::RetryLater;

/// An event's failures so far.
#[derive(Debug)]
pub(crate) struct RetryState {
    pub(crate) attempts: u32,
    pub(crate) first_failure: DateTime<Utc>,
    pub(crate) history: Vec<String>,
    backoff: Backoff,
}

/// What to do with a failed event.
pub(crate) enum Decision {
    /// Park its lane for this long, then try again.
    Park(Duration),
    /// Its retries are spent: dead-letter it.
    GiveUp(DeadLetter),
}

impl RetryState {
    pub(crate) fn new(backoff: Backoff, now: DateTime<Utc>) -> Self {
        Self {
            attempts: 0,
            first_failure: now,
            history: Vec::new(),
            backoff,
        }
    }

    /// Continues the count of a lane parked by an earlier run for the same event.
    pub(crate) fn resumed(backoff: Backoff, row: &ParkedLane) -> Self {
        Self {
            attempts: row.attempts,
            first_failure: row.first_failure_at,
            history: row.history.clone(),
            backoff,
        }
    }

    /// Counts `failure` and decides.
    pub(crate) fn on_failure(
        &mut self,
        failure: &RetryLater,
        now: DateTime<Utc>,
        max_attempts: usize,
        max_age: Duration,
    ) -> Decision {
        let counts = failure.reason.counts_as_failure();
        if counts {
            self.attempts = self.attempts.saturating_add(1);
        }
        self.history.push(format!(
            "{} {} {}: {}",
            now.to_rfc3339_opts(SecondsFormat::Secs, true),
            failure.reason.as_str(),
            failure.stage,
            failure.message
        ));
        let excess = self.history.len().saturating_sub(PARKED_HISTORY_LINES);
        self.history.drain(..excess);
        let age = (now - self.first_failure).to_std().unwrap_or_default();
        let attempts_spent = usize::try_from(self.attempts).unwrap_or(usize::MAX) >= max_attempts;
        if counts && (attempts_spent || age >= max_age) {
            let mut letter = DeadLetter::new(
                DlqReason::RetriesExhausted,
                format!(
                    "gave up after {} failed attempts over {} s; last: {} failed: {}",
                    self.attempts,
                    age.as_secs(),
                    failure.stage,
                    failure.message
                ),
            );
            letter.history = self.history.clone();
            return Decision::GiveUp(letter);
        }
        let wait = failure
            .resume_in
            .unwrap_or_else(|| self.backoff.next_delay());
        Decision::Park(wait)
    }

    /// The state store's row for this lane, parked until `resume_at`.
    pub(crate) fn row(
        &self,
        consumer_group: &str,
        lane: &str,
        channel: &str,
        failure: &RetryLater,
        resume_at: DateTime<Utc>,
    ) -> ParkedLane {
        ParkedLane {
            consumer_group: consumer_group.to_owned(),
            lane: lane.to_owned(),
            channel: channel.to_owned(),
            event_id: failure.event_id,
            reason: failure.reason.as_str().to_owned(),
            attempts: self.attempts,
            first_failure_at: self.first_failure,
            resume_at,
            last_error: format!("{}: {}", failure.stage, failure.message),
            history: self.history.clone(),
        }
    }
}

/// A lane was parked.
pub(crate) struct LaneParked<'a> {
    pub(crate) channel: &'a str,
    pub(crate) event_id: &'a str,
    pub(crate) reason: &'static str,
    pub(crate) stage: &'static str,
    pub(crate) message: &'a str,
    pub(crate) attempts: u32,
    pub(crate) resume_in: Duration,
}

impl LaneParked<'_> {
    pub(crate) fn emit(&self) {
        // The lane itself is not logged: it holds a contact key (an address).
        warn!(
            event_id = self.event_id,
            channel = self.channel,
            reason = self.reason,
            stage = self.stage,
            error = self.message,
            attempts = self.attempts,
            resume_in_ms = u64::try_from(self.resume_in.as_millis()).unwrap_or(u64::MAX),
            "conversation parked, the event is tried again later"
        );
        counter!(
            "intake_router_lanes_parked_total",
            "channel" => self.channel.to_owned(),
            "reason" => self.reason,
        )
        .increment(1);
    }
}

/// Parked lanes now (a gauge, set when the number changes).
pub(crate) fn report_parked(count: usize) {
    gauge!("intake_router_parked_lanes").set(count as f64);
}

/// The parked lane could not be written down (it is parked in memory all
/// the same; only `intake parked list` misses it).
pub(crate) fn report_store_failure(operation: &'static str, error: &intake_store::StoreError) {
    warn!(operation, error = %error, "parked lane not written to the state store");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ParkReason;

    fn failure(reason: ParkReason, resume_in: Option<Duration>) -> RetryLater {
        RetryLater {
            event_id: uuid::Uuid::nil(),
            stage: "update_ticket",
            message: "zendesk update_ticket returned 503".to_owned(),
            reason,
            resume_in,
        }
    }

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(1))
    }

    #[test]
    fn failures_are_bounded_in_attempts_and_holds_are_not_counted() {
        let t0 = Utc::now();
        let mut state = RetryState::new(backoff(), t0);
        let hold = failure(ParkReason::TicketLimit, Some(Duration::from_secs(90)));
        for _ in 0..5 {
            match state.on_failure(&hold, t0, 2, Duration::from_secs(3600)) {
                Decision::Park(wait) => assert_eq!(wait, Duration::from_secs(90)),
                Decision::GiveUp(_) => panic!("a hold never gives up"),
            }
        }
        let failing = failure(ParkReason::Failing, None);
        assert!(matches!(
            state.on_failure(&failing, t0, 2, Duration::from_secs(3600)),
            Decision::Park(wait) if wait <= Duration::from_millis(100)
        ));
        let Decision::GiveUp(letter) = state.on_failure(&failing, t0, 2, Duration::from_secs(3600))
        else {
            panic!("the second failure spends two attempts");
        };
        assert_eq!(letter.reason, DlqReason::RetriesExhausted);
        assert_eq!(letter.history.len(), 7, "every failure is in the history");
        assert!(
            letter.history[6]
                .ends_with("failing update_ticket: zendesk update_ticket returned 503")
        );
    }

    #[test]
    fn failures_are_bounded_in_age() {
        let t0 = Utc::now();
        let mut state = RetryState::new(backoff(), t0);
        let failing = failure(ParkReason::TicketLocked, None);
        let max_age = Duration::from_secs(60);
        assert!(matches!(
            state.on_failure(&failing, t0, 100, max_age),
            Decision::Park(_)
        ));
        let late = t0 + chrono::Duration::seconds(61);
        assert!(matches!(
            state.on_failure(&failing, late, 100, max_age),
            Decision::GiveUp(_)
        ));
    }
}
