//! Putting a ticket event on the bus: one topic per channel, the
//! conversation (else the contact key) as partition key ([`partition_key`]),
//! CloudEvents binary-mode headers and a W3C `traceparent`.

use intake_bus::{BusError, Position, Record};
use intake_event::TicketEvent;

use crate::events::{EventPublishFailed, EventPublished};
use crate::{ChannelContext, RejectReason};

/// Longest wait for the bus to confirm one event before the adapter answers
/// "unavailable, retry later".
pub const PUBLISH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// What a sender is told to wait after the bus did not confirm an event.
pub const BUS_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// How a webhook adapter answers a failed [`publish_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRefusal {
    /// `EventTooLarge` (413, permanent) or `BusUnavailable` (503).
    pub reason: RejectReason,
    /// The answer's message (names the limit for a size refusal).
    pub message: String,
    /// `Retry-After` for a failure that may pass; `None` for a permanent one.
    pub retry_after: Option<std::time::Duration>,
}

impl PublishRefusal {
    /// A record the bus refuses for its size is refused for good (413 with
    /// the limit: sending it again can never work); anything else may pass
    /// (503 with `Retry-After`).
    pub fn of(error: &BusError) -> Self {
        match error {
            BusError::TooLarge { limit_bytes } => Self {
                reason: RejectReason::EventTooLarge,
                message: format!(
                    "the message is too large for the event bus (its record limit is {limit_bytes} bytes); send less text, fewer or smaller attachments"
                ),
                retry_after: None,
            },
            _ => Self {
                reason: RejectReason::BusUnavailable,
                message: "the event bus did not confirm the message, retry later".to_owned(),
                retry_after: Some(BUS_RETRY_AFTER),
            },
        }
    }
}

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

/// The bus key of `event` (decision 37): its conversation,
/// `thread:<channel>:<thread id>`, when it names one, else its contact key.
/// The conversation, not the contact, so that a conversation whose requester
/// is identified better halfway (a chat visitor who signs in, so the contact
/// key turns from `chat:<visitor>` into `email:<address>`) stays on one
/// partition and so with one router. The same string as the router's lane.
pub fn partition_key(event: &TicketEvent) -> String {
    match event
        .conversation
        .thread_id
        .as_deref()
        .map(str::trim)
        .filter(|thread| !thread.is_empty())
    {
        Some(thread) => format!("thread:{}:{thread}", event.channel),
        None => event.contact.key.clone(),
    }
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
        key: partition_key(event),
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
