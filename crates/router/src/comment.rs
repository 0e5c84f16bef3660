//! A comment on the conversation's ticket, without doubles under any timing.
//!
//! Zendesk comments have no idempotency key, so every comment is a
//! `safe_update` against the ticket's `updated_at` as read just before
//! (`updated_stamp`, saved in the pending row): Zendesk applies it only
//! while the ticket has not changed since. Any number of sends of one
//! comment with one stamp can therefore apply at most once — once one is
//! applied the ticket's `updated_at` moves on and every other is refused.
//!
//! - A send whose outcome is unknown (timeout, 5xx, a crash) keeps the
//!   pending row; the retry sends again **with the saved stamp** (`recover.rs`).
//!   200: this send is the one applied. 409 `UpdateConflict`: either another
//!   update is running on the ticket right now, or the ticket changed.
//! - On a 409 the router reads the ticket. Still at the stamp: nothing was
//!   applied yet and the first send may still be in flight (a slow PUT); the
//!   lane is parked and the same stamp is sent again later. Moved on: no send
//!   with this stamp can apply any more, so now — and only now — the
//!   ticket's audits are read: the event id there means it was applied;
//!   none means it never will be, and the comment is sent fresh.
//! - `updated_at` has whole seconds, so an update within the stamp's own
//!   second would leave it unchanged: a comment is sent only once the
//!   router's clock is past the stamp's second (at most a second's wait, on
//!   a ticket that was just updated). Assumed: the router's clock is within
//!   a few hundred milliseconds of Zendesk's.

use std::time::Duration;

use chrono::{DateTime, Utc};
use intake_store::{Effect, TicketLink};
use intake_telemetry::crashpoint;
use intake_zendesk::TicketUpdate;

use crate::dlq::DlqReason;
use crate::plan;
use crate::process::{
    CommentResult, Draft, Failure, Outcome, ParkReason, Processor, event_metadata,
};

/// Margin past the stamp's second before a comment is sent.
const STAMP_MARGIN: Duration = Duration::from_millis(200);

impl Processor {
    pub(crate) async fn comment(
        &self,
        draft: &Draft<'_>,
        ticket_id: u64,
    ) -> Result<CommentResult, Failure> {
        let event_id = draft.event.event_id;
        let mut update = TicketUpdate {
            comment: Some(draft.comment(plan::body(draft.event))),
            metadata: Some(event_metadata(event_id)),
            additional_tags: draft.comment_tags.clone(),
            ..TicketUpdate::default()
        };
        match &draft.stamp {
            Some(stamp) => {
                if !stamp.resend {
                    wait_past(&stamp.value).await;
                    self.store
                        .begin_comment(event_id, ticket_id, &stamp.value)
                        .await?;
                }
                update.safe_update = Some(true);
                update.updated_stamp = Some(stamp.value.clone());
            }
            None => {
                self.store
                    .begin_effect(event_id, Effect::Commented, Some(ticket_id))
                    .await?;
            }
        }
        crate::fence::check_before_write(event_id).await?;
        if let Err(e) = self.zendesk.update_ticket(ticket_id, &update).await {
            return self.comment_failed(draft, ticket_id, e).await;
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

    async fn comment_failed(
        &self,
        draft: &Draft<'_>,
        ticket_id: u64,
        e: intake_zendesk::Error,
    ) -> Result<CommentResult, Failure> {
        let event_id = draft.event.event_id;
        let refused = |e| Failure::zendesk("update_ticket", DlqReason::ZendeskRejected, e);
        if e.ticket_held().is_some() || e.endpoint_held().is_some() {
            // Nothing was sent: the ticket is over its per-ticket limit, or
            // Update Ticket over its own. The pending row stays (an earlier
            // send with its stamp may exist).
            return Err(refused(e));
        }
        if let Some(stamp) = &draft.stamp
            && e.is_update_conflict()
        {
            if self.current_stamp(ticket_id).await?.as_deref() == Some(stamp.value.as_str()) {
                // Another update holds the ticket (maybe our own slow send):
                // try the same stamp again later.
                return Err(Failure::Retry {
                    stage: "update_ticket",
                    message: e.log_summary().to_string(),
                    reason: ParkReason::TicketLocked,
                    resume_in: None,
                });
            }
            // The ticket moved past the stamp: no send with it can apply any
            // more, so the audits now tell for good.
            return match self
                .recover_comment(event_id, ticket_id, draft.conversation)
                .await?
            {
                Some(outcome) => Ok(CommentResult::Added(outcome)),
                None => Err(Failure::Retry {
                    stage: "update_ticket",
                    message: "the ticket changed before the comment; sending it again".to_owned(),
                    reason: ParkReason::TicketLocked,
                    resume_in: Some(Duration::ZERO),
                }),
            };
        }
        if e.is_unreadable_success() {
            // Applied or not: the audits tell (not there: pending dropped,
            // so a replay of the dead letter sends it again).
            return match self
                .recover_comment(event_id, ticket_id, draft.conversation)
                .await?
            {
                Some(outcome) => Ok(CommentResult::Added(outcome)),
                None => Err(refused(e)),
            };
        }
        if e.is_retryable() {
            // The outcome is unknown: the retry sends again with the same
            // stamp (or, without one, verifies it in the audits).
            return Err(refused(e));
        }
        self.store.clear_pending(event_id).await?;
        if e.is_closed_ticket() {
            return Ok(CommentResult::TicketClosed);
        }
        if e.is_not_found() {
            return Ok(CommentResult::TicketGone);
        }
        if e.is_user_gone() {
            return Ok(CommentResult::AuthorGone(e));
        }
        Err(refused(e))
    }
}

/// Waits until the router's clock is past the second of `stamp` (plus a
/// margin), so the update cannot land in the stamp's own second.
async fn wait_past(stamp: &str) {
    let wait = wait_for(stamp, Utc::now());
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// How long to wait at `now` before a send against `stamp` (zero for a
/// stamp whose second is over, or one that does not parse).
fn wait_for(stamp: &str, now: DateTime<Utc>) -> Duration {
    let Ok(at) = DateTime::parse_from_rfc3339(stamp) else {
        return Duration::ZERO;
    };
    let past = at.with_timezone(&Utc) + chrono::Duration::seconds(1);
    match (past - now).to_std() {
        Ok(wait) if !wait.is_zero() => wait + STAMP_MARGIN,
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_waits_until_the_stamps_second_is_over() {
        let stamp = "2026-12-01T10:00:05Z";
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert_eq!(
            wait_for(stamp, at("2026-12-01T10:00:05.300Z")),
            Duration::from_millis(700) + STAMP_MARGIN
        );
        assert_eq!(wait_for(stamp, at("2026-12-01T10:00:06Z")), Duration::ZERO);
        assert_eq!(wait_for(stamp, at("2026-12-01T10:01:00Z")), Duration::ZERO);
        assert_eq!(
            wait_for("not a time", at("2026-12-01T10:00:05Z")),
            Duration::ZERO
        );
    }
}
