//! Tickets Zendesk created in its own channels (issue 16 point 6, decision
//! 54): its e-mail address, web widget or messaging. The gateway's Zendesk
//! webhook hands each one to the router as an event on
//! `<prefix>.events.zendesk` naming the ticket (`zendesk_ticket`). The
//! router creates no ticket for it: it asks the rulebook as for a ticket of
//! its own (rule 6, department routing on subject and text, with the
//! department's Slack notice; rule 4, the original agent with the absence
//! check) and writes the answer on the existing ticket in **one** update:
//! group, assignee, tags (the rules', the SLA policy's and
//! [`TAG_ZENDESK_CHANNEL`]) and the internal note. The outcome carries the
//! deadline like a new ticket's, so the 30-minute warning watches it.
//!
//! # Once
//! The event runs under its conversation's claim (`thread:zendesk:ticket:<id>`,
//! decision 39). Before the update the router checks its done marker (the
//! store's `native_tickets` row marked applied) and the ticket's tags; the
//! update is a `safe_update` against the `updated_at` it read, carrying
//! [`TAG_ZENDESK_CHANNEL`]. A crash between the update and the marker is
//! caught on replay by the tag (nothing is written twice); a router whose
//! claim lapsed in a pause sends against a stamp another router's update
//! already moved, which Zendesk refuses (409). What can repeat is the
//! Slack notice, sent before the update so the note can say whether it went
//! out (a crash between the two posts it again; we prefer that to a lost
//! notice). An existing assignee (an agent or a Zendesk trigger was
//! quicker) is kept.

use intake_event::{TicketEvent, ZendeskTicket};
use intake_rulebook::{Decision, Request, TAG_DEPARTMENT};
use intake_store::{Effect, NativeTicket, NativeTicketState, TicketLink};
use intake_zendesk::{Comment, Ticket, TicketUpdate};

use crate::comment::wait_past;
use crate::conversation::stamp_of;
use crate::deadline;
use crate::dlq::DlqReason;
use crate::options::ChannelRoute;
use crate::process::{Failure, Outcome, ParkReason, Processor, created_outcome, event_metadata};
use crate::telemetry::NativeTicketApplied;

/// Tag of a ticket Zendesk created in its own channel once intake applied
/// the rulebook to it (the replay guard of the update).
pub const TAG_ZENDESK_CHANNEL: &str = "intake_zendesk_channel";

/// The channel whose SLA policy sets the deadline of a ticket Zendesk
/// created via `via`: mail and web forms answer like mail, the widget,
/// chat and messaging like chat. None for an event of another channel.
pub fn policy_channel(event: &TicketEvent) -> Option<&'static str> {
    let via = event.zendesk_ticket.as_ref()?.via.as_str();
    Some(match via {
        "chat" | "web_widget" | "messaging" | "native_messaging" | "mobile_sdk" | "sms"
        | "whatsapp" | "telegram" | "facebook" | "instagram_dm" => "chat",
        _ => "email",
    })
}

/// The store's record of the ticket, from the event.
fn record(event: &TicketEvent, ticket: &ZendeskTicket) -> NativeTicket {
    NativeTicket {
        ticket_id: ticket.ticket_id,
        via_channel: ticket.via.clone(),
        requester_id: ticket.requester_id,
        requester_email: event.contact.email.clone(),
        subject: event.subject.clone(),
        text: event.text.clone(),
        received_at: event.received_at,
    }
}

impl Processor {
    /// Applies the rulebook to the ticket `native` names (see the module).
    pub(crate) async fn handle_native(
        &self,
        route: &ChannelRoute,
        event: &TicketEvent,
        native: &ZendeskTicket,
        deadline: Option<&intake_calendar::Deadline>,
    ) -> Result<Outcome, Failure> {
        let ticket_id = native.ticket_id;
        let ticket = self
            .zendesk
            .show_ticket(ticket_id)
            .await
            .map_err(|e| Failure::zendesk("show_ticket", DlqReason::ZendeskRejected, e))?;
        let marked = matches!(
            self.store.native_ticket(ticket_id).await?,
            Some((_, NativeTicketState::Applied))
        );
        let done_before = marked || ticket.tags.iter().any(|t| t == TAG_ZENDESK_CHANNEL);
        let routed = if done_before {
            ticket.tags.iter().any(|t| t == TAG_DEPARTMENT)
        } else {
            let rules = self
                .native_decision(route, event, native, &ticket, deadline)
                .await;
            self.apply_native(event, native, &ticket, &rules, deadline)
                .await?;
            rules.department.is_some()
        };
        self.store
            .native_ticket_applied(&record(event, native))
            .await?;
        let effect = if routed {
            Effect::Routed
        } else {
            Effect::Created
        };
        let recorded = self
            .store
            .record_event(event.event_id, TicketLink { ticket_id, effect }, None)
            .await?;
        NativeTicketApplied {
            event_id: &event.event_id.to_string(),
            ticket_id,
            via: &native.via,
            again: done_before,
        }
        .emit();
        // `already_in_zendesk`: Zendesk made the ticket, intake did not.
        Ok(created_outcome(effect, recorded.ticket_id, None, true))
    }

    async fn native_decision(
        &self,
        route: &ChannelRoute,
        event: &TicketEvent,
        native: &ZendeskTicket,
        ticket: &Ticket,
        deadline: Option<&intake_calendar::Deadline>,
    ) -> Decision {
        let Some(rulebook) = &self.rulebook else {
            return Decision::default();
        };
        let request = Request {
            event,
            requester_id: Some(native.requester_id),
            channel_group_id: ticket.group_id.or(route.group_id),
            deadline: deadline.map(|d| d.due_at),
        };
        rulebook.decide(&request).await
    }

    /// The department's notice, then the one update of the ticket.
    async fn apply_native(
        &self,
        event: &TicketEvent,
        native: &ZendeskTicket,
        ticket: &Ticket,
        rules: &Decision,
        deadline: Option<&intake_calendar::Deadline>,
    ) -> Result<(), Failure> {
        let mut note = rules.note.clone();
        if let (Some(rulebook), Some(hit)) = (&self.rulebook, &rules.department)
            && let Some(target) = &hit.rule.slack
        {
            crate::fence::check_before_write(event.event_id).await?;
            let said = match rulebook.notify_department(hit, event, ticket.id).await {
                Ok(()) => format!(" The department was told in Slack ({}).", target.kind()),
                Err(error) => format!(" The Slack notice to the department failed: {error}."),
            };
            note.get_or_insert_with(String::new).push_str(&said);
        }
        let mut assignee_id = rules.assignee_id;
        if let (Some(current), Some(_)) = (ticket.assignee_id, assignee_id) {
            assignee_id = None;
            if let Some(note) = &mut note {
                note.push_str(&format!(
                    " The ticket already had an assignee in Zendesk (user {current}), who keeps it."
                ));
            }
        }
        let mut tags = vec![TAG_ZENDESK_CHANNEL.to_owned()];
        tags.extend(deadline.map(deadline::tag));
        tags = crate::rules::with_rule_tags(tags, rules);
        let mut update = TicketUpdate {
            comment: note.map(|note| Comment {
                body: Some(format!(
                    "Intake: Zendesk created this ticket itself (via {}); intake created none \
                     and applied the rulebook. {note}",
                    native.via
                )),
                public: false,
                ..Comment::default()
            }),
            additional_tags: tags,
            group_id: rules.group_id,
            assignee_id,
            metadata: Some(event_metadata(event.event_id)),
            ..TicketUpdate::default()
        };
        if let Some(stamp) = stamp_of(ticket) {
            wait_past(&stamp).await;
            update.safe_update = Some(true);
            update.updated_stamp = Some(stamp);
        }
        crate::fence::check_before_write(event.event_id).await?;
        match self.zendesk.update_ticket(ticket.id, &update).await {
            Ok(_) => Ok(()),
            // The ticket moved since it was read (an agent, a trigger, or
            // another router's update): read it again and decide anew.
            Err(e) if e.is_update_conflict() => Err(Failure::Retry {
                stage: "update_ticket",
                message: e.log_summary().to_string(),
                reason: ParkReason::TicketLocked,
                resume_in: Some(std::time::Duration::ZERO),
            }),
            Err(e) => Err(Failure::zendesk(
                "update_ticket",
                DlqReason::ZendeskRejected,
                e,
            )),
        }
    }
}
