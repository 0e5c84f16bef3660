//! One person across channels (issue 14 point 2): contact keys linked by a
//! verified detail, recorded as Zendesk identities (decision 52), and the
//! two-channel near-duplicate window (decision 53). The router against the
//! embedded bus, a SQLite store and the simulator; the two-router case on
//! Kafka and PostgreSQL is `tests/cross_channel.rs` at the root.

mod harness;

use std::time::Duration;

use chrono::Utc;
use harness::{Harness, email_event, has_tag};
use intake_event::{Contact, TicketEvent};
use intake_router::{CROSS_CHANNEL_TAG, ChannelRoute};
use intake_store::{LinkOutcome, StateStore};
use intake_zendesk::{IdentityType, UserInput};
use serde_json::Value;

const PHONE: &str = "+4915112345678";

fn routes() -> Vec<ChannelRoute> {
    ["chat", "telegram", "email"]
        .into_iter()
        .map(ChannelRoute::new)
        .collect()
}

/// A Telegram message of user 42 in its private chat; `phone`: the sender
/// shared their own contact card (decision 38: verified).
fn telegram(message_id: &str, text: &str, phone: Option<&str>) -> TicketEvent {
    let contact = Contact {
        key: "telegram:42".into(),
        name: Some("Ann on Telegram".into()),
        phone: phone.map(str::to_owned),
        channel_user_id: Some("42".into()),
        verified: true,
        ..Contact::default()
    };
    let mut event = TicketEvent::new("telegram", message_id, contact, text, Utc::now());
    event.conversation.thread_id = Some("42".into());
    event
}

/// A chat message of a visitor signed in as `email` (verified), or one who
/// only typed it (unverified).
fn chat(message_id: &str, visitor: &str, email: &str, verified: bool, text: &str) -> TicketEvent {
    let contact = Contact {
        key: if verified {
            format!("email:{email}")
        } else {
            format!("chat:{visitor}")
        },
        email: Some(email.to_owned()),
        phone: (!verified).then(|| PHONE.to_owned()),
        channel_user_id: Some(visitor.to_owned()),
        verified,
        ..Contact::default()
    };
    let mut event = TicketEvent::new("chat", message_id, contact, text, Utc::now());
    event.conversation.thread_id = Some(format!("conv-{message_id}"));
    event
}

fn requester(ticket: &Value) -> u64 {
    ticket["requester_id"].as_u64().unwrap()
}

async fn identities(h: &Harness, user_id: u64) -> Vec<(String, String)> {
    h.client
        .user_identities(user_id)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.kind, i.value))
        .collect()
}

/// Mail from ann@example.test makes her user; an agent then put her phone on
/// her profile (as from a call), and waits until user search finds it.
async fn mail_requester(h: &Harness) -> u64 {
    h.publish(&email_event(
        "<m1@example.test>",
        "ann@example.test",
        "Hello by mail",
    ))
    .await;
    let tickets = h.wait_for_tickets(1).await;
    let ann = requester(&tickets[0]);
    h.client.forget_user(ann); // past the client's user cache
    h.client
        .create_or_update_user(&UserInput {
            email: Some("ann@example.test".into()),
            phone: Some(PHONE.into()),
            ..UserInput::default()
        })
        .await
        .unwrap();
    for _ in 0..600 {
        let found = h
            .client
            .search_users(&format!("phone:{PHONE}"))
            .await
            .unwrap();
        if found.iter().any(|u| u.id == ann) {
            return ann;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("user search never found the phone");
}

#[tokio::test]
async fn a_telegram_contact_share_links_to_the_mail_requester() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    let ann = mail_requester(&h).await;

    h.publish(&telegram("bot:42:1", "Here is my number", Some(PHONE)))
        .await;
    let tickets = h.wait_for_tickets(2).await;
    let share = tickets
        .iter()
        .find(|t| t["id"] != tickets[0]["id"])
        .unwrap();
    assert_eq!(
        requester(share),
        ann,
        "the share is filed under the mail requester"
    );
    let held = identities(&h, ann).await;
    assert!(
        held.contains(&("phone_number".into(), PHONE.into())),
        "{held:?}"
    );
    assert!(
        held.contains(&("foreign".into(), "telegram:42".into())),
        "{held:?}"
    );
    let link = h.store.contact_link("telegram:42").await.unwrap().unwrap();
    assert_eq!((link.outcome, link.user_id), (LinkOutcome::Linked, ann));
    assert_eq!(link.detail_key, format!("phone:{PHONE}"));

    // The next Telegram message, without any phone, has the same requester.
    let next = telegram("bot:42:2", "Any news on my ticket?", None);
    h.publish(&next).await;
    let link = h.wait_for_link(next.event_id).await;
    let comments = h
        .client
        .list_comments(link.ticket_id, false, 10)
        .await
        .unwrap();
    let last = comments.last().unwrap();
    assert_eq!(last.author_id, Some(ann));
    // Only Ann exists as an end user: no separate Telegram user was made.
    let end_users: Vec<Value> = h
        .sim
        .state()
        .users()
        .into_iter()
        .filter(|u| u["role"] == "end-user")
        .collect();
    assert_eq!(end_users.len(), 1, "{end_users:#?}");
    h.stop_router().await;
}

#[tokio::test]
async fn a_typed_email_or_phone_never_links() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    let ann = mail_requester(&h).await;
    let before = identities(&h, ann).await;

    // A visitor who only typed Ann's address and phone.
    let typed = chat("c1", "v7", "ann@example.test", false, "I am Ann, really");
    h.publish(&typed).await;
    let link = h.wait_for_link(typed.event_id).await;
    let ticket = h
        .sim
        .state()
        .tickets()
        .into_iter()
        .find(|t| t["id"] == link.ticket_id)
        .unwrap();
    assert_ne!(requester(&ticket), ann);
    assert_eq!(identities(&h, ann).await, before, "Ann gained nothing");
    assert_eq!(h.store.contact_link("chat:v7").await.unwrap(), None);
    h.stop_router().await;
}

#[tokio::test]
async fn an_identity_held_by_another_user_is_refused_and_users_stay_apart() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    let ann = mail_requester(&h).await;
    // An agent once attached Telegram user 42 to another customer.
    let bob = h
        .client
        .create_or_update_user(&UserInput {
            name: Some("Bob".into()),
            email: Some("bob@example.test".into()),
            ..UserInput::default()
        })
        .await
        .unwrap();
    h.client
        .add_user_identity(bob.id, IdentityType::Foreign, "telegram:42")
        .await
        .unwrap();
    let ann_before = identities(&h, ann).await;

    let share = telegram("bot:42:1", "Here is my number", Some(PHONE));
    h.publish(&share).await;
    let link = h.wait_for_link(share.event_id).await;
    let ticket = h
        .sim
        .state()
        .tickets()
        .into_iter()
        .find(|t| t["id"] == link.ticket_id)
        .unwrap();
    assert_ne!(requester(&ticket), ann, "not filed under Ann");
    assert_ne!(requester(&ticket), bob.id, "not merged into Bob either");
    let refused = h.store.contact_link("telegram:42").await.unwrap().unwrap();
    assert_eq!(refused.outcome, LinkOutcome::Refused);
    assert_eq!(refused.reason.as_deref(), Some("identity_taken"));
    // Ann gained at most the phone she already had; no Telegram identity.
    let ann_after = identities(&h, ann).await;
    assert!(!ann_after.contains(&("foreign".into(), "telegram:42".into())));
    assert!(ann_after.len() <= ann_before.len() + 1, "{ann_after:?}");
    h.stop_router().await;
}

/// Ann signed in on the chat (verified e-mail) and her Telegram account is
/// linked: one person on two channels.
async fn linked_ann(h: &Harness) -> u64 {
    let ann = mail_requester(h).await;
    let share = telegram("bot:42:1", "Here is my number", Some(PHONE));
    h.publish(&share).await;
    h.wait_for_link(share.event_id).await;
    ann
}

fn chat_at(message_id: &str, text: &str, received_ago: Duration) -> TicketEvent {
    let mut event = chat(message_id, "v1", "ann@example.test", true, text);
    event.received_at = Utc::now() - chrono::Duration::from_std(received_ago).unwrap();
    event
}

#[tokio::test]
async fn the_same_text_on_chat_and_telegram_within_the_window_is_one_ticket() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    let ann = linked_ann(&h).await;
    let before = h.tickets().len();

    let first = chat_at(
        "c1",
        "My printer is broken again, please help",
        Duration::from_secs(120),
    );
    h.publish(&first).await;
    let first_link = h.wait_for_link(first.event_id).await;
    let second = telegram(
        "bot:42:9",
        "my printer is broken again - please help!",
        None,
    );
    h.publish(&second).await;
    let second_link = h.wait_for_link(second.event_id).await;

    assert_eq!(second_link.ticket_id, first_link.ticket_id, "one ticket");
    assert_eq!(h.tickets().len(), before + 1);
    let ticket = h
        .sim
        .state()
        .tickets()
        .into_iter()
        .find(|t| t["id"] == first_link.ticket_id)
        .unwrap();
    assert!(has_tag(&ticket, CROSS_CHANNEL_TAG), "{ticket:#}");
    assert_eq!(requester(&ticket), ann);
    let comments = h
        .client
        .list_comments(first_link.ticket_id, false, 10)
        .await
        .unwrap();
    let note = comments.last().unwrap().body.clone();
    assert!(
        note.contains("via telegram") && note.contains("via chat"),
        "{note}"
    );
    assert!(note.contains("my printer is broken again"), "{note}");
    h.stop_router().await;
}

#[tokio::test]
async fn outside_the_window_or_with_other_text_there_are_two_tickets() {
    let mut h = Harness::new().await;
    h.start_router(h.options(routes()));
    linked_ann(&h).await;
    let before = h.tickets().len();

    // Eleven minutes apart (the window is ten).
    let old = chat_at(
        "c1",
        "My printer is broken again, please help",
        Duration::from_secs(660),
    );
    h.publish(&old).await;
    let old_link = h.wait_for_link(old.event_id).await;
    let late = telegram("bot:42:9", "My printer is broken again, please help", None);
    h.publish(&late).await;
    let late_link = h.wait_for_link(late.event_id).await;
    assert_ne!(late_link.ticket_id, old_link.ticket_id);

    // Within the window, but another request.
    let other = chat_at(
        "c2",
        "The invoice for November is wrong",
        Duration::from_secs(30),
    );
    h.publish(&other).await;
    let other_link = h.wait_for_link(other.event_id).await;
    assert_ne!(other_link.ticket_id, late_link.ticket_id);
    assert_ne!(other_link.ticket_id, old_link.ticket_id);
    // The chat copies made tickets of their own; the Telegram one went to
    // its own conversation's ticket (the share's), not to the chat's.
    assert_eq!(h.tickets().len(), before + 2);
    assert!(h.tickets().iter().all(|t| !has_tag(t, CROSS_CHANNEL_TAG)));
    h.stop_router().await;
}
