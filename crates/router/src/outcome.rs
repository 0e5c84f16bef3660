//! Outcomes: after every effect (and every dead letter) the router publishes
//! one `intake.ticket_outcome/v1` on `<prefix>.outcomes`, keyed like the
//! event, **before** it marks the event done. A crash between the two
//! republishes it on redelivery (the effect is then a recorded duplicate and
//! the outcome is rebuilt from the store's link and the event, with the same
//! outcome id and deadline): delivery is at least once, and consumers
//! de-duplicate by outcome id. A bus that refuses the outcome for good stops
//! the router with the event unmarked, as for a refused dead letter.

use intake_bus::{Delivery, Record, cloudevent_headers};
use intake_calendar::Deadline;
use intake_event::{
    OUTCOME_SCHEMA_ID, OutcomeContact, OutcomeEffect, TicketEvent, TicketOutcome, outcome_id,
    record_outcome_id,
};
use intake_store::Effect;
use uuid::Uuid;

use crate::RouterError;
use crate::deadline;
use crate::dlq::DeadLetter;
use crate::process::Outcome;
use crate::telemetry::OutcomePublished;
use crate::worker::Worker;

/// CloudEvents `ce_type` of outcomes on the bus.
pub const OUTCOME_CE_TYPE: &str = "intake.ticket_outcome.v1";

/// The outcome of an effect on `event`; None when there was no effect (a
/// dropped automatic message).
pub(crate) fn for_effect(
    event: &TicketEvent,
    outcome: &Outcome,
    deadline: Option<&Deadline>,
) -> Option<TicketOutcome> {
    let (effect, ticket_id) = match *outcome {
        Outcome::Dropped => return None,
        Outcome::Duplicate(link) => (stored_effect(link.effect), link.ticket_id),
        Outcome::Created {
            ticket_id,
            follow_up_of: Some(_),
            ..
        } => (OutcomeEffect::FollowUp, ticket_id),
        Outcome::Created { ticket_id, .. } => (OutcomeEffect::Created, ticket_id),
        Outcome::Commented { ticket_id } => (OutcomeEffect::Commented, ticket_id),
        Outcome::Routed { ticket_id, .. } => (OutcomeEffect::RoutedToDepartment, ticket_id),
    };
    let mut built = from_event(event, effect);
    built.ticket_id = Some(ticket_id);
    if effect.opens_ticket() {
        built.deadline = deadline.map(deadline::on_outcome);
        built
            .omitted_attachments
            .clone_from(&event.omitted_attachments);
    }
    Some(built)
}

/// The `dead_lettered` outcome of `delivery`: from its event when the
/// payload decodes, else from the record (key, `ce_id`, position).
pub(crate) fn for_dead_letter(
    channel: &str,
    delivery: &Delivery,
    letter: &DeadLetter,
) -> TicketOutcome {
    let mut built = match TicketEvent::from_json(&delivery.payload) {
        Ok(event) => from_event(&event, OutcomeEffect::DeadLettered),
        Err(_) => {
            let event_id = delivery
                .header("ce_id")
                .and_then(|id| Uuid::parse_str(id.trim()).ok());
            let outcome_id = match event_id {
                Some(id) => outcome_id(id, OutcomeEffect::DeadLettered),
                None => record_outcome_id(&delivery.topic, delivery.partition, delivery.offset),
            };
            TicketOutcome {
                schema: OUTCOME_SCHEMA_ID.to_owned(),
                outcome_id,
                event_id,
                channel: channel.to_owned(),
                contact: OutcomeContact {
                    key: delivery.key.clone(),
                    locale: None,
                },
                conversation_id: None,
                effect: OutcomeEffect::DeadLettered,
                ticket_id: None,
                deadline: None,
                locale: None,
                auto_submitted: false,
                received_at: None,
                dead_letter_reason: None,
                channel_account: None,
                omitted_attachments: Vec::new(),
            }
        }
    };
    built.dead_letter_reason = Some(letter.reason.as_str().to_owned());
    built
}

fn from_event(event: &TicketEvent, effect: OutcomeEffect) -> TicketOutcome {
    TicketOutcome {
        schema: OUTCOME_SCHEMA_ID.to_owned(),
        outcome_id: outcome_id(event.event_id, effect),
        event_id: Some(event.event_id),
        channel: event.channel.clone(),
        contact: OutcomeContact {
            key: event.contact.key.clone(),
            locale: event.contact.locale.clone(),
        },
        conversation_id: event.conversation.thread_id.clone(),
        effect,
        ticket_id: None,
        deadline: None,
        locale: event.contact.locale.clone(),
        auto_submitted: event.auto_submitted,
        received_at: Some(event.received_at),
        dead_letter_reason: None,
        channel_account: event.channel_account.clone(),
        omitted_attachments: Vec::new(),
    }
}

fn stored_effect(effect: Effect) -> OutcomeEffect {
    match effect {
        Effect::Created => OutcomeEffect::Created,
        Effect::Commented => OutcomeEffect::Commented,
        Effect::FollowUp => OutcomeEffect::FollowUp,
        Effect::Routed => OutcomeEffect::RoutedToDepartment,
    }
}

/// The bus record of `outcome`, keyed like the event's record.
pub(crate) fn record(topic: String, key: &str, outcome: &TicketOutcome) -> Record {
    let headers = cloudevent_headers(
        &outcome.outcome_id.to_string(),
        &format!("/intake/router/{}", outcome.channel),
        OUTCOME_CE_TYPE,
        chrono::Utc::now(),
        None,
    );
    Record {
        topic,
        key: key.to_owned(),
        payload: outcome.to_json(),
        headers,
    }
}

impl Worker {
    /// Publishes `outcome` (retrying retryable failures with backoff);
    /// Ok(false) when shutdown came first, an error when the bus refuses it
    /// for good (the event stays unmarked).
    pub(crate) async fn publish_outcome(
        &self,
        delivery: &Delivery,
        outcome: &TicketOutcome,
    ) -> Result<bool, RouterError> {
        let record = record(self.topics().outcomes(), &delivery.key, outcome);
        let event_id = outcome
            .event_id
            .map(|id| id.to_string())
            .unwrap_or_default();
        let mut backoff = self.backoff();
        loop {
            match self.publisher.publish(record.clone()).await {
                Ok(_) => {
                    OutcomePublished {
                        channel: &outcome.channel,
                        event_id: &event_id,
                        outcome_id: &outcome.outcome_id.to_string(),
                        effect: outcome.effect.as_str(),
                    }
                    .emit();
                    return Ok(true);
                }
                Err(e) if e.is_retryable() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(event_id, error = %e, "outcome publish failed, retrying");
                    if !self.wait(delay).await {
                        return Ok(false);
                    }
                }
                Err(e) => {
                    tracing::error!(event_id, error = %e, "the bus refuses the outcome, router stops");
                    return Err(RouterError::Bus(e));
                }
            }
        }
    }
}
