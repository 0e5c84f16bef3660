//! Requesters: a cached user Zendesk deleted or merged is resolved again
//! (issue 8 point 5); an unverified contact never meets an existing user by
//! its typed e-mail, nor joins another requester's ticket (point 12).

mod harness;

use harness::{Harness, chat_event, email_event, has_tag, routes};
use intake_event::{Contact, TicketEvent};
use intake_store::StateStore;
use serde_json::Value;

fn in_thread(mut event: TicketEvent, thread: &str) -> TicketEvent {
    event.conversation.thread_id = Some(thread.to_owned());
    event
}

fn comments(ticket: &Value) -> Vec<Value> {
    ticket["comments"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_deleted_requester_is_forgotten_and_the_contact_resolved_again() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    h.publish(&in_thread(chat_event("d-1", "v1", "first"), "th-1"))
        .await;
    let first = h.wait_for_tickets(1).await[0].clone();
    let gone = first["requester_id"].as_u64().unwrap();
    // An agent closes the ticket and deletes the user (Zendesk refuses to
    // delete the requester of a ticket that is not closed).
    assert!(
        h.sim
            .state()
            .set_ticket_status(first["id"].as_u64().unwrap(), "closed")
    );
    h.sim.state().delete_user(gone).unwrap();

    h.publish(&in_thread(chat_event("d-2", "v1", "second"), "th-1"))
        .await;
    let tickets = h.wait_for_tickets(2).await;
    let follow_up = &tickets[1];
    assert_eq!(follow_up["via"]["source"]["from"]["ticket_id"], first["id"]);
    let fresh = follow_up["requester_id"].as_u64().unwrap();
    assert_ne!(fresh, gone, "the deleted user is not reused");
    let user = h.user(&follow_up["requester_id"]);
    assert_eq!(
        (user["active"].as_bool(), user["external_id"].as_str()),
        (Some(true), Some("chat:v1"))
    );
    assert_eq!(h.store.contact_user("chat:v1").await.unwrap(), Some(fresh));

    // Later messages use the fresh id at once.
    h.publish(&in_thread(chat_event("d-3", "v1", "third"), "th-1"))
        .await;
    h.wait_until(|h| h.tickets().get(1).is_some_and(|t| comments(t).len() == 2))
        .await;
    h.stop_router().await;
    assert!(h.dead_letters("check").await.is_empty());
}

#[tokio::test]
async fn a_requester_merged_into_another_user_is_followed_to_it() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    h.publish(&in_thread(
        email_event("m-1", "dup@example.com", "my order"),
        "mail-1",
    ))
    .await;
    let ticket = h.wait_for_tickets(1).await[0].clone();
    let merged = ticket["requester_id"].as_u64().unwrap();
    let main = h
        .sim
        .state()
        .create_user("Main", "main@example.com", "end-user");
    h.sim.state().merge_users(merged, main).unwrap();

    // The open ticket moved to the receiving user; the next mail from the old
    // address is a comment by it.
    h.publish(&in_thread(
        email_event("m-2", "dup@example.com", "any news?"),
        "mail-1",
    ))
    .await;
    h.wait_until(|h| h.tickets().first().is_some_and(|t| comments(t).len() == 2))
        .await;
    let ticket = &h.tickets()[0];
    assert_eq!(comments(ticket)[1]["author_id"], main);
    assert_eq!(ticket["requester_id"], main);
    assert_eq!(
        h.store.contact_user("email:dup@example.com").await.unwrap(),
        Some(main)
    );
    // A new request from that address goes to the receiving user as well.
    h.publish(&email_event("m-3", "dup@example.com", "another thing"))
        .await;
    let tickets = h.wait_for_tickets(2).await;
    assert_eq!(tickets[1]["requester_id"], main);
    h.stop_router().await;
    assert!(h.dead_letters("check").await.is_empty());
}

/// A visitor typed someone else's e-mail into the chat form.
fn unverified(message_id: &str, visitor: &str, email: &str, text: &str) -> TicketEvent {
    let contact = Contact {
        key: format!("chat:{visitor}"),
        name: Some("Mallory".to_owned()),
        email: Some(email.to_owned()),
        channel_user_id: Some(visitor.to_owned()),
        verified: false,
        ..Contact::default()
    };
    TicketEvent::new("chat", message_id, contact, text, chrono::Utc::now())
}

/// A chat message from a visitor the site's backend signed in as Alice.
fn signed_in(message_id: &str, text: &str) -> TicketEvent {
    let contact = Contact {
        key: "email:alice@example.com".to_owned(),
        name: Some("Alice".to_owned()),
        email: Some("alice@example.com".to_owned()),
        channel_user_id: Some("v-alice".to_owned()),
        verified: true,
        ..Contact::default()
    };
    TicketEvent::new("chat", message_id, contact, text, chrono::Utc::now())
}

#[tokio::test]
async fn an_unverified_email_never_reaches_the_user_who_owns_it() {
    let mut h = Harness::new().await;
    let alice = h
        .sim
        .state()
        .create_user("Alice", "alice@example.com", "end-user");
    let before = h.user(&Value::from(alice));

    h.publish(&unverified(
        "u-1",
        "v-mal",
        "Alice@Example.com",
        "please reset my password",
    ))
    .await;
    h.start_router(h.options(routes()));
    let ticket = h.wait_for_tickets(1).await[0].clone();
    h.stop_router().await;

    assert_ne!(ticket["requester_id"], alice);
    assert_eq!(
        h.user(&Value::from(alice)),
        before,
        "the owner's user is untouched"
    );
    let requester = h.user(&ticket["requester_id"]);
    assert_eq!(requester["external_id"], "chat:v-mal");
    assert_eq!(
        requester["email"],
        Value::Null,
        "the typed address is not attached"
    );
    assert_eq!(requester["name"], "Mallory");
    assert!(
        has_tag(&ticket, "intake_unverified_identity"),
        "{}",
        ticket["tags"]
    );
    let body = comments(&ticket)[0]["body"].as_str().unwrap().to_owned();
    assert!(body.starts_with("please reset my password"), "{body}");
    assert!(
        body.contains("Unverified") && body.contains("Alice@Example.com"),
        "{body}"
    );
    assert!(
        h.tickets().iter().all(|t| t["requester_id"] != alice),
        "the owner gets no ticket"
    );
}

#[tokio::test]
async fn an_unverified_visitor_does_not_join_a_ticket_another_requester_owns() {
    let mut h = Harness::new().await;
    h.publish(&in_thread(signed_in("o-1", "I am logged in"), "conv-1"))
        .await;
    h.start_router(h.options(routes()));
    let owned = h.wait_for_tickets(1).await[0].clone();

    // The same browser, logged out: an anonymous visitor continues conv-1.
    h.publish(&in_thread(
        unverified(
            "o-2",
            "v-anon",
            "alice@example.com",
            "who else can see this?",
        ),
        "conv-1",
    ))
    .await;
    let tickets = h.wait_for_tickets(2).await;
    assert_eq!(
        comments(&tickets[0]).len(),
        1,
        "the owner's ticket is untouched"
    );
    let anon_ticket = tickets[1]["id"].clone();
    assert_ne!(tickets[1]["requester_id"], owned["requester_id"]);

    // The visitor's next message joins its own ticket, the owner's theirs.
    h.publish(&in_thread(chat_event("o-3", "v-anon", "hello?"), "conv-1"))
        .await;
    h.publish(&in_thread(signed_in("o-4", "back again"), "conv-1"))
        .await;
    h.wait_until(|h| {
        let tickets = h.tickets();
        tickets.len() == 2 && comments(&tickets[0]).len() == 2 && comments(&tickets[1]).len() == 2
    })
    .await;
    let tickets = h.tickets();
    assert_eq!(tickets[1]["id"], anon_ticket);
    assert_eq!(comments(&tickets[1])[1]["body"], "hello?");
    assert_eq!(comments(&tickets[0])[1]["body"], "back again");
    h.stop_router().await;
}
