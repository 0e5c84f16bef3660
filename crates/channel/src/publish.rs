//! Putting a ticket event on the bus: one topic per channel, the contact key
//! as partition key, CloudEvents binary-mode headers and a W3C `traceparent`.

use intake_bus::{BusError, Position, Record};
use intake_event::TicketEvent;

use crate::ChannelContext;
use crate::events::{EventPublishFailed, EventPublished};

/// Longest wait for the bus to confirm one event before the adapter answers
/// "unavailable, retry later".
pub const PUBLISH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// CloudEvents `ce_type` of every ticket event.
pub const CE_TYPE: &str = "intake.ticket_event.v1";

/// CloudEvents `ce_source` of a channel's events: `/intake/<channel>`.
pub fn ce_source(channel: &str) -> String {
    format!("/intake/{channel}")
}

/// A fresh W3C trace context: `00-<32 hex trace id>-<16 hex parent id>-01`
/// (ids never all zero, as the spec requires).
pub fn new_traceparent() -> String {
    let trace_id = rand::random::<u128>().max(1);
    let parent_id = rand::random::<u64>().max(1);
    format!("00-{trace_id:032x}-{parent_id:016x}-01")
}

/// The bus record for `event` on the topics of `ctx`.
pub fn event_record(ctx: &ChannelContext, event: &TicketEvent) -> Record {
    let traceparent = new_traceparent();
    let headers = intake_bus::cloudevent_headers(
        &event.event_id.to_string(),
        &ce_source(&event.channel),
        CE_TYPE,
        event.received_at,
        Some(&traceparent),
    );
    Record {
        topic: ctx.topics.events(&event.channel),
        key: event.contact.key.clone(),
        payload: event.to_json(),
        headers,
    }
}

/// Publishes `event` and returns once the bus confirmed it durable. Only
/// then may the adapter acknowledge its source.
pub async fn publish_event(
    ctx: &ChannelContext,
    event: &TicketEvent,
) -> Result<Position, BusError> {
    let record = event_record(ctx, event);
    // A sender must get an answer (503 + Retry-After) well within its own
    // timeout even when the bus hangs; the record may still land later, and
    // the sender's retry with the same id is then a suppressed duplicate.
    let published =
        match tokio::time::timeout(PUBLISH_DEADLINE, ctx.publisher.publish(record)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(BusError::Unavailable(format!(
                "the bus did not confirm within {} s",
                PUBLISH_DEADLINE.as_secs()
            ))),
        };
    match published {
        Ok(position) => {
            EventPublished {
                channel: &event.channel,
                event_id: event.event_id,
                partition: position.partition,
                offset: position.offset,
            }
            .emit();
            // Crash-safety tests stop here: durable on the bus, source not yet acknowledged.
            intake_telemetry::crashpoint("gateway.after_publish");
            Ok(position)
        }
        Err(error) => {
            EventPublishFailed {
                channel: &event.channel,
                event_id: event.event_id,
                error: &error,
            }
            .emit();
            Err(error)
        }
    }
}
