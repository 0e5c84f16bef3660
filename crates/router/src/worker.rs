//! One event, from its record to its outcome: decode, handle (Zendesk and
//! the state store), publish the outcome or the dead letter. Many run at
//! once (one per lane, see `lanes.rs`); the dispatcher in `run.rs` stores
//! the bus positions.

use std::sync::Arc;
use std::time::Duration;

use intake_bus::{Delivery, Publisher, Topics};
use intake_calendar::Deadline;
use intake_event::TicketEvent;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::RouterError;
use crate::backoff::Backoff;
use crate::deadline;
use crate::dlq::{self, DeadLetter, DlqReason};
use crate::fence::{self, Fence, Refused};
use crate::options::{ChannelRoute, RouterOptions};
use crate::outcome;
use crate::process::{Failure, Outcome, ParkReason, Processor, since_receipt};
use crate::telemetry::{CommentAdded, DuplicateSuppressed, TicketCreated};

/// What the workers share.
pub(crate) struct Worker {
    pub(crate) processor: Processor,
    pub(crate) options: RouterOptions,
    pub(crate) publisher: Arc<dyn Publisher>,
    /// Cancelled on shutdown (or when one worker hit a fatal error): waits
    /// end early and the event stays unmarked.
    pub(crate) stop: CancellationToken,
    /// This router's conversation claims (fencing across replicas).
    pub(crate) fence: Arc<Fence>,
}

/// The longest a worker waits for a ticket's per-ticket update slot; a
/// longer hold parks the conversation instead (see `run.rs`).
pub(crate) const TICKET_WAIT_LIMIT: Duration = Duration::from_secs(2);

/// The shortest and longest wait before asking again for a conversation
/// another router holds (it may give the claim up before its expiry).
const CLAIM_RETRY_MIN: Duration = Duration::from_millis(100);
const CLAIM_RETRY_MAX: Duration = Duration::from_secs(1);

/// How handling one delivery ended.
#[derive(Debug)]
pub(crate) enum Step {
    /// Effect recorded and outcome published, or dead-lettered: the record
    /// may be marked done.
    Done,
    /// Shutdown cut a wait short: the record stays unmarked.
    Interrupted,
    /// A transient failure: the conversation is parked and the event tried
    /// again later (or dead-lettered once its retry bounds are spent).
    Retry(RetryLater),
}

/// A transient failure of one event.
#[derive(Debug)]
pub(crate) struct RetryLater {
    pub(crate) event_id: uuid::Uuid,
    pub(crate) stage: &'static str,
    pub(crate) message: String,
    pub(crate) reason: ParkReason,
    pub(crate) resume_in: Option<Duration>,
}

impl Worker {
    pub(crate) fn topics(&self) -> &Topics {
        &self.options.topics
    }

    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::new(
            self.options.retry_initial_backoff,
            self.options.retry_max_backoff,
        )
    }

    /// Sleeps for `delay`; false when the router is stopping.
    pub(crate) async fn wait(&self, delay: Duration) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// Handles one delivery of `route`'s channel, in `lane`, until it is
    /// done (effect recorded or dead-lettered) or the router stops. Its
    /// Zendesk work runs under the lane's claim (`fence.rs`); `revoked` is
    /// cancelled when the delivery's partition is taken from this router.
    pub(crate) async fn process(
        &self,
        route: &ChannelRoute,
        delivery: &Delivery,
        lane: &str,
        revoked: CancellationToken,
    ) -> Result<Step, RouterError> {
        let channel = route.name.as_str();
        let payload = match dlq::payload_blob(delivery) {
            None => delivery.payload.clone(),
            Some(blob) => match self.payload_from_blob(&blob).await {
                Ok(Some(payload)) => payload,
                Ok(None) => return Ok(Step::Interrupted),
                Err(letter) => {
                    let event_id = delivery.header("ce_id").unwrap_or("unknown").to_owned();
                    return self
                        .dead_letter(channel, delivery, &event_id, &letter)
                        .await;
                }
            },
        };
        let event = match TicketEvent::from_json(&payload) {
            Ok(event) => event,
            Err(e) => {
                let event_id = delivery.header("ce_id").unwrap_or("unknown").to_owned();
                let letter = DeadLetter::new(DlqReason::UndecodableEvent, e.to_string());
                return self
                    .dead_letter(channel, delivery, &event_id, &letter)
                    .await;
            }
        };
        let event_id = event.event_id.to_string();
        // Once per event, from its receipt: a replay computes the same one.
        let deadline = deadline::for_event(&self.options.sla.current(), route, &event);
        let span = tracing::info_span!("event", event_id = %event_id, channel);
        let handled = match self.fence.take(lane, channel, &event_id).await {
            Ok(claim) => {
                let work = intake_zendesk::for_channel(
                    channel,
                    intake_zendesk::with_ticket_wait_limit(
                        TICKET_WAIT_LIMIT,
                        self.processor
                            .handle_event(route, &event, deadline.as_ref()),
                    ),
                );
                fence::scope(self.fence.clone(), claim, channel, revoked, work)
                    .instrument(span)
                    .await
            }
            Err(Refused::Busy(remaining)) => Err(Failure::Retry {
                stage: "conversation_claim",
                message: "the conversation is claimed by another router".to_owned(),
                reason: ParkReason::Claimed,
                resume_in: Some(remaining.clamp(CLAIM_RETRY_MIN, CLAIM_RETRY_MAX)),
            }),
            Err(Refused::Failure(failure)) => Err(failure),
        };
        match handled {
            Ok(effect) => {
                report(channel, &event_id, &event, &effect, deadline.as_ref());
                let Some(outcome) = outcome::for_effect(&event, &effect, deadline.as_ref()) else {
                    return Ok(Step::Done);
                };
                if !self.publish_outcome(delivery, &outcome).await? {
                    return Ok(Step::Interrupted);
                }
                intake_telemetry::crashpoint("router.after_outcome_publish");
                Ok(Step::Done)
            }
            Err(Failure::Retry {
                stage,
                message,
                reason,
                resume_in,
            }) => Ok(Step::Retry(RetryLater {
                event_id: event.event_id,
                stage,
                message,
                reason,
                resume_in,
            })),
            Err(Failure::DeadLetter(letter)) => {
                self.dead_letter(channel, delivery, &event_id, &letter)
                    .await
            }
            Err(Failure::Fatal(e)) => {
                tracing::error!(event_id = %event_id, channel, error = %e, "router cannot go on");
                Err(e)
            }
        }
    }

    /// Dead-letters an event whose retries are spent (`letter` carries the
    /// failure history).
    pub(crate) async fn give_up(
        &self,
        route: &ChannelRoute,
        delivery: &Delivery,
        event_id: &str,
        letter: &DeadLetter,
    ) -> Result<Step, RouterError> {
        self.dead_letter(&route.name, delivery, event_id, letter)
            .await
    }

    /// The payload of a record that carries it in the blob store (a replayed
    /// oversized dead letter); `Ok(None)` when the router stops first.
    async fn payload_from_blob(
        &self,
        blob: &intake_event::BlobRef,
    ) -> Result<Option<Vec<u8>>, DeadLetter> {
        let mut backoff = self.backoff();
        loop {
            match self.processor.blobs.get(blob).await {
                Ok(payload) => return Ok(Some(payload)),
                Err(e) if e.is_retryable() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, "reading a payload from the blob store failed, retrying");
                    if !self.wait(delay).await {
                        return Ok(None);
                    }
                }
                Err(e) => {
                    return Err(DeadLetter::new(
                        DlqReason::PayloadUnavailable,
                        e.to_string(),
                    ));
                }
            }
        }
    }
}

fn report(
    channel: &str,
    event_id: &str,
    event: &TicketEvent,
    outcome: &Outcome,
    deadline: Option<&Deadline>,
) {
    match *outcome {
        // Counted where it was decided (`automatic.rs`).
        Outcome::Dropped => {}
        Outcome::Duplicate(link) => {
            DuplicateSuppressed {
                channel,
                event_id,
                ticket_id: link.ticket_id,
            }
            .emit();
        }
        Outcome::Created {
            ticket_id,
            follow_up_of,
            already_in_zendesk,
        } => TicketCreated {
            channel,
            event_id,
            ticket_id,
            follow_up_of,
            already_in_zendesk,
            receipt_to_ticket: since_receipt(event),
            until_deadline: deadline
                .map(|d| (d.due_at - event.received_at).to_std().unwrap_or_default()),
        }
        .emit(),
        Outcome::Routed {
            ticket_id,
            already_in_zendesk,
        } => TicketCreated {
            channel,
            event_id,
            ticket_id,
            follow_up_of: None,
            already_in_zendesk,
            receipt_to_ticket: since_receipt(event),
            until_deadline: None,
        }
        .emit(),
        Outcome::Commented { ticket_id } => CommentAdded {
            channel,
            event_id,
            ticket_id,
            receipt_to_ticket: since_receipt(event),
        }
        .emit(),
    }
}
