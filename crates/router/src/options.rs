//! Router options (already validated; the config crate builds these).

use std::time::Duration;

use intake_bus::Topics;
use intake_calendar::refresh::LivePolicies;
use intake_zendesk::Priority;

/// One channel the router consumes and how its tickets are routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRoute {
    /// Channel name (`chat`, `email`, ...): topic `<prefix>.events.<name>`.
    pub name: String,
    /// Ticket priority set at creation (drives the SLA policy).
    pub priority: Option<Priority>,
    /// Zendesk group new tickets go to.
    pub group_id: Option<u64>,
    /// Extra tags on new tickets.
    pub tags: Vec<String>,
}

impl ChannelRoute {
    /// A route with no priority, group or extra tags.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            priority: None,
            group_id: None,
            tags: Vec::new(),
        }
    }
}

/// What the router does with an automatic message (an auto-reply, a
/// bounce: `auto_submitted` on the event). Never a new ticket, never an
/// acknowledgement, whichever is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutomaticMessages {
    /// An internal note on the ticket it refers to (its conversation, or the
    /// ticket its subject names when the sender is that ticket's requester);
    /// dropped when it refers to none (or to a solved or closed one).
    #[default]
    InternalNote,
    /// Dropped, counted.
    Drop,
}

/// How the router runs.
#[derive(Debug, Clone)]
pub struct RouterOptions {
    pub topics: Topics,
    /// Channels in priority order: the first one wins when several have backlog.
    pub channels: Vec<ChannelRoute>,
    /// Consumer group prefix; each channel is read by `<consumer_group>.<channel>`.
    pub consumer_group: String,
    /// Longest subject derived from message text, in characters.
    pub subject_max_chars: usize,
    /// First wait before retrying an event after a retryable failure.
    pub retry_initial_backoff: Duration,
    /// Longest wait between retries of one event.
    pub retry_max_backoff: Duration,
    /// How long an idle router waits on a channel for a record before looking
    /// at the next one (bounds how late a higher-priority record is noticed).
    pub idle_poll: Duration,
    /// Longest time a lower-priority record waits while higher-priority
    /// channels keep the router busy; past it, it is served next (oldest
    /// first), so a chat surge delays mail but never starves it.
    pub max_priority_wait: Duration,
    /// SLA first-response policies and their calendars (kept current by the
    /// iCalendar refresh tasks that share them): the deadline of each new
    /// ticket and follow-up.
    pub sla: LivePolicies,
    /// Zendesk custom ticket field (a text field) that receives the deadline
    /// as RFC 3339 UTC; None writes only the `intake_sla_<policy>` tag.
    pub deadline_field_id: Option<u64>,
    /// Events handled at once (different conversations; one conversation's
    /// events always run one at a time, in order).
    pub max_in_flight: usize,
    /// Of `max_in_flight`, slots held back for higher-priority channels
    /// while they have traffic (at most `max_in_flight - 1` are; decision
    /// 59): a chat finds a free slot while a mail backlog drains.
    pub reserved_in_flight: usize,
    /// Records the router holds at most (polled ahead, waiting in their
    /// lanes, or running); polling pauses at this number.
    pub max_held_events: usize,
    /// Retryable failures of one event (each parks its conversation for a
    /// backoff) before it goes to the dead-letter queue with its history.
    pub retry_max_attempts: usize,
    /// Longest time one event is retried from its first failure.
    pub retry_max_age: Duration,
    /// The support team's rulebook, asked for the assignee, group, tags and
    /// internal note of every new ticket and follow-up (None: no rules).
    pub rulebook: Option<intake_rulebook::Rulebook>,
    /// How long a conversation claim lives without renewal (decision 39):
    /// renewed every third of it while an event runs; a router that died
    /// holding one keeps its conversation from the others this long.
    pub claim_ttl: Duration,
    /// What becomes of auto-replies and bounces.
    pub automatic_messages: AutomaticMessages,
    /// Two-channel near-duplicates (`near_duplicate.rs`); None: off.
    pub cross_channel: Option<crate::CrossChannelOptions>,
}

impl RouterOptions {
    /// Options with defaults for everything but the topics and channels.
    pub fn new(topics: Topics, channels: Vec<ChannelRoute>) -> Self {
        Self {
            topics,
            channels,
            consumer_group: default_consumer_group(),
            subject_max_chars: default_subject_max_chars(),
            retry_initial_backoff: default_retry_initial_backoff(),
            retry_max_backoff: default_retry_max_backoff(),
            idle_poll: default_idle_poll(),
            max_priority_wait: default_max_priority_wait(),
            sla: LivePolicies::new(default_sla()),
            deadline_field_id: None,
            max_in_flight: default_max_in_flight(),
            reserved_in_flight: default_reserved_in_flight(),
            max_held_events: default_max_held_events(),
            retry_max_attempts: default_retry_max_attempts(),
            retry_max_age: default_retry_max_age(),
            rulebook: None,
            claim_ttl: default_claim_ttl(),
            automatic_messages: AutomaticMessages::default(),
            cross_channel: Some(crate::CrossChannelOptions::default()),
        }
    }
}

pub fn default_consumer_group() -> String {
    "intake-router".to_owned()
}

pub fn default_subject_max_chars() -> usize {
    100
}

pub fn default_retry_initial_backoff() -> Duration {
    Duration::from_millis(500)
}

pub fn default_retry_max_backoff() -> Duration {
    Duration::from_secs(60)
}

pub fn default_idle_poll() -> Duration {
    Duration::from_millis(50)
}

/// 16 events at once: at ~300 ms per Zendesk call that is up to ~3,200
/// calls a minute, so the pacer, not the router, sets the pace on every
/// plan up to 2,500/min.
pub fn default_max_in_flight() -> usize {
    16
}

/// Events in flight that keep a budget of `requests_per_minute` full when a
/// call takes ~300 ms: twice the calls that run at once at that pace
/// (700/min → 7, 2,500/min → 25, 200/min → 2), at most 64. More only
/// lengthens the queue in the client's pacer, which every event's calls
/// wait in, whatever their channel's priority.
pub fn in_flight_for(requests_per_minute: u32) -> usize {
    let calls_at_once = f64::from(requests_per_minute) / 60.0 * 0.3;
    ((calls_at_once * 2.0).ceil() as usize).clamp(1, 64)
}

/// One slot held back for higher-priority channels: a chat arriving while
/// mail drains starts at once; the other slots still fill the budget.
pub fn default_reserved_in_flight() -> usize {
    1
}

pub fn default_max_held_events() -> usize {
    1000
}

pub fn default_retry_max_attempts() -> usize {
    100
}

pub fn default_retry_max_age() -> Duration {
    Duration::from_secs(6 * 3600)
}

pub fn default_claim_ttl() -> Duration {
    Duration::from_secs(30)
}

pub fn default_max_priority_wait() -> Duration {
    Duration::from_secs(60)
}

/// The seeds' SLA policies on the seeds' calendar (what an empty `[sla]`
/// and `[calendars]` config gives).
pub fn default_sla() -> intake_calendar::SlaPolicies {
    // Nothing written, so nothing to check against known channels or to read.
    let (config, _problems) = intake_calendar::config::validate(
        std::collections::BTreeMap::new(),
        intake_calendar::config::RawSla::default(),
        &[],
        &|path| {
            Err(format!(
                "no files for the default policies ({})",
                path.display()
            ))
        },
    );
    config.sla
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_follows_the_budget() {
        assert_eq!(in_flight_for(700), 7);
        assert_eq!(in_flight_for(2500), 25);
        assert_eq!(in_flight_for(200), 2);
        assert_eq!(in_flight_for(1), 1);
        assert_eq!(in_flight_for(100_000), 64);
    }
}
