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
    // A plain event beside it: the lanes handle the two concurrently (two
    // conversations), so each is waited for on its own; a dead-lettered
    // newer event never becomes a ticket and the wait fails.
    h.publish(&chat_event("plain-2", "v2", "a plain event after it"))
        .await;
    h.start_router(h.options(routes()));
    h.wait_until(|h| {
        let tickets = h.tickets();
        let made = |subject: &str| tickets.iter().any(|t| t["subject"] == subject);
        made("a plain event after it") && made("written by a newer gateway")
    })
    .await;

    let letters = h.dead_letters("test-dlq").await;
    assert!(letters.is_empty(), "dead-lettered: {letters:#?}");
    h.stop_router().await;
}
