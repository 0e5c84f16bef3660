//! Conversations waiting on an endpoint's bucket park once each (decision
//! 63). A burst of new messenger contacts, more than the user-creation
//! bucket sends within the router's wait limit: each refused call is given
//! its own turn, so its lane parks until then and is served on coming back.
//! Before turns every refused lane was told the same time, one got the
//! slot and the rest parked again, every slot (checked: without the turns
//! in `endpoint_limits.rs` this test counts 2-3 times as many parks as contacts).
//!
//! Then channel priority (rule 3) in those turns: with mail contacts waiting
//! in them, a new chat contact is queued ahead of the mail, not after it
//! (checked: with every call at one rank, no mail ticket came after the
//! chat's).
//!
//! One test in this binary: it counts the router's parks with a global
//! metrics recorder.

mod harness;

use harness::{Harness, chat_event, email_event, has_tag, routes};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const CONTACTS: usize = 12;

fn parks(snapshotter: &Snapshotter, channel: &str) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "intake_router_lanes_parked_total")
        .filter(|(key, ..)| {
            let label = |name: &str, value: &str| {
                key.key()
                    .labels()
                    .any(|label| label.key() == name && label.value() == value)
            };
            label("reason", "endpoint_limit") && label("channel", channel)
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            _ => 0,
        })
        .sum()
}

#[tokio::test]
async fn lanes_waiting_for_user_creation_park_once_each() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");

    // User creation at one every 1.1 s: within the router's 2 s wait limit
    // only the next slot or two, so most of the burst is refused and parked.
    let mut h = Harness::with_user_create_limits().await;
    let mut options = h.options(routes());
    options.max_in_flight = 16;
    h.start_router(options);
    for i in 0..CONTACTS {
        let mut event = chat_event(&format!("turn-{i}"), &format!("t{i}"), "hello");
        event.conversation.thread_id = Some(format!("turn-thread-{i}"));
        h.publish(&event).await;
    }
    h.wait_for_tickets(CONTACTS).await;

    let parked = parks(&snapshotter, "chat");
    assert!(
        parked > 0,
        "the burst was more than the bucket's wait: some lanes parked"
    );
    assert!(
        parked <= CONTACTS as u64,
        "{parked} parks for {CONTACTS} contacts: lanes waiting on the bucket parked again and again"
    );
    let creates = h
        .requests()
        .await
        .into_iter()
        .filter(|r| r["path"] == "/api/v2/users/create_or_update")
        .filter(|r| r["status"] != 429)
        .count();
    assert_eq!(
        creates, CONTACTS,
        "one user creation per contact, none refused"
    );

    // Mail from new senders whose address our servers did not authenticate
    // (so each needs its user made first), waiting in the bucket's turns ...
    for i in 0..CONTACTS {
        let thread = format!("<turn-mail-{i}@x.test>");
        let mut event = email_event(
            &thread,
            &format!("sender{i}@mail.test"),
            "Good morning, a question about my invoice",
        );
        event.contact.verified = false;
        event.conversation.thread_id = Some(thread);
        h.publish(&event).await;
    }
    h.wait_until(|_| parks(&snapshotter, "email") >= 5).await;
    // ... and then a new chat contact.
    let mut chat = chat_event("turn-late-chat", "late", "hello");
    chat.conversation.thread_id = Some("turn-late-chat".to_owned());
    h.publish(&chat).await;
    let tickets = h.wait_for_tickets(CONTACTS * 2 + 1).await;
    h.stop_router().await;
    let id = |t: &serde_json::Value| t["id"].as_u64().unwrap();
    // The newest chat ticket: the first phase's were all made before.
    let late_chat = tickets
        .iter()
        .filter(|t| has_tag(t, "web"))
        .map(id)
        .max()
        .unwrap();
    let mail_after_chat = tickets
        .iter()
        .filter(|t| !has_tag(t, "web") && id(t) > late_chat)
        .count();
    assert!(
        mail_after_chat >= 2,
        "the chat waited behind the mail in the user-creation turns \
         ({mail_after_chat} mail tickets made after it)"
    );
    assert!(h.dead_letters("check").await.is_empty());
}
