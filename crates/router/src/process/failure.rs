//! Why handling an event did not finish, and why a conversation waits.

use std::time::Duration;

use intake_store::StoreError;

use crate::RouterError;
use crate::dlq::{DeadLetter, DlqReason};

/// Why handling an event did not finish.
#[derive(Debug)]
pub enum Failure {
    /// Transient: park the conversation and try the same event again later.
    Retry {
        stage: &'static str,
        message: String,
        /// Why the conversation waits.
        reason: ParkReason,
        /// When it may go on, if the failure says so (a per-ticket hold);
        /// otherwise the retry backoff decides.
        resume_in: Option<Duration>,
    },
    /// Permanent for this event: dead-letter it and go on.
    DeadLetter(DeadLetter),
    /// The router cannot go on.
    Fatal(RouterError),
}

impl Failure {
    pub(crate) fn zendesk(
        stage: &'static str,
        reason: DlqReason,
        error: intake_zendesk::Error,
    ) -> Self {
        if error.is_retryable() {
            let (park, resume_in) = match (error.ticket_held(), error.status()) {
                (Some(held), _) => (ParkReason::TicketLimit, Some(held)),
                (None, _) if error.endpoint_held().is_some() => {
                    (ParkReason::EndpointLimit, error.endpoint_held())
                }
                (None, Some(409)) => (ParkReason::TicketLocked, None),
                _ => (ParkReason::Failing, None),
            };
            return Failure::Retry {
                stage,
                message: error.log_summary().to_string(),
                reason: park,
                resume_in,
            };
        }
        Failure::DeadLetter(DeadLetter::from_zendesk(reason, &error))
    }

    /// A transient failure of `stage` that says nothing about when to retry.
    pub(crate) fn failing(stage: &'static str, message: String) -> Self {
        Failure::Retry {
            stage,
            message,
            reason: ParkReason::Failing,
            resume_in: None,
        }
    }
}

/// Why a conversation is parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkReason {
    /// Its ticket is over Zendesk's per-ticket update limit (or held by a
    /// per-ticket 429): a known wait, not a failure of the event.
    TicketLimit,
    /// Zendesk refused a concurrent update of its ticket (409).
    TicketLocked,
    /// The next slot of an endpoint's own limit (Update Ticket's minute,
    /// user creation) is further off than the router waits in a slot
    /// (`intake_zendesk::endpoint_limits`): a known wait, not a failure.
    EndpointLimit,
    /// A retryable failure (Zendesk or the state store down, a 5xx, a timeout).
    Failing,
    /// Another router holds the conversation's claim, or this router lost
    /// it before a write (`fence.rs`): a wait that ends by itself.
    Claimed,
    /// A cross-channel near-duplicate waits for its original's ticket
    /// (`near_duplicate.rs`): a known wait, bounded there.
    CrossChannelOriginal,
}

impl ParkReason {
    /// The stored spelling and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ParkReason::TicketLimit => "ticket_limit",
            ParkReason::TicketLocked => "ticket_locked",
            ParkReason::EndpointLimit => "endpoint_limit",
            ParkReason::Failing => "failing",
            ParkReason::Claimed => "claimed",
            ParkReason::CrossChannelOriginal => "cross_channel_original",
        }
    }

    /// Whether the wait counts against the event's retry bounds (a
    /// per-ticket limit hold or a claim does not: it ends by itself).
    pub fn counts_as_failure(self) -> bool {
        !matches!(
            self,
            ParkReason::TicketLimit
                | ParkReason::EndpointLimit
                | ParkReason::Claimed
                | ParkReason::CrossChannelOriginal
        )
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        if error.is_retryable() {
            Failure::failing("state_store", error.to_string())
        } else {
            Failure::Fatal(RouterError::Store(error))
        }
    }
}
