//! `[router]`: consuming the channel topics and turning events into tickets.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Deserialize;

use crate::general::non_empty;
use crate::secret::Ctx;

/// `[router]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouter {
    /// Consumer group of the router replicas on the bus.
    #[serde(default = "default_consumer_group")]
    consumer_group: String,
    /// Channels in the order they are served when several have backlog;
    /// enabled channels not listed come after those listed (every enabled
    /// channel is consumed; listed channels that are not enabled are not).
    #[serde(default = "default_channel_priority")]
    channel_priority: Vec<String>,
    /// First wait before retrying a failed Zendesk call, in milliseconds.
    #[serde(default = "default_retry_initial_backoff_ms")]
    retry_initial_backoff_ms: u64,
    /// Longest wait between retries, in seconds.
    #[serde(default = "default_retry_max_backoff_secs")]
    retry_max_backoff_secs: u64,
    /// Ticket subjects made from message text are cut to this many characters.
    #[serde(default = "default_subject_max_chars")]
    subject_max_chars: u64,
    /// Longest time a lower-priority message waits while higher-priority
    /// channels keep the router busy, in seconds; then it is served next.
    #[serde(default = "default_max_priority_wait_secs")]
    max_priority_wait_secs: u64,
    /// Id of a Zendesk custom ticket field (a text field) that receives each
    /// new ticket's first-response deadline as RFC 3339 UTC, so views can
    /// sort by it; none: only the `intake_sla_<policy>` tag is written.
    #[serde(default)]
    deadline_field_id: Option<u64>,
    /// Events handled at once, each of a different conversation (one
    /// conversation's events always run one at a time, in order). Not set:
    /// sized from `zendesk.requests_per_minute` to keep the budget full at
    /// ~300 ms per call (see `intake_router::in_flight_for`), plus
    /// `reserved_in_flight`.
    #[serde(default)]
    max_in_flight: Option<u64>,
    /// Of `max_in_flight`, slots held back for higher-priority channels
    /// while they have traffic (an event in the last 30 s), so a chat finds
    /// a free slot while a mail backlog drains; at most `max_in_flight - 1`
    /// are held back. 0: none.
    #[serde(default = "default_reserved_in_flight")]
    reserved_in_flight: u64,
    /// Records the router holds at most (polled ahead, waiting behind their
    /// conversation, parked or running); polling pauses at this number.
    #[serde(default = "default_max_held_events")]
    max_held_events: u64,
    /// Attempts of one event that failed with a retryable error (Zendesk
    /// down, a 5xx, a timeout) before it goes to the dead-letter queue.
    #[serde(default = "default_retry_max_attempts")]
    retry_max_attempts: u64,
    /// Longest time, in seconds, one event is retried from its first failure
    /// before it goes to the dead-letter queue.
    #[serde(default = "default_retry_max_age_secs")]
    retry_max_age_secs: u64,
    /// Time to live, in seconds, of the claim a router holds on a
    /// conversation while it acts on Zendesk for it (fencing between
    /// replicas, decision 39); renewed every third of it. A router that dies
    /// holding claims keeps those conversations from the others this long.
    #[serde(default = "default_claim_ttl_secs")]
    claim_ttl_secs: u64,
    /// Auto-replies and bounces (messages the channel marks automatic) never
    /// create a ticket or get an acknowledgement: `"internal_note"` adds
    /// them as an internal note to the ticket they refer to (its thread, or
    /// its subject token from the ticket's requester), dropping those that
    /// refer to none; `"drop"` drops them all. Counted either way.
    #[serde(default)]
    automatic_messages: AutomaticMessages,
    /// `[router.cross_channel]`: the two-channel near-duplicate window.
    #[serde(default)]
    cross_channel: crate::cross_channel::RawCrossChannel,
}

/// `router.automatic_messages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutomaticMessages {
    /// An internal note on the ticket they refer to (the default).
    #[default]
    InternalNote,
    /// Dropped, counted.
    Drop,
}

fn default_consumer_group() -> String {
    "intake-router".to_owned()
}
fn default_channel_priority() -> Vec<String> {
    ["chat", "telegram", "whatsapp", "slack", "email"]
        .map(str::to_owned)
        .to_vec()
}
fn default_retry_initial_backoff_ms() -> u64 {
    500
}
fn default_retry_max_backoff_secs() -> u64 {
    60
}
fn default_subject_max_chars() -> u64 {
    80
}
fn default_max_priority_wait_secs() -> u64 {
    60
}
fn default_reserved_in_flight() -> u64 {
    1
}
fn default_max_held_events() -> u64 {
    1000
}
fn default_retry_max_attempts() -> u64 {
    100
}
fn default_retry_max_age_secs() -> u64 {
    6 * 3600
}
fn default_claim_ttl_secs() -> u64 {
    30
}

impl Default for RawRouter {
    fn default() -> Self {
        Self {
            consumer_group: default_consumer_group(),
            channel_priority: default_channel_priority(),
            retry_initial_backoff_ms: default_retry_initial_backoff_ms(),
            retry_max_backoff_secs: default_retry_max_backoff_secs(),
            subject_max_chars: default_subject_max_chars(),
            max_priority_wait_secs: default_max_priority_wait_secs(),
            deadline_field_id: None,
            max_in_flight: None,
            reserved_in_flight: default_reserved_in_flight(),
            max_held_events: default_max_held_events(),
            retry_max_attempts: default_retry_max_attempts(),
            retry_max_age_secs: default_retry_max_age_secs(),
            claim_ttl_secs: default_claim_ttl_secs(),
            automatic_messages: AutomaticMessages::default(),
            cross_channel: Default::default(),
        }
    }
}

/// The router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    pub consumer_group: String,
    /// Known channel names, highest priority first, no duplicates. Only
    /// orders: see [`RouterConfig::consumed_channels`] for what is consumed.
    pub channel_priority: Vec<String>,
    pub retry_initial_backoff: Duration,
    pub retry_max_backoff: Duration,
    pub subject_max_chars: NonZeroUsize,
    /// Starvation guard of the channel priority.
    pub max_priority_wait: Duration,
    /// Custom ticket field that receives the deadline (see `RawRouter`).
    pub deadline_field_id: Option<u64>,
    /// Events handled at once (different conversations); None: sized from
    /// the Zendesk budget by the app.
    pub max_in_flight: Option<NonZeroUsize>,
    /// Slots of `max_in_flight` held back for higher-priority channels.
    pub reserved_in_flight: usize,
    /// Records held at most; at least `max_in_flight`.
    pub max_held_events: NonZeroUsize,
    /// Retryable failures of one event before it is dead-lettered.
    pub retry_max_attempts: NonZeroUsize,
    /// Longest retrying of one event from its first failure.
    pub retry_max_age: Duration,
    /// Time to live of a conversation claim (at least 3 s).
    pub claim_ttl: Duration,
    /// What becomes of auto-replies and bounces.
    pub automatic_messages: AutomaticMessages,
    /// The two-channel near-duplicate window.
    pub cross_channel: crate::CrossChannelConfig,
}

impl RouterConfig {
    /// Rank of `channel` (0 is served first); unlisted channels rank last.
    pub fn channel_rank(&self, channel: &str) -> usize {
        self.channel_priority
            .iter()
            .position(|listed| listed == channel)
            .unwrap_or(self.channel_priority.len())
    }

    /// The channels the router consumes: every one of `enabled`, those in
    /// `channel_priority` first in its order, the others after them in the
    /// order given. The priority list only orders: a listed channel that is
    /// not enabled is not consumed (nothing is accepted for it), and an
    /// enabled channel missing from the list is still consumed, so every
    /// message the gateway accepts has a consumer.
    pub fn consumed_channels(&self, enabled: &[&str]) -> Vec<String> {
        let mut channels: Vec<String> = enabled.iter().map(|c| (*c).to_owned()).collect();
        channels.dedup();
        // Stable: unlisted channels keep their given order after the listed ones.
        channels.sort_by_key(|channel| self.channel_rank(channel));
        channels
    }
}

impl RawRouter {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> RouterConfig {
        let consumer_group = non_empty(ctx, "router.consumer_group", self.consumer_group);
        let mut channel_priority: Vec<String> = Vec::new();
        let known_channels = ctx.known_channels();
        for (index, name) in self.channel_priority.iter().enumerate() {
            let name = name.trim().to_ascii_lowercase();
            let key = format!("router.channel_priority[{index}]");
            if !known_channels.contains(&name) {
                ctx.problem(
                    key,
                    format!(
                        "unknown channel {name:?} (known: {})",
                        known_channels.join(", ")
                    ),
                );
            } else if channel_priority.contains(&name) {
                ctx.problem(key, format!("channel {name:?} is listed twice"));
            } else {
                channel_priority.push(name);
            }
        }
        let retry_initial_backoff = Duration::from_millis(self.retry_initial_backoff_ms);
        let retry_max_backoff = Duration::from_secs(self.retry_max_backoff_secs);
        if self.retry_initial_backoff_ms == 0 {
            ctx.problem("router.retry_initial_backoff_ms", "must be at least 1");
        }
        if retry_max_backoff < retry_initial_backoff {
            ctx.problem(
                "router.retry_max_backoff_secs",
                "must not be shorter than router.retry_initial_backoff_ms",
            );
        }
        let subject_max_chars = usize::try_from(self.subject_max_chars)
            .ok()
            .and_then(NonZeroUsize::new)
            .unwrap_or_else(|| {
                ctx.problem("router.subject_max_chars", "must be at least 1");
                NonZeroUsize::MIN
            });
        if self.deadline_field_id == Some(0) {
            ctx.problem(
                "router.deadline_field_id",
                "must be a Zendesk ticket field id (at least 1), or left out",
            );
        }
        let max_in_flight = self
            .max_in_flight
            .map(|n| at_least_one(ctx, "router.max_in_flight", n));
        let max_held_events = at_least_one(ctx, "router.max_held_events", self.max_held_events);
        if max_in_flight.is_some_and(|n| max_held_events < n) {
            ctx.problem(
                "router.max_held_events",
                "must not be smaller than router.max_in_flight",
            );
        }
        let retry_max_attempts =
            at_least_one(ctx, "router.retry_max_attempts", self.retry_max_attempts);
        if self.retry_max_age_secs == 0 {
            ctx.problem("router.retry_max_age_secs", "must be at least 1");
        }
        if self.claim_ttl_secs < 3 {
            ctx.problem(
                "router.claim_ttl_secs",
                "must be at least 3 (a claim is renewed every third of it)",
            );
        }
        let cross_channel = self.cross_channel.validate(ctx);
        RouterConfig {
            cross_channel,
            claim_ttl: Duration::from_secs(self.claim_ttl_secs.max(3)),
            max_in_flight,
            reserved_in_flight: usize::try_from(self.reserved_in_flight).unwrap_or(usize::MAX),
            max_held_events,
            retry_max_attempts,
            retry_max_age: Duration::from_secs(self.retry_max_age_secs.max(1)),
            deadline_field_id: self.deadline_field_id.filter(|id| *id > 0),
            consumer_group,
            channel_priority,
            retry_initial_backoff,
            retry_max_backoff,
            subject_max_chars,
            max_priority_wait: Duration::from_secs(self.max_priority_wait_secs),
            automatic_messages: self.automatic_messages,
        }
    }
}

/// `value` as a count of at least one, else a problem at `key`.
fn at_least_one(ctx: &mut Ctx<'_>, key: &str, value: u64) -> NonZeroUsize {
    usize::try_from(value)
        .ok()
        .and_then(NonZeroUsize::new)
        .unwrap_or_else(|| {
            ctx.problem(key, "must be at least 1");
            NonZeroUsize::MIN
        })
}
