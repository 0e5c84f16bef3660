//! `intake dlq show`: what a dead letter says about its raw payload, in
//! either form (inside the event, or a blob reference).

use intake_event::{RawPayload, TicketEvent};

/// A line (and, for an inline payload that checks out, the payload itself)
/// describing the raw payload of the event in `payload`; `None` when the
/// payload is not an event or has no raw payload.
pub(super) fn describe(payload: &[u8]) -> Option<String> {
    // Not `from_json`: a letter may be dead precisely because its id or
    // schema is wrong, and its raw payload is still worth showing.
    let event: TicketEvent = serde_json::from_slice(payload).ok()?;
    Some(match event.raw_payload()? {
        RawPayload::Blob(r) => format!("raw payload: in the blob store as {}\n", r.as_str()),
        RawPayload::Inline(inline) => match inline.decode() {
            Ok(bytes) => format!(
                "raw payload: inline, {} bytes, sha256 {} (verified)\n{}\n",
                bytes.len(),
                inline.sha256,
                String::from_utf8_lossy(&bytes)
            ),
            Err(e) => format!("raw payload: inline, INVALID: {e}\n"),
        },
    })
}

#[cfg(test)]
mod tests {
    use intake_event::{BlobRef, Contact, InlineRaw};

    use super::*;

    fn event() -> TicketEvent {
        let contact = Contact {
            key: "chat:v".into(),
            ..Contact::default()
        };
        TicketEvent::new("chat", "m", contact, "hi", Default::default())
    }

    #[test]
    fn inline_payloads_are_decoded_and_verified() {
        let mut e = event();
        e.raw_inline = Some(InlineRaw::new(br#"{"text":"hi"}"#));
        let text = describe(&e.to_json()).unwrap();
        assert!(text.contains("inline, 13 bytes"), "{text}");
        assert!(text.contains("(verified)"), "{text}");
        assert!(text.contains(r#"{"text":"hi"}"#), "{text}");

        let mut tampered = e.clone();
        tampered.raw_inline.as_mut().unwrap().base64 = InlineRaw::new(b"other").base64;
        let text = describe(&tampered.to_json()).unwrap();
        assert!(text.contains("INVALID"), "{text}");
        assert!(!text.contains("other"), "{text}");
    }

    #[test]
    fn blob_references_are_named() {
        let mut e = event();
        let blob = format!("sha256/{}", "c".repeat(64));
        e.raw = Some(BlobRef(blob.clone()));
        let text = describe(&e.to_json()).unwrap();
        assert_eq!(text, format!("raw payload: in the blob store as {blob}\n"));
    }

    #[test]
    fn no_raw_payload_or_no_event_says_nothing() {
        assert_eq!(describe(&event().to_json()), None);
        assert_eq!(describe(b"not json"), None);
    }
}
