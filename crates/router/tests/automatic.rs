//! Automatic messages (issue 11: auto-replies and bounces never create
//! tickets) and the subject token's sender rule, against the Zendesk
//! simulator with the embedded bus.

mod harness;

use harness::{Harness, email_event, routes};
use intake_event::{OutcomeEffect, TicketEvent};
use intake_router::AutomaticMessages;
use intake_store::StateStore;
use serde_json::Value;

fn in_thread(mut event: TicketEvent, thread: &str) -> TicketEvent {
    event.conversation.thread_id = Some(thread.to_owned());
    event
}

/// An out-of-office answer from `address` in `thread`.
fn auto_reply(message_id: &str, address: &str, thread: &str) -> TicketEvent {
    let mut event = in_thread(
        email_event(message_id, address, "I am away until Monday."),
        thread,
    );
    event.subject = Some("Автоответ: I am out of the office".to_owned());
    event.auto_submitted = true;
    event
}

fn comments(ticket: &Value) -> Vec<Value> {
    ticket["comments"].as_array().cloned().unwrap_or_default()
}

fn ticket_id(ticket: &Value) -> u64 {
    ticket["id"].as_u64().unwrap()
}

#[tokio::test]
async fn an_auto_reply_in_a_ticketed_thread_is_an_internal_note_never_a_ticket() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    h.publish(&in_thread(
        email_event("a-1", "ann@customer.test", "My order is late"),
        "root-1",
    ))
    .await;
    h.wait_for_tickets(1).await;
    h.publish(&auto_reply("a-2", "ann@customer.test", "root-1"))
        .await;
    let outcomes = h.wait_for_outcomes(2).await;
    h.stop_router().await;

    let tickets = h.tickets();
    assert_eq!(tickets.len(), 1, "no ticket for the auto-reply");
    let comments = comments(&tickets[0]);
    assert_eq!(comments.len(), 2, "{comments:#?}");
    assert_eq!(comments[1]["public"], false, "an internal note");
    let body = comments[1]["body"].as_str().unwrap();
    assert!(body.starts_with("Automatic message"), "{body}");
    assert!(body.contains("I am away until Monday."), "{body}");
    let (_, noted) = &outcomes[1];
    assert_eq!(noted.effect, OutcomeEffect::Commented, "no acknowledgement");
    assert!(noted.auto_submitted);
    assert_eq!(noted.ticket_id, Some(ticket_id(&tickets[0])));
}

#[tokio::test]
async fn an_automatic_message_that_refers_to_no_ticket_is_dropped() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    // A bounce in a thread nobody knows, then a customer's mail in the same
    // thread (one lane: handled after the bounce).
    let mut bounce = auto_reply("b-1", "mailer-daemon@mx.customer.test", "root-2");
    bounce.subject = Some("Undelivered Mail Returned to Sender".to_owned());
    h.publish(&bounce).await;
    let customer = in_thread(email_event("b-2", "ann@customer.test", "Hello"), "root-2");
    h.publish(&customer).await;
    let outcomes = h.wait_for_outcomes(1).await;
    h.wait_for_tickets(1).await;
    h.stop_router().await;

    assert_eq!(outcomes.len(), 1, "the bounce has no outcome");
    assert_eq!(outcomes[0].1.event_id, Some(customer.event_id));
    let tickets = h.tickets();
    assert_eq!(tickets.len(), 1, "only the customer's mail made a ticket");
    assert_eq!(comments(&tickets[0]).len(), 1);
    assert!(h.dead_letters("check").await.is_empty());
}

#[tokio::test]
async fn with_drop_configured_an_auto_reply_in_a_ticketed_thread_is_dropped() {
    let mut h = Harness::new().await;
    let mut options = h.options(routes());
    options.automatic_messages = AutomaticMessages::Drop;
    h.start_router(options);
    h.publish(&in_thread(
        email_event("c-1", "ann@customer.test", "first"),
        "root-3",
    ))
    .await;
    h.publish(&auto_reply("c-2", "ann@customer.test", "root-3"))
        .await;
    h.publish(&in_thread(
        email_event("c-3", "ann@customer.test", "second"),
        "root-3",
    ))
    .await;
    let outcomes = h.wait_for_outcomes(2).await;
    h.stop_router().await;
    assert_eq!(outcomes.len(), 2, "created and commented only");
    let tickets = h.tickets();
    assert_eq!(tickets.len(), 1);
    let comments = comments(&tickets[0]);
    assert_eq!(comments.len(), 2, "{comments:#?}");
    assert!(comments.iter().all(|c| c["public"] == true), "no note");
}

#[tokio::test]
async fn an_auto_reply_to_a_solved_ticket_is_dropped() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    h.publish(&in_thread(
        email_event("d-1", "ann@customer.test", "first"),
        "root-4",
    ))
    .await;
    let ticket = h.wait_for_tickets(1).await[0].clone();
    assert!(
        h.sim
            .state()
            .set_ticket_status(ticket_id(&ticket), "solved")
    );
    h.publish(&auto_reply("d-2", "ann@customer.test", "root-4"))
        .await;
    // Ann writes again in the thread (one lane: after the auto-reply); the
    // solved ticket makes that a new ticket.
    h.publish(&in_thread(
        email_event("d-3", "ann@customer.test", "again"),
        "root-4",
    ))
    .await;
    h.wait_for_tickets(2).await;
    h.stop_router().await;
    let tickets = h.tickets();
    assert_eq!(tickets.len(), 2, "no ticket for the auto-reply");
    assert_eq!(
        comments(&tickets[0]).len(),
        1,
        "no note on the solved ticket"
    );
    let auto_id = auto_reply("d-2", "ann@customer.test", "root-4").event_id;
    assert_eq!(h.store.ticket_for_event(auto_id).await.unwrap(), None);
}

#[tokio::test]
async fn the_subject_token_attaches_mail_only_from_the_tickets_requester() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    h.publish(&in_thread(
        email_event("t-1", "ann@customer.test", "first"),
        "root-6",
    ))
    .await;
    let first = h.wait_for_tickets(1).await[0].clone();
    let token = ticket_id(&first);

    // Ann writes a new mail (no In-Reply-To) with the token: her ticket.
    let mut ann = in_thread(email_event("t-2", "ann@customer.test", "more"), "root-7");
    ann.conversation.ticket_token = Some(token);
    h.publish(&ann).await;
    h.wait_until(|h| h.tickets().first().is_some_and(|t| comments(t).len() == 2))
        .await;
    // Her next answer in that new thread follows it there by the thread.
    h.publish(&in_thread(
        email_event("t-3", "ann@customer.test", "and more"),
        "root-7",
    ))
    .await;
    h.wait_until(|h| h.tickets().first().is_some_and(|t| comments(t).len() == 3))
        .await;

    // Mallory types Ann's token: a ticket of her own that mentions it.
    let mut mallory = in_thread(
        email_event("t-4", "mallory@elsewhere.test", "let me in"),
        "root-8",
    );
    mallory.conversation.ticket_token = Some(token);
    h.publish(&mallory).await;
    // A token naming no ticket: a new ticket that says so.
    let mut nowhere = in_thread(email_event("t-5", "ann@customer.test", "?"), "root-9");
    nowhere.conversation.ticket_token = Some(999_999);
    h.publish(&nowhere).await;
    let tickets = h.wait_for_tickets(3).await;
    h.stop_router().await;

    assert_eq!(tickets.len(), 3);
    assert_eq!(
        comments(&tickets[0]).len(),
        3,
        "nothing of Mallory's on Ann's ticket"
    );
    let description = |t: &Value| comments(t)[0]["body"].as_str().unwrap().to_owned();
    let by_text = |text: &str| {
        tickets
            .iter()
            .find(|t| description(t).starts_with(text))
            .unwrap_or_else(|| panic!("no ticket starting {text:?}"))
            .clone()
    };
    let theirs = by_text("let me in");
    assert!(
        description(&theirs).contains(&format!(
            "The subject names ticket #{token}, but the sender is neither"
        )),
        "{}",
        description(&theirs)
    );
    assert_ne!(theirs["requester_id"], first["requester_id"]);
    let missing = by_text("?");
    assert!(description(&missing).contains("#999999, which does not exist"));
}

#[tokio::test]
async fn an_auto_reply_found_by_token_is_noted_only_for_a_known_requester() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    h.publish(&in_thread(
        email_event("u-1", "ann@customer.test", "first"),
        "root-10",
    ))
    .await;
    let first = h.wait_for_tickets(1).await[0].clone();
    let token = ticket_id(&first);
    // Ann's out-of-office answer with the token, in a thread we do not know.
    let mut ann = auto_reply("u-2", "ann@customer.test", "unknown-root");
    ann.conversation.ticket_token = Some(token);
    h.publish(&ann).await;
    h.wait_until(|h| {
        h.tickets()[0]["comments"]
            .as_array()
            .is_some_and(|c| c.len() == 2)
    })
    .await;
    // Someone nobody knows sends an automatic mail with the token: nothing.
    let mut stranger = auto_reply("u-3", "robot@elsewhere.test", "other-root");
    stranger.conversation.ticket_token = Some(token);
    h.publish(&stranger).await;
    // Then a mail in the stranger's thread: the same lane, so handled after it.
    h.publish(&in_thread(
        email_event("u-4", "ann@customer.test", "sentinel"),
        "other-root",
    ))
    .await;
    h.wait_for_tickets(2).await;
    h.stop_router().await;
    let tickets = h.tickets();
    let notes: Vec<Value> = comments(&tickets[0])
        .into_iter()
        .filter(|c| c["public"] == false)
        .collect();
    assert_eq!(notes.len(), 1, "only Ann's auto-reply is noted");
    assert_eq!(
        tickets.len(),
        2,
        "the sentinel's own ticket, none for the robot"
    );
    let robots: Vec<Value> = h
        .sim
        .state()
        .users()
        .into_iter()
        .filter(|u| u.to_string().contains("robot@"))
        .collect();
    assert!(robots.is_empty(), "no user for the robot: {robots:#?}");
    assert_eq!(
        h.store.ticket_for_event(stranger.event_id).await.unwrap(),
        None
    );
}
