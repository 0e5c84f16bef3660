//! The conversation an event belongs to, and its ticket.
//!
//! A conversation is the channel plus the channel's thread id; the state
//! store points it at the ticket that holds it. An unverified contact is
//! never put into a conversation ticket another requester owns (a shared
//! browser continuing a logged-in visitor's chat, a reused thread id): it
//! gets a conversation of its own, `<thread id>#contact=<contact>`, so its
//! messages gather in its own ticket and the owner's ticket stays untouched.
//! Verified contacts follow the conversation's ticket whoever requests it.

use intake_event::TicketEvent;
use intake_store::ConversationRef;
use intake_zendesk::{Status, Ticket};

use crate::dlq::DlqReason;
use crate::process::{Failure, Processor};
use crate::requester::Identity;

/// Separates the thread id from the contact in a conversation scoped to an
/// unverified contact.
const SCOPED_THREAD_SEPARATOR: &str = "#contact=";

/// Where the event goes: its conversation (if any) and that conversation's
/// ticket now.
pub(crate) struct Target {
    pub(crate) conversation: Option<ConversationRef>,
    pub(crate) current: Option<(u64, Status)>,
    /// The ticket's `updated_at` as Zendesk shows it (whole seconds, UTC):
    /// the `updated_stamp` of a comment on it.
    pub(crate) stamp: Option<String>,
}

/// `updated_at` in the form Zendesk shows it (`2026-12-01T10:00:00Z`).
pub(crate) fn stamp_of(ticket: &Ticket) -> Option<String> {
    ticket
        .updated_at
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl Processor {
    /// The event's conversation and its ticket. An unverified contact whose
    /// conversation ticket has another requester gets a conversation of its
    /// own. `requester_id` is None only for a verified contact given inline
    /// (an unverified one is always resolved first).
    pub(crate) async fn target(
        &self,
        event: &TicketEvent,
        identity: &Identity,
        requester_id: Option<u64>,
    ) -> Result<Target, Failure> {
        let Some(conversation) = conversation_of(event) else {
            return Ok(Target {
                conversation: None,
                current: None,
                stamp: None,
            });
        };
        let ticket = self.conversation_ticket(&conversation).await?;
        let owned = |t: &Ticket| requester_id.is_some() && t.requester_id == requester_id;
        if identity.verified || ticket.as_ref().is_none_or(owned) {
            self.note_inbound(&conversation, event).await?;
            return Ok(Target {
                stamp: ticket.as_ref().and_then(stamp_of),
                current: ticket.map(|t| (t.id, t.status)),
                conversation: Some(conversation),
            });
        }
        let own = ConversationRef {
            thread_id: format!(
                "{}{SCOPED_THREAD_SEPARATOR}{}",
                conversation.thread_id, identity.cache_key
            ),
            channel: conversation.channel,
        };
        let ticket = self.conversation_ticket(&own).await?;
        self.note_inbound(&own, event).await?;
        Ok(Target {
            stamp: ticket.as_ref().and_then(stamp_of),
            current: ticket.map(|t| (t.id, t.status)),
            conversation: Some(own),
        })
    }

    /// Notes the customer's message as the conversation's last one (agent
    /// replies answer it; WhatsApp's 24-hour window starts there).
    async fn note_inbound(
        &self,
        conversation: &ConversationRef,
        event: &TicketEvent,
    ) -> Result<(), Failure> {
        self.store
            .record_inbound(
                conversation,
                &event.channel_message_id,
                &event.contact.key,
                event.received_at,
            )
            .await?;
        Ok(())
    }

    /// The ticket's `updated_at` now, as Zendesk shows it (None: gone).
    pub(crate) async fn current_stamp(&self, ticket_id: u64) -> Result<Option<String>, Failure> {
        match self.zendesk.show_ticket(ticket_id).await {
            Ok(ticket) => Ok(stamp_of(&ticket)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(Failure::zendesk(
                "show_ticket",
                DlqReason::ZendeskRejected,
                e,
            )),
        }
    }

    /// The conversation's ticket, if the store knows one and it still exists.
    pub(crate) async fn conversation_ticket(
        &self,
        conversation: &ConversationRef,
    ) -> Result<Option<Ticket>, Failure> {
        let Some(ticket_id) = self.store.conversation_ticket(conversation).await? else {
            return Ok(None);
        };
        match self.zendesk.show_ticket(ticket_id).await {
            Ok(ticket) => Ok(Some(ticket)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(Failure::zendesk(
                "show_ticket",
                DlqReason::ZendeskRejected,
                e,
            )),
        }
    }
}

/// The event's conversation (channel + thread id), when it has a thread.
pub(crate) fn conversation_of(event: &TicketEvent) -> Option<ConversationRef> {
    let thread_id = event.conversation.thread_id.as_deref()?.trim();
    (!thread_id.is_empty()).then(|| ConversationRef {
        channel: event.channel.clone(),
        thread_id: thread_id.to_owned(),
    })
}
