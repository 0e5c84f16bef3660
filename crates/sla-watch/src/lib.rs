#![forbid(unsafe_code)]
//! The 30-minute warning (rule 7): a ticket "turns yellow" shortly before
//! its first-response deadline and "red" once it passed unanswered.
//!
//! - [`DeadlineRecorder`] consumes `<prefix>.outcomes` in its own group and
//!   writes every new ticket's deadline (created, follow-up) into the state
//!   store (`watch_sla`, first write wins), with the time its warning is due.
//!   It runs on every router replica; the consumer group splits the work.
//! - [`Scheduler`] runs on the one replica holding the leader lease
//!   (`try_acquire_lease("sla-watch", …)`, renewed every scan). Each scan
//!   takes the watches due: before the deadline, unless an agent has
//!   answered publicly or the ticket is solved, it tags the ticket and adds
//!   an internal note (Russian and English: the policy, the deadline in the
//!   team's time zone, the time left) in one safe update, then posts to
//!   Slack; at the deadline it tags the breach. Every step is a
//!   compare-and-set of the watch's stage in the store, so a restart or a
//!   second scheduler neither loses nor repeats a step (see decision 41).

mod answered;
mod note;
mod record;
mod scheduler;
pub mod slack;
pub mod telemetry;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use intake_bus::Topics;

pub use answered::{AuthorRoles, agent_answered};
pub use note::{Texts, warning_texts};
pub use record::DeadlineRecorder;
pub use scheduler::{ScanCount, Scheduler};
pub use slack::{SlackError, SlackNotifier, SlackTarget};

/// The lease the active scheduler holds.
pub const LEASE_NAME: &str = "sla-watch";

/// Where "now" comes from: the business clock (`INTAKE_TEST_NOW`,
/// decision 30) in the service, a hand-moved clock in tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The business clock of the process.
pub fn business_clock() -> Clock {
    Arc::new(intake_telemetry::clock::now)
}

/// How the recorder and the scheduler run.
#[derive(Clone)]
pub struct SlaWatchOptions {
    pub topics: Topics,
    /// The recorder's consumer group on `<prefix>.outcomes`.
    pub consumer_group: String,
    /// Warn this long (wall-clock) before a deadline.
    pub warn_before: Duration,
    /// Per policy, replacing `warn_before`; zero: no warning, only the breach mark.
    pub warn_before_by_policy: BTreeMap<String, Duration>,
    /// Time between scans of the active scheduler (and between lease attempts).
    pub scan_interval: Duration,
    /// How long the lease lasts unrenewed.
    pub lease_ttl: Duration,
    /// This process's name in the lease (unique per process).
    pub holder: String,
    pub warning_tag: String,
    pub breach_tag: String,
    /// The Zendesk account's base URL, for the ticket link in Slack.
    pub zendesk_base_url: Option<url::Url>,
    /// Watches handled per store read.
    pub batch: usize,
    /// First wait after a failed bus or store call.
    pub retry_initial_backoff: Duration,
    /// Longest wait between retries.
    pub retry_max_backoff: Duration,
    pub clock: Clock,
}

impl SlaWatchOptions {
    /// The seeds' 30 minutes, a scan every 15 s, a 30 s lease, tags
    /// `intake_sla_warning` / `intake_sla_breached`, a random holder name.
    pub fn new(topics: Topics) -> Self {
        Self {
            topics,
            consumer_group: "intake-sla-watch".to_owned(),
            warn_before: Duration::from_secs(30 * 60),
            warn_before_by_policy: BTreeMap::new(),
            scan_interval: Duration::from_secs(15),
            lease_ttl: Duration::from_secs(30),
            holder: format!("sla-watch-{}", uuid::Uuid::new_v4().simple()),
            warning_tag: "intake_sla_warning".to_owned(),
            breach_tag: "intake_sla_breached".to_owned(),
            zendesk_base_url: None,
            batch: 100,
            retry_initial_backoff: Duration::from_millis(500),
            retry_max_backoff: Duration::from_secs(30),
            clock: business_clock(),
        }
    }

    /// How long before `policy`'s deadlines the warning goes out.
    pub fn warn_before_for(&self, policy: &str) -> Duration {
        self.warn_before_by_policy
            .get(policy)
            .copied()
            .unwrap_or(self.warn_before)
    }

    /// When the warning of a deadline `due_at` under `policy` is due: the
    /// deadline minus the policy's lead (a deadline nearer than that is
    /// warned at once).
    pub fn warn_at(&self, policy: &str, due_at: DateTime<Utc>) -> DateTime<Utc> {
        let lead = chrono::Duration::from_std(self.warn_before_for(policy))
            .unwrap_or(chrono::Duration::MAX);
        due_at
            .checked_sub_signed(lead)
            .unwrap_or(due_at)
            .min(due_at)
    }
}

impl std::fmt::Debug for SlaWatchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlaWatchOptions")
            .field("consumer_group", &self.consumer_group)
            .field("warn_before", &self.warn_before)
            .field("warn_before_by_policy", &self.warn_before_by_policy)
            .field("scan_interval", &self.scan_interval)
            .field("lease_ttl", &self.lease_ttl)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_warning_is_due_the_lead_before_the_deadline_or_at_once() {
        let mut options = SlaWatchOptions::new(Topics::new("t"));
        options
            .warn_before_by_policy
            .insert("chat".to_owned(), Duration::ZERO);
        let due = Utc.with_ymd_and_hms(2026, 12, 7, 7, 2, 0).unwrap();
        assert_eq!(
            options.warn_at("email", due),
            Utc.with_ymd_and_hms(2026, 12, 7, 6, 32, 0).unwrap()
        );
        // No warning for chat: due with the deadline itself.
        assert_eq!(options.warn_at("chat", due), due);
    }
}
