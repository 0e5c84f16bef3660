//! One event → one Zendesk effect, recorded in the state store.
//!
//! # Replay safety
//! The bus position moves only after the effect is recorded, so after a crash
//! an event can come back after Zendesk already applied it. The guards:
//! 1. **Recorded events** (`ticket_for_event`) are suppressed as duplicates.
//! 2. **Ticket creation** (new ticket or follow-up) sends the event id as
//!    `Idempotency-Key` and `external_id`. Before each Zendesk call the router
//!    writes a *pending* row; on replay of an event with a pending creation it
//!    first looks the ticket up by `external_id` (`recover.rs`; unlike search
//!    it has no indexing lag), so a replay whose upload tokens differ still
//!    finds the first ticket. Zendesk forgets a key 2 hours after its first
//!    use, which comes after the event's receipt: an event received longer
//!    ago than that (minus [`KEY_LIFE_MARGIN`] for clock skew) is looked up
//!    by `external_id` before **every** creation, pending row or not, so a
//!    replay into a restored or fresh state store does not make a second
//!    ticket. A younger event needs no look-up: its key is still alive, and
//!    Zendesk answers a repeat with the first ticket (or, for another body,
//!    an idempotency mismatch that leads to the look-up).
//!    A success status with an unreadable body may hide a created ticket: the
//!    pending row is kept and the ticket looked up; when none is found the
//!    event is dead-lettered with the row kept, so a replay looks again.
//! 3. **Comments** are sent as `safe_update`s against the ticket's
//!    `updated_at` (see `comment.rs`, which supersedes the audit-first
//!    replay below for tickets Zendesk shows an `updated_at` for): a re-send
//!    after an applied one is refused by Zendesk, and the audits are read
//!    only once no send with the stamp can still apply. Each comment update
//!    carries the event id as custom metadata (`metadata.intake_event_id`),
//!    which Zendesk keeps on the update's *audit* as `metadata.custom` (the
//!    Ticket Audits API documents `metadata` as "custom and system data").
//!    The pending row is written right before `update_ticket`; it is removed
//!    when Zendesk refused the update (a permanent error: closed or deleted
//!    ticket, invalid input) and kept when the outcome is unknown (timeout,
//!    5xx, crash, an unreadable success). On replay of an event with a
//!    pending comment the router lists the ticket's newest
//!    [`REPLAY_AUDIT_SCAN`] audits: one with the event id in
//!    `metadata.custom` and a `Comment` event means Zendesk has it and the
//!    event is recorded as commented; none means the request never reached
//!    Zendesk, so the pending row is dropped and the comment is sent again.
//!    A ticket that is gone (404) cannot hold it either. A listing that fails
//!    permanently dead-letters the event with the pending row kept, so a DLQ
//!    replay verifies again; nothing is assumed delivered. Left open: a
//!    request Zendesk applies only after our timeout *and* after the replay's
//!    listing (the retry backoff lies between them), a ticket that took more
//!    than [`REPLAY_AUDIT_SCAN`] newer updates in the meantime, and a comment
//!    replayed into a state store that lost the conversation (it becomes a
//!    new ticket: without the conversation there is no ticket to look in).
//!
//! # Requesters
//! See `requester.rs`: unverified contacts never meet an existing Zendesk
//! user by e-mail, and a cached user that Zendesk says is gone is forgotten
//! and resolved again once per event. See `conversation.rs` for why an
//! unverified contact never joins a ticket another requester owns.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use intake_blob::BlobStore;
use intake_calendar::Deadline;
use intake_event::TicketEvent;
use intake_store::{Effect, StateStore, TicketLink};
use intake_zendesk::{Client, Status};
use serde_json::json;
use uuid::Uuid;

use crate::dlq::{DeadLetter, DlqReason};
use crate::near_duplicate;
use crate::options::ChannelRoute;
use crate::plan::{self, Action};
use crate::recover::Recovered;
use crate::requester::{self, Who};

mod create;
mod draft;
mod failure;

pub(crate) use draft::{Draft, NoteKind, Stamp};
pub use failure::{Failure, ParkReason};

/// The `metadata` key (`metadata.custom` on the audit) that names the event.
pub const EVENT_ID_METADATA_KEY: &str = "intake_event_id";
/// Newest audits of a ticket searched for a pending comment on replay.
pub const REPLAY_AUDIT_SCAN: usize = 100;
/// Taken off Zendesk's idempotency-key life before an event counts as old
/// enough for its key to have expired: room for a gateway clock (which
/// stamps `received_at`) running ahead of the router's.
pub const KEY_LIFE_MARGIN: Duration = Duration::from_secs(15 * 60);
/// The custom audit metadata every ticket creation and comment carries.
pub(crate) fn event_metadata(event_id: Uuid) -> serde_json::Value {
    json!({ EVENT_ID_METADATA_KEY: event_id.to_string() })
}

/// What handling an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already recorded earlier.
    Duplicate(TicketLink),
    /// A ticket was created (or found created by an earlier attempt).
    Created {
        ticket_id: u64,
        follow_up_of: Option<u64>,
        already_in_zendesk: bool,
    },
    /// A public comment was added (or found added by an earlier attempt);
    /// for an automatic message, an internal note.
    Commented { ticket_id: u64 },
    /// An automatic message that became nothing (see `automatic.rs`): no
    /// effect, no outcome.
    Dropped,
    /// A ticket was created in a department's group (rulebook rule 6).
    Routed {
        ticket_id: u64,
        already_in_zendesk: bool,
    },
}

/// The outcome of a ticket creation recorded with `effect`.
pub(crate) fn created_outcome(
    effect: Effect,
    ticket_id: u64,
    follow_up_of: Option<u64>,
    already_in_zendesk: bool,
) -> Outcome {
    match effect {
        Effect::Routed => Outcome::Routed {
            ticket_id,
            already_in_zendesk,
        },
        _ => Outcome::Created {
            ticket_id,
            follow_up_of,
            already_in_zendesk,
        },
    }
}

/// Everything needed to handle an event; shared by all channel consumers.
pub struct Processor {
    pub store: Arc<dyn StateStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub zendesk: Client,
    pub subject_max_chars: usize,
    /// Custom ticket field that receives the deadline, if configured.
    pub deadline_field_id: Option<u64>,
    /// What becomes of auto-replies and bounces.
    pub automatic_messages: crate::AutomaticMessages,
    /// Two-channel near-duplicates (`near_duplicate.rs`); None: off.
    pub cross_channel: Option<crate::CrossChannelOptions>,
    /// The rulebook asked on every ticket creation (`rules.rs`), if any.
    pub rulebook: Option<intake_rulebook::Rulebook>,
}

/// How one try of the planned action ended.
enum Attempt {
    Done(Outcome),
    /// Zendesk refused the requester (deleted or merged away); nothing was applied.
    RequesterGone(intake_zendesk::Error),
}

impl Processor {
    /// Handles one decoded event of `route`'s channel; a new ticket or
    /// follow-up carries `deadline` (tag and custom field).
    pub async fn handle_event(
        &self,
        route: &ChannelRoute,
        event: &TicketEvent,
        deadline: Option<&Deadline>,
    ) -> Result<Outcome, Failure> {
        let outcome = self.handle_once(route, event, deadline).await?;
        self.note_omitted_attachments(route, event, &outcome)
            .await?;
        Ok(outcome)
    }

    /// The effect itself (see [`Processor::handle_event`]).
    async fn handle_once(
        &self,
        route: &ChannelRoute,
        event: &TicketEvent,
        deadline: Option<&Deadline>,
    ) -> Result<Outcome, Failure> {
        let event_id = event.event_id;
        if let Some(link) = self.store.ticket_for_event(event_id).await? {
            return Ok(Outcome::Duplicate(link));
        }
        // A ticket Zendesk created itself: the rules on it, no new ticket.
        if let Some(native) = &event.zendesk_ticket {
            return self.handle_native(route, event, native, deadline).await;
        }
        if event.auto_submitted {
            return self.handle_automatic(route, event).await;
        }
        let identity = requester::identity(event).map_err(Failure::DeadLetter)?;
        // A new verified e-mail requester may be given inline on the ticket
        // create instead of a `create_or_update` first (`requester.rs`).
        let mut who = self
            .requester_or_inline(&route.name, &identity, event)
            .await?;
        let target = self.target(event, &identity, who.known()).await?;
        // Inline only without a subject token and without near-duplicates
        // (`Processor::may_inline`): both need the id, so it is known here.
        let (mut target, mention) = match who.known() {
            Some(requester_id) => self.named_ticket(event, requester_id, target).await?,
            None => (target, None),
        };
        // A near-duplicate of another channel's message goes to that
        // message's ticket, noted and tagged (`near_duplicate.rs`).
        let cross = match who.known() {
            Some(requester_id) => self.cross_channel(event, requester_id, &mut target).await?,
            None => None,
        };
        if target.current.is_some() {
            // A comment (or a follow-up after one) names its author.
            who = Who::Known(self.known_requester(&route.name, &identity, who).await?);
        }
        let noted = cross.as_ref().map(|c| c.noted(event));
        let event = noted.as_ref().unwrap_or(event);
        let comment_tags = near_duplicate::comment_tags(cross.as_ref());
        let stamp = match self
            .recover(event_id, target.conversation.as_ref(), target.current)
            .await?
        {
            Recovered::Done(outcome) => return Ok(outcome),
            Recovered::Resend(value) => Some(Stamp {
                value,
                resend: true,
            }),
            Recovered::Nothing => target.stamp.clone().map(|value| Stamp {
                value,
                resend: false,
            }),
        };
        let upload_token = self.upload_attachments(event).await?;
        let mut resolved_again = false;
        loop {
            let draft = Draft {
                route,
                event,
                requester: who.clone(),
                upload_token: upload_token.clone(),
                conversation: target.conversation.as_ref(),
                deadline,
                stamp: stamp.clone(),
                note: None,
                mention: mention.clone(),
                comment_tags: comment_tags.clone(),
            };
            match self.apply(&draft, target.current).await? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::RequesterGone(_) if !resolved_again => {
                    resolved_again = true;
                    // A known id Zendesk says is gone is forgotten; an
                    // inline requester it refused (a `requester` detail)
                    // falls back to `create_or_update` (nothing to forget).
                    let gone = who.known().unwrap_or_default();
                    who = Who::Known(self.requester_again(&route.name, &identity, gone).await?);
                }
                Attempt::RequesterGone(error) => {
                    return Err(Failure::DeadLetter(DeadLetter::from_zendesk(
                        DlqReason::RequesterRejected,
                        &error,
                    )));
                }
            }
        }
    }

    /// One try of what the conversation's ticket calls for.
    async fn apply(
        &self,
        draft: &Draft<'_>,
        current: Option<(u64, Status)>,
    ) -> Result<Attempt, Failure> {
        match plan::decide(current) {
            Action::Create => self.create(draft, None).await,
            Action::FollowUp { source_id } => self.create(draft, Some(source_id)).await,
            Action::Comment { ticket_id } => match self.comment(draft, ticket_id).await? {
                CommentResult::Added(outcome) => Ok(Attempt::Done(outcome)),
                CommentResult::TicketClosed => self.create(draft, Some(ticket_id)).await,
                CommentResult::TicketGone => self.create(draft, None).await,
                CommentResult::AuthorGone(error) => Ok(Attempt::RequesterGone(error)),
            },
        }
    }

    /// Uploads every attachment under one token; None without attachments.
    async fn upload_attachments(&self, event: &TicketEvent) -> Result<Option<String>, Failure> {
        let mut token: Option<String> = None;
        for attachment in &event.attachments {
            let bytes = self.blobs.get(&attachment.blob).await.map_err(|e| {
                if e.is_retryable() {
                    Failure::failing("blob_get", e.to_string())
                } else {
                    Failure::DeadLetter(DeadLetter::new(
                        DlqReason::AttachmentUnavailable,
                        e.to_string(),
                    ))
                }
            })?;
            let upload = self
                .zendesk
                .upload(
                    &attachment.filename,
                    &attachment.content_type,
                    bytes,
                    token.as_deref(),
                )
                .await
                .map_err(|e| Failure::zendesk("upload", DlqReason::AttachmentRejected, e))?;
            token.get_or_insert(upload.token);
        }
        Ok(token)
    }
}

pub(crate) enum CommentResult {
    Added(Outcome),
    TicketClosed,
    TicketGone,
    /// The comment's author (the requester) is gone in Zendesk.
    AuthorGone(intake_zendesk::Error),
}

/// Seconds from receipt to now (zero when the clock went backwards).
pub fn since_receipt(event: &TicketEvent) -> Duration {
    (Utc::now() - event.received_at)
        .to_std()
        .unwrap_or_default()
}
