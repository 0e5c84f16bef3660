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
use intake_store::{ConversationRef, Effect, StateStore, StoreError, TicketLink};
use intake_telemetry::crashpoint;
use intake_zendesk::{Client, Comment, NewTicket, Status};
use serde_json::json;
use uuid::Uuid;

use crate::RouterError;
use crate::deadline;
use crate::dlq::{DeadLetter, DlqReason};
use crate::near_duplicate;
use crate::options::ChannelRoute;
use crate::plan::{self, Action};
use crate::recover::Recovered;
use crate::requester::{self, Who};

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

    async fn create(
        &self,
        draft: &Draft<'_>,
        follow_up_of: Option<u64>,
    ) -> Result<Attempt, Failure> {
        let event_id = draft.event.event_id;
        let key = event_id.to_string();
        let rules = self.rulebook_decision(draft).await;
        let effect = match (&rules.department, follow_up_of) {
            (Some(_), _) => Effect::Routed,
            (None, Some(_)) => Effect::FollowUp,
            (None, None) => Effect::Created,
        };
        if key_may_have_expired(draft.event)
            && let Some(outcome) = self
                .adopt_created(event_id, effect, follow_up_of, draft.conversation)
                .await?
        {
            return Ok(Attempt::Done(outcome));
        }
        let ticket = NewTicket {
            subject: Some(plan::subject(draft.event, self.subject_max_chars)),
            comment: draft.comment(draft.first_comment()),
            requester_id: draft.requester.known(),
            requester: draft.requester.inline().cloned(),
            priority: draft.route.priority,
            tags: crate::rules::with_rule_tags(draft.tags(), &rules),
            external_id: Some(key.clone()),
            group_id: rules.group_id.or(draft.route.group_id),
            assignee_id: rules.assignee_id,
            via_followup_source_id: follow_up_of,
            metadata: Some(event_metadata(event_id)),
            custom_fields: draft.custom_fields(self.deadline_field_id),
            ..NewTicket::default()
        };
        self.store
            .begin_effect(event_id, effect, follow_up_of)
            .await?;
        crate::fence::check_before_write(event_id).await?;
        let created = match self.zendesk.create_ticket(&ticket, Some(&key)).await {
            Ok(created) => created,
            Err(e) => {
                // The key was used with another body (new upload tokens on a
                // replay): the first ticket exists, find it by external id.
                if e.is_idempotency_mismatch()
                    && let Recovered::Done(outcome) =
                        self.recover(event_id, draft.conversation, None).await?
                {
                    return Ok(Attempt::Done(outcome));
                }
                // A success nobody can read may hide a created ticket: look
                // for it; otherwise dead-letter with the pending row kept,
                // so a replay looks again before creating.
                if e.is_unreadable_success() {
                    return match self
                        .adopt_created(event_id, effect, follow_up_of, draft.conversation)
                        .await?
                    {
                        Some(outcome) => Ok(Attempt::Done(outcome)),
                        None => Err(Failure::zendesk(
                            "create_ticket",
                            DlqReason::ZendeskRejected,
                            e,
                        )),
                    };
                }
                // A retryable failure (timeout, 5xx) may hide an applied
                // create: keep the pending row so the retry looks the ticket
                // up by external id first, even past the key's 2-hour life.
                if !e.is_retryable() {
                    self.store.clear_pending(event_id).await?;
                    if e.is_user_gone() {
                        return Ok(Attempt::RequesterGone(e));
                    }
                }
                return Err(Failure::zendesk(
                    "create_ticket",
                    DlqReason::ZendeskRejected,
                    e,
                ));
            }
        };
        crashpoint("router.after_zendesk_create");
        self.learn_inline_requester(&draft.requester, &created.ticket)
            .await?;
        let link = TicketLink {
            ticket_id: created.ticket.id,
            effect,
        };
        let recorded = self
            .store
            .record_event(event_id, link, draft.conversation)
            .await?;
        self.after_create(draft, recorded.ticket_id, &rules).await;
        crashpoint("router.before_offset_store");
        Ok(Attempt::Done(created_outcome(
            effect,
            recorded.ticket_id,
            follow_up_of,
            created.idempotency_hit,
        )))
    }
}

pub(crate) enum CommentResult {
    Added(Outcome),
    TicketClosed,
    TicketGone,
    /// The comment's author (the requester) is gone in Zendesk.
    AuthorGone(intake_zendesk::Error),
}

/// The parts of a ticket or comment that do not depend on the action.
pub(crate) struct Draft<'a> {
    pub(crate) route: &'a ChannelRoute,
    pub(crate) event: &'a TicketEvent,
    /// The requester: a Zendesk user id, or (a new ticket only) the
    /// `requester` object the create carries (`requester.rs`).
    pub(crate) requester: Who,
    pub(crate) upload_token: Option<String>,
    pub(crate) conversation: Option<&'a ConversationRef>,
    pub(crate) deadline: Option<&'a Deadline>,
    /// The conversation ticket's `updated_at` a comment is sent against
    /// (`safe_update`), and whether it is the stamp of an earlier attempt.
    pub(crate) stamp: Option<Stamp>,
    /// An internal note (not public, written by the API user) instead of
    /// the requester's public comment.
    pub(crate) note: Option<NoteKind>,
    /// A line for agents under the first message of a new ticket (a subject
    /// token that did not attach the message, see `token.rs`).
    pub(crate) mention: Option<String>,
    /// Tags a comment adds to its ticket (a cross-channel near-duplicate's).
    pub(crate) comment_tags: Vec<String>,
}

/// What an internal note is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoteKind {
    /// An automatic message (`automatic.rs`): its body introduced as such.
    Automatic,
    /// A note whose body is the event's text as is (`omitted.rs`).
    Plain,
}

/// The `updated_stamp` of a comment.
#[derive(Debug, Clone)]
pub(crate) struct Stamp {
    pub(crate) value: String,
    /// Taken from the pending row: an earlier attempt may have sent it.
    pub(crate) resend: bool,
}

impl Draft<'_> {
    pub(crate) fn comment(&self, body: String) -> Comment {
        if let Some(kind) = self.note {
            let body = match kind {
                NoteKind::Automatic => crate::automatic::note_body(self.event, &body),
                NoteKind::Plain => body,
            };
            return Comment {
                body: Some(body),
                public: false,
                uploads: self.upload_token.iter().cloned().collect(),
                ..Comment::default()
            };
        }
        Comment {
            body: Some(body),
            public: true,
            author_id: self.requester.known(),
            uploads: self.upload_token.iter().cloned().collect(),
            ..Comment::default()
        }
    }

    /// The first comment of a new ticket: [`plan::first_comment`], then the
    /// mention, if any.
    fn first_comment(&self) -> String {
        let first = plan::first_comment(self.event);
        match &self.mention {
            Some(mention) => format!("{first}\n\n---\n{mention}"),
            None => first,
        }
    }

    /// The new ticket's tags: the channel's, [`plan::UNVERIFIED_TAG`]
    /// when the requester claimed details the channel does not vouch for,
    /// and `intake_sla_<policy>` when it has a deadline.
    fn tags(&self) -> Vec<String> {
        let mut extra = self.route.tags.clone();
        if plan::unverified_note(&self.event.contact).is_some() {
            extra.push(plan::UNVERIFIED_TAG.to_owned());
        }
        extra.extend(self.deadline.map(deadline::tag));
        plan::tags(&self.route.name, &extra)
    }

    /// The deadline in the configured custom field (none without either).
    fn custom_fields(&self, field_id: Option<u64>) -> Vec<intake_zendesk::CustomField> {
        match (field_id, self.deadline) {
            (Some(id), Some(deadline)) => vec![deadline::field(id, deadline)],
            _ => Vec::new(),
        }
    }
}

/// Whether Zendesk may have forgotten the event's idempotency key: its first
/// use came after receipt, so this is true at the latest when it expired.
fn key_may_have_expired(event: &TicketEvent) -> bool {
    since_receipt(event) >= intake_zendesk::IDEMPOTENCY_KEY_LIFE.saturating_sub(KEY_LIFE_MARGIN)
}

/// Seconds from receipt to now (zero when the clock went backwards).
pub fn since_receipt(event: &TicketEvent) -> Duration {
    (Utc::now() - event.received_at)
        .to_std()
        .unwrap_or_default()
}
