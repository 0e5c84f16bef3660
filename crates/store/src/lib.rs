#![forbid(unsafe_code)]
//! The router's state store: which Zendesk effect each event produced, which
//! ticket holds each conversation, which Zendesk user each contact is.
//!
//! [`StateStore`] is the backend-neutral interface; [`SqliteStore`] is the
//! single-machine default and [`PostgresStore`] the backend for several router
//! replicas. Nothing in the trait names a backend's types, ids are plain
//! `u64`/[`Uuid`], and every write that must be atomic is one trait call. Both
//! backends pass the same behavioural suite (`tests/suite`).

mod claims;
mod error;
mod identity;
mod native;
mod parked;
mod postgres;
mod replies;
mod sla_watch;
mod sqlite;

use async_trait::async_trait;
use uuid::Uuid;

pub use claims::{ClaimAttempt, ConversationClaim};
pub use error::StoreError;
pub use identity::{ContactLink, CrossChannelClaim, CrossChannelMessage, LinkOutcome, SimilarFn};
pub use native::{NativeTicket, NativeTicketState};
pub use parked::{PARKED_HISTORY_LINES, ParkedLane};
pub use postgres::{PostgresOptions, PostgresStore};
pub use replies::{AgentReply, AgentReplyStatus, Inbound, ReplyFile};
pub use sla_watch::{SlaStage, SlaWatch};
pub use sqlite::{SqliteOptions, SqliteStore};

/// What an event did in Zendesk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// A new ticket.
    Created,
    /// A public comment on an existing ticket.
    Commented,
    /// A follow-up ticket of a closed one.
    FollowUp,
    /// A ticket routed to another department.
    Routed,
}

impl Effect {
    /// The stored spelling (stable; never rename).
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Created => "created",
            Effect::Commented => "commented",
            Effect::FollowUp => "follow_up",
            Effect::Routed => "routed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "created" => Ok(Effect::Created),
            "commented" => Ok(Effect::Commented),
            "follow_up" => Ok(Effect::FollowUp),
            "routed" => Ok(Effect::Routed),
            other => Err(StoreError::Corrupt(format!("unknown effect {other:?}"))),
        }
    }
}

/// The ticket an event went to and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketLink {
    pub ticket_id: u64,
    pub effect: Effect,
}

/// A conversation: the channel and the channel's own thread id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConversationRef {
    pub channel: String,
    pub thread_id: String,
}

/// An effect written down before its Zendesk call and not yet recorded as
/// done: on replay it says "this call may already have happened".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEffect {
    /// The ticket commented on (None for creations).
    pub ticket_id: Option<u64>,
    pub effect: Effect,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// For a comment sent as a `safe_update`: the ticket's `updated_at` it
    /// was sent against ([`StateStore::begin_comment`]).
    pub updated_stamp: Option<String>,
}

/// Router state, shared by every router replica using the same backend.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The backend's name for logs (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// The effect already recorded for `event_id`, if any.
    async fn ticket_for_event(&self, event_id: Uuid) -> Result<Option<TicketLink>, StoreError>;

    /// Records `event_id → link` and, in the same transaction, points the
    /// conversation (if any) at `link.ticket_id` and clears the event's pending
    /// effect. Idempotent: when the event is already recorded nothing changes
    /// and the first link is returned; otherwise `link` is returned.
    async fn record_event(
        &self,
        event_id: Uuid,
        link: TicketLink,
        conversation: Option<&ConversationRef>,
    ) -> Result<TicketLink, StoreError>;

    /// Writes down that an effect is about to be attempted (replaces an older
    /// pending row for the same event).
    async fn begin_effect(
        &self,
        event_id: Uuid,
        effect: Effect,
        ticket_id: Option<u64>,
    ) -> Result<(), StoreError>;

    /// The pending effect of `event_id`, if one was begun and not recorded.
    async fn pending_effect(&self, event_id: Uuid) -> Result<Option<PendingEffect>, StoreError>;

    /// Forgets a pending effect (the call was definitely not applied).
    async fn clear_pending(&self, event_id: Uuid) -> Result<(), StoreError>;

    /// The ticket that holds a conversation now.
    async fn conversation_ticket(
        &self,
        conversation: &ConversationRef,
    ) -> Result<Option<u64>, StoreError>;

    /// Points a conversation at a ticket (replaces the old one).
    async fn set_conversation_ticket(
        &self,
        conversation: &ConversationRef,
        ticket_id: u64,
    ) -> Result<(), StoreError>;

    /// The Zendesk user id cached for a contact key.
    async fn contact_user(&self, contact_key: &str) -> Result<Option<u64>, StoreError>;

    /// Caches a contact key's Zendesk user id (replaces the old one).
    async fn set_contact_user(&self, contact_key: &str, user_id: u64) -> Result<(), StoreError>;

    /// Forgets the cached user of a contact key, but only while it is still
    /// `user_id` (Zendesk said that user is gone or merged; a replica that
    /// meanwhile cached a fresh id keeps it). True when an entry was removed.
    async fn forget_contact_user(
        &self,
        contact_key: &str,
        user_id: u64,
    ) -> Result<bool, StoreError>;

    /// Readiness: Ok when the store answers now.
    async fn check_ready(&self) -> Result<(), StoreError>;

    // ---- Cursors of pull channels (mail UIDs, Telegram update offsets) ----

    /// The value last stored for `scope` (a channel-chosen name such as
    /// `email:help@example.com:INBOX`), if any. The value is opaque to the store.
    async fn cursor(&self, scope: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` for `scope` (replaces the old one), durably before it returns.
    async fn set_cursor(&self, scope: &str, value: &str) -> Result<(), StoreError>;

    // --- Acknowledgements (issue 10): one per outcome, at most one per
    // sender per window (migration 0003) ---

    /// What was decided for the acknowledgement of `outcome_id`, if anything.
    async fn acknowledgement(&self, outcome_id: Uuid) -> Result<Option<AckRecord>, StoreError>;

    /// Records the final decision for an outcome's acknowledgement. The first
    /// write wins: when a record exists nothing changes and it is returned;
    /// otherwise `record` is returned.
    async fn record_acknowledgement(&self, record: &AckRecord) -> Result<AckRecord, StoreError>;

    /// When an acknowledgement was last sent to `contact_key` (status `sent`).
    async fn last_acknowledgement_sent(
        &self,
        contact_key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError>;

    // ---- Router lanes (issue 13): conversations the router has parked ----

    /// Writes down a parked lane (replaces the row of the same consumer
    /// group and lane).
    async fn park_lane(&self, parked: &ParkedLane) -> Result<(), StoreError>;

    /// Forgets a parked lane (its event finished); no-op when absent.
    async fn unpark_lane(&self, consumer_group: &str, lane: &str) -> Result<(), StoreError>;

    /// Parked lanes of one consumer group (every group with None), earliest
    /// resume first.
    async fn parked_lanes(
        &self,
        consumer_group: Option<&str>,
    ) -> Result<Vec<ParkedLane>, StoreError>;

    /// Writes down a comment about to be sent to `ticket_id` as a
    /// `safe_update` against `updated_stamp` (the ticket's `updated_at`),
    /// replacing an older pending row of the event.
    async fn begin_comment(
        &self,
        event_id: Uuid,
        ticket_id: u64,
        updated_stamp: &str,
    ) -> Result<(), StoreError>;

    // ---- Agent replies (issue 16): Zendesk comments carried back to the
    // customer, once per comment id (migration 0005) ----

    /// The conversation that points at `ticket_id` (the most recently
    /// updated one when several do): None for a ticket intake neither
    /// created nor commented.
    async fn ticket_conversation(
        &self,
        ticket_id: u64,
    ) -> Result<Option<ConversationRef>, StoreError>;

    /// Claims an agent reply for delivery: true when this call wrote it
    /// (as given, normally `pending`), false when the comment id was
    /// claimed before (whatever its status; nothing changes).
    async fn claim_agent_reply(&self, reply: &AgentReply) -> Result<bool, StoreError>;

    /// Sets how a claimed reply ended (no-op for an unknown comment id).
    async fn finish_agent_reply(
        &self,
        comment_id: u64,
        status: AgentReplyStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError>;

    /// The claimed replies still `pending`, lowest comment id first.
    async fn pending_agent_replies(&self) -> Result<Vec<AgentReply>, StoreError>;

    // ---- Conversation claims (issue 13 point 4): fencing across router
    // replicas, one holder per conversation at a time (migration 0006) ----

    /// Takes the claim on `lane` for `holder` until `ttl` from now, or
    /// renews it when `holder` still has it (the token stays). A free,
    /// released or expired claim is taken with a new, higher token; one that
    /// another holder has unexpired is [`ClaimAttempt::Busy`].
    async fn claim_conversation(
        &self,
        lane: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<ClaimAttempt, StoreError>;

    /// Whether `claim` (its holder and token) is still held for at least
    /// `margin` more.
    async fn conversation_claim_held(
        &self,
        claim: &ConversationClaim,
        margin: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives `claim` up; no-op when it lapsed or another holder has it.
    async fn release_conversation(&self, claim: &ConversationClaim) -> Result<(), StoreError>;

    // ---- SLA watch (issue 14 rule 7): leader leases and the first-response
    // deadlines of new tickets (migration 0007) ----

    /// Takes the lease `name` for `holder` for `ttl`: true when `holder`
    /// holds it now (it was free, had expired, or was already `holder`'s,
    /// which renews it); false while another holder's lease runs. Expiry is
    /// counted on the database's clock (PostgreSQL) or this machine's (SQLite).
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Extends `holder`'s running lease by `ttl` from now: false when the
    /// lease is not `holder`'s any more or has expired (then it must be
    /// acquired again, and whatever the holder was doing may be doubled).
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up if `holder` holds it (no-op otherwise).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Starts watching a ticket's deadline: true when this call recorded it,
    /// false when the ticket was recorded before (nothing changes, so a
    /// redelivered outcome does not restart a watch).
    async fn watch_sla(&self, watch: &SlaWatch) -> Result<bool, StoreError>;

    /// The watch of `ticket_id`, if recorded.
    async fn sla_watch(&self, ticket_id: u64) -> Result<Option<SlaWatch>, StoreError>;

    /// Watches with something to do at `now`, earliest deadline first (then
    /// by ticket id), at most `limit`, after the watch `after` (its deadline
    /// and ticket id: the last of the previous page): `watching` ones whose
    /// warning time came, `warning` ones, and `warned` ones whose deadline came.
    async fn due_sla_watches(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        after: Option<(chrono::DateTime<chrono::Utc>, u64)>,
        limit: usize,
    ) -> Result<Vec<SlaWatch>, StoreError>;

    /// Moves a watch from stage `from` to `to` at `at`: true when this call
    /// moved it, false when it was not at `from` (someone else moved it).
    async fn advance_sla_watch(
        &self,
        ticket_id: u64,
        from: SlaStage,
        to: SlaStage,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError>;
    // ---- Replies (issue 16 rest): the customer's last message per
    // conversation (migration 0009) ----

    /// Notes that the customer `contact_key` wrote `message_id` in
    /// `conversation` at `received_at`; an older message than the one noted
    /// changes nothing (events may be handled out of order after a
    /// redelivery).
    async fn record_inbound(
        &self,
        conversation: &ConversationRef,
        message_id: &str,
        contact_key: &str,
        received_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError>;

    /// The customer's last message in `conversation`, if one was noted.
    async fn last_inbound(
        &self,
        conversation: &ConversationRef,
    ) -> Result<Option<Inbound>, StoreError>;
    // ---- One person across channels (issue 14 point 2): contact links and
    // the two-channel near-duplicate window (migration 0011) ----

    /// The link decision recorded for `contact_key`, if any.
    async fn contact_link(&self, contact_key: &str) -> Result<Option<ContactLink>, StoreError>;

    /// Records a link decision for its contact key; the first decision per
    /// key wins and is returned (a racing replica's, when it came first).
    async fn record_contact_link(&self, link: &ContactLink) -> Result<ContactLink, StoreError>;

    /// Claims `message` in the near-duplicate window, atomically across
    /// replicas: among the originals of the same user on *other* channels
    /// received within `window` of it (oldest first), the first that
    /// `similar` accepts makes it a duplicate of that original; none makes
    /// it an original. Either way it is recorded in the same transaction,
    /// so of two similar messages claimed at once exactly one is the
    /// original. Claiming an event again returns its first decision.
    /// Messages of the user older than the window plus a day are pruned.
    async fn claim_cross_channel(
        &self,
        message: &CrossChannelMessage,
        window: std::time::Duration,
        similar: SimilarFn<'_>,
    ) -> Result<CrossChannelClaim, StoreError>;

    // ---- Tickets Zendesk created in its own channels (issue 16 point 6,
    // migration 0012) ----

    /// Records a ticket the webhook told of; the first record wins. Returns
    /// the state stored for the ticket (a new one is `Received`).
    async fn record_native_ticket(
        &self,
        ticket: &NativeTicket,
    ) -> Result<NativeTicketState, StoreError>;

    /// Marks a `Received` ticket `Published` (handed to the router); a later
    /// state stays.
    async fn native_ticket_published(&self, ticket_id: u64) -> Result<(), StoreError>;

    /// The recorded ticket and its state, if any.
    async fn native_ticket(
        &self,
        ticket_id: u64,
    ) -> Result<Option<(NativeTicket, NativeTicketState)>, StoreError>;

    /// The router's done marker: marks the ticket `Applied` (recording it
    /// first when this store never saw the gateway's record). True when
    /// this call applied it, false when it was applied before.
    async fn native_ticket_applied(&self, ticket: &NativeTicket) -> Result<bool, StoreError>;
}

/// How an outcome's acknowledgement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckStatus {
    /// Delivered by the channel's reply sender.
    Sent,
    /// Not sent on purpose (policy); the reason says why.
    Suppressed,
    /// Failed for good and dead-lettered; the reason says why.
    Failed,
}

impl AckStatus {
    /// The stored spelling (stable; never rename).
    pub fn as_str(self) -> &'static str {
        match self {
            AckStatus::Sent => "sent",
            AckStatus::Suppressed => "suppressed",
            AckStatus::Failed => "failed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "sent" => Ok(AckStatus::Sent),
            "suppressed" => Ok(AckStatus::Suppressed),
            "failed" => Ok(AckStatus::Failed),
            other => Err(StoreError::Corrupt(format!("unknown ack status {other:?}"))),
        }
    }
}

/// The decision recorded for one outcome's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRecord {
    pub outcome_id: Uuid,
    pub channel: String,
    pub contact_key: String,
    pub ticket_id: Option<u64>,
    pub status: AckStatus,
    /// Why it was suppressed or failed (a fixed code), none when sent.
    pub reason: Option<String>,
    /// When the decision was made (for `sent`: the sending time the
    /// per-sender window counts from).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Ticket and user ids are stored as signed 64-bit integers by both backends.
pub(crate) fn to_db_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::InvalidValue(format!("id {id} exceeds i64")))
}

/// The id read back from the database.
pub(crate) fn from_db_id(id: i64) -> Result<u64, StoreError> {
    u64::try_from(id).map_err(|_| StoreError::Corrupt(format!("negative id {id}")))
}
