//! Automatic messages: auto-replies, out-of-office answers, bounces and list
//! mail (`auto_submitted` on the event, set by the channel). They never
//! create a ticket (an out-of-office answer to our acknowledgement would
//! otherwise open a ticket, whose acknowledgement is answered again: the
//! loop of osTicket#1041) and never get an acknowledgement.
//!
//! With `router.automatic_messages = "internal_note"` (the default) the
//! message becomes an internal note on the ticket it refers to, so agents
//! see that the customer is away or that our mail bounced:
//! - its conversation's ticket (the thread's In-Reply-To / References, as
//!   for any message), or else
//! - the ticket its subject token names, only when the sender is already
//!   known as that ticket's requester or CC (`token.rs`); an automatic
//!   message creates no Zendesk user, so an unknown sender never matches.
//!
//! It is dropped (counted by reason) when it refers to no ticket, or to a
//! solved or closed one (a note must not wake finished work), and always
//! with `"drop"`. The note goes through the same safe comment path as any
//! comment (`comment.rs`), so a replay adds it once; a drop has no effect
//! and no outcome, and a replay drops it again.

use intake_event::TicketEvent;
use intake_zendesk::Status;
use metrics::counter;

use crate::AutomaticMessages;
use crate::conversation::{conversation_of, stamp_of};
use crate::options::ChannelRoute;
use crate::process::{CommentResult, Draft, Failure, NoteKind, Outcome, Processor, Stamp};
use crate::recover::Recovered;
use crate::requester;
use crate::token::sender_may_use;

/// What became of an automatic message: the `action` label of
/// `intake_loops_suppressed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopAction {
    /// Added as an internal note to the ticket it refers to.
    InternalNote,
    /// Dropped: `router.automatic_messages = "drop"`.
    DroppedByConfig,
    /// Dropped: it refers to no ticket intake knows.
    DroppedNoTicket,
    /// Dropped: the ticket it refers to is solved or closed.
    DroppedTicketClosed,
}

impl LoopAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LoopAction::InternalNote => "internal_note",
            LoopAction::DroppedByConfig => "dropped_by_config",
            LoopAction::DroppedNoTicket => "dropped_no_ticket",
            LoopAction::DroppedTicketClosed => "dropped_ticket_closed",
        }
    }
}

/// An automatic message made no ticket and got no acknowledgement.
pub struct LoopSuppressed<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub action: LoopAction,
    pub ticket_id: Option<u64>,
}

impl LoopSuppressed<'_> {
    pub fn emit(&self) {
        tracing::info!(
            event_id = self.event_id,
            channel = self.channel,
            action = self.action.as_str(),
            ticket_id = self.ticket_id,
            "automatic message: no ticket"
        );
        counter!(
            "intake_loops_suppressed_total",
            "channel" => self.channel.to_owned(),
            "action" => self.action.as_str()
        )
        .increment(1);
    }
}

/// The body of the internal note for an automatic message.
pub(crate) fn note_body(event: &TicketEvent, body: &str) -> String {
    let sender = event
        .contact
        .email
        .as_deref()
        .or(event.contact.name.as_deref())
        .unwrap_or(event.contact.key.as_str());
    let subject = event
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("\nSubject: {s}"))
        .unwrap_or_default();
    format!(
        "Automatic message (an auto-reply or a delivery report) from {sender}; \
         no ticket was made and no acknowledgement sent.{subject}\n\n{body}"
    )
}

/// The ticket an automatic message refers to.
struct Referred {
    ticket_id: u64,
    status: Status,
    stamp: Option<String>,
    /// Its conversation, when found through the thread (then the event is
    /// recorded in it); None when found by the subject token.
    conversation: Option<intake_store::ConversationRef>,
}

impl Processor {
    /// An automatic message: an internal note or nothing (see the module doc).
    pub(crate) async fn handle_automatic(
        &self,
        route: &ChannelRoute,
        event: &TicketEvent,
    ) -> Result<Outcome, Failure> {
        let dropped = |action| {
            LoopSuppressed {
                channel: &route.name,
                event_id: &event.event_id.to_string(),
                action,
                ticket_id: None,
            }
            .emit();
            Ok(Outcome::Dropped)
        };
        if self.automatic_messages == AutomaticMessages::Drop {
            return dropped(LoopAction::DroppedByConfig);
        }
        let Some(referred) = self.referred_ticket(event).await? else {
            return dropped(LoopAction::DroppedNoTicket);
        };
        if matches!(referred.status, Status::Solved | Status::Closed) {
            return dropped(LoopAction::DroppedTicketClosed);
        }
        let current = Some((referred.ticket_id, referred.status));
        let stamp = match self
            .recover(event.event_id, referred.conversation.as_ref(), current)
            .await?
        {
            Recovered::Done(outcome) => return Ok(outcome),
            Recovered::Resend(value) => Some(Stamp {
                value,
                resend: true,
            }),
            Recovered::Nothing => referred.stamp.map(|value| Stamp {
                value,
                resend: false,
            }),
        };
        let draft = Draft {
            route,
            event,
            requester: crate::requester::Who::Known(0),
            upload_token: None,
            conversation: referred.conversation.as_ref(),
            deadline: None,
            stamp,
            note: Some(NoteKind::Automatic),
            mention: None,
            comment_tags: Vec::new(),
        };
        match self.comment(&draft, referred.ticket_id).await? {
            CommentResult::Added(outcome) => {
                LoopSuppressed {
                    channel: &route.name,
                    event_id: &event.event_id.to_string(),
                    action: LoopAction::InternalNote,
                    ticket_id: Some(referred.ticket_id),
                }
                .emit();
                Ok(outcome)
            }
            CommentResult::TicketClosed => dropped(LoopAction::DroppedTicketClosed),
            CommentResult::TicketGone | CommentResult::AuthorGone(_) => {
                dropped(LoopAction::DroppedNoTicket)
            }
        }
    }

    /// The conversation's ticket, else the subject token's ticket when the
    /// sender is a known requester or CC of it.
    async fn referred_ticket(&self, event: &TicketEvent) -> Result<Option<Referred>, Failure> {
        if let Some(conversation) = conversation_of(event)
            && let Some(ticket) = self.conversation_ticket(&conversation).await?
        {
            return Ok(Some(Referred {
                ticket_id: ticket.id,
                status: ticket.status,
                stamp: stamp_of(&ticket),
                conversation: Some(conversation),
            }));
        }
        let Some(token) = event.conversation.ticket_token else {
            return Ok(None);
        };
        let Ok(identity) = requester::identity(event) else {
            return Ok(None);
        };
        if identity.cache_key.is_empty() {
            return Ok(None);
        }
        let Some(user_id) = self.store.contact_user(&identity.cache_key).await? else {
            return Ok(None);
        };
        let Some(ticket) = self.ticket_if_exists(token).await? else {
            return Ok(None);
        };
        if !sender_may_use(&ticket, user_id) {
            return Ok(None);
        }
        Ok(Some(Referred {
            ticket_id: ticket.id,
            status: ticket.status,
            stamp: stamp_of(&ticket),
            conversation: None,
        }))
    }
}
