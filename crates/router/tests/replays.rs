//! Replays that must not make a second ticket (issue 8 point 6): a success
//! Zendesk answered with an unreadable body, and an event older than the
//! idempotency key's life replayed into a state store that never saw it.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{Harness, chat_event, fault, routes};
use intake_store::{Effect, SqliteStore, StateStore};
use serde_json::json;

fn creations(requests: &[serde_json::Value]) -> usize {
    requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/api/v2/tickets")
        .count()
}

fn external_id_lookups(requests: &[serde_json::Value]) -> usize {
    requests
        .iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"] == "/api/v2/tickets"
                && r["query"]
                    .as_str()
                    .is_some_and(|q| q.contains("external_id="))
        })
        .count()
}

#[tokio::test]
async fn a_created_ticket_whose_answer_is_unreadable_is_found_not_made_again() {
    let mut h = Harness::new().await;
    // Zendesk creates the ticket, but the client gets a 201 it cannot read.
    h.add_fault(json!({"status": 201, "count": 1, "after_processing": true,
        "path_prefix": "/api/v2/tickets"}))
        .await;
    let event = chat_event("u-1", "v1", "answer lost on the way");
    h.publish(&event).await;
    h.publish(&chat_event("u-2", "v2", "marker")).await;
    // The one-time fault must hit the event published first.
    h.start_router(h.serial_options(routes()));
    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "marker"))
        .await;
    h.stop_router().await;

    let tickets = h.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:#?}");
    let link = h
        .store
        .ticket_for_event(event.event_id)
        .await
        .unwrap()
        .expect("the event is recorded with the ticket Zendesk made");
    assert_eq!(
        (Some(link.ticket_id), link.effect),
        (tickets[0]["id"].as_u64(), Effect::Created)
    );
    assert_eq!(h.store.pending_effect(event.event_id).await.unwrap(), None);
    assert!(h.dead_letters("check").await.is_empty());
    assert_eq!(creations(&h.requests().await), 2, "one creation per event");
}

#[tokio::test]
async fn an_event_older_than_the_key_life_replayed_into_a_fresh_store_finds_its_ticket() {
    let mut h = Harness::new().await;
    let mut event = chat_event("o-1", "v1", "sent three hours ago");
    event.received_at = chrono::Utc::now() - chrono::Duration::hours(3);
    // A previous router made the ticket (keyed by the event id), then its
    // state store was lost; Zendesk has since forgotten the key.
    let earlier = intake_zendesk::NewTicket {
        subject: Some("sent three hours ago".to_owned()),
        comment: intake_zendesk::Comment {
            body: Some(event.text.clone()),
            public: true,
            ..Default::default()
        },
        external_id: Some(event.event_id.to_string()),
        ..Default::default()
    };
    let key = event.event_id.to_string();
    let created = h.client.create_ticket(&earlier, Some(&key)).await.unwrap();
    h.sim
        .state()
        .advance_clock(Duration::from_secs(2 * 3600 + 60));

    h.publish(&event).await;
    h.publish(&chat_event("o-2", "v2", "marker")).await;
    h.start_router(h.options(routes()));
    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "marker"))
        .await;
    h.stop_router().await;

    assert_eq!(h.tickets().len(), 2, "no second ticket for the old event");
    let link = h
        .store
        .ticket_for_event(event.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.ticket_id, created.ticket.id);
    assert_eq!(
        creations(&h.requests().await),
        2,
        "the earlier one and the marker's"
    );
}

#[tokio::test]
async fn a_young_event_replayed_into_a_fresh_store_gets_its_first_ticket_from_the_key() {
    let mut h = Harness::new().await;
    let event = chat_event("y-1", "v1", "sent a minute ago");
    h.publish(&event).await;
    h.start_router(h.options(routes()));
    let first = h.wait_for_tickets(1).await[0]["id"].clone();
    h.stop_router().await;

    // The state store is lost and the bus position replayed (a restore).
    let fresh = Arc::new(
        SqliteStore::open(h.dir.path().join("restored.db"))
            .await
            .unwrap(),
    );
    h.store = fresh;
    h.publish(&event).await;
    h.publish(&chat_event("y-2", "v2", "marker")).await;
    h.start_router(h.options(routes()));
    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "marker"))
        .await;
    h.stop_router().await;

    assert_eq!(h.tickets().len(), 2, "the replay got the first ticket back");
    let link = h
        .store
        .ticket_for_event(event.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(link.ticket_id), first.as_u64());
    // Within the key's life the key alone is the guard: no look-up call.
    assert_eq!(external_id_lookups(&h.requests().await), 0);
}

#[tokio::test]
async fn a_refused_creation_still_clears_its_pending_row() {
    let mut h = Harness::new().await;
    h.add_fault(fault(422, 1, "/api/v2/tickets")).await;
    let event = chat_event("r-1", "v1", "refused");
    h.publish(&event).await;
    h.start_router(h.options(routes()));
    let letters = h.wait_for_dead_letters(1).await;
    h.stop_router().await;
    assert_eq!(letters[0].header("intake_zendesk_status"), Some("422"));
    assert_eq!(h.store.pending_effect(event.event_id).await.unwrap(), None);
}
