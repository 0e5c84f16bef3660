//! One person across channels (issue 14 point 2, migration 0011): contact
//! keys linked to one Zendesk user, and the recent messages of a requester
//! that the two-channel near-duplicate window compares.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::StoreError;

/// How a link attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkOutcome {
    /// The contact key resolves to the user.
    Linked,
    /// Zendesk refused the identity (it belongs to another user): the key
    /// keeps its own requester, and later messages do not try again.
    Refused,
}

impl LinkOutcome {
    /// The stored spelling (stable; never rename).
    pub fn as_str(self) -> &'static str {
        match self {
            LinkOutcome::Linked => "linked",
            LinkOutcome::Refused => "refused",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "linked" => Ok(LinkOutcome::Linked),
            "refused" => Ok(LinkOutcome::Refused),
            other => Err(StoreError::Corrupt(format!(
                "unknown link outcome {other:?}"
            ))),
        }
    }
}

/// A contact key's link to the Zendesk user of a verified detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactLink {
    /// The key that is linked (`telegram:42`).
    pub contact_key: String,
    /// The verified detail that matched (`phone:+4915…`, `email:ann@…`).
    pub detail_key: String,
    /// The user the detail belongs to (for a refusal: the user it was
    /// going to be added to).
    pub user_id: u64,
    pub outcome: LinkOutcome,
    /// Why it was refused (a fixed code), none when linked.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One message of a requester, as the near-duplicate window keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossChannelMessage {
    pub event_id: Uuid,
    /// The requester's Zendesk user id.
    pub user_id: u64,
    pub channel: String,
    /// Hash of the normalised text (equal texts match without comparing tokens).
    pub text_hash: String,
    /// The normalised text's tokens, space-separated.
    pub tokens: String,
    pub received_at: DateTime<Utc>,
    /// The original this message duplicates (None: it is an original).
    pub duplicate_of: Option<Uuid>,
}

/// What claiming a message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrossChannelClaim {
    /// No similar message of the requester on another channel in the
    /// window: this message is an original (recorded as such).
    Original,
    /// The message duplicates this earlier original (recorded as its
    /// duplicate; the original's ticket is in its event record, once made).
    DuplicateOf(CrossChannelMessage),
}

/// Decides whether an earlier original of the requester matches the message
/// being claimed (called inside the claim, under its lock).
pub type SimilarFn<'a> = &'a (dyn Fn(&CrossChannelMessage) -> bool + Send + Sync);

/// How long past the window a claimed message is kept before a later claim
/// of the same requester prunes it (a replay within it gets the first
/// decision back; an older replay is caught by the event record anyway).
pub(crate) const PRUNE_AFTER: chrono::Duration = chrono::Duration::days(1);
