//! The handler behind every [`WebhookChannel`]'s path, and the body limit of
//! its extra routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use serde::Serialize;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::{Authenticated, Normalised, Rejection, WebhookChannel, content_type_matches};
use crate::events::{FieldsDropped, MessageReceived, MessageRejected, SignatureFailure};
use crate::ratelimit::retry_after_secs;
use crate::{
    ApiError, BodyError, ChannelContext, PublishRefusal, RejectReason, attach_raw, publish_event,
    read_body_limited,
};

/// `Retry-After` of a delivery refused because the channel's in-flight
/// slots are taken.
const OVERLOADED_RETRY_AFTER: Duration = Duration::from_secs(1);

struct PipelineState<C> {
    channel: Arc<C>,
    ctx: ChannelContext,
    in_flight: Option<Arc<Semaphore>>,
}

/// The body of the answer once the bus confirmed the event.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub event_id: Uuid,
    pub status: &'static str,
}

/// The body of the answer to a delivery of several messages (or none),
/// once the bus confirmed every event.
#[derive(Debug, Serialize)]
pub struct AcceptedBatch {
    pub event_ids: Vec<Uuid>,
    pub status: &'static str,
}

/// The channel's routes: its webhook path through the pipeline, and its
/// extra routes behind the same body limit.
pub(crate) fn routes<C: WebhookChannel>(channel: Arc<C>, ctx: ChannelContext) -> axum::Router {
    let name = WebhookChannel::name(channel.as_ref());
    let settings = channel.settings();
    let limit = settings.max_body_bytes;
    let in_flight = settings
        .max_in_flight
        .map(|slots| Arc::new(Semaphore::new(slots.clamp(1, Semaphore::MAX_PERMITS))));
    let path = channel.path();
    let extra = Arc::clone(&channel)
        .extra_routes(ctx.clone())
        .layer(axum::middleware::from_fn(move |request, next| {
            body_limit_layer(name, limit, request, next)
        }));
    let state = Arc::new(PipelineState {
        channel,
        ctx,
        in_flight,
    });
    extra.route(path, post(receive::<C>).with_state(state))
}

/// Reads the body of a request within `limit` bytes (413 past it, for a
/// declared or a received length) and hands the handler the bytes. Applied
/// to every extra route of a webhook channel.
pub async fn body_limit_layer(
    channel: &'static str,
    limit: usize,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match read_limited(&parts.headers, body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(rejection) => reject(channel, None, rejection).into_response(),
    }
}

/// Counts and logs a refused delivery of `channel` and builds its answer
/// (for a channel's extra routes; the pipeline uses it for every refusal).
pub fn reject(channel: &'static str, event_id: Option<Uuid>, rejection: Rejection) -> ApiError {
    let detail = rejection
        .log_detail
        .as_deref()
        .unwrap_or(&rejection.message);
    if rejection.reason.is_authentication() {
        SignatureFailure { channel, detail }.emit();
    }
    MessageRejected {
        channel,
        reason: rejection.reason,
        event_id,
        detail,
    }
    .emit();
    let error = ApiError::rejected(rejection.reason, rejection.message);
    match rejection.retry_after {
        Some(wait) => error.with_retry_after(wait),
        None => error,
    }
}

async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, Rejection> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::new(
            RejectReason::TooLarge,
            format!("body is larger than {limit} bytes"),
        ));
    }
    read_body_limited(body, limit).await.map_err(|e| match e {
        BodyError::TooLarge { .. } => Rejection::new(RejectReason::TooLarge, e.to_string()),
        BodyError::Read(_) => Rejection::new(RejectReason::BadRequest, e.to_string()),
    })
}

async fn receive<C: WebhookChannel>(
    State(state): State<Arc<PipelineState<C>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let channel = state.channel.as_ref();
    let name = WebhookChannel::name(channel);
    MessageReceived { channel: name }.emit();
    let _slot = match &state.in_flight {
        Some(slots) => Some(Arc::clone(slots).try_acquire_owned().map_err(|_| {
            let rejection = Rejection::new(
                RejectReason::Overloaded,
                format!("too many {name} deliveries are being handled, retry later"),
            )
            .with_retry_after(OVERLOADED_RETRY_AFTER);
            reject(name, None, rejection)
        })?),
        None => None,
    };
    channel
        .check_headers(&headers)
        .map_err(|rejection| reject(name, None, rejection))?;
    let limit = channel.settings().max_body_bytes;
    let body = read_limited(&headers, body, limit)
        .await
        .map_err(|rejection| reject(name, None, rejection))?;
    let authenticated = channel
        .verify(&headers, &body)
        .map_err(|rejection| reject(name, None, rejection))?;

    // Authenticated from here on: the event id, when the id came with the
    // delivery, goes in every log line.
    let early_id = early_event_id(name, &authenticated);
    if !content_type_matches(&headers, C::CONTENT_TYPE) {
        let rejection = Rejection::new(
            RejectReason::ContentType,
            format!("content type must be {}", C::CONTENT_TYPE),
        );
        return Err(reject(name, early_id, rejection));
    }
    if let Some(answer) = channel.handshake(&body) {
        return Ok(answer);
    }
    let messages = channel
        .normalise_batch(&authenticated, &body, intake_telemetry::clock::now())
        .map_err(|rejection| reject(name, early_id, rejection))?;
    let mut ready = Vec::with_capacity(messages.len());
    for message in messages {
        ready.push(prepare(&state, &body, message).await?);
    }
    for message in &ready {
        publish(&state.ctx, name, &message.event).await?;
    }
    for message in &ready {
        FieldsDropped {
            channel: name,
            event_id: message.event.event_id,
            invalid: &message.dropped,
            unknown: &message.unknown_fields,
        }
        .emit();
    }
    let answer = match ready.as_slice() {
        [one] => Json(Accepted {
            event_id: one.event.event_id,
            status: "accepted",
        })
        .into_response(),
        many => Json(AcceptedBatch {
            event_ids: many.iter().map(|m| m.event.event_id).collect(),
            status: "accepted",
        })
        .into_response(),
    };
    Ok((C::ACCEPTED, answer).into_response())
}

/// One normalised message through the steps before publishing: the
/// per-sender limit, the channel's admission, the attachment bytes, the
/// channel's completion and the raw body.
async fn prepare<C: WebhookChannel>(
    state: &PipelineState<C>,
    body: &[u8],
    mut message: Normalised<C::Extra>,
) -> Result<Normalised<C::Extra>, ApiError> {
    let channel = state.channel.as_ref();
    let name = WebhookChannel::name(channel);
    let event_id = message.event.event_id;
    let refuse = |rejection| reject(name, Some(event_id), rejection);

    if let Some(limiter) = &channel.settings().sender_limiter
        && let Err(limited) = limiter.check(&message.event.contact.key)
    {
        let wait = retry_after_secs(limited.retry_after);
        let per_minute = limiter.messages_per_minute();
        return Err(refuse(
            Rejection::new(
                RejectReason::RateLimited,
                format!(
                    "this sender sent more than {per_minute} messages per minute; retry after {wait} seconds"
                ),
            )
            .with_retry_after(limited.retry_after),
        ));
    }
    channel.admit(event_id, &message).map_err(refuse)?;
    store_attachments(&state.ctx, name, &mut message)
        .await
        .map_err(refuse)?;
    channel
        .complete(&state.ctx, event_id, &mut message)
        .await
        .map_err(refuse)?;
    // A small body travels inside the event: the bus's commit is then the
    // message's only durable write before the answer.
    let raw_inline_max_bytes = channel.settings().raw_inline_max_bytes;
    attach_raw(
        state.ctx.blobs.as_ref(),
        &mut message.event,
        body,
        raw_inline_max_bytes,
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, channel = name, event_id = %event_id, "raw payload store failed");
        refuse(Rejection::new(
            RejectReason::BlobUnavailable,
            "payload storage unavailable, retry later",
        ))
    })?;
    Ok(message)
}

/// Publishes one event with the bus deadline; a refusal is the delivery's answer.
async fn publish(
    ctx: &ChannelContext,
    name: &'static str,
    event: &intake_event::TicketEvent,
) -> Result<(), ApiError> {
    publish_event(ctx, event)
        .await
        .map(|_| ())
        .map_err(|error| {
            let refusal = PublishRefusal::of(&error);
            let rejection = Rejection::new(refusal.reason, refusal.message);
            reject(
                name,
                Some(event.event_id),
                match refusal.retry_after {
                    Some(wait) => rejection.with_retry_after(wait),
                    None => rejection,
                },
            )
        })
}

fn early_event_id(channel: &'static str, authenticated: &Authenticated) -> Option<Uuid> {
    authenticated
        .message_id
        .as_deref()
        .map(|id| intake_event::event_id(channel, id))
}

/// Puts every attachment's bytes in the blob store and its reference in the event.
async fn store_attachments<X>(
    ctx: &ChannelContext,
    channel: &'static str,
    message: &mut Normalised<X>,
) -> Result<(), Rejection> {
    let event_id = message.event.event_id;
    for (meta, bytes) in message
        .event
        .attachments
        .iter_mut()
        .zip(&message.attachment_bytes)
    {
        meta.blob = ctx.blobs.put(bytes).await.map_err(|e| {
            tracing::warn!(error = %e, channel, event_id = %event_id, "attachment store failed");
            Rejection::new(
                RejectReason::BlobUnavailable,
                "attachment storage unavailable, retry later",
            )
        })?;
    }
    Ok(())
}
