//! Attachments a channel left out are named on the new ticket as an
//! internal note, once, also when the event comes again (issue 11).

mod harness;

use harness::{Harness, email_event, routes};
use intake_event::{OMITTED_TOO_LARGE, OmittedAttachment};
use serde_json::Value;

fn comments(ticket: &Value) -> Vec<Value> {
    ticket["comments"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn omitted_attachments_are_an_internal_note_on_the_new_ticket_once() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    let mut event = email_event("o-1", "ann@customer.test", "Scan attached");
    event.conversation.thread_id = Some("root-o1".to_owned());
    event.omitted_attachments = vec![OmittedAttachment {
        filename: "scan.tiff".to_owned(),
        size: Some(31_457_280),
        reason: OMITTED_TOO_LARGE.to_owned(),
        limit: Some(26_214_400),
    }];
    h.publish(&event).await;
    h.wait_until(|h| h.tickets().first().is_some_and(|t| comments(t).len() == 2))
        .await;
    let outcomes = h.wait_for_outcomes(1).await;
    assert_eq!(
        outcomes[0].1.omitted_attachments, event.omitted_attachments,
        "the outcome carries them for the acknowledgement"
    );
    // The same event again (a redelivery): no second note. A later mail in
    // the thread shows the redelivery was handled.
    h.publish(&event).await;
    let mut later = email_event("o-2", "ann@customer.test", "later");
    later.conversation.thread_id = Some("root-o1".to_owned());
    h.publish(&later).await;
    h.wait_until(|h| h.tickets().first().is_some_and(|t| comments(t).len() == 3))
        .await;
    h.stop_router().await;

    let tickets = h.tickets();
    assert_eq!(tickets.len(), 1);
    let comments = comments(&tickets[0]);
    assert_eq!(comments.len(), 3, "{comments:#?}");
    assert_eq!(comments[0]["public"], true);
    assert_eq!(
        comments[0]["body"], "Scan attached",
        "the customer's words only"
    );
    assert_eq!(comments[1]["public"], false, "an internal note");
    let note = comments[1]["body"].as_str().unwrap();
    assert!(
        note.contains("- scan.tiff (30 MB): larger than the limit of 25 MB"),
        "{note}"
    );
    assert_eq!(comments[2]["body"], "later");
}
