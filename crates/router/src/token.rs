//! The ticket a message names itself (`conversation.ticket_token`: a
//! `[#1234]` token in a mail subject).
//!
//! The thread comes first: when the conversation already has a ticket
//! (In-Reply-To / References matched), the token is not looked at. Without
//! one, the token attaches the message to the ticket it names only when the
//! sender is that ticket's requester or one of its CCs (collaborators,
//! e-mail CCs). Anyone can type `[#1234]` into a subject, and a match on the
//! subject alone must never file one customer's mail into another
//! customer's ticket (PEERS.md: zammad#2444). Otherwise the message becomes
//! a new ticket whose first comment says which ticket its subject named and
//! why it was not added there, so an agent can merge it after checking.

use intake_event::TicketEvent;
use intake_zendesk::Ticket;

use crate::conversation::{Target, stamp_of};
use crate::dlq::DlqReason;
use crate::process::{Failure, Processor};

/// Whether `user_id` may add to `ticket` by naming it: its requester or CC.
pub(crate) fn sender_may_use(ticket: &Ticket, user_id: u64) -> bool {
    ticket.requester_id == Some(user_id)
        || ticket.collaborator_ids.contains(&user_id)
        || ticket.email_cc_ids.contains(&user_id)
}

/// The line under the first message of the new ticket when the token did
/// not attach it.
pub(crate) fn mention(token: u64, exists: bool) -> String {
    if exists {
        format!(
            "The subject names ticket #{token}, but the sender is neither its requester \
             nor a CC on it, so this message was not added there (check before merging)."
        )
    } else {
        format!("The subject names ticket #{token}, which does not exist in Zendesk.")
    }
}

impl Processor {
    /// The ticket the event's subject token names, when it has one, the
    /// conversation has no ticket yet, and the token's ticket is the
    /// requester's (see the module doc). Otherwise `target` unchanged, and a
    /// mention for the new ticket when a token was there.
    pub(crate) async fn named_ticket(
        &self,
        event: &TicketEvent,
        requester_id: u64,
        target: Target,
    ) -> Result<(Target, Option<String>), Failure> {
        let Some(token) = event.conversation.ticket_token else {
            return Ok((target, None));
        };
        if target.current.is_some() {
            return Ok((target, None));
        }
        let Some(ticket) = self.ticket_if_exists(token).await? else {
            return Ok((target, Some(mention(token, false))));
        };
        if !sender_may_use(&ticket, requester_id) {
            return Ok((target, Some(mention(token, true))));
        }
        let named = Target {
            conversation: target.conversation,
            stamp: stamp_of(&ticket),
            current: Some((ticket.id, ticket.status)),
        };
        Ok((named, None))
    }

    /// The ticket, or None when Zendesk has no such ticket.
    pub(crate) async fn ticket_if_exists(&self, ticket_id: u64) -> Result<Option<Ticket>, Failure> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(requester: u64, collaborators: &[u64], email_ccs: &[u64]) -> Ticket {
        let mut ticket: Ticket = serde_json::from_value(serde_json::json!({
            "id": 7, "status": "open", "requester_id": requester
        }))
        .unwrap();
        ticket.collaborator_ids = collaborators.to_vec();
        ticket.email_cc_ids = email_ccs.to_vec();
        ticket
    }

    #[test]
    fn only_the_requester_or_a_cc_may_name_a_ticket() {
        assert!(sender_may_use(&ticket(1, &[], &[]), 1));
        assert!(!sender_may_use(&ticket(1, &[], &[]), 2));
        assert!(sender_may_use(&ticket(1, &[2], &[]), 2));
        assert!(sender_may_use(&ticket(1, &[], &[3]), 3));
        assert!(!sender_may_use(&ticket(1, &[2], &[3]), 4));
    }

    #[test]
    fn the_mention_names_the_token() {
        assert!(mention(1234, true).contains("#1234"));
        assert!(mention(1234, true).contains("neither its requester"));
        assert!(mention(99, false).contains("does not exist"));
    }
}
