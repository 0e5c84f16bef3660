//! Dead letters of acknowledgements, in the project's DLQ shape: the
//! outcome record (same key, payload and headers) on `<prefix>.dlq` with the
//! `intake_error_*` and `intake_source_*` headers the router writes too, so
//! `intake dlq list|show` shows them. The reason is prefixed
//! `acknowledgement_` (`acknowledgement_rejected`,
//! `acknowledgement_retries_exhausted`, ...) to tell them from events.

use intake_bus::{Delivery, Record, Topics};

/// Longest `intake_error_message` kept, in characters.
const MAX_MESSAGE_CHARS: usize = 1000;
/// Prefix of every acknowledgement dead letter's reason.
pub const REASON_PREFIX: &str = "acknowledgement_";

fn is_error_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("intake_error_") || lower.starts_with("intake_source_")
}

/// The DLQ record for an outcome whose acknowledgement failed for good.
pub fn record(topics: &Topics, delivery: &Delivery, reason: &str, message: &str) -> Record {
    let mut headers: Vec<(String, String)> = delivery
        .headers
        .iter()
        .filter(|(name, _)| !is_error_header(name))
        .cloned()
        .collect();
    headers.extend([
        (
            "intake_error_reason".to_owned(),
            format!("{REASON_PREFIX}{reason}"),
        ),
        (
            "intake_error_message".to_owned(),
            message.chars().take(MAX_MESSAGE_CHARS).collect(),
        ),
        ("intake_source_topic".to_owned(), delivery.topic.clone()),
        (
            "intake_source_partition".to_owned(),
            delivery.partition.to_string(),
        ),
        (
            "intake_source_offset".to_owned(),
            delivery.offset.to_string(),
        ),
    ]);
    Record {
        topic: topics.dlq(),
        key: delivery.key.clone(),
        payload: delivery.payload.clone(),
        headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_keeps_the_outcome_and_names_the_reason_and_source() {
        let delivery = Delivery {
            topic: "intake.outcomes".to_owned(),
            partition: 0,
            offset: 17,
            key: "chat:v1".to_owned(),
            payload: b"{}".to_vec(),
            headers: vec![
                ("ce_id".to_owned(), "o-1".to_owned()),
                ("intake_error_reason".to_owned(), "stale".to_owned()),
            ],
        };
        let record = record(&Topics::new("intake"), &delivery, "rejected", "HTTP 400");
        assert_eq!(record.topic, "intake.dlq");
        assert_eq!(
            (record.key.as_str(), record.payload.as_slice()),
            ("chat:v1", &b"{}"[..])
        );
        assert_eq!(record.header("ce_id"), Some("o-1"));
        assert_eq!(
            record.header("intake_error_reason"),
            Some("acknowledgement_rejected")
        );
        assert_eq!(record.header("intake_error_message"), Some("HTTP 400"));
        assert_eq!(
            record.header("intake_source_topic"),
            Some("intake.outcomes")
        );
        assert_eq!(record.header("intake_source_offset"), Some("17"));
        let reasons = record
            .headers
            .iter()
            .filter(|(name, _)| name == "intake_error_reason")
            .count();
        assert_eq!(reasons, 1, "the stale error header is replaced");
    }
}
