//! Tickets Zendesk created in its own channels (issue 16 point 6): its
//! e-mail address, web widget or messaging. The gateway records each one
//! the webhook tells of (first record wins) and hands it to the router; the
//! router marks it applied once the rulebook's update is on the ticket.

use chrono::{DateTime, Utc};

use crate::StoreError;

/// One ticket Zendesk created itself, as the webhook told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeTicket {
    pub ticket_id: u64,
    /// Zendesk's `via` channel as the webhook rendered it (`email`, `web`, ...).
    pub via_channel: String,
    /// The ticket's requester in Zendesk.
    pub requester_id: u64,
    /// The requester's e-mail, when Zendesk has one.
    pub requester_email: Option<String>,
    pub subject: Option<String>,
    /// The ticket's first comment (its description).
    pub text: String,
    /// When the gateway received the webhook (the answer deadline counts from it).
    pub received_at: DateTime<Utc>,
}

/// Where a recorded ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NativeTicketState {
    /// Recorded by the gateway, not yet on the bus.
    Received,
    /// Handed to the router (published on the bus).
    Published,
    /// The router applied the rulebook to it (the done marker).
    Applied,
}

impl NativeTicketState {
    /// The stored spelling (stable; never rename).
    pub fn as_str(self) -> &'static str {
        match self {
            NativeTicketState::Received => "received",
            NativeTicketState::Published => "published",
            NativeTicketState::Applied => "applied",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "received" => Ok(NativeTicketState::Received),
            "published" => Ok(NativeTicketState::Published),
            "applied" => Ok(NativeTicketState::Applied),
            other => Err(StoreError::Corrupt(format!(
                "unknown native ticket state {other:?}"
            ))),
        }
    }
}
