//! A dead letter the bus refuses for its size (issue 8 point 7): the router
//! moves the payload to the blob store, writes a smaller letter and goes on;
//! a replay of that letter reads the payload back. On the embedded bus
//! behind a size limit, and on the real Kafka broker (`message.max.bytes`).

mod harness;

use std::sync::Arc;

use harness::limited::{LimitedBus, record_bytes};
use harness::{Harness, chat_event, fault, routes};
use intake_blob::BlobStore;
use intake_bus::{Record, cloudevent_headers};
use intake_event::{BlobRef, SCHEMA_ID, TicketEvent};
use intake_router::{PAYLOAD_BLOB_HEADER, is_error_header};

/// The bus record the gateway would publish for `event`.
fn record_of(h: &Harness, event: &TicketEvent, extra_headers: &[(&str, String)]) -> Record {
    let mut headers = cloudevent_headers(
        &event.event_id.to_string(),
        "/intake/chat",
        SCHEMA_ID,
        event.received_at,
        None,
    );
    headers.extend(
        extra_headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone())),
    );
    Record {
        topic: h.topics.events("chat"),
        key: event.contact.key.clone(),
        payload: event.to_json(),
        headers,
    }
}

/// The error headers of a Zendesk 422 dead letter add more than this (the
/// reason, the message with its request id, the source topic, offset and
/// partition, the status and request id: about 380 bytes).
const ERROR_HEADER_BYTES: usize = 300;

/// An event whose bus record is exactly `bytes` long ([`record_bytes`]).
fn event_of(h: &Harness, bytes: usize) -> TicketEvent {
    let mut event = chat_event("big-1", "v1", "Big message\n");
    let base = record_bytes(&record_of(h, &event, &[]));
    event.text.push_str(&"x".repeat(bytes - base));
    assert_eq!(record_bytes(&record_of(h, &event, &[])), bytes);
    event
}

/// Zendesk refuses the big event once; its dead letter is refused by the bus;
/// a marker behind it is still routed; replaying the letter makes the ticket.
/// The event's record is `ERROR_HEADER_BYTES / 2` under `limit` (room for
/// Kafka's own record overhead), so the dead letter is over it.
async fn refused_dead_letter_round_trip(mut h: Harness, limit: usize) {
    let big = event_of(&h, limit - ERROR_HEADER_BYTES / 2);
    let record = record_of(&h, &big, &[]);
    h.bus.publisher().publish(record).await.unwrap();
    h.publish(&chat_event("m-1", "v2", "marker")).await;
    h.add_fault(fault(422, 1, "/api/v2/tickets")).await;
    // The one-time 422 must hit the big event, published first.
    h.start_router(h.serial_options(routes()));

    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "marker"))
        .await;
    let letters = h.wait_for_dead_letters(1).await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        letter.header("intake_error_reason"),
        Some("zendesk_rejected")
    );
    assert_eq!(letter.header("intake_zendesk_status"), Some("422"));
    assert!(letter.payload.is_empty(), "the payload left the letter");
    let blob = BlobRef(
        letter
            .header(PAYLOAD_BLOB_HEADER)
            .expect("blob header")
            .to_owned(),
    );
    assert_eq!(h.blobs.get(&blob).await.unwrap(), big.to_json());

    // `intake dlq replay` republishes it without the error headers.
    h.replay(letter).await;
    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "Big message"))
        .await;
    let ticket = h
        .tickets()
        .into_iter()
        .find(|t| t["subject"] == "Big message")
        .unwrap();
    assert_eq!(ticket["comments"][0]["body"], big.text);
    assert_eq!(ticket["external_id"], big.event_id.to_string());
    h.stop_router().await;
}

#[tokio::test]
async fn an_oversized_dead_letter_moves_its_payload_to_the_blob_store_embedded() {
    const LIMIT: usize = 64 * 1024;
    let mut h = Harness::new().await;
    h.bus = LimitedBus::wrap(Arc::clone(&h.bus), h.topics.dlq(), LIMIT);
    refused_dead_letter_round_trip(h, LIMIT).await;
}

#[tokio::test]
async fn an_oversized_dead_letter_moves_its_payload_to_the_blob_store_kafka() {
    // librdkafka refuses a record over `message.max.bytes` before sending it
    // (MSG_SIZE_TOO_LARGE), as a broker refuses one over its own limit.
    const LIMIT: usize = 100_000;
    let limit = LIMIT.to_string();
    let Some(h) = Harness::kafka(&[("message.max.bytes", &limit)]).await else {
        eprintln!("skipping: INTAKE_TEST_KAFKA is not set");
        return;
    };
    refused_dead_letter_round_trip(h, LIMIT).await;
}

#[tokio::test]
async fn a_letter_still_too_large_without_its_payload_is_written_minimal() {
    const LIMIT: usize = 16 * 1024;
    let mut h = Harness::new().await;
    h.bus = LimitedBus::wrap(Arc::clone(&h.bus), h.topics.dlq(), LIMIT);
    // A producer outside intake put a large header on the record.
    // The record is 20 bytes under the limit and its payload smaller than the
    // error headers, so the letter is over it with the payload and still
    // without it (which adds the blob headers, about 120 bytes, on top).
    let event = chat_event("h-1", "v1", "x");
    let payload = event.to_json().len();
    assert!(payload < ERROR_HEADER_BYTES, "payload of {payload} bytes");
    let bare = record_bytes(&record_of(&h, &event, &[("x_vendor_trace", String::new())]));
    let heavy = ("x_vendor_trace", "t".repeat(LIMIT - 20 - bare));
    let record = record_of(&h, &event, &[heavy]);
    assert_eq!(record_bytes(&record), LIMIT - 20);
    h.bus.publisher().publish(record).await.unwrap();
    h.publish(&chat_event("m-1", "v2", "marker")).await;
    h.add_fault(fault(422, 1, "/api/v2/tickets")).await;
    // The one-time 422 must hit the big event, published first.
    h.start_router(h.serial_options(routes()));
    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "marker"))
        .await;
    let letters = h.wait_for_dead_letters(1).await;
    h.stop_router().await;
    let letter = &letters[0];
    assert_eq!(
        letter.header("x_vendor_trace"),
        None,
        "original headers dropped"
    );
    assert_eq!(
        letter.header("ce_id"),
        Some(event.event_id.to_string().as_str())
    );
    assert_eq!(
        letter.header("intake_error_reason"),
        Some("zendesk_rejected")
    );
    assert!(letter.header("intake_source_topic").is_some());
    let blob = BlobRef(letter.header(PAYLOAD_BLOB_HEADER).unwrap().to_owned());
    assert_eq!(h.blobs.get(&blob).await.unwrap(), event.to_json());
    assert!(letter.headers.iter().any(|(name, _)| is_error_header(name)));
}

#[tokio::test]
async fn a_bus_that_refuses_every_dead_letter_stops_the_router_without_losing_the_event() {
    let mut h = Harness::new().await;
    let real = Arc::clone(&h.bus);
    h.bus = LimitedBus::wrap(Arc::clone(&real), h.topics.dlq(), 0);
    let event = chat_event("n-1", "v1", "refused by zendesk");
    h.publish(&event).await;
    h.add_fault(fault(422, 1, "/api/v2/tickets")).await;
    // The one-time 422 must hit the big event, published first.
    h.start_router(h.serial_options(routes()));
    for _ in 0..900 {
        if h.router_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let stopped = h.stop_router_with().await;
    assert!(stopped.is_err(), "the router stops: {stopped:?}");

    // With a working DLQ the same event is dead-lettered after a restart.
    h.bus = real;
    h.add_fault(fault(422, 1, "/api/v2/tickets")).await;
    // The one-time 422 must hit the big event, published first.
    h.start_router(h.serial_options(routes()));
    let letters = h.wait_for_dead_letters(1).await;
    h.stop_router().await;
    assert_eq!(
        letters[0].header("ce_id"),
        Some(event.event_id.to_string().as_str())
    );
    assert_eq!(letters[0].payload, event.to_json());
}
