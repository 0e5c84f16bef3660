//! One event → one Zendesk effect, recorded in the state store.
//!
//! # Replay safety
//! The bus position moves only after the effect is recorded, so after a crash
//! an event can come back after Zendesk already applied it. Three guards:
//! 1. **Recorded events** (`ticket_for_event`) are suppressed as duplicates.
//! 2. **Ticket creation** (new ticket or follow-up) sends the event id as
//!    `Idempotency-Key` and `external_id`. Before each Zendesk call the router
//!    writes a *pending* row; on replay of an event with a pending creation it
//!    first looks the ticket up by `external_id` (which, unlike search, has no
//!    indexing lag), so a replay beyond the key's 2-hour life, or one whose
//!    upload tokens differ, still finds the first ticket.
//! 3. **Comments** are not idempotent in Zendesk, so each comment update
//!    carries the event id as custom metadata (`metadata.intake_event_id`),
//!    which Zendesk keeps on the update's *audit* as `metadata.custom` (the
//!    Ticket Audits API documents `metadata` as "custom and system data").
//!    The pending row is written right before `update_ticket`; it is removed
//!    when Zendesk refused the update (a permanent error: closed or deleted
//!    ticket, invalid input) and kept when the outcome is unknown (timeout,
//!    5xx, crash). On replay of an event with a pending comment the router
//!    lists the ticket's newest [`REPLAY_AUDIT_SCAN`] audits: one with the
//!    event id in `metadata.custom` and a `Comment` event means Zendesk has it
//!    and the event is recorded as commented; none means the request never
//!    reached Zendesk, so the pending row is dropped and the comment is sent
//!    again. A ticket that is gone (404) cannot hold it either. A listing that
//!    fails permanently dead-letters the event with the pending row kept, so a
//!    DLQ replay verifies again; nothing is assumed delivered. Left open: a
//!    request Zendesk applies only after our timeout *and* after the replay's
//!    listing (the retry backoff lies between them), and a ticket that took
//!    more than [`REPLAY_AUDIT_SCAN`] newer updates in the meantime.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use intake_blob::BlobStore;
use intake_event::TicketEvent;
use intake_store::{ConversationRef, Effect, StateStore, StoreError, TicketLink};
use intake_telemetry::crashpoint;
use intake_zendesk::{Client, Comment, NewTicket, TicketUpdate, UserInput};
use serde_json::json;
use uuid::Uuid;

use crate::RouterError;
use crate::dlq::{DeadLetter, DlqReason};
use crate::options::ChannelRoute;
use crate::plan::{self, Action};

/// The `metadata` key (`metadata.custom` on the audit) that names the event.
pub const EVENT_ID_METADATA_KEY: &str = "intake_event_id";
/// Newest audits of a ticket searched for a pending comment on replay.
pub const REPLAY_AUDIT_SCAN: usize = 100;

/// The custom audit metadata every ticket creation and comment carries.
fn event_metadata(event_id: Uuid) -> serde_json::Value {
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
    /// A public comment was added (or found added by an earlier attempt).
    Commented { ticket_id: u64 },
}

/// Why handling an event did not finish.
#[derive(Debug)]
pub enum Failure {
    /// Transient: back off and try the same event again.
    Retry {
        stage: &'static str,
        message: String,
    },
    /// Permanent for this event: dead-letter it and go on.
    DeadLetter(DeadLetter),
    /// The router cannot go on.
    Fatal(RouterError),
}

impl Failure {
    fn zendesk(stage: &'static str, reason: DlqReason, error: intake_zendesk::Error) -> Self {
        if error.is_retryable() {
            return Failure::Retry {
                stage,
                message: error.log_summary().to_string(),
            };
        }
        Failure::DeadLetter(DeadLetter::from_zendesk(reason, &error))
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        if error.is_retryable() {
            Failure::Retry {
                stage: "state_store",
                message: error.to_string(),
            }
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
}

impl Processor {
    /// Handles one decoded event of `route`'s channel.
    pub async fn handle_event(
        &self,
        route: &ChannelRoute,
        event: &TicketEvent,
    ) -> Result<Outcome, Failure> {
        let event_id = event.event_id;
        if let Some(link) = self.store.ticket_for_event(event_id).await? {
            return Ok(Outcome::Duplicate(link));
        }
        let conversation = conversation_of(event);
        if let Some(outcome) = self.recover(event_id, conversation.as_ref()).await? {
            return Ok(outcome);
        }
        let requester_id = self.requester(event).await?;
        let current = match &conversation {
            Some(conversation) => self.conversation_status(conversation).await?,
            None => None,
        };
        let upload_token = self.upload_attachments(event).await?;
        let draft = Draft {
            route,
            event,
            requester_id,
            upload_token,
            conversation: conversation.as_ref(),
        };
        match plan::decide(current) {
            Action::Create => self.create(&draft, None).await,
            Action::FollowUp { source_id } => self.create(&draft, Some(source_id)).await,
            Action::Comment { ticket_id } => match self.comment(&draft, ticket_id).await? {
                CommentResult::Added(outcome) => Ok(outcome),
                CommentResult::TicketClosed => self.create(&draft, Some(ticket_id)).await,
                CommentResult::TicketGone => self.create(&draft, None).await,
            },
        }
    }

    /// Finishes an effect a previous run began and may have completed.
    async fn recover(
        &self,
        event_id: Uuid,
        conversation: Option<&ConversationRef>,
    ) -> Result<Option<Outcome>, Failure> {
        let Some(pending) = self.store.pending_effect(event_id).await? else {
            return Ok(None);
        };
        if pending.effect == Effect::Commented {
            let Some(ticket_id) = pending.ticket_id else {
                self.store.clear_pending(event_id).await?;
                return Ok(None);
            };
            return self
                .recover_comment(event_id, ticket_id, conversation)
                .await;
        }
        let found = self
            .zendesk
            .tickets_by_external_id(&event_id.to_string())
            .await
            .map_err(|e| {
                Failure::zendesk("tickets_by_external_id", DlqReason::ZendeskRejected, e)
            })?;
        let Some(ticket) = found.iter().min_by_key(|t| t.id) else {
            return Ok(None);
        };
        let link = TicketLink {
            ticket_id: ticket.id,
            effect: pending.effect,
        };
        let recorded = self
            .store
            .record_event(event_id, link, conversation)
            .await?;
        crashpoint("router.before_offset_store");
        Ok(Some(Outcome::Created {
            ticket_id: recorded.ticket_id,
            follow_up_of: pending.ticket_id,
            already_in_zendesk: true,
        }))
    }

    /// Looks for the pending comment of `event_id` among the ticket's newest
    /// audits: an audit with the event id and a `Comment` event → recorded as
    /// commented; none → pending dropped and `None`, so the caller sends it again.
    async fn recover_comment(
        &self,
        event_id: Uuid,
        ticket_id: u64,
        conversation: Option<&ConversationRef>,
    ) -> Result<Option<Outcome>, Failure> {
        let audits = match self
            .zendesk
            .list_audits(ticket_id, true, REPLAY_AUDIT_SCAN)
            .await
        {
            Ok(audits) => audits,
            Err(e) if e.is_not_found() => {
                self.store.clear_pending(event_id).await?;
                return Ok(None);
            }
            Err(e) => {
                return Err(Failure::zendesk(
                    "list_audits",
                    DlqReason::ZendeskRejected,
                    e,
                ));
            }
        };
        let key = event_id.to_string();
        let delivered = audits.iter().any(|audit| {
            audit
                .custom_metadata(EVENT_ID_METADATA_KEY)
                .and_then(serde_json::Value::as_str)
                == Some(key.as_str())
                && audit.comment_event().is_some()
        });
        if !delivered {
            self.store.clear_pending(event_id).await?;
            return Ok(None);
        }
        let link = TicketLink {
            ticket_id,
            effect: Effect::Commented,
        };
        let recorded = self
            .store
            .record_event(event_id, link, conversation)
            .await?;
        crashpoint("router.before_offset_store");
        Ok(Some(Outcome::Commented {
            ticket_id: recorded.ticket_id,
        }))
    }

    /// The requester's Zendesk user id: cached per contact key, else
    /// `create_or_update` by e-mail, or by `external_id` = contact key.
    async fn requester(&self, event: &TicketEvent) -> Result<u64, Failure> {
        let contact = &event.contact;
        let key = contact.key.trim();
        let email = contact
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        if key.is_empty() && email.is_none() {
            return Err(Failure::DeadLetter(DeadLetter::new(
                DlqReason::RequesterMissing,
                "event has neither a contact key nor an e-mail address",
            )));
        }
        if !key.is_empty()
            && let Some(user_id) = self.store.contact_user(key).await?
        {
            return Ok(user_id);
        }
        let name = contact
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .or(email)
            .unwrap_or(key);
        let input = UserInput {
            name: Some(name.to_owned()),
            email: email.map(str::to_owned),
            phone: contact.phone.clone(),
            external_id: email.is_none().then(|| key.to_owned()),
            locale: contact.locale.clone(),
        };
        let user = self
            .zendesk
            .create_or_update_user(&input)
            .await
            .map_err(|e| {
                Failure::zendesk("create_or_update_user", DlqReason::RequesterRejected, e)
            })?;
        if !key.is_empty() {
            self.store.set_contact_user(key, user.id).await?;
        }
        Ok(user.id)
    }

    /// The conversation's ticket and its status, if it still exists.
    async fn conversation_status(
        &self,
        conversation: &ConversationRef,
    ) -> Result<Option<(u64, intake_zendesk::Status)>, Failure> {
        let Some(ticket_id) = self.store.conversation_ticket(conversation).await? else {
            return Ok(None);
        };
        match self.zendesk.show_ticket(ticket_id).await {
            Ok(ticket) => Ok(Some((ticket_id, ticket.status))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(Failure::zendesk(
                "show_ticket",
                DlqReason::ZendeskRejected,
                e,
            )),
        }
    }

    /// Uploads every attachment under one token; None without attachments.
    async fn upload_attachments(&self, event: &TicketEvent) -> Result<Option<String>, Failure> {
        let mut token: Option<String> = None;
        for attachment in &event.attachments {
            let bytes = self.blobs.get(&attachment.blob).await.map_err(|e| {
                if e.is_retryable() {
                    Failure::Retry {
                        stage: "blob_get",
                        message: e.to_string(),
                    }
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
    ) -> Result<Outcome, Failure> {
        let event_id = draft.event.event_id;
        let key = event_id.to_string();
        let effect = if follow_up_of.is_some() {
            Effect::FollowUp
        } else {
            Effect::Created
        };
        let ticket = NewTicket {
            subject: Some(plan::subject(draft.event, self.subject_max_chars)),
            comment: draft.comment(),
            requester_id: Some(draft.requester_id),
            priority: draft.route.priority,
            tags: plan::tags(&draft.route.name, &draft.route.tags),
            external_id: Some(key.clone()),
            group_id: draft.route.group_id,
            via_followup_source_id: follow_up_of,
            metadata: Some(event_metadata(event_id)),
            ..NewTicket::default()
        };
        self.store
            .begin_effect(event_id, effect, follow_up_of)
            .await?;
        let created = match self.zendesk.create_ticket(&ticket, Some(&key)).await {
            Ok(created) => created,
            Err(e) => {
                // The key was used with another body (new upload tokens on a
                // replay): the first ticket exists, find it by external id.
                if e.is_idempotency_mismatch()
                    && let Some(outcome) = self.recover(event_id, draft.conversation).await?
                {
                    return Ok(outcome);
                }
                // A retryable failure (timeout, 5xx) may hide an applied
                // create: keep the pending row so the retry looks the ticket
                // up by external id first, even past the key's 2-hour life.
                if !e.is_retryable() {
                    self.store.clear_pending(event_id).await?;
                }
                return Err(Failure::zendesk(
                    "create_ticket",
                    DlqReason::ZendeskRejected,
                    e,
                ));
            }
        };
        crashpoint("router.after_zendesk_create");
        let link = TicketLink {
            ticket_id: created.ticket.id,
            effect,
        };
        let recorded = self
            .store
            .record_event(event_id, link, draft.conversation)
            .await?;
        crashpoint("router.before_offset_store");
        Ok(Outcome::Created {
            ticket_id: recorded.ticket_id,
            follow_up_of,
            already_in_zendesk: created.idempotency_hit,
        })
    }

    async fn comment(&self, draft: &Draft<'_>, ticket_id: u64) -> Result<CommentResult, Failure> {
        let event_id = draft.event.event_id;
        let update = TicketUpdate {
            comment: Some(draft.comment()),
            metadata: Some(event_metadata(event_id)),
            ..TicketUpdate::default()
        };
        self.store
            .begin_effect(event_id, Effect::Commented, Some(ticket_id))
            .await?;
        if let Err(e) = self.zendesk.update_ticket(ticket_id, &update).await {
            if e.is_retryable() {
                // The outcome is unknown: the retry verifies it (`recover_comment`).
                return Err(Failure::zendesk(
                    "update_ticket",
                    DlqReason::ZendeskRejected,
                    e,
                ));
            }
            self.store.clear_pending(event_id).await?;
            if e.is_closed_ticket() {
                return Ok(CommentResult::TicketClosed);
            }
            if e.is_not_found() {
                return Ok(CommentResult::TicketGone);
            }
            return Err(Failure::zendesk(
                "update_ticket",
                DlqReason::ZendeskRejected,
                e,
            ));
        }
        crashpoint("router.after_zendesk_create");
        let link = TicketLink {
            ticket_id,
            effect: Effect::Commented,
        };
        let recorded = self
            .store
            .record_event(event_id, link, draft.conversation)
            .await?;
        crashpoint("router.before_offset_store");
        Ok(CommentResult::Added(Outcome::Commented {
            ticket_id: recorded.ticket_id,
        }))
    }
}

enum CommentResult {
    Added(Outcome),
    TicketClosed,
    TicketGone,
}

/// The parts of a ticket or comment that do not depend on the action.
struct Draft<'a> {
    route: &'a ChannelRoute,
    event: &'a TicketEvent,
    requester_id: u64,
    upload_token: Option<String>,
    conversation: Option<&'a ConversationRef>,
}

impl Draft<'_> {
    fn comment(&self) -> Comment {
        Comment {
            body: Some(plan::body(self.event)),
            public: true,
            author_id: Some(self.requester_id),
            uploads: self.upload_token.iter().cloned().collect(),
            ..Comment::default()
        }
    }
}

/// The event's conversation (channel + thread id), when it has a thread.
fn conversation_of(event: &TicketEvent) -> Option<ConversationRef> {
    let thread_id = event.conversation.thread_id.as_deref()?.trim();
    (!thread_id.is_empty()).then(|| ConversationRef {
        channel: event.channel.clone(),
        thread_id: thread_id.to_owned(),
    })
}

/// Seconds from receipt to now (zero when the clock went backwards).
pub fn since_receipt(event: &TicketEvent) -> Duration {
    (Utc::now() - event.received_at)
        .to_std()
        .unwrap_or_default()
}
