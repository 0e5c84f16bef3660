//! The message's files: `getFile` and the download into the blob store.
//! A file over the size limit (ours, or Telegram's 20 MB for bots) or one
//! Telegram refuses is named on the ticket and counted, never dropped
//! silently; a failure that may pass (network, 5xx, 429) refuses the
//! delivery with 503 so that Telegram sends it again.

use intake_channel::webhook::{Normalised, Rejection};
use intake_channel::{ChannelContext, RejectReason};
use intake_event::{Attachment, MAX_TEXT_CHARS};
use uuid::Uuid;

use crate::api::{ApiError, BotApi};
use crate::events::FileNotDownloaded;
use crate::normalise::FileRef;

pub(crate) async fn fetch_all(
    api: &BotApi,
    limit: u64,
    ctx: &ChannelContext,
    event_id: Uuid,
    message: &mut Normalised<Vec<FileRef>>,
) -> Result<(), Rejection> {
    let mut notes = Vec::new();
    for file in std::mem::take(&mut message.extra) {
        let result = match file.size {
            Some(size) if size > limit => Err(ApiError::TooLarge { limit }),
            _ => api.download(&file.file_id, limit).await,
        };
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, channel = crate::CHANNEL, event_id = %event_id, "file download failed");
                return Err(Rejection::new(
                    RejectReason::AttachmentUnavailable,
                    "a file of the message could not be fetched from Telegram, retry later",
                ));
            }
            Err(e) => {
                let too_large = matches!(e, ApiError::TooLarge { .. })
                    || matches!(&e, ApiError::Refused { description, .. } if description.contains("too big"));
                let reason = if too_large { "too_large" } else { "refused" };
                let detail = e.to_string();
                FileNotDownloaded {
                    event_id,
                    reason,
                    detail: &detail,
                }
                .emit();
                let size = file
                    .size
                    .map(|s| format!(", {s} bytes"))
                    .unwrap_or_default();
                let why = if too_large {
                    format!("larger than the download limit of {limit} bytes")
                } else {
                    "Telegram refused the download".to_owned()
                };
                notes.push(format!(
                    "[{} {:?}{size} not attached: {why}]",
                    file.kind, file.filename
                ));
                continue;
            }
        };
        let blob = ctx.blobs.put(&bytes).await.map_err(|e| {
            tracing::warn!(error = %e, channel = crate::CHANNEL, event_id = %event_id, "attachment store failed");
            Rejection::new(RejectReason::BlobUnavailable, "attachment storage unavailable, retry later")
        })?;
        message.event.attachments.push(Attachment {
            filename: file.filename,
            content_type: file.content_type,
            size: bytes.len() as u64,
            sha256: intake_blob::sha256_hex(&bytes),
            blob,
        });
    }
    if !notes.is_empty() {
        let text = format!("{}\n{}", message.event.text, notes.join("\n"));
        message.event.text = text.chars().take(MAX_TEXT_CHARS).collect();
    }
    Ok(())
}
