//! Finding what an earlier attempt may already have done in Zendesk.
//!
//! A ticket creation is found by `external_id` (= event id) with the List
//! Tickets filter, which reads the ticket table directly (no search-index
//! lag); a comment by the event id in the custom metadata of the ticket's
//! newest audits. See `process.rs` for when each runs.

use intake_store::{ConversationRef, Effect, TicketLink};
use intake_telemetry::crashpoint;
use intake_zendesk::Status;
use uuid::Uuid;

use crate::dlq::DlqReason;
use crate::process::{EVENT_ID_METADATA_KEY, Failure, Outcome, Processor, REPLAY_AUDIT_SCAN};

/// What an earlier attempt left.
pub(crate) enum Recovered {
    /// It completed: this is the outcome.
    Done(Outcome),
    /// A comment sent as a `safe_update` against this stamp may or may not
    /// have been applied: send it again with the same stamp (Zendesk refuses
    /// the repeat if the first was applied, see `comment.rs`).
    Resend(String),
    /// Nothing was applied (or nothing was begun).
    Nothing,
}

impl Processor {
    /// Finishes an effect a previous run began and may have completed.
    /// `current` is the conversation's ticket now: a pending `safe_update`
    /// comment to that (still open) ticket is sent again with its stamp
    /// instead of being looked for in the audits.
    pub(crate) async fn recover(
        &self,
        event_id: Uuid,
        conversation: Option<&ConversationRef>,
        current: Option<(u64, Status)>,
    ) -> Result<Recovered, Failure> {
        let Some(pending) = self.store.pending_effect(event_id).await? else {
            return Ok(Recovered::Nothing);
        };
        let done = |outcome: Option<Outcome>| outcome.map_or(Recovered::Nothing, Recovered::Done);
        if pending.effect == Effect::Commented {
            let Some(ticket_id) = pending.ticket_id else {
                self.store.clear_pending(event_id).await?;
                return Ok(Recovered::Nothing);
            };
            let still_open = current.is_some_and(|(id, status)| {
                id == ticket_id && !matches!(status, Status::Solved | Status::Closed)
            });
            if let Some(stamp) = pending.updated_stamp
                && still_open
            {
                return Ok(Recovered::Resend(stamp));
            }
            let found = self
                .recover_comment(event_id, ticket_id, conversation)
                .await?;
            return Ok(done(found));
        }
        let found = self
            .adopt_created(event_id, pending.effect, pending.ticket_id, conversation)
            .await?;
        Ok(done(found))
    }

    /// Looks the event's ticket up by `external_id`; when Zendesk has one
    /// (the first, should there be several), records it as the event's
    /// effect and returns the outcome.
    pub(crate) async fn adopt_created(
        &self,
        event_id: Uuid,
        effect: Effect,
        follow_up_of: Option<u64>,
        conversation: Option<&ConversationRef>,
    ) -> Result<Option<Outcome>, Failure> {
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
            effect,
        };
        let recorded = self
            .store
            .record_event(event_id, link, conversation)
            .await?;
        crashpoint("router.before_offset_store");
        Ok(Some(crate::process::created_outcome(
            effect,
            recorded.ticket_id,
            follow_up_of,
            true,
        )))
    }

    /// Looks for the pending comment of `event_id` among the ticket's newest
    /// audits: an audit with the event id and a `Comment` event → recorded as
    /// commented; none → pending dropped and `None`, so the caller sends it again.
    pub(crate) async fn recover_comment(
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
}
