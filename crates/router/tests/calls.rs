//! Zendesk calls per effect (issue 13 point 6, decision 57): a new mail
//! ticket of a verified sender is one call (the requester inline on the
//! create), a comment two (`show_ticket` + the safe `PUT`); the inline
//! requester is the existing user of that e-mail or a new one; a claimed
//! (unverified) e-mail never reaches Zendesk, inline or otherwise.

mod harness;

use harness::{Harness, chat_event, email_event, routes};
use intake_event::TicketEvent;
use intake_store::StateStore;
use serde_json::Value;

fn in_thread(mut event: TicketEvent, thread: &str) -> TicketEvent {
    event.conversation.thread_id = Some(thread.to_owned());
    event
}

/// `METHOD path` of every API request the simulator logged after `skip`.
async fn calls_after(h: &Harness, skip: usize) -> Vec<String> {
    h.requests()
        .await
        .iter()
        .skip(skip)
        .filter(|r: &&Value| r["path"].as_str().is_some_and(|p| p.starts_with("/api/")))
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect()
}

/// Router options without the near-duplicate window, whose per-user claim
/// needs the requester's id before the create (decision 57).
fn without_window(h: &Harness) -> intake_router::RouterOptions {
    let mut options = h.options(routes());
    options.cross_channel = None;
    options
}

fn comments(ticket: &Value) -> usize {
    ticket["comments"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_new_mail_ticket_is_one_call_and_a_comment_two() {
    let mut h = Harness::new().await;
    h.start_router(without_window(&h));
    let before = h.requests().await.len();
    let event = in_thread(
        email_event("c-1", "new.sender@example.com", "my order is late"),
        "mail-c1",
    );
    h.publish(&event).await;
    let ticket = h.wait_for_tickets(1).await[0].clone();
    // The router caches the requester after Zendesk answered, before it
    // records the event: once recorded, the cache holds it.
    h.wait_for_link(event.event_id).await;
    let created = calls_after(&h, before).await;
    assert_eq!(created, ["POST /api/v2/tickets"], "one call per new ticket");
    // Zendesk made the user from the inline object; the router cached it.
    let requester = ticket["requester_id"].clone();
    let user = h.user(&requester);
    assert_eq!(user["email"], "new.sender@example.com");
    assert_eq!(user["name"], "Mail Customer");
    assert_eq!(
        h.store
            .contact_user("email:new.sender@example.com")
            .await
            .unwrap(),
        requester.as_u64()
    );

    let before = h.requests().await.len();
    h.publish(&in_thread(
        email_event("c-2", "new.sender@example.com", "any news?"),
        "mail-c1",
    ))
    .await;
    h.wait_until(|h| h.tickets().first().is_some_and(|t| comments(t) == 2))
        .await;
    let ticket_id = ticket["id"].as_u64().unwrap();
    let commented = calls_after(&h, before).await;
    assert_eq!(
        commented,
        [
            format!("GET /api/v2/tickets/{ticket_id}"),
            format!("PUT /api/v2/tickets/{ticket_id}"),
        ],
        "two calls per comment"
    );

    // A second thread of the same sender: its cached user, one call again.
    let before = h.requests().await.len();
    h.publish(&in_thread(
        email_event("c-3", "new.sender@example.com", "another question"),
        "mail-c2",
    ))
    .await;
    let tickets = h.wait_for_tickets(2).await;
    assert_eq!(tickets[1]["requester_id"], requester);
    assert_eq!(
        calls_after(&h, before).await,
        ["POST /api/v2/tickets"],
        "a cached requester costs no call either"
    );
    h.stop_router().await;
    assert!(h.dead_letters("check").await.is_empty());
}

#[tokio::test]
async fn the_inline_requester_is_the_existing_user_of_that_email() {
    let mut h = Harness::new().await;
    let existing = h
        .sim
        .state()
        .create_user("Ann Existing", "ann@example.com", "end-user");
    h.start_router(without_window(&h));
    // The channel's key is lower-case; the address keeps the sender's case.
    let mut mail = email_event("e-1", "Ann@Example.com", "hello again");
    mail.contact.key = "email:ann@example.com".to_owned();
    h.publish(&in_thread(mail, "mail-e1")).await;
    let ticket = h.wait_for_tickets(1).await[0].clone();
    assert_eq!(ticket["requester_id"].as_u64(), Some(existing));
    // Zendesk updates nothing on an existing user during the create.
    assert_eq!(h.user(&ticket["requester_id"])["name"], "Ann Existing");
    let users_with_email = h
        .sim
        .state()
        .users()
        .into_iter()
        .filter(|u| {
            u["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case("ann@example.com"))
        })
        .count();
    assert_eq!(users_with_email, 1, "no second user for the address");
    let calls = calls_after(&h, 0).await;
    assert!(
        !calls.iter().any(|c| c.contains("create_or_update")),
        "{calls:?}"
    );
    h.stop_router().await;
}

#[tokio::test]
async fn a_claimed_email_is_never_given_inline() {
    let mut h = Harness::new().await;
    let owner = h
        .sim
        .state()
        .create_user("Real Owner", "owner@example.com", "end-user");
    h.start_router(h.options(routes()));
    // A chat visitor types the owner's address: a claim, not verified.
    let mut claimed = chat_event("u-1", "v7", "it is me, honestly");
    claimed.contact.email = Some("owner@example.com".to_owned());
    h.publish(&in_thread(claimed, "chat-u1")).await;
    let ticket = h.wait_for_tickets(1).await[0].clone();
    let requester = ticket["requester_id"].as_u64().unwrap();
    assert_ne!(requester, owner, "never filed under the address's owner");
    let user = h.user(&ticket["requester_id"]);
    assert_eq!(user["external_id"], "chat:v7");
    assert!(user["email"].is_null(), "the typed e-mail is not attached");
    let calls = calls_after(&h, 0).await;
    assert_eq!(
        calls,
        [
            "POST /api/v2/users/create_or_update",
            "POST /api/v2/tickets"
        ],
        "a contact without a verified e-mail keeps the separate call"
    );
    h.stop_router().await;
}

#[tokio::test]
async fn a_text_the_near_duplicate_window_claims_resolves_the_requester_first() {
    let mut h = Harness::new().await;
    // The default options: the window is on.
    h.start_router(h.options(routes()));
    h.publish(&in_thread(
        email_event(
            "w-1",
            "long@example.com",
            "my printer is broken again today",
        ),
        "mail-w1",
    ))
    .await;
    h.wait_for_tickets(1).await;
    assert_eq!(
        calls_after(&h, 0).await,
        [
            "POST /api/v2/users/create_or_update",
            "POST /api/v2/tickets"
        ],
        "the claim is per user: the id is needed before the create"
    );
    // Too short to be claimed ("thanks"): inline.
    let before = h.requests().await.len();
    h.publish(&in_thread(
        email_event("w-2", "short@example.com", "thanks"),
        "mail-w2",
    ))
    .await;
    h.wait_for_tickets(2).await;
    assert_eq!(calls_after(&h, before).await, ["POST /api/v2/tickets"]);
    h.stop_router().await;
}
