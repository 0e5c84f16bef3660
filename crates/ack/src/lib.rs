#![forbid(unsafe_code)]
//! Acknowledgements: the gateway consumes `<prefix>.outcomes` and, for a new
//! ticket or a follow-up, sends the customer one acknowledgement through the
//! channel's reply sender, naming the ticket number and the answer deadline
//! in the customer's terms (and, outside working hours, when the team is
//! back).
//!
//! - Policy ([`policy`]): none for a comment on an open ticket, none for
//!   auto-submitted messages, none where a channel switched them off, at
//!   most one per sender per window.
//! - Delivery ([`Acknowledger`]): outcomes arrive at least once; the
//!   decision per outcome id is kept in the state store, so a redelivered
//!   outcome is not acknowledged twice. The bus position moves only after
//!   the decision is recorded. Retryable send failures are retried with
//!   backoff (up to `give_up_after`); permanent ones go to the dead-letter
//!   topic with the reason. The consumer is its own component with its own
//!   consumer group: it never holds up intake or the router.
//! - Text ([`render`]): `minijinja` templates in Russian and English.

pub mod deliver;
mod dlq;
pub mod format;
pub mod policy;
pub mod render;
mod run;
pub mod telemetry;

use std::collections::BTreeMap;
use std::time::Duration;

use intake_bus::Topics;

pub use format::Language;
pub use policy::Suppression;
pub use render::{TemplateError, Templates, check_template};
pub use run::Acknowledger;

/// How the acknowledgement consumer runs.
#[derive(Debug, Clone)]
pub struct AckOptions {
    pub topics: Topics,
    /// The consumer group on `<prefix>.outcomes`.
    pub consumer_group: String,
    /// The language when neither the contact's locale nor the message's
    /// language has templates.
    pub default_language: Language,
    /// At most one acknowledgement per sender within this time (zero: no limit).
    pub sender_window: Duration,
    /// Per-channel settings; a channel not listed is acknowledged with the
    /// built-in templates.
    pub channels: BTreeMap<String, ChannelAck>,
    /// First wait before retrying a retryable send failure.
    pub retry_initial_backoff: Duration,
    /// Longest wait between retries.
    pub retry_max_backoff: Duration,
    /// A send still failing (retryably) this long after the first attempt is
    /// dead-lettered as `retries_exhausted`.
    pub give_up_after: Duration,
}

impl AckOptions {
    /// Defaults: group `intake-acks`, Russian, 10-minute window, backoff 1 s
    /// to 60 s, give up after an hour.
    pub fn new(topics: Topics) -> Self {
        Self {
            topics,
            consumer_group: "intake-acks".to_owned(),
            default_language: Language::Ru,
            sender_window: Duration::from_secs(600),
            channels: BTreeMap::new(),
            retry_initial_backoff: Duration::from_secs(1),
            retry_max_backoff: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3600),
        }
    }

    fn channel_enabled(&self, channel: &str) -> bool {
        self.channels.get(channel).is_none_or(|c| c.enabled)
    }
}

/// One channel's acknowledgement settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAck {
    /// False: no acknowledgements in this channel (Zendesk's triggers answer).
    pub enabled: bool,
    /// Templates replacing the built-in ones, by language.
    pub templates: BTreeMap<Language, String>,
}

impl Default for ChannelAck {
    fn default() -> Self {
        Self {
            enabled: true,
            templates: BTreeMap::new(),
        }
    }
}

/// Why the acknowledger could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AckError {
    #[error(transparent)]
    Template(#[from] TemplateError),
}

impl AckError {
    /// Never retryable: the configuration must change.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
