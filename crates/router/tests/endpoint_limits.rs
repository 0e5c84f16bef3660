//! Zendesk's endpoint limits (issue 13 point 7, decision 58): with the
//! simulator enforcing a low Update Ticket limit, new tickets keep flowing
//! while comments wait for the update bucket (their conversations park, no
//! slot is held), and nothing gets a 429; a burst of new messenger contacts
//! stays under the user-creation limits without a 429.

mod harness;

use harness::{Harness, chat_event, routes};
use intake_event::TicketEvent;
use intake_zendesk::EndpointLimitOptions;
use intake_zendesk_sim::SimConfig;
use serde_json::Value;

fn in_thread(mut event: TicketEvent, thread: &str) -> TicketEvent {
    event.conversation.thread_id = Some(thread.to_owned());
    event
}

fn comments_on(h: &Harness, thread_ticket_ids: &[u64]) -> usize {
    h.tickets()
        .iter()
        .filter(|t| {
            t["id"]
                .as_u64()
                .is_some_and(|id| thread_ticket_ids.contains(&id))
        })
        .filter(|t| t["comments"].as_array().map_or(0, Vec::len) >= 2)
        .count()
}

async fn refused(h: &Harness) -> Vec<Value> {
    h.requests()
        .await
        .into_iter()
        .filter(|r| r["status"] == 429)
        .collect()
}

/// Update Ticket at 6 a minute (the client paces at 5: one every 12 s).
const UPDATES_PER_MINUTE: u32 = 6;
const COMMENTS: usize = 3;
const NEW_TICKETS: usize = 10;

#[tokio::test]
async fn creates_keep_flowing_while_comments_wait_for_the_update_limit() {
    let mut h = Harness::with_sim(SimConfig {
        requests_per_minute: None,
        update_ticket_per_minute: Some(UPDATES_PER_MINUTE),
        ..SimConfig::default()
    })
    .await;
    h.client.set_endpoint_limits(EndpointLimitOptions {
        update_ticket_per_minute: Some(UPDATES_PER_MINUTE),
        user_creates_per_minute: None,
    });
    let mut options = h.options(routes());
    // One slot: a comment waiting in it for the update bucket would hold
    // every new ticket back until the last comment went out (~24 s); parked,
    // it frees the slot at once and the creates go first. Checked: with the
    // wait inside the slot (no wait limit in the client) this test fails.
    options.max_in_flight = 1;
    h.start_router(options);
    for i in 0..COMMENTS {
        h.publish(&in_thread(
            chat_event(&format!("open-{i}"), &format!("v{i}"), "first"),
            &format!("t{i}"),
        ))
        .await;
    }
    let open: Vec<u64> = h
        .wait_for_tickets(COMMENTS)
        .await
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();

    // The comments first (they take the slots first), then the new tickets.
    for i in 0..COMMENTS {
        h.publish(&in_thread(
            chat_event(&format!("more-{i}"), &format!("v{i}"), "second"),
            &format!("t{i}"),
        ))
        .await;
    }
    for i in 0..NEW_TICKETS {
        h.publish(&in_thread(
            chat_event(&format!("new-{i}"), &format!("w{i}"), "hello"),
            &format!("n{i}"),
        ))
        .await;
    }
    h.wait_for_tickets(COMMENTS + NEW_TICKETS).await;
    let commented_by_then = comments_on(&h, &open);
    assert!(
        commented_by_then < COMMENTS,
        "every new ticket was made while comments still waited for the update \
         bucket ({commented_by_then} of {COMMENTS} comments applied by then)"
    );
    h.wait_until(|h| comments_on(h, &open) == COMMENTS).await;
    assert_eq!(refused(&h).await, Vec::<Value>::new(), "no 429");
    h.stop_router().await;
    assert!(h.dead_letters("check").await.is_empty());
}

#[tokio::test]
async fn a_burst_of_new_messenger_contacts_stays_under_the_user_creation_limits() {
    let mut h = Harness::with_user_create_limits().await;
    h.start_router(h.options(routes()));
    const CONTACTS: usize = 6;
    for i in 0..CONTACTS {
        // Each a new contact resolved by external id: one create_or_update each.
        h.publish(&in_thread(
            chat_event(&format!("burst-{i}"), &format!("b{i}"), "hi there"),
            &format!("b{i}"),
        ))
        .await;
    }
    let tickets = h.wait_for_tickets(CONTACTS).await;
    let requesters: std::collections::BTreeSet<u64> = tickets
        .iter()
        .map(|t| t["requester_id"].as_u64().unwrap())
        .collect();
    assert_eq!(requesters.len(), CONTACTS, "one user per contact");
    let creates = h
        .requests()
        .await
        .into_iter()
        .filter(|r| r["path"] == "/api/v2/users/create_or_update")
        .count();
    assert_eq!(creates, CONTACTS);
    assert_eq!(refused(&h).await, Vec::<Value>::new(), "no 429");
    h.stop_router().await;
    assert!(h.dead_letters("check").await.is_empty());
}
