//! The bus key follows the conversation (issue 13 point 2, decision 37): a
//! chat whose visitor signs in halfway (the contact key turns from the
//! visitor's into the verified e-mail's) stays on one key, so on one
//! partition and with one router.

mod common;

use axum::http::StatusCode;
use common::{harness, identity_token, options, send, signed};

#[tokio::test]
async fn a_chat_that_gains_an_email_halfway_keeps_its_key() {
    let h = harness(options());
    let before = r#"{"conversation_id":"conv-1","author":{"id":"visitor-1"},"text":"Hello"}"#;
    let token = identity_token("olga@example.com");
    let after = format!(
        r#"{{"conversation_id":"conv-1","author":{{"id":"visitor-1","identity_token":"{token}"}},"text":"Signed in now"}}"#
    );
    let other = r#"{"conversation_id":"conv-2","author":{"id":"visitor-1"},"text":"Another chat"}"#;
    for (id, body) in [("m-1", before), ("m-2", after.as_str()), ("m-3", other)] {
        let (status, _, answer) = send(&h.app, signed(id, body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    let events = h.events();
    assert_eq!(events[0].contact.key, "chat:visitor-1");
    assert_eq!(
        events[1].contact.key, "email:olga@example.com",
        "the requester changed: the visitor is identified now"
    );
    let keys: Vec<String> = h
        .publisher
        .records()
        .iter()
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(
        keys,
        [
            "thread:chat:conv-1",
            "thread:chat:conv-1",
            "thread:chat:conv-2"
        ],
        "the key is the conversation's, whoever the requester turned out to be"
    );
}
