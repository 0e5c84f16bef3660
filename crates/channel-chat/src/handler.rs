//! The chat channel on the kit's webhook pipeline
//! ([`intake_channel::webhook`]): its verifier (Standard Webhooks), its
//! normaliser, the attachment-URL check and the URL downloads.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use intake_channel::events::AttachmentFetch;
use intake_channel::webhook::{Authenticated, Normalised, Rejection, WebhookSettings};
use intake_channel::{ChannelContext, FetchOutcome, RejectReason, WebhookChannel};
use intake_event::Attachment;
use uuid::Uuid;

use crate::ChatChannel;
use crate::attachment::AttachmentLink;
use crate::fetch::FetchError;
use crate::normalise::{CHANNEL, normalise_bytes};
use crate::signature::{VerifyError, check_timestamp, verify_signature};

/// Attachment URLs downloaded at the same time for one message.
const FETCH_CONCURRENCY: usize = 4;
/// Longest time all URL attachments of one message may take together; below
/// the gateway's 45 s request timeout so the sender gets a clear 503.
pub const FETCH_STAGE_DEADLINE: Duration = Duration::from_secs(20);
/// `Retry-After` of a 503 for an attachment host that failed for now.
pub const ATTACHMENT_RETRY_AFTER: Duration = Duration::from_secs(30);

fn reject_auth(error: VerifyError) -> Rejection {
    let reason = if error.is_timestamp() {
        RejectReason::StaleTimestamp
    } else {
        RejectReason::Signature
    };
    Rejection::new(reason, error.to_string())
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

/// The three Standard Webhooks headers.
fn signature_headers(headers: &HeaderMap) -> Result<(&str, &str, &str), VerifyError> {
    Ok((
        required_header(headers, "webhook-id")?,
        required_header(headers, "webhook-timestamp")?,
        required_header(headers, "webhook-signature")?,
    ))
}

#[async_trait]
impl WebhookChannel for ChatChannel {
    /// Attachments given by URL, fetched by [`WebhookChannel::complete`].
    type Extra = Vec<AttachmentLink>;

    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn path(&self) -> &'static str {
        crate::PATH
    }

    fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    fn check_headers(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let (_, timestamp, _) = signature_headers(headers).map_err(reject_auth)?;
        check_timestamp(timestamp, Utc::now().timestamp(), self.timestamp_tolerance)
            .map_err(reject_auth)?;
        Ok(())
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Authenticated, Rejection> {
        let (webhook_id, timestamp, signature) = signature_headers(headers).map_err(reject_auth)?;
        verify_signature(&self.secret, webhook_id, timestamp, signature, body)
            .map_err(reject_auth)?;
        Ok(Authenticated::with_message_id(webhook_id))
    }

    fn normalise(
        &self,
        authenticated: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Normalised<Vec<AttachmentLink>>, Rejection> {
        let webhook_id = authenticated.message_id.as_deref().unwrap_or_default();
        let normalised =
            normalise_bytes(webhook_id, body, received_at, &self.rules).map_err(|e| {
                let log_detail = match e.field() {
                    Some(field) => format!("invalid field {field}"),
                    None => e.to_string(),
                };
                Rejection::new(e.reason(), e.to_string()).logging(log_detail)
            })?;
        Ok(Normalised {
            dropped: normalised.dropped_labels(),
            event: normalised.event,
            attachment_bytes: normalised.attachment_bytes,
            unknown_fields: normalised.unknown_fields,
            extra: normalised.links,
        })
    }

    fn admit(
        &self,
        event_id: Uuid,
        message: &Normalised<Vec<AttachmentLink>>,
    ) -> Result<(), Rejection> {
        for link in &message.extra {
            if let Err(refusal) = self.fetcher.policy().check(&link.url) {
                return Err(fetch_failed(event_id, link, &FetchError::Refused(refusal)));
            }
        }
        Ok(())
    }

    async fn complete(
        &self,
        ctx: &ChannelContext,
        event_id: Uuid,
        message: &mut Normalised<Vec<AttachmentLink>>,
    ) -> Result<(), Rejection> {
        if message.extra.is_empty() {
            return Ok(());
        }
        let fetched = fetch_and_store(self, ctx, event_id, &message.extra).await?;
        let attachments = &mut message.event.attachments;
        for (position, meta) in fetched {
            let position = position.min(attachments.len());
            attachments.insert(position, meta);
        }
        Ok(())
    }
}

fn blob_unavailable() -> Rejection {
    Rejection::new(
        RejectReason::BlobUnavailable,
        "attachment storage unavailable, retry later",
    )
}

/// Counts the failed fetch and builds the answer: 422 `attachment` when the
/// message has to change, 503 `attachment_unavailable` with `Retry-After`
/// when the host may deliver later.
fn fetch_failed(event_id: Uuid, link: &AttachmentLink, error: &FetchError) -> Rejection {
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
        Rejection::new(RejectReason::AttachmentUnavailable, message)
            .logging(log_detail)
            .with_retry_after(ATTACHMENT_RETRY_AFTER)
    } else {
        Rejection::new(RejectReason::Attachment, message).logging(log_detail)
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
    channel: &ChatChannel,
    ctx: &ChannelContext,
    event_id: Uuid,
    links: &[AttachmentLink],
) -> Result<Vec<(usize, Attachment)>, Rejection> {
    // Every future owns what it uses (a borrowed stream item trips the
    // compiler's `Send` check of the handler future).
    let stage = futures::stream::iter(links.to_vec())
        .map(|link| {
            let fetcher = channel.fetcher.clone();
            let blobs = Arc::clone(&ctx.blobs);
            fetch_one(fetcher, blobs, event_id, link)
        })
        .buffered(FETCH_CONCURRENCY)
        .try_collect::<Vec<_>>();
    match tokio::time::timeout(FETCH_STAGE_DEADLINE, stage).await {
        Ok(Ok(fetched)) => Ok(fetched),
        Ok(Err(LinkError::Fetch(link, error))) => Err(fetch_failed(event_id, &link, &error)),
        Ok(Err(LinkError::Blob)) => Err(blob_unavailable()),
        Err(_) => {
            let secs = FETCH_STAGE_DEADLINE.as_secs();
            Err(Rejection::new(
                RejectReason::AttachmentUnavailable,
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
