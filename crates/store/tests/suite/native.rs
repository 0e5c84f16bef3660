//! Tickets Zendesk created in its own channels (migration 0012).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use intake_store::{NativeTicket, NativeTicketState, StateStore};

fn native(ticket_id: u64, text: &str) -> NativeTicket {
    NativeTicket {
        ticket_id,
        via_channel: "email".to_owned(),
        requester_id: 42,
        requester_email: Some("ann@example.com".to_owned()),
        subject: Some("Оплата".to_owned()),
        text: text.to_owned(),
        received_at: Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap(),
    }
}

pub async fn native_tickets_are_recorded_once_and_marked_applied_once(store: Arc<dyn StateStore>) {
    assert_eq!(store.native_ticket(7).await.unwrap(), None);
    let first = native(7, "first");
    assert_eq!(
        store.record_native_ticket(&first).await.unwrap(),
        NativeTicketState::Received
    );
    // A redelivery with other contents changes nothing.
    assert_eq!(
        store
            .record_native_ticket(&native(7, "second"))
            .await
            .unwrap(),
        NativeTicketState::Received
    );
    store.native_ticket_published(7).await.unwrap();
    assert_eq!(
        store.native_ticket(7).await.unwrap(),
        Some((first.clone(), NativeTicketState::Published))
    );
    assert_eq!(
        store.record_native_ticket(&first).await.unwrap(),
        NativeTicketState::Published
    );
    assert!(store.native_ticket_applied(&first).await.unwrap());
    assert!(
        !store.native_ticket_applied(&first).await.unwrap(),
        "applied once"
    );
    // Published after applied (a slow gateway) does not go back.
    store.native_ticket_published(7).await.unwrap();
    assert_eq!(
        store.native_ticket(7).await.unwrap().map(|(_, s)| s),
        Some(NativeTicketState::Applied)
    );
    // A router whose store never saw the gateway's record records it applied.
    let other = native(8, "elsewhere");
    assert!(store.native_ticket_applied(&other).await.unwrap());
    assert_eq!(
        store.native_ticket(8).await.unwrap(),
        Some((other, NativeTicketState::Applied))
    );
    assert!(store.native_ticket(9).await.unwrap().is_none());
}
