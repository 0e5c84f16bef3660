//! The bus contract is tolerant: an event written by a newer adapter, with
//! fields this router does not know (at the top and inside nested objects),
//! is handled like any other event, not dead-lettered (rolling upgrades).

mod harness;

use harness::{Harness, chat_event, routes};
use intake_bus::cloudevent_headers;
use intake_event::SCHEMA_ID;

#[tokio::test]
async fn an_event_with_unknown_fields_is_routed_not_dead_lettered() {
    let mut h = Harness::new().await;
    let event = chat_event("newer-1", "v1", "written by a newer gateway");
    let mut json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
    json["sentiment"] = serde_json::json!({"score": 0.4, "model": "x"});
    json["contact"]["trust_level"] = "claimed".into();
    json["conversation"]["channel_thread_url"] = "https://chat.example/t/1".into();
    let headers = cloudevent_headers(
        &event.event_id.to_string(),
        "/intake/chat",
        SCHEMA_ID,
        event.received_at,
        None,
    );
    h.publish_raw(
        "chat",
        &event.contact.key,
        serde_json::to_vec(&json).unwrap(),
        headers,
    )
    .await;
    // Handled after it, on the same consumer: once its ticket exists, the
    // newer event has been handled one way or the other.
    h.publish(&chat_event("plain-2", "v2", "a plain event after it"))
        .await;
    h.start_router(h.options(routes()));
    h.wait_until(|h| {
        h.tickets()
            .iter()
            .any(|t| t["subject"] == "a plain event after it")
    })
    .await;

    let tickets = h.tickets();
    assert!(
        tickets
            .iter()
            .any(|t| t["subject"] == "written by a newer gateway"),
        "the newer event became no ticket: {tickets:#?}"
    );
    let letters = h.dead_letters("test-dlq").await;
    assert!(letters.is_empty(), "dead-lettered: {letters:#?}");
    h.stop_router().await;
}
