//! Through the handler: a message with invalid optional fields and unknown
//! fields is accepted (202), the event names the dropped fields, and the
//! metric counts them by field name (unknown ones as `unknown`).

mod common;

use axum::http::StatusCode;
use common::{harness, options, send, signed};
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::test]
async fn bad_optional_fields_are_dropped_counted_and_the_message_accepted() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let h = harness(options());
    let body = serde_json::json!({
        "conversation_id": "c-1",
        "sent_at": "not a time",
        "author": {"id": "v-1", "phone": "8 999 123-45-67", "email": "anna@example.com",
                   "loyalty_tier": "gold"},
        "text": "Моё сообщение не должно потеряться",
        "page_url": format!("https://shop.example/{}", "x".repeat(5000)),
        "vendor_session": {"id": "s-1"},
        "vendor_flags": [1, 2],
    })
    .to_string();
    let (status, _, answer) = send(&h.app, signed("tolerant-1", &body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    let events = h.events();
    let event = &events[0];
    assert_eq!(event.text, "Моё сообщение не должно потеряться");
    assert_eq!(
        event.contact.email.as_deref(),
        Some("anna@example.com"),
        "valid fields kept"
    );
    let mut dropped = event.dropped_fields.clone();
    dropped.sort();
    assert_eq!(dropped, ["author.phone", "page_url", "sent_at"]);

    let rendered = handle.render();
    for line in [
        r#"intake_fields_dropped_total{channel="chat",field="author.phone"} 1"#,
        r#"intake_fields_dropped_total{channel="chat",field="page_url"} 1"#,
        r#"intake_fields_dropped_total{channel="chat",field="sent_at"} 1"#,
        r#"intake_fields_dropped_total{channel="chat",field="unknown"} 3"#,
    ] {
        assert!(rendered.contains(line), "missing {line} in\n{rendered}");
    }
    // Unknown names never become label values.
    assert!(!rendered.contains("vendor_session"), "{rendered}");
    assert!(!rendered.contains("loyalty_tier"), "{rendered}");
    assert!(!rendered.contains(r#"reason="schema""#), "{rendered}");
}
