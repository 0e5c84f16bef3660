//! The wire contract: ids, JSON round trips and the checked-in JSON Schema.

use chrono::{TimeZone, Utc};
use intake_event::{Attachment, BlobRef, Contact, ContactKey, SCHEMA_ID, TicketEvent, event_id};

fn sample() -> TicketEvent {
    let contact = Contact {
        key: ContactKey::email("Ольга.Иванова@Example.com")
            .unwrap()
            .into_string(),
        name: Some("Ольга Иванова 👩‍💻".into()),
        email: Some("ольга.иванова@example.com".into()),
        ..Contact::default()
    };
    let received = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    let mut event = TicketEvent::new(
        "chat",
        "msg_2Xb7",
        contact,
        "Здравствуйте! Не работает оплата.",
        received,
    );
    event.attachments.push(Attachment {
        filename: "счёт.pdf".into(),
        content_type: "application/pdf".into(),
        size: 3,
        sha256: "ab".repeat(32),
        blob: BlobRef("sha256/abab".into()),
    });
    event
}

#[test]
fn event_id_is_uuid_v5_of_channel_and_message_id() {
    let a = event_id("chat", "msg_1");
    assert_eq!(a, event_id("chat", "msg_1"), "same message, same id");
    assert_eq!(a.get_version_num(), 5);
    assert_ne!(
        a,
        event_id("telegram", "msg_1"),
        "channel is part of the id"
    );
    assert_ne!(a, event_id("chat", "msg_2"));
    // Pinned: changing the namespace would make every replay look new.
    assert_eq!(a.to_string(), event_id("chat", "msg_1").to_string());
    assert_eq!(sample().event_id, event_id("chat", "msg_2Xb7"));
}

#[test]
fn json_round_trip_keeps_unicode() {
    let event = sample();
    let bytes = event.to_json();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.contains("Здравствуйте"),
        "unicode kept as text: {text}"
    );
    assert_eq!(TicketEvent::from_json(&bytes).unwrap(), event);
}

#[test]
fn missing_optional_fields_default() {
    let id = event_id("telegram", "42");
    let json = format!(
        r#"{{"schema":"{SCHEMA_ID}","event_id":"{id}","channel":"telegram","channel_message_id":"42",
            "received_at":"2026-11-22T10:00:00Z","contact":{{"key":"telegram:7"}},"text":""}}"#
    );
    let event = TicketEvent::from_json(json.as_bytes()).unwrap();
    assert_eq!(event.text, "");
    assert!(event.attachments.is_empty());
    assert_eq!(event.contact.name, None);
    assert!(!event.auto_submitted);
    assert_eq!(
        event.zendesk_ticket, None,
        "an ordinary event names no ticket"
    );
}

#[test]
fn a_ticket_zendesk_created_round_trips_and_stays_optional() {
    let mut event = sample();
    assert!(
        !String::from_utf8(event.to_json())
            .unwrap()
            .contains("zendesk_ticket"),
        "left out when absent, so older readers see the same JSON"
    );
    event.zendesk_ticket = Some(intake_event::ZendeskTicket {
        ticket_id: 812,
        via: "email".into(),
        requester_id: 42,
    });
    let back = TicketEvent::from_json(&event.to_json()).unwrap();
    assert_eq!(back.zendesk_ticket, event.zendesk_ticket);
}

#[test]
fn tampered_or_foreign_events_are_rejected() {
    let mut event = sample();
    event.channel_message_id = "other".into();
    let err = TicketEvent::from_json(&event.to_json()).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");

    let mut event = sample();
    event.schema = "intake.ticket_event/v2".into();
    assert!(TicketEvent::from_json(&event.to_json()).is_err());

    assert!(TicketEvent::from_json(b"{not json").is_err());
}

#[test]
fn unknown_fields_from_a_newer_writer_are_ignored() {
    // A newer adapter adds optional fields, at the top and inside nested
    // objects; an older reader keeps everything it knows.
    let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value["surprise"] = serde_json::json!({"nested": [1, 2]});
    value["contact"]["trust_level"] = "high".into();
    value["conversation"] = serde_json::json!({"thread_id": "c1", "channel_thread": "x"});
    value["attachments"][0]["width_px"] = 640.into();
    let event = TicketEvent::from_json(&serde_json::to_vec(&value).unwrap()).unwrap();
    let mut expected = sample();
    expected.conversation.thread_id = Some("c1".into());
    assert_eq!(event, expected);
}

#[test]
fn dropped_fields_and_verified_round_trip_and_default() {
    let mut event = sample();
    assert!(
        !String::from_utf8(event.to_json())
            .unwrap()
            .contains("dropped_fields"),
        "omitted when empty"
    );
    assert!(
        !event.contact.verified,
        "unverified unless a channel vouches"
    );
    event.dropped_fields = vec!["author.phone".into(), "sent_at".into()];
    event.contact.verified = true;
    let bytes = event.to_json();
    let decoded = TicketEvent::from_json(&bytes).unwrap();
    assert_eq!(decoded.dropped_fields, ["author.phone", "sent_at"]);
    assert!(decoded.contact.verified);
}

#[test]
fn schema_publishes_the_text_limit_and_accepts_unknown_fields() {
    let schema = intake_event::json_schema();
    assert_eq!(
        schema["properties"]["text"]["maxLength"],
        intake_event::MAX_TEXT_CHARS
    );
    assert_ne!(schema["additionalProperties"], false, "{schema}");
    assert_eq!(
        schema["$defs"]["Contact"]["properties"]["verified"]["default"],
        false
    );
}

#[test]
fn checked_in_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema/ticket_event.v1.json");
    let current = serde_json::to_string_pretty(&intake_event::json_schema()).unwrap() + "\n";
    if std::env::var_os("INTAKE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &current).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == current,
        "docs/schema/ticket_event.v1.json is stale; regenerate with INTAKE_BLESS=1 cargo test -p intake-event"
    );
}
