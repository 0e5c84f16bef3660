//! A comment PUT that is merely slow (issue 13 point 5): Zendesk applies it
//! after the client gave up waiting; the router's retry must not add it a
//! second time.

mod harness;

use harness::{Harness, chat_event, routes};
use intake_event::TicketEvent;
use serde_json::{Value, json};

fn in_thread(message_id: &str, text: &str) -> TicketEvent {
    let mut event = chat_event(message_id, "v1", text);
    event.conversation.thread_id = Some("thread-slow".to_owned());
    event
}

fn bodies(ticket: &Value) -> Vec<String> {
    ticket["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_owned())
        .collect()
}

/// The comment's PUT takes 8 s in Zendesk (the client times out at 5 s and
/// Zendesk finishes it anyway; it waits in Zendesk's queue without holding
/// the ticket). The retry sends it again with the same `updated_stamp`:
/// applied, and the slow first PUT, arriving later with the same stamp, is
/// refused (409 `UpdateConflict`): one comment.
///
/// Checked that it fails without `safe_update` (the draft's stamp forced to
/// none, i.e. the old audit-first replay): the retry listed the audits
/// before the slow PUT had applied, sent the comment again and the ticket
/// ended with it twice.
#[tokio::test]
async fn a_slow_comment_put_is_applied_once() {
    let mut h = Harness::new().await;
    let first = in_thread("s-0", "opens the conversation");
    h.publish(&first).await;
    h.start_router(h.options(routes()));
    let tickets = h.wait_for_tickets(1).await;
    assert_eq!(tickets[0]["id"], 1, "the simulator numbers tickets from 1");
    h.wait_for_link(first.event_id).await;
    // Queued in Zendesk: the ticket is free while the PUT waits, so a
    // repeat is not refused as a concurrent update.
    h.add_fault(json!({"delay_ms": 8000, "count": 1, "method": "PUT",
        "path_prefix": "/api/v2/tickets/1", "queued": true}))
        .await;
    let second = in_thread("s-1", "arrives slowly");
    h.publish(&second).await;
    h.wait_for_link(second.event_id).await;
    h.stop_router().await;
    // Wait until Zendesk has finished the slow PUT (its client is gone).
    for _ in 0..600 {
        if h.sim.state().slow_updates() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(h.sim.state().slow_updates(), 0, "the slow PUT ended");
    let puts: Vec<Value> = h
        .requests()
        .await
        .into_iter()
        .filter(|r| r["method"] == "PUT" && r["path"] == "/api/v2/tickets/1")
        .collect();
    assert!(!puts.is_empty(), "it was sent again: {puts:#?}");
    let tickets = h.tickets();
    assert_eq!(
        bodies(&tickets[0]),
        ["opens the conversation", "arrives slowly"],
        "the slow comment is there once"
    );
}
