//! The two wire forms of the raw payload: inline (`raw_inline`) and a blob
//! reference (`raw`), read by old and new readers alike.

use chrono::{TimeZone, Utc};
use intake_event::{BlobRef, Contact, InlineRaw, RawPayload, SCHEMA_ID, TicketEvent, event_id};

fn event() -> TicketEvent {
    let contact = Contact {
        key: "chat:v_1".into(),
        ..Contact::default()
    };
    let received = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    TicketEvent::new("chat", "msg_raw", contact, "hello", received)
}

#[test]
fn inline_raw_round_trips_on_the_wire_and_verifies() {
    let body = br#"{"text":"hello \u00e9"}"#;
    let mut event = event();
    event.raw_inline = Some(InlineRaw::new(body));
    let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
    assert_eq!(json["raw_inline"]["size"], body.len());
    assert_eq!(json["raw_inline"]["sha256"], intake_event_sha(body));
    assert!(json.get("raw").is_none(), "no blob reference: {json}");

    let back = TicketEvent::from_json(&event.to_json()).unwrap();
    let Some(RawPayload::Inline(inline)) = back.raw_payload() else {
        panic!("inline form expected: {:?}", back.raw_payload());
    };
    assert_eq!(inline.decode().unwrap(), body);
}

fn intake_event_sha(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn an_older_event_with_a_blob_reference_still_reads() {
    let id = event_id("chat", "old");
    let blob = format!("sha256/{}", "a".repeat(64));
    let json = format!(
        r#"{{"schema":"{SCHEMA_ID}","event_id":"{id}","channel":"chat","channel_message_id":"old",
            "received_at":"2026-11-22T10:00:00Z","contact":{{"key":"chat:v"}},"text":"","raw":"{blob}"}}"#
    );
    let event = TicketEvent::from_json(json.as_bytes()).unwrap();
    assert_eq!(event.raw_payload(), Some(RawPayload::Blob(&BlobRef(blob))));
    assert_eq!(event.raw_inline, None);
}

/// What a router built before `raw_inline` existed reads of an event: the
/// v1 fields, `raw` as a string, unknown fields ignored.
#[derive(serde::Deserialize)]
struct OlderReader {
    text: String,
    raw: Option<String>,
}

#[test]
fn an_older_reader_reads_a_newer_inline_event() {
    let mut event = event();
    event.raw_inline = Some(InlineRaw::new(b"{}"));
    let old: OlderReader = serde_json::from_slice(&event.to_json()).unwrap();
    assert_eq!(old.text, "hello");
    assert_eq!(old.raw, None);

    let mut event = self::event();
    event.raw = Some(BlobRef(format!("sha256/{}", "b".repeat(64))));
    let old: OlderReader = serde_json::from_slice(&event.to_json()).unwrap();
    assert_eq!(old.raw.as_deref(), event.raw.as_ref().map(BlobRef::as_str));
}

#[test]
fn schema_names_both_forms() {
    let schema = intake_event::json_schema();
    let props = &schema["properties"];
    assert!(props["raw"].is_object(), "{schema}");
    assert!(props["raw_inline"].is_object(), "{schema}");
    let inline = &schema["$defs"]["InlineRaw"]["properties"];
    for field in ["base64", "sha256", "size"] {
        assert!(inline[field].is_object(), "{field}: {schema}");
    }
}
