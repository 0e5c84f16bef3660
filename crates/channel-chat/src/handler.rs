//! The HTTP handler of `POST /v1/chat/messages`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use intake_channel::events::{
    AttachmentFetch, FieldsDropped, MessageReceived, MessageRejected, SignatureFailure,
};
use intake_channel::{
    ApiError, BodyError, ChannelContext, FetchOutcome, PublishRefusal, RejectReason, attach_raw,
    publish_event, read_body_limited,
};
use intake_event::Attachment;
use serde::Serialize;
use uuid::Uuid;

use crate::ChatChannel;
use crate::attachment::AttachmentLink;
use crate::fetch::FetchError;
use crate::normalise::{CHANNEL, normalise_bytes};
use crate::ratelimit::retry_after_secs;
use crate::signature::{VerifyError, check_timestamp, verify_signature};

/// Attachment URLs downloaded at the same time for one message.
const FETCH_CONCURRENCY: usize = 4;
/// Longest time all URL attachments of one message may take together; below
/// the gateway's 45 s request timeout so the sender gets a clear 503.
pub const FETCH_STAGE_DEADLINE: Duration = Duration::from_secs(20);
/// `Retry-After` of a 503 for an attachment host that failed for now.
pub const ATTACHMENT_RETRY_AFTER: Duration = Duration::from_secs(30);

pub(crate) struct State {
    pub(crate) channel: Arc<ChatChannel>,
    pub(crate) ctx: ChannelContext,
}

/// The 202 body.
#[derive(Debug, Serialize)]
pub(crate) struct Accepted {
    event_id: Uuid,
    status: &'static str,
}

/// Counts, logs and builds the error answer for a refused message.
fn reject(reason: RejectReason, event_id: Option<Uuid>, message: String) -> ApiError {
    reject_logging(reason, event_id, &message.clone(), message)
}

/// Like [`reject`], logging `log_detail` instead of the answer's message
/// (which may quote the sender's data, e.g. an invalid e-mail address).
fn reject_logging(
    reason: RejectReason,
    event_id: Option<Uuid>,
    log_detail: &str,
    message: String,
) -> ApiError {
    if reason.is_authentication() {
        SignatureFailure {
            channel: CHANNEL,
            detail: log_detail,
        }
        .emit();
    }
    MessageRejected {
        channel: CHANNEL,
        reason,
        event_id,
        detail: log_detail,
    }
    .emit();
    ApiError::rejected(reason, message)
}

fn reject_auth(error: VerifyError) -> ApiError {
    let reason = if error.is_timestamp() {
        RejectReason::StaleTimestamp
    } else {
        RejectReason::Signature
    };
    reject(reason, None, error.to_string())
}

fn required_header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    let value = headers.get(name).ok_or(VerifyError::MissingHeader(name))?;
    let value = value
        .to_str()
        .map_err(|_| VerifyError::MalformedHeader(name))?
        .trim();
    if value.is_empty() {
        return Err(VerifyError::MissingHeader(name));
    }
    Ok(value)
}

/// `application/json`, optionally with `charset=utf-8`.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(Ok(value)) = headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|param| match param.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    })
}

pub(crate) async fn receive(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    MessageReceived { channel: CHANNEL }.emit();
    let channel = &state.channel;

    let webhook_id = required_header(&headers, "webhook-id").map_err(reject_auth)?;
    let timestamp = required_header(&headers, "webhook-timestamp").map_err(reject_auth)?;
    let signature = required_header(&headers, "webhook-signature").map_err(reject_auth)?;
    check_timestamp(
        timestamp,
        Utc::now().timestamp(),
        channel.timestamp_tolerance,
    )
    .map_err(reject_auth)?;

    let limit = channel.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(reject(
            RejectReason::TooLarge,
            None,
            format!("body is larger than {limit} bytes"),
        ));
    }
    let body = read_body_limited(body, limit).await.map_err(|e| match e {
        BodyError::TooLarge { .. } => reject(RejectReason::TooLarge, None, e.to_string()),
        BodyError::Read(_) => reject(RejectReason::BadRequest, None, e.to_string()),
    })?;

    verify_signature(&channel.secret, webhook_id, timestamp, signature, &body)
        .map_err(reject_auth)?;

    // Authenticated from here on: the event id is known and goes in every log line.
    let event_id = intake_event::event_id(CHANNEL, webhook_id);
    if !is_json_content_type(&headers) {
        return Err(reject(
            RejectReason::ContentType,
            Some(event_id),
            "content type must be application/json".into(),
        ));
    }
    let normalised = normalise_bytes(
        webhook_id,
        &body,
        intake_telemetry::clock::now(),
        &channel.rules,
    )
    .map_err(|e| {
        let log_detail = match e.field() {
            Some(field) => format!("invalid field {field}"),
            None => e.to_string(),
        };
        reject_logging(e.reason(), Some(event_id), &log_detail, e.to_string())
    })?;
    let dropped = normalised.dropped_labels();
    let mut event = normalised.event;

    if let Some(limiter) = &channel.limiter
        && let Err(limited) = limiter.check(&event.contact.key)
    {
        let wait = retry_after_secs(limited.retry_after);
        let per_minute = limiter.messages_per_minute();
        return Err(reject(
            RejectReason::RateLimited,
            Some(event_id),
            format!(
                "this sender sent more than {per_minute} messages per minute; retry after {wait} seconds"
            ),
        )
        .with_retry_after(limited.retry_after));
    }
    for link in &normalised.links {
        if let Err(refusal) = channel.fetcher.policy().check(&link.url) {
            return Err(fetch_failed(event_id, link, &FetchError::Refused(refusal)));
        }
    }

    let blobs = &state.ctx.blobs;
    for (meta, bytes) in event
        .attachments
        .iter_mut()
        .zip(&normalised.attachment_bytes)
    {
        meta.blob = blobs.put(bytes).await.map_err(|e| {
            tracing::warn!(error = %e, channel = CHANNEL, event_id = %event_id, "attachment store failed");
            blob_unavailable(event_id)
        })?;
    }
    if !normalised.links.is_empty() {
        let fetched = fetch_and_store(&state, event_id, &normalised.links).await?;
        for (position, meta) in fetched {
            let position = position.min(event.attachments.len());
            event.attachments.insert(position, meta);
        }
    }
    // A small body travels inside the event: the bus's commit is then the
    // message's only durable write before the 202.
    attach_raw(blobs.as_ref(), &mut event, &body, channel.raw_inline_max_bytes)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, channel = CHANNEL, event_id = %event_id, "raw payload store failed");
            reject(RejectReason::BlobUnavailable, Some(event_id), "payload storage unavailable, retry later".into())
        })?;

    publish_event(&state.ctx, &event).await.map_err(|error| {
        let refusal = PublishRefusal::of(&error);
        let answer = reject(refusal.reason, Some(event_id), refusal.message);
        match refusal.retry_after {
            Some(wait) => answer.with_retry_after(wait),
            None => answer,
        }
    })?;
    FieldsDropped {
        channel: CHANNEL,
        event_id,
        invalid: &dropped,
        unknown: &normalised.unknown_fields,
    }
    .emit();
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event_id,
            status: "accepted",
        }),
    ))
}

fn blob_unavailable(event_id: Uuid) -> ApiError {
    reject(
        RejectReason::BlobUnavailable,
        Some(event_id),
        "attachment storage unavailable, retry later".into(),
    )
}

/// Counts the failed fetch and builds the answer: 422 `attachment` when the
/// message has to change, 503 `attachment_unavailable` with `Retry-After`
/// when the host may deliver later.
fn fetch_failed(event_id: Uuid, link: &AttachmentLink, error: &FetchError) -> ApiError {
    let outcome = error.outcome();
    let log_detail = format!("{}: {}", link.field, outcome.as_str());
    AttachmentFetch {
        channel: CHANNEL,
        outcome,
        event_id,
        detail: &log_detail,
        bytes: 0,
    }
    .emit();
    let message = format!("{}: {error}", link.field);
    if error.is_retryable() {
        reject_logging(
            RejectReason::AttachmentUnavailable,
            Some(event_id),
            &log_detail,
            message,
        )
        .with_retry_after(ATTACHMENT_RETRY_AFTER)
    } else {
        reject_logging(
            RejectReason::Attachment,
            Some(event_id),
            &log_detail,
            message,
        )
    }
}

enum LinkError {
    Fetch(Box<AttachmentLink>, FetchError),
    Blob,
}

/// Downloads every URL attachment (a few at a time) and stores each in the
/// blob store as soon as it arrived; returns `(position, attachment)` in
/// body order.
async fn fetch_and_store(
    state: &State,
    event_id: Uuid,
    links: &[AttachmentLink],
) -> Result<Vec<(usize, Attachment)>, ApiError> {
    // Every future owns what it uses (a borrowed stream item trips the
    // compiler's `Send` check of the handler future).
    let stage = futures::stream::iter(links.to_vec())
        .map(|link| {
            let fetcher = state.channel.fetcher.clone();
            let blobs = Arc::clone(&state.ctx.blobs);
            fetch_one(fetcher, blobs, event_id, link)
        })
        .buffered(FETCH_CONCURRENCY)
        .try_collect::<Vec<_>>();
    match tokio::time::timeout(FETCH_STAGE_DEADLINE, stage).await {
        Ok(Ok(fetched)) => Ok(fetched),
        Ok(Err(LinkError::Fetch(link, error))) => Err(fetch_failed(event_id, &link, &error)),
        Ok(Err(LinkError::Blob)) => Err(blob_unavailable(event_id)),
        Err(_) => {
            let secs = FETCH_STAGE_DEADLINE.as_secs();
            Err(reject(
                RejectReason::AttachmentUnavailable,
                Some(event_id),
                format!("attachments: the files did not arrive within {secs} seconds; retry later"),
            )
            .with_retry_after(ATTACHMENT_RETRY_AFTER))
        }
    }
}

async fn fetch_one(
    fetcher: crate::fetch::AttachmentFetcher,
    blobs: Arc<dyn intake_blob::BlobStore>,
    event_id: Uuid,
    link: AttachmentLink,
) -> Result<(usize, Attachment), LinkError> {
    let fetched = match fetcher.fetch(&link.url).await {
        Ok(fetched) => fetched,
        Err(e) => return Err(LinkError::Fetch(Box::new(link), e)),
    };
    let mut meta = link.to_attachment(&fetched.bytes, fetched.content_type);
    AttachmentFetch {
        channel: CHANNEL,
        outcome: FetchOutcome::Fetched,
        event_id,
        detail: &link.field,
        bytes: meta.size,
    }
    .emit();
    meta.blob = match blobs.put(&fetched.bytes).await {
        Ok(blob) => blob,
        Err(e) => {
            tracing::warn!(error = %e, channel = CHANNEL, event_id = %event_id, "attachment store failed");
            return Err(LinkError::Blob);
        }
    };
    Ok((link.position, meta))
}
