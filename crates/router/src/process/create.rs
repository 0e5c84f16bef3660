//! A new ticket or follow-up (see the replay guards of the parent module):
//! the pending row, the create with the event id as idempotency key and
//! `external_id`, and the look-up by `external_id` when Zendesk may already
//! have the ticket.

use intake_event::TicketEvent;
use intake_store::{Effect, TicketLink};
use intake_telemetry::crashpoint;
use intake_zendesk::NewTicket;

use super::{
    Attempt, Draft, Failure, KEY_LIFE_MARGIN, Processor, created_outcome, event_metadata,
    since_receipt,
};
use crate::dlq::DlqReason;
use crate::plan;
use crate::recover::Recovered;

impl Processor {
    /// Creates the draft's ticket: a follow-up of `follow_up_of` if given,
    /// in a department's group if the rulebook routes it there.
    pub(super) async fn create(
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

/// Whether Zendesk may have forgotten the event's idempotency key: its first
/// use came after receipt, so this is true at the latest when it expired.
fn key_may_have_expired(event: &TicketEvent) -> bool {
    since_receipt(event) >= intake_zendesk::IDEMPOTENCY_KEY_LIFE.saturating_sub(KEY_LIFE_MARGIN)
}
