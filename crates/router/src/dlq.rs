//! Dead letters: the original record plus headers saying why.

use intake_bus::{Delivery, Record, Topics};

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
        }
    }

    pub fn from_zendesk(reason: DlqReason, error: &intake_zendesk::Error) -> Self {
        Self {
            reason,
            message: error.to_string(),
            log_message: error.log_summary().to_string(),
            zendesk_status: error.status(),
            zendesk_request_id: error.request_id().map(str::to_owned),
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
}
