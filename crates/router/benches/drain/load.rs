//! The benchmark's events: mail threads from e-mail addresses and website
//! chats, as the channels would publish them. Shared with the two-router
//! benchmark of the root package (`benches/two_routers_drain.rs`).

use chrono::Utc;
use intake_bus::{Record, Topics, cloudevent_headers};
use intake_event::{Contact, SCHEMA_ID, TicketEvent};

/// The body of mail `round` (0: the new ticket, 1: the comment) of `contact`.
pub fn mail_text(contact: usize, round: usize) -> String {
    format!("mail {round} of contact {contact}")
}

/// The body of `contact`'s chat.
pub fn chat_text(contact: usize) -> String {
    format!("chat of contact {contact}")
}

pub fn mail(contact: usize, round: usize) -> TicketEvent {
    let address = format!("customer{contact}@mail.bench.test");
    let sender = Contact {
        key: format!("email:{address}"),
        verified: true,
        name: Some(format!("Mail Customer {contact}")),
        email: Some(address),
        ..Contact::default()
    };
    let text = mail_text(contact, round);
    let mut event = TicketEvent::new(
        "email",
        &format!("mail-{contact}-{round}"),
        sender,
        &text,
        Utc::now(),
    );
    event.conversation.thread_id = Some(format!("<thread-{contact}@mail.bench.test>"));
    event
}

pub fn chat(contact: usize) -> TicketEvent {
    let visitor = format!("visitor-{contact}");
    let sender = Contact {
        key: format!("chat:{visitor}"),
        name: Some(format!("Chat Visitor {contact}")),
        // What the visitor typed: unverified, so only a detail.
        email: contact
            .is_multiple_of(3)
            .then(|| format!("visitor{contact}@chat.bench.test")),
        channel_user_id: Some(visitor),
        ..Contact::default()
    };
    let text = chat_text(contact);
    let mut event = TicketEvent::new(
        "chat",
        &format!("chat-{contact}"),
        sender,
        &text,
        Utc::now(),
    );
    event.conversation.thread_id = Some(format!("chat-conversation-{contact}"));
    event
}

pub fn record(topics: &Topics, event: &TicketEvent) -> Record {
    Record {
        topic: topics.events(&event.channel),
        key: event.contact.key.clone(),
        payload: event.to_json(),
        headers: cloudevent_headers(
            &event.event_id.to_string(),
            "/intake/bench",
            SCHEMA_ID,
            event.received_at,
            None,
        ),
    }
}
