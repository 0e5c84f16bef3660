//! Where an adapter keeps the original payload of a message before it
//! publishes the event: inside the event when it is small (no durable write
//! besides the bus's own), in the blob store when it is not.

use intake_blob::{BlobError, BlobStore};
use intake_event::{InlineRaw, MAX_INLINE_RAW_BYTES, MAX_RECORD_BYTES, TicketEvent};

/// 64 KiB: a chat message's body is a few KB, and its base64 (about 87 KB)
/// keeps the record far below the bus's record limit.
pub const DEFAULT_RAW_INLINE_MAX_BYTES: usize = 64 * 1024;

/// Largest event (JSON bytes) that may carry its raw payload inline: half the
/// bus's record limit. A larger one (long text and html next to the raw
/// body) stores the raw payload as a blob instead, so inlining never makes
/// a message too large for the bus that would have fitted with a reference.
pub const INLINE_EVENT_BUDGET_BYTES: usize = MAX_RECORD_BYTES / 2;

/// Where [`attach_raw`] put the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawPlacement {
    /// In `event.raw_inline`; nothing was written.
    Inline,
    /// In the blob store (durably, before returning); `event.raw` names it.
    Blob,
}

/// Sets the raw payload of `event` to `body`: inline when `body` is at most
/// `inline_max_bytes` (capped at [`MAX_INLINE_RAW_BYTES`]) and the event
/// then stays within [`INLINE_EVENT_BUDGET_BYTES`]; otherwise stored in
/// `blobs` (a durable write) and referenced. `inline_max_bytes = 0` always
/// uses the blob store.
pub async fn attach_raw(
    blobs: &dyn BlobStore,
    event: &mut TicketEvent,
    body: &[u8],
    inline_max_bytes: usize,
) -> Result<RawPlacement, BlobError> {
    let limit = inline_max_bytes.min(MAX_INLINE_RAW_BYTES);
    if !body.is_empty() && body.len() <= limit {
        event.raw = None;
        event.raw_inline = Some(InlineRaw::new(body));
        if event.to_json().len() <= INLINE_EVENT_BUDGET_BYTES {
            return Ok(RawPlacement::Inline);
        }
        event.raw_inline = None;
    }
    event.raw_inline = None;
    event.raw = Some(blobs.put(body).await?);
    Ok(RawPlacement::Blob)
}

/// Reads the raw payload of `event` in either form: decoded and checked
/// against its sha256 when inline, read (and checked) from `blobs` when a
/// reference. `Ok(None)`: the event has no raw payload.
pub async fn read_raw(
    blobs: &dyn BlobStore,
    event: &TicketEvent,
) -> Result<Option<Vec<u8>>, BlobError> {
    match event.raw_payload() {
        None => Ok(None),
        Some(intake_event::RawPayload::Inline(inline)) => inline
            .decode()
            .map(Some)
            .map_err(|_| BlobError::Corrupt(format!("raw_inline of event {}", event.event_id))),
        Some(intake_event::RawPayload::Blob(r)) => blobs.get(r).await.map(Some),
    }
}
