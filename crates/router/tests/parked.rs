//! Parked conversations instead of stalls (issue 13 point 3): a
//! conversation over Zendesk's per-ticket update limit waits on its own
//! while the others are served; an event that always fails is retried a
//! bounded number of times, then dead-lettered with its history, and the
//! events behind it flow.

mod harness;

use std::time::Duration;

use harness::{Harness, chat_event, routes};
use intake_blob::BlobStore;
use intake_event::{Attachment, TicketEvent};
use intake_store::StateStore;
use serde_json::{Value, json};

fn in_thread(message_id: &str, visitor: &str, thread: &str, text: &str) -> TicketEvent {
    let mut event = chat_event(message_id, visitor, text);
    event.conversation.thread_id = Some(thread.to_owned());
    event
}

fn comments(ticket: &Value) -> usize {
    ticket["comments"].as_array().map_or(0, Vec::len)
}

/// Conversation A sends 32 messages: its ticket and 30 comments fill the
/// per-ticket limit (30 updates per 10 minutes), so the 32nd message would
/// wait ten minutes. It parks A's lane instead (written down with reason
/// and resume time) while 200 other conversations published behind it get
/// their tickets.
///
/// Fails on the old code: the serial router slept in the client's
/// `wait_slot` with every channel behind it (none of the 200 tickets), and
/// with lanes but no parking the worker slept there too (no parked row).
#[tokio::test]
async fn a_conversation_over_the_ticket_limit_is_parked_while_200_others_are_served() {
    let mut h = Harness::new().await;
    let thread_a: Vec<TicketEvent> = (0..32)
        .map(|i| in_thread(&format!("a-{i}"), "va", "thread-a", &format!("a {i}")))
        .collect();
    for event in &thread_a {
        h.publish(event).await;
    }
    let others: Vec<TicketEvent> = (0..200)
        .map(|i| chat_event(&format!("o-{i}"), &format!("vo{i}"), &format!("other {i}")))
        .collect();
    for event in &others {
        h.publish(event).await;
    }
    let mut options = h.options(routes());
    options.max_in_flight = 8;
    h.start_router(options);

    // The 32nd message of A parks its lane.
    // Each comment on a ticket updated within the second waits out that
    // second (`safe_update` stamps have whole seconds): about 30 s here.
    let mut parked = Vec::new();
    for _ in 0..3600 {
        parked = h.store.parked_lanes(None).await.unwrap();
        if !parked.is_empty() {
            break;
        }
        assert!(!h.router_finished(), "the router stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(parked.len(), 1, "{parked:#?}");
    let lane = &parked[0];
    assert_eq!(lane.lane, "thread:chat:thread-a");
    assert_eq!(lane.reason, "ticket_limit");
    assert_eq!(lane.event_id, thread_a[31].event_id);
    assert_eq!(lane.attempts, 0, "a hold is not a failure");
    let resume_in = lane.resume_at - chrono::Utc::now();
    assert!(
        resume_in > chrono::Duration::minutes(5),
        "resumes when the oldest update leaves the 10-minute window: {resume_in}"
    );
    // Everyone else is served meanwhile.
    for event in &others {
        h.wait_for_link(event.event_id).await;
    }
    let tickets = h.tickets();
    assert_eq!(tickets.len(), 201);
    let ticket_a = tickets
        .iter()
        .find(|t| t["external_id"] == thread_a[0].event_id.to_string())
        .unwrap();
    assert_eq!(comments(ticket_a), 31, "the first message and 30 comments");
    assert_eq!(
        h.store
            .ticket_for_event(thread_a[31].event_id)
            .await
            .unwrap(),
        None
    );
    // Stopping does not wait for the parked lane.
    h.stop_router().await;
    let still = h.store.parked_lanes(None).await.unwrap();
    assert_eq!(still.len(), 1, "the parked lane stays listed across a stop");
}

/// An event whose attachment upload always fails (500) is tried
/// `retry_max_attempts` times, then goes to the DLQ with its failure
/// history; the messages behind it in its conversation and another
/// conversation's are served, and the parked row is gone.
///
/// Fails on the old code: the event was retried forever and its channel
/// held (no letter, none of the later tickets).
#[tokio::test]
async fn an_event_that_always_fails_reaches_the_dlq_after_bounded_retries_and_the_next_flow() {
    let mut h = Harness::new().await;
    let bytes = b"%PDF-1.4 never uploads".to_vec();
    let blob = h.blobs.put(&bytes).await.unwrap();
    let mut bad = in_thread("b-0", "vb", "thread-b", "with a broken attachment");
    bad.attachments = vec![Attachment {
        filename: "broken.pdf".to_owned(),
        content_type: "application/pdf".to_owned(),
        size: bytes.len() as u64,
        sha256: intake_blob::sha256_hex(&bytes),
        blob,
    }];
    h.add_fault(json!({"status": 500, "path_prefix": "/api/v2/uploads"}))
        .await;
    h.publish(&bad).await;
    let behind: Vec<TicketEvent> = (1..4)
        .map(|i| in_thread(&format!("b-{i}"), "vb", "thread-b", &format!("b {i}")))
        .collect();
    for event in &behind {
        h.publish(event).await;
    }
    let other = chat_event("x-0", "vx", "another conversation");
    h.publish(&other).await;
    let mut options = h.options(routes());
    options.retry_max_attempts = 3;
    h.start_router(options);

    for event in behind.iter().chain([&other]) {
        h.wait_for_link(event.event_id).await;
    }
    let letters = h.wait_for_dead_letters(1).await;
    h.stop_router().await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        letter.header("intake_error_reason"),
        Some("retries_exhausted")
    );
    assert_eq!(letter.payload, bad.to_json());
    let history: Vec<String> =
        serde_json::from_str(letter.header("intake_error_history").unwrap()).unwrap();
    assert_eq!(history.len(), 3, "{history:#?}");
    assert!(
        history
            .iter()
            .all(|line| line.contains("failing upload: zendesk upload returned 500")),
        "{history:#?}"
    );
    let uploads = h
        .requests()
        .await
        .iter()
        .filter(|r| r["path"] == "/api/v2/uploads")
        .count();
    assert_eq!(uploads, 3, "one upload per attempt, then no more");
    assert_eq!(h.store.ticket_for_event(bad.event_id).await.unwrap(), None);
    // The conversation's later messages made its ticket, in order.
    let ticket_b = h
        .tickets()
        .into_iter()
        .find(|t| t["external_id"] == behind[0].event_id.to_string())
        .expect("the message after the dead letter opened the ticket");
    let bodies: Vec<&str> = ticket_b["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["b 1", "b 2", "b 3"]);
    assert!(h.store.parked_lanes(None).await.unwrap().is_empty());
}
