#![forbid(unsafe_code)]
//! The router: consumes every channel topic (higher-priority channels first
//! when several have backlog) and turns each event into exactly one Zendesk
//! effect — a new ticket, a public comment on the conversation's open ticket,
//! or a follow-up of its closed one — recording it in the state store and
//! publishing its outcome (`<prefix>.outcomes`, see `outcome.rs`) before the
//! bus position moves on.

mod automatic;
mod backoff;
mod comment;
mod commit;
mod conversation;
mod deadline;
mod dlq;
mod fence;
mod lag;
mod lanes;
mod linking;
mod native;
mod near_duplicate;
mod omitted;
mod options;
mod outcome;
mod parking;
pub mod plan;
mod process;
mod recover;
mod requester;
mod reserve;
mod rules;
mod run;
mod telemetry;
mod token;
mod worker;

pub use deadline::SLA_TAG_PREFIX;
pub use dlq::{DlqReason, MINIMAL_MESSAGE_CHARS, PAYLOAD_BLOB_HEADER, is_error_header};
/// The live SLA policies [`RouterOptions::sla`] holds (re-exported so the
/// binary can build them from config without naming the calendar crate).
pub use intake_calendar::refresh::LivePolicies;
pub use linking::RefusedReason as LinkRefusedReason;
pub use native::{TAG_ZENDESK_CHANNEL, policy_channel};
pub use near_duplicate::{
    CROSS_CHANNEL_TAG, CrossChannelOptions, default_cross_channel_min_similarity,
    default_cross_channel_min_words, default_cross_channel_window,
};
pub use options::{
    AutomaticMessages, ChannelRoute, RouterOptions, default_claim_ttl, default_consumer_group,
    default_idle_poll, default_max_held_events, default_max_in_flight, default_reserved_in_flight,
    default_retry_initial_backoff, default_retry_max_age, default_retry_max_attempts,
    default_retry_max_backoff, default_sla, default_subject_max_chars, in_flight_for,
};
pub use outcome::OUTCOME_CE_TYPE;
pub use run::Router;

use intake_bus::BusError;
use intake_store::StoreError;

/// Why the router stopped (or could not start).
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The options cannot work (no channels, a channel listed twice, ...).
    #[error("invalid router options: {0}")]
    Config(String),
    /// The bus failed in a way retrying does not fix.
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    /// The state store failed in a way retrying does not fix.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
}

impl RouterError {
    /// True when restarting the router may help (the failure was transient).
    pub fn is_retryable(&self) -> bool {
        match self {
            RouterError::Config(_) => false,
            RouterError::Bus(e) => e.is_retryable(),
            RouterError::Store(e) => e.is_retryable(),
        }
    }
}
