//! One person across channels with TWO router processes of the built binary
//! on one consumer group, real Kafka (a fresh topic prefix), real
//! PostgreSQL (a fresh schema) and the simulator (issue 14 point 2, "done
//! when"; decisions 52, 53, 56).
//!
//! Both routers consume every channel (chat, e-mail, Telegram, Slack; two
//! partitions each). Records are put on a chosen partition by choosing
//! their key (librdkafka's default partitioner: CRC-32 of the key modulo
//! the partitions). Before the messages, probes on every partition, round
//! after round, show the group holds both routers with one partition of
//! each topic each, and which holds which; after the messages every one's
//! handling is looked up in the routers' logs, and each person's two
//! messages are asserted to have been handled by two different processes.
//!
//! - **Linking** ([`linking_by_verified_details_across_two_routers`]): Ann
//!   writes by mail (a verified From, decision 35) and then on Slack as the
//!   workspace member whose profile has her address; Bob writes by mail and
//!   then shares his own Telegram contact card with the phone Zendesk has on
//!   his profile; Carol writes by mail and then in the chat, where she only
//!   typed her address. Ann and Bob are one requester each, with the Slack
//!   key / the phone and Telegram key as identities on their Zendesk user;
//!   Carol's chat has a requester of its own and her user gained nothing.
//! - **The two-channel window under concurrency**
//!   ([`near_duplicates_from_two_routers_make_one_ticket_per_person`]):
//!   30 people each send one text in the chat and on Telegram; every chat
//!   copy is on the chat partition of one router and every Telegram copy on
//!   the Telegram partition of the other. The test holds
//!   `LOCK TABLE cross_channel_messages IN SHARE MODE` (claims may read,
//!   not insert) until (nearly) every event the two routers run at once
//!   (four each, `router.max_in_flight`; both channels of high priority)
//!   waits at the claim, so the first pairs are claimed at the same moment
//!   by two processes. Exactly one ticket per
//!   person, whose second comment is the other channel's copy with the note
//!   naming both channels, and the tag.
//!
//! Checked to fail without the atomic claim (done, seen failing, restored):
//! with the `pg_advisory_xact_lock` statement in
//! `crates/store/src/postgres/identity.rs` replaced by `SELECT length($1)`,
//! the duplicate test found 34 tickets for 30 people — persons 1–4, whose
//! copies were held at the gate together, had one ticket per channel — and
//! passed again with the lock back. The linking test needs no gate: it
//! checks that a link made by one process is used by the other.

mod common;
#[path = "cross_channel_two_routers/routers.rs"]
mod routers;

use std::time::Duration;

use intake_event::{Contact, TicketEvent};
use intake_store::StateStore;
use routers::{IN_FLIGHT, Routers, mail, message, telegram, thread_on};
use serde_json::Value;
use sqlx::Connection;

const PEOPLE: u64 = 30;
const TAG: &str = "intake_cross_channel_duplicate";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_by_verified_details_across_two_routers() {
    let Some(mut routers) = Routers::start().await else {
        return;
    };
    let held = routers.wait_balanced().await;
    let bob_phone = "+4915112345678";
    let bob = routers
        .seed_user("Bob", "bob@example.test", bob_phone)
        .await;

    // First everyone's mail, on router 0.
    let ann_mail = mail(
        "ann-1",
        "ann@example.test",
        "Invoice 42 is wrong",
        held.of("email", 0),
    );
    let bob_mail = mail(
        "bob-1",
        "bob@example.test",
        "My parcel is late",
        held.of("email", 0),
    );
    let carol_mail = mail(
        "carol-1",
        "carol@example.test",
        "Password reset",
        held.of("email", 0),
    );
    for event in [&ann_mail, &bob_mail, &carol_mail] {
        routers.publish(event).await;
    }
    routers
        .wait_recorded(&[&ann_mail, &bob_mail, &carol_mail])
        .await;

    // Then each on another channel, on router 1.
    let ann_slack = message(
        "slack",
        "T1:C0SUPPORT:1700000000.000100",
        Contact {
            key: "slack:T1:U1ANN".into(),
            email: Some("Ann@Example.test".into()),
            channel_user_id: Some("U1ANN".into()),
            verified: true,
            ..Contact::default()
        },
        "Also, where is my refund?",
        thread_on(
            "slack",
            "T1:C0SUPPORT:1700000000.000100",
            held.of("slack", 1),
        ),
    );
    let bob_telegram = telegram(
        "bob-2",
        77,
        Some(bob_phone),
        "Any news on it?",
        held.of("telegram", 1),
    );
    let carol_chat = message(
        "chat",
        "carol-2",
        Contact {
            key: "chat:visitor-carol".into(),
            email: Some("carol@example.test".into()),
            channel_user_id: Some("visitor-carol".into()),
            verified: false,
            ..Contact::default()
        },
        "I typed my address here",
        thread_on("chat", "carol", held.of("chat", 1)),
    );
    for event in [&ann_slack, &bob_telegram, &carol_chat] {
        routers.publish(event).await;
    }
    routers
        .wait_recorded(&[&ann_slack, &bob_telegram, &carol_chat])
        .await;
    for (mail, other) in [
        (&ann_mail, &ann_slack),
        (&bob_mail, &bob_telegram),
        (&carol_mail, &carol_chat),
    ] {
        assert_eq!(routers.handled_by(mail), 0, "{}", routers.output());
        assert_eq!(routers.handled_by(other), 1, "{}", routers.output());
    }

    let tickets = routers.world.tickets().await;
    let requester = async |event: &TicketEvent| requester_of(&tickets, event, &routers).await;
    let ann_user = requester(&ann_mail).await;
    assert_eq!(
        requester(&ann_slack).await,
        ann_user,
        "Ann is one requester"
    );
    assert_eq!(requester(&bob_mail).await, bob, "Bob's mail is his user");
    assert_eq!(requester(&bob_telegram).await, bob, "Bob is one requester");
    let carol_user = requester(&carol_mail).await;
    let stranger = requester(&carol_chat).await;
    assert_ne!(stranger, carol_user, "a typed address never links");

    let ann_ids = routers.identities(ann_user).await;
    assert!(
        ann_ids.contains(&("foreign".into(), "slack:T1:U1ANN".into())),
        "{ann_ids:?}"
    );
    let bob_ids = routers.identities(bob).await;
    for wanted in [
        ("phone_number", bob_phone),
        ("foreign", "telegram:77"),
        ("email", "bob@example.test"),
    ] {
        assert!(
            bob_ids.contains(&(wanted.0.into(), wanted.1.into())),
            "{wanted:?} not in {bob_ids:?}"
        );
    }
    let carol_ids = routers.identities(carol_user).await;
    assert_eq!(
        carol_ids,
        [("email".to_owned(), "carol@example.test".to_owned())],
        "Carol gained nothing"
    );
    assert!(
        routers
            .store
            .contact_link("chat:visitor-carol")
            .await
            .unwrap()
            .is_none()
    );
    for key in ["slack:T1:U1ANN", "telegram:77"] {
        let link = routers.store.contact_link(key).await.unwrap();
        assert!(
            link.is_some_and(|l| l.outcome == intake_store::LinkOutcome::Linked),
            "{key} linked"
        );
    }
    routers.finish().await;
}

/// The requester of the event's ticket in the simulator.
async fn requester_of(tickets: &[Value], event: &TicketEvent, routers: &Routers) -> u64 {
    let id = routers.ticket_of(event).await;
    let ticket = tickets
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no ticket {id}"));
    ticket["requester_id"].as_u64().expect("a requester")
}

fn text_of(n: u64) -> String {
    format!("Person {n}: my printer is broken again and nobody answers, please help")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_duplicates_from_two_routers_make_one_ticket_per_person() {
    let Some(mut routers) = Routers::start().await else {
        return;
    };
    let held = routers.wait_balanced().await;

    // Each person is a Zendesk user with an e-mail and a phone: the chat
    // copy (a signed-in visitor, verified) finds the user by e-mail, the
    // Telegram copy (the sender's own contact card) is linked by the phone.
    let mut users = Vec::new();
    for n in 1..=PEOPLE {
        let phone = format!("+49151{n:08}");
        let email = format!("p{n}@example.test");
        users.push(
            routers
                .seed_user(&format!("Person {n}"), &email, &phone)
                .await,
        );
    }
    let chat_copy = |n: u64| {
        let email = format!("p{n}@example.test");
        let contact = Contact {
            key: format!("email:{email}"),
            email: Some(email),
            channel_user_id: Some(format!("visitor-{n}")),
            verified: true,
            ..Contact::default()
        };
        message(
            "chat",
            &format!("chat-{n}"),
            contact,
            &text_of(n),
            thread_on("chat", &format!("conv-{n}"), held.of("chat", 0)),
        )
    };
    let telegram_copy = |n: u64| {
        telegram(
            &format!("telegram-{n}"),
            1000 + n,
            Some(&format!("+49151{n:08}")),
            // Nearly the same text: retyped on a phone.
            &format!("{}!", text_of(n).to_uppercase()),
            held.of("telegram", 1),
        )
    };
    let chats: Vec<TicketEvent> = (1..=PEOPLE).map(chat_copy).collect();
    let telegrams: Vec<TicketEvent> = (1..=PEOPLE).map(telegram_copy).collect();

    // Claims may read but not insert until every event the routers run at
    // once waits at the claim (pg_locks): then the first pairs are claimed
    // by two processes at the same moment.
    let mut gate = sqlx::PgConnection::connect(&routers.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut gate).await.unwrap();
    sqlx::query("LOCK TABLE cross_channel_messages IN SHARE MODE")
        .execute(&mut gate)
        .await
        .unwrap();
    for (chat, telegram) in chats.iter().zip(&telegrams) {
        routers.publish(chat).await;
        routers.publish(telegram).await;
    }
    let deadline = std::time::Instant::now() + common::CONDITION_TIMEOUT;
    loop {
        let waiting: Vec<String> = sqlx::query_scalar(
            "SELECT locktype || ' ' || mode FROM pg_locks WHERE NOT granted AND database = \
             (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_all(&mut gate)
        .await
        .unwrap();
        // Every event both routers run at once, but for one each (room for
        // a slot a router keeps for other work).
        if waiting.len() >= 2 * (IN_FLIGHT - 1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the claims never waited together: {waiting:?}\n{}",
            routers.problems()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sqlx::query("COMMIT").execute(&mut gate).await.unwrap();
    gate.close().await.unwrap();

    let all: Vec<&TicketEvent> = chats.iter().chain(&telegrams).collect();
    routers.wait_recorded(&all).await;
    let tickets: Vec<Value> = routers
        .world
        .tickets()
        .await
        .into_iter()
        .filter(|t| {
            !t["subject"]
                .as_str()
                .unwrap_or_default()
                .starts_with("probe")
        })
        .collect();
    assert_eq!(
        tickets.len() as u64,
        PEOPLE,
        "one ticket per person: {tickets:#?}\n{}",
        routers.output()
    );
    let mut duplicates_per_router = [0u64; 2];
    for n in 1..=PEOPLE {
        let (chat, telegram) = (&chats[n as usize - 1], &telegrams[n as usize - 1]);
        let by_chat = routers.handled_by(chat);
        let by_telegram = routers.handled_by(telegram);
        assert_ne!(by_chat, by_telegram, "person {n}: one router took both");
        let ticket_id = routers.ticket_of(chat).await;
        assert_eq!(routers.ticket_of(telegram).await, ticket_id, "person {n}");
        let ticket = tickets.iter().find(|t| t["id"] == ticket_id).unwrap();
        assert_eq!(ticket["requester_id"], users[n as usize - 1], "person {n}");
        let tags = ticket["tags"].as_array().unwrap();
        assert!(tags.iter().any(|t| t == TAG), "person {n}: {ticket:#}");
        let comments: Vec<&str> = ticket["comments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["public"] != false)
            .filter_map(|c| c["body"].as_str())
            .collect();
        assert_eq!(comments.len(), 2, "person {n}: {comments:#?}");
        // Either copy may have won the claim; the other is the comment.
        let (original, duplicate) = if comments[0].contains(&text_of(n)) {
            ("chat", "telegram")
        } else {
            ("telegram", "chat")
        };
        assert!(
            comments[1].contains(&format!("also came via {duplicate}"))
                && comments[1].contains(&format!("first received via {original}")),
            "person {n}: {comments:#?}"
        );
        duplicates_per_router[if duplicate == "chat" {
            by_chat
        } else {
            by_telegram
        }] += 1;
    }
    let counted: f64 = {
        let mut sum = 0.0;
        for (_, ops) in &routers.routers {
            let text = reqwest::get(format!("http://{ops}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            sum += common::metric_value(&text, "intake_cross_channel_duplicates_total", &[])
                .unwrap_or(0.0);
        }
        sum
    };
    assert_eq!(counted as u64, PEOPLE, "one duplicate counted per person");
    eprintln!("duplicates made per router: {duplicates_per_router:?}");
    routers.finish().await;
}
