//! Dead letters: the original record plus headers saying why.
//!
//! # A dead letter the bus refuses
//! A record close to the bus's size limit can be pushed over it by the
//! error headers, and the DLQ then refuses it for good. The router does not
//! stop on that (it would stop again on the same record after a restart):
//! 1. it stores the payload in the blob store and writes the letter with an
//!    empty payload and a [`PAYLOAD_BLOB_HEADER`] naming the blob;
//! 2. should that be refused too, it writes a minimal letter: only the error
//!    headers (message cut to [`MINIMAL_MESSAGE_CHARS`]), `ce_id` and the
//!    blob header;
//! 3. should even that be refused, the bus refuses every dead letter (a
//!    missing topic, no permission): the router stops with the error and the
//!    event stays unmarked on its topic, so nothing is lost.
//!
//! A record with an empty payload and a [`PAYLOAD_BLOB_HEADER`] (what
//! `intake dlq replay` republishes from such a letter: the header is not an
//! error header, so it is kept) is read from the blob store by the router
//! before decoding. The blob store's retention must therefore outlast the
//! time dead letters wait for a replay, as for attachments.

use std::sync::Arc;

use intake_blob::BlobStore;
use intake_bus::{BusError, Delivery, Publisher, Record, Topics};
use intake_event::BlobRef;

use crate::RouterError;
use crate::telemetry::{DeadLetterReduced, DeadLettered};
use crate::worker::{Step, Worker};

/// Header of a record whose payload is in the blob store (`sha256/<hex>`).
pub const PAYLOAD_BLOB_HEADER: &str = "intake_payload_blob";
/// Size of the payload kept in the blob store, in bytes (informational).
const PAYLOAD_BYTES_HEADER: &str = "intake_error_payload_bytes";
/// Longest `intake_error_message` kept in a minimal letter, in characters.
pub const MINIMAL_MESSAGE_CHARS: usize = 200;

/// Fixed codes for `intake_error_reason` (also the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DlqReason {
    /// The payload is not a valid `TicketEvent`.
    UndecodableEvent,
    /// The event names no contact to make a requester from.
    RequesterMissing,
    /// Zendesk refused to create or update the requester.
    RequesterRejected,
    /// An attachment's bytes are not in the blob store.
    AttachmentUnavailable,
    /// Zendesk refused an attachment upload.
    AttachmentRejected,
    /// Zendesk refused the ticket, comment or a look-up permanently.
    ZendeskRejected,
    /// The record's payload was moved to the blob store (an oversized dead
    /// letter) and is not there any more.
    PayloadUnavailable,
    /// Retryable failures went on past `router.retry_max_attempts` or
    /// `router.retry_max_age_secs` (the history is in `intake_error_history`).
    RetriesExhausted,
}

impl DlqReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DlqReason::UndecodableEvent => "undecodable_event",
            DlqReason::RequesterMissing => "requester_missing",
            DlqReason::RequesterRejected => "requester_rejected",
            DlqReason::AttachmentUnavailable => "attachment_unavailable",
            DlqReason::AttachmentRejected => "attachment_rejected",
            DlqReason::ZendeskRejected => "zendesk_rejected",
            DlqReason::PayloadUnavailable => "payload_unavailable",
            DlqReason::RetriesExhausted => "retries_exhausted",
        }
    }
}

/// A permanent failure of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub reason: DlqReason,
    pub message: String,
    pub zendesk_status: Option<u16>,
    pub zendesk_request_id: Option<String>,
    /// What the log line says: without Zendesk's `details`, which can echo
    /// customer data (the DLQ header keeps the full message for operators).
    pub log_message: String,
    /// Earlier failures of the event, oldest first (one line each), for a
    /// letter of retries spent; header `intake_error_history` (a JSON array).
    pub history: Vec<String>,
}

impl DeadLetter {
    pub fn new(reason: DlqReason, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            reason,
            log_message: message.clone(),
            message,
            zendesk_status: None,
            zendesk_request_id: None,
            history: Vec::new(),
        }
    }

    pub fn from_zendesk(reason: DlqReason, error: &intake_zendesk::Error) -> Self {
        Self {
            reason,
            message: error.to_string(),
            log_message: error.log_summary().to_string(),
            zendesk_status: error.status(),
            zendesk_request_id: error.request_id().map(str::to_owned),
            history: Vec::new(),
        }
    }
}

/// Longest `intake_error_message` header kept, in characters.
const MAX_MESSAGE_CHARS: usize = 1000;

/// The DLQ record for `delivery`: same key and payload, the original headers
/// (minus stale `intake_*` error headers) and the error headers.
pub fn record(topics: &Topics, delivery: &Delivery, letter: &DeadLetter) -> Record {
    let mut headers: Vec<(String, String)> = delivery
        .headers
        .iter()
        .filter(|(name, _)| !is_error_header(name))
        .cloned()
        .collect();
    let message: String = letter.message.chars().take(MAX_MESSAGE_CHARS).collect();
    headers.extend([
        (
            "intake_error_reason".to_owned(),
            letter.reason.as_str().to_owned(),
        ),
        ("intake_error_message".to_owned(), message),
        ("intake_source_topic".to_owned(), delivery.topic.clone()),
        (
            "intake_source_offset".to_owned(),
            delivery.offset.to_string(),
        ),
        (
            "intake_source_partition".to_owned(),
            delivery.partition.to_string(),
        ),
    ]);
    if let Some(status) = letter.zendesk_status {
        headers.push(("intake_zendesk_status".to_owned(), status.to_string()));
    }
    if !letter.history.is_empty() {
        let history = serde_json::Value::from(letter.history.clone()).to_string();
        headers.push(("intake_error_history".to_owned(), history));
    }
    if let Some(request_id) = &letter.zendesk_request_id {
        headers.push(("intake_zendesk_request_id".to_owned(), request_id.clone()));
    }
    Record {
        topic: topics.dlq(),
        key: delivery.key.clone(),
        payload: delivery.payload.clone(),
        headers,
    }
}

/// `record` without its payload, which is in the blob store under `blob`.
pub fn with_payload_in_blob(record: &Record, blob: &BlobRef) -> Record {
    let mut headers = record.headers.clone();
    headers.extend([
        (PAYLOAD_BLOB_HEADER.to_owned(), blob.as_str().to_owned()),
        (
            PAYLOAD_BYTES_HEADER.to_owned(),
            record.payload.len().to_string(),
        ),
    ]);
    Record {
        topic: record.topic.clone(),
        key: record.key.clone(),
        payload: Vec::new(),
        headers,
    }
}

/// The smallest useful letter: its error headers (message cut to
/// [`MINIMAL_MESSAGE_CHARS`]), `ce_id` and the payload's blob.
pub fn minimal(record: &Record, blob: Option<&BlobRef>) -> Record {
    let mut headers: Vec<(String, String)> = record
        .headers
        .iter()
        .filter(|(name, _)| {
            (is_error_header(name) && name != "intake_error_history") || name == "ce_id"
        })
        .map(|(name, value)| {
            let value = if name == "intake_error_message" {
                value.chars().take(MINIMAL_MESSAGE_CHARS).collect()
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect();
    if let Some(blob) = blob {
        headers.push((PAYLOAD_BLOB_HEADER.to_owned(), blob.as_str().to_owned()));
    }
    Record {
        topic: record.topic.clone(),
        key: record.key.clone(),
        payload: Vec::new(),
        headers,
    }
}

/// The blob holding the payload of a record that carries none itself.
pub fn payload_blob(delivery: &Delivery) -> Option<BlobRef> {
    if !delivery.payload.is_empty() {
        return None;
    }
    let blob = delivery.header(PAYLOAD_BLOB_HEADER)?.trim();
    (!blob.is_empty()).then(|| BlobRef(blob.to_owned()))
}

/// How one publish of a dead letter ended.
enum Published {
    Yes,
    /// The bus refused it permanently.
    Refused(BusError),
    Interrupted,
}

impl Worker {
    /// Writes the dead letter of `delivery` (reduced when the bus refuses it
    /// as it is, see the module doc) and its outcome; the caller then marks
    /// the delivery done.
    pub(crate) async fn dead_letter(
        &self,
        channel: &str,
        delivery: &Delivery,
        event_id: &str,
        letter: &DeadLetter,
    ) -> Result<Step, RouterError> {
        let publisher = &self.publisher;
        let full = record(self.topics(), delivery, letter);
        let refusal = match self.publish_letter(publisher, &full).await {
            Published::Yes => None,
            Published::Interrupted => return Ok(Step::Interrupted),
            Published::Refused(refusal) => Some(refusal),
        };
        if let Some(refusal) = refusal {
            let Some(blob) = self.payload_to_blob(&full.payload).await else {
                return Ok(Step::Interrupted);
            };
            let reduced = with_payload_in_blob(&full, &blob);
            let form = match self.publish_letter(publisher, &reduced).await {
                Published::Yes => "payload_in_blob",
                Published::Interrupted => return Ok(Step::Interrupted),
                Published::Refused(_) => {
                    match self
                        .publish_letter(publisher, &minimal(&full, Some(&blob)))
                        .await
                    {
                        Published::Yes => "minimal",
                        Published::Interrupted => return Ok(Step::Interrupted),
                        Published::Refused(error) => return Err(RouterError::Bus(error)),
                    }
                }
            };
            DeadLetterReduced {
                channel,
                event_id,
                form,
                payload_bytes: full.payload.len(),
                refusal: &refusal.to_string(),
            }
            .emit();
        }
        DeadLettered {
            channel,
            event_id,
            reason: letter.reason.as_str(),
            message: &letter.log_message,
            zendesk_status: letter.zendesk_status,
            zendesk_request_id: letter.zendesk_request_id.as_deref(),
        }
        .emit();
        let outcome = crate::outcome::for_dead_letter(channel, delivery, letter);
        if !self.publish_outcome(delivery, &outcome).await? {
            return Ok(Step::Interrupted);
        }
        Ok(Step::Done)
    }

    /// Publishes `letter`, retrying retryable failures with backoff.
    async fn publish_letter(&self, publisher: &Arc<dyn Publisher>, letter: &Record) -> Published {
        let mut backoff = self.backoff();
        loop {
            match publisher.publish(letter.clone()).await {
                Ok(_) => return Published::Yes,
                Err(e) if e.is_retryable() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, "dead-letter publish failed, retrying");
                    if !self.wait(delay).await {
                        return Published::Interrupted;
                    }
                }
                Err(e) => return Published::Refused(e),
            }
        }
    }

    /// Stores `payload` in the blob store, retrying while it is unavailable;
    /// None when shutdown came first.
    async fn payload_to_blob(&self, payload: &[u8]) -> Option<BlobRef> {
        let blobs: &Arc<dyn BlobStore> = &self.processor.blobs;
        let mut backoff = self.backoff();
        loop {
            match blobs.put(payload).await {
                Ok(blob) => return Some(blob),
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, "storing a dead letter's payload failed, retrying");
                    if !self.wait(delay).await {
                        return None;
                    }
                }
            }
        }
    }
}

/// Headers the router adds when it dead-letters a record (`intake_error_*`,
/// `intake_source_*`, `intake_zendesk_*`); a replay drops them.
pub fn is_error_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("intake_error_")
        || lower.starts_with("intake_source_")
        || lower.starts_with("intake_zendesk_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlq_record_keeps_the_original_and_adds_error_headers() {
        let delivery = Delivery {
            topic: "intake.events.chat".to_owned(),
            partition: 0,
            offset: 17,
            key: "chat:v1".to_owned(),
            payload: b"{oops".to_vec(),
            headers: vec![
                ("ce_id".to_owned(), "abc".to_owned()),
                ("intake_error_reason".to_owned(), "stale".to_owned()),
            ],
        };
        let mut letter = DeadLetter::new(DlqReason::ZendeskRejected, "x".repeat(5000));
        letter.zendesk_status = Some(422);
        letter.zendesk_request_id = Some("req-1".to_owned());
        let record = record(&Topics::new("intake"), &delivery, &letter);
        assert_eq!(record.topic, "intake.dlq");
        assert_eq!(record.key, "chat:v1");
        assert_eq!(record.payload, b"{oops");
        assert_eq!(record.header("ce_id"), Some("abc"));
        assert_eq!(
            record.header("intake_error_reason"),
            Some("zendesk_rejected")
        );
        let reasons = record
            .headers
            .iter()
            .filter(|(k, _)| k == "intake_error_reason")
            .count();
        assert_eq!(reasons, 1, "stale error headers are replaced");
        assert_eq!(
            record
                .header("intake_error_message")
                .map(|m| m.chars().count()),
            Some(1000)
        );
        assert_eq!(
            record.header("intake_source_topic"),
            Some("intake.events.chat")
        );
        assert_eq!(record.header("intake_source_offset"), Some("17"));
        assert_eq!(record.header("intake_zendesk_status"), Some("422"));
        assert_eq!(record.header("intake_zendesk_request_id"), Some("req-1"));
    }

    #[test]
    fn reduced_letters_keep_what_a_replay_needs() {
        let delivery = Delivery {
            topic: "intake.events.chat".to_owned(),
            partition: 0,
            offset: 3,
            key: "chat:v1".to_owned(),
            payload: vec![b'x'; 1000],
            headers: vec![
                ("ce_id".to_owned(), "abc".to_owned()),
                ("ce_source".to_owned(), "/intake/chat".to_owned()),
            ],
        };
        let letter = DeadLetter::new(DlqReason::UndecodableEvent, "é".repeat(900));
        let full = record(&Topics::new("intake"), &delivery, &letter);
        let blob = BlobRef(format!("sha256/{}", "ab".repeat(32)));

        let moved = with_payload_in_blob(&full, &blob);
        assert!(moved.payload.is_empty());
        assert_eq!(moved.header(PAYLOAD_BLOB_HEADER), Some(blob.as_str()));
        assert_eq!(moved.header(PAYLOAD_BYTES_HEADER), Some("1000"));
        assert_eq!(moved.header("ce_source"), Some("/intake/chat"));
        assert_eq!(
            (moved.topic.as_str(), moved.key.as_str()),
            ("intake.dlq", "chat:v1")
        );

        let small = minimal(&full, Some(&blob));
        assert!(small.payload.is_empty());
        assert_eq!(small.header("ce_source"), None, "original headers dropped");
        assert_eq!(small.header("ce_id"), Some("abc"));
        assert_eq!(
            small.header("intake_error_reason"),
            Some("undecodable_event")
        );
        assert_eq!(small.header("intake_source_offset"), Some("3"));
        assert_eq!(
            small
                .header("intake_error_message")
                .map(|m| m.chars().count()),
            Some(MINIMAL_MESSAGE_CHARS)
        );
        assert_eq!(small.header(PAYLOAD_BLOB_HEADER), Some(blob.as_str()));

        // What a replay republishes from it: read from the blob store.
        let replayed = Delivery {
            topic: "intake.events.chat".to_owned(),
            partition: 0,
            offset: 9,
            key: small.key.clone(),
            payload: Vec::new(),
            headers: small
                .headers
                .iter()
                .filter(|(name, _)| !is_error_header(name))
                .cloned()
                .collect(),
        };
        assert_eq!(payload_blob(&replayed), Some(blob));
        assert_eq!(payload_blob(&delivery), None, "a payload of its own wins");
    }
}
