//! The router end to end: embedded bus → router → Zendesk simulator.

mod harness;

use harness::{Harness, chat_event, email_event, fault, has_tag, routes};
use intake_blob::BlobStore;
use intake_event::{Attachment, Contact, TicketEvent};
use intake_store::{Effect, StateStore};
use serde_json::{Value, json};

#[tokio::test]
async fn one_event_becomes_one_ticket_with_requester_tags_priority_and_attachment() {
    let mut h = Harness::new().await;
    let bytes = b"%PDF-1.4 invoice".to_vec();
    let blob = h.blobs.put(&bytes).await.unwrap();
    let contact = Contact {
        key: "chat:visitor-7".to_owned(),
        name: Some("Alice".to_owned()),
        email: Some("Alice@Example.com".to_owned()),
        verified: true,
        ..Contact::default()
    };
    let text = "\n  My invoice is wrong  \nPlease fix it";
    let mut event = TicketEvent::new("chat", "m-1", contact, text, chrono::Utc::now());
    event.attachments = vec![Attachment {
        filename: "invoice.pdf".to_owned(),
        content_type: "application/pdf".to_owned(),
        size: bytes.len() as u64,
        sha256: intake_blob::sha256_hex(&bytes),
        blob,
    }];
    h.publish(&event).await;
    h.start_router(h.options(routes()));

    let tickets = h.wait_for_tickets(1).await;
    assert_eq!(tickets.len(), 1);
    let ticket = &tickets[0];
    assert_eq!(ticket["subject"], "My invoice is wrong");
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["external_id"], event.event_id.to_string());
    for tag in ["intake", "channel_chat", "web"] {
        assert!(
            has_tag(ticket, tag),
            "missing tag {tag}: {}",
            ticket["tags"]
        );
    }
    let users = h.sim.state().users();
    let alice = users
        .iter()
        .find(|u| {
            u["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case("alice@example.com"))
        })
        .expect("requester user created");
    assert_eq!(ticket["requester_id"], alice["id"]);
    let comment = &ticket["comments"][0];
    assert_eq!(comment["body"], event.text);
    assert_eq!(comment["public"], true);
    let attachments = comment["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["file_name"], "invoice.pdf");

    let link = h.wait_for_link(event.event_id).await;
    assert_eq!(link.effect, Effect::Created);
    assert_eq!(Some(link.ticket_id), ticket["id"].as_u64());
    h.stop_router().await;
}

#[tokio::test]
async fn chat_requester_is_matched_by_external_id_and_cached() {
    let mut h = Harness::new().await;
    h.publish(&chat_event("c-1", "visitor-1", "first")).await;
    h.publish(&chat_event("c-2", "visitor-1", "second, no thread"))
        .await;
    h.start_router(h.options(routes()));
    let tickets = h.wait_for_tickets(2).await;
    assert_eq!(tickets[0]["requester_id"], tickets[1]["requester_id"]);
    let users = h.sim.state().users();
    let visitor = users
        .iter()
        .find(|u| u["external_id"] == "chat:visitor-1")
        .expect("user by external id");
    assert_eq!(visitor["name"], "Visitor visitor-1");
    assert_eq!(tickets[0]["requester_id"], visitor["id"]);
    let user_calls = h
        .requests()
        .await
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/api/v2/users"))
        })
        .count();
    assert_eq!(user_calls, 1, "the contact's user id is cached");
    h.stop_router().await;
}

#[tokio::test]
async fn the_same_event_published_twice_makes_one_ticket() {
    let mut h = Harness::new().await;
    let event = chat_event("dup-1", "v1", "hello twice");
    h.publish(&event).await;
    h.publish(&event).await;
    h.publish(&chat_event("after-1", "v2", "marker")).await;
    h.start_router(h.options(routes()));
    h.wait_for_tickets(2).await;
    // The marker comes after both copies on the same topic: once it has a
    // ticket, both copies were handled.
    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "marker"))
        .await;
    let tickets = h.tickets();
    let copies = tickets
        .iter()
        .filter(|t| t["external_id"] == event.event_id.to_string())
        .count();
    assert_eq!(copies, 1);
    assert_eq!(tickets.len(), 2);
    h.stop_router().await;
}

#[tokio::test]
async fn a_second_message_in_the_conversation_is_a_comment_and_a_closed_ticket_gets_a_follow_up() {
    let mut h = Harness::new().await;
    let mut first = chat_event("t-1", "v1", "my order is late");
    first.conversation.thread_id = Some("thread-9".to_owned());
    let mut second = chat_event("t-2", "v1", "any news?");
    second.conversation.thread_id = Some("thread-9".to_owned());
    h.publish(&first).await;
    h.publish(&second).await;
    h.start_router(h.options(routes()));
    h.wait_until(|h| {
        h.tickets()
            .first()
            .is_some_and(|t| t["comments"].as_array().unwrap().len() == 2)
    })
    .await;
    let tickets = h.tickets();
    assert_eq!(tickets.len(), 1);
    let ticket = &tickets[0];
    let comment = &ticket["comments"][1];
    assert_eq!(comment["body"], "any news?");
    assert_eq!(comment["public"], true);
    assert_eq!(comment["author_id"], ticket["requester_id"]);
    let link = h.wait_for_link(second.event_id).await;
    assert_eq!(link.effect, Effect::Commented);

    let first_id = ticket["id"].as_u64().unwrap();
    assert!(h.sim.state().set_ticket_status(first_id, "closed"));
    let mut third = chat_event("t-3", "v1", "it came broken");
    third.conversation.thread_id = Some("thread-9".to_owned());
    h.publish(&third).await;
    let tickets = h.wait_for_tickets(2).await;
    let follow_up = &tickets[1];
    assert_eq!(follow_up["via"]["source"]["from"]["ticket_id"], first_id);
    assert_eq!(follow_up["external_id"], third.event_id.to_string());
    assert_eq!(follow_up["comments"][0]["body"], "it came broken");

    // The conversation now lives on the follow-up.
    let mut fourth = chat_event("t-4", "v1", "photo attached soon");
    fourth.conversation.thread_id = Some("thread-9".to_owned());
    h.publish(&fourth).await;
    h.wait_until(|h| {
        h.tickets()
            .get(1)
            .is_some_and(|t| t["comments"].as_array().unwrap().len() == 2)
    })
    .await;
    assert_eq!(h.tickets().len(), 2);
    h.stop_router().await;
}

#[tokio::test]
async fn permanent_errors_go_to_the_dlq_and_the_next_event_goes_on() {
    let mut h = Harness::new().await;
    h.publish_raw(
        "chat",
        "chat:bad",
        b"{not json".to_vec(),
        vec![("ce_id".into(), "bad-1".into())],
    )
    .await;
    let rejected = chat_event("p-1", "v1", "rejected by zendesk");
    h.publish(&rejected).await;
    h.publish(&chat_event("p-2", "v2", "accepted")).await;
    h.add_fault(fault(422, 1, "/api/v2/tickets")).await;
    // The one-time 422 must hit the event published first.
    h.start_router(h.serial_options(routes()));

    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "accepted"))
        .await;
    assert_eq!(h.tickets().len(), 1);
    let letters = h.dead_letters("test-dlq").await;
    assert_eq!(letters.len(), 2, "{letters:#?}");
    assert_eq!(
        letters[0].header("intake_error_reason"),
        Some("undecodable_event")
    );
    assert_eq!(letters[0].payload, b"{not json");
    assert_eq!(letters[0].key, "chat:bad");
    assert_eq!(
        letters[1].header("intake_error_reason"),
        Some("zendesk_rejected")
    );
    assert_eq!(letters[1].header("intake_zendesk_status"), Some("422"));
    assert_eq!(
        letters[1].header("intake_source_topic"),
        Some("intake.events.chat")
    );
    assert!(letters[1].header("intake_source_offset").is_some());
    assert!(
        letters[1]
            .header("intake_error_message")
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(letters[1].payload, rejected.to_json());
    assert_eq!(
        h.store.ticket_for_event(rejected.event_id).await.unwrap(),
        None
    );
    h.stop_router().await;
}

#[tokio::test]
async fn zendesk_unavailable_for_a_while_is_retried_and_the_ticket_arrives_once() {
    let mut h = Harness::new().await;
    h.add_fault(fault(503, 6, "/api/v2/tickets")).await;
    let event = chat_event("r-1", "v1", "please retry me");
    h.publish(&event).await;
    h.start_router(h.options(routes()));
    let tickets = h.wait_for_tickets(1).await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["external_id"], event.event_id.to_string());
    let unavailable = h
        .requests()
        .await
        .iter()
        .filter(|r| r["status"] == 503)
        .count();
    assert_eq!(unavailable, 6, "every 503 was answered and retried");
    // Stopped (a drain that waits), so nothing still in flight can add a ticket later.
    h.stop_router().await;
    assert_eq!(h.tickets().len(), 1);
    assert!(h.dead_letters("test-dlq").await.is_empty());
}

#[tokio::test]
async fn with_backlog_on_chat_and_email_chat_goes_first() {
    let mut h = Harness::new().await;
    for i in 0..3 {
        h.publish(&email_event(
            &format!("e-{i}"),
            &format!("m{i}@example.com"),
            &format!("mail {i}"),
        ))
        .await;
    }
    for i in 0..3 {
        h.publish(&chat_event(
            &format!("c-{i}"),
            &format!("v{i}"),
            &format!("chat {i}"),
        ))
        .await;
    }
    // One worker slot: the order of creation is the order in which waiting
    // events took the free slot, which is what priority decides.
    h.start_router(h.serial_options(routes()));
    let tickets = h.wait_for_tickets(6).await;
    let order: Vec<&str> = tickets
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["chat 0", "chat 1", "chat 2", "mail 0", "mail 1", "mail 2"]
    );
    h.stop_router().await;
}

#[tokio::test]
async fn a_lower_priority_record_that_waited_too_long_is_served_next() {
    let mut h = Harness::new().await;
    h.publish(&email_event("e-0", "m0@example.com", "mail 0"))
        .await;
    for i in 0..3 {
        h.publish(&chat_event(
            &format!("c-{i}"),
            &format!("v{i}"),
            &format!("chat {i}"),
        ))
        .await;
    }
    // One worker slot, as above.
    let mut options = h.serial_options(routes());
    // Every head has "waited too long" at once: served oldest first, so the
    // mail polled with the first chat is not left until the chat backlog ends.
    options.max_priority_wait = std::time::Duration::ZERO;
    h.start_router(options);
    let tickets = h.wait_for_tickets(4).await;
    let order: Vec<&str> = tickets
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["chat 0", "mail 0", "chat 1", "chat 2"]);
    h.stop_router().await;
}

#[tokio::test]
async fn a_restarted_router_does_not_repeat_work() {
    let mut h = Harness::new().await;
    h.publish(&chat_event("s-1", "v1", "before restart")).await;
    h.start_router(h.options(routes()));
    h.wait_for_tickets(1).await;
    h.stop_router().await;
    h.publish(&chat_event("s-2", "v2", "after restart")).await;
    h.start_router(h.options(routes()));
    h.wait_for_tickets(2).await;
    // Stopped (a drain that waits), so a repeated first event would be in by now.
    h.stop_router().await;
    assert_eq!(h.tickets().len(), 2);
}

#[tokio::test]
async fn a_replay_after_a_crash_between_zendesk_and_the_store_finds_the_ticket_by_external_id() {
    let mut h = Harness::new().await;
    let event = chat_event("x-1", "v1", "created before the crash");
    // The previous run began the effect and Zendesk created the ticket (here
    // without an idempotency key, as if the key had expired), then it crashed.
    h.store
        .begin_effect(event.event_id, Effect::Created, None)
        .await
        .unwrap();
    let earlier = intake_zendesk::NewTicket {
        subject: Some("created before the crash".to_owned()),
        comment: intake_zendesk::Comment {
            body: Some(event.text.clone()),
            public: true,
            ..Default::default()
        },
        external_id: Some(event.event_id.to_string()),
        ..Default::default()
    };
    let created = h.client.create_ticket(&earlier, None).await.unwrap();
    h.publish(&event).await;
    h.publish(&chat_event("x-2", "v2", "marker")).await;
    h.start_router(h.options(routes()));
    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "marker"))
        .await;
    assert_eq!(
        h.tickets().len(),
        2,
        "no second ticket for the replayed event"
    );
    // The two are different conversations, so the marker may be in first.
    let link = h.wait_for_link(event.event_id).await;
    assert_eq!(link.ticket_id, created.ticket.id);
    assert_eq!(h.store.pending_effect(event.event_id).await.unwrap(), None);
    h.stop_router().await;
}

/// A first run that opened ticket "th" with one message; returns the ticket id.
async fn ticket_with_opening_message(h: &mut Harness) -> u64 {
    let mut first = chat_event("y-1", "v1", "opening message");
    first.conversation.thread_id = Some("th".to_owned());
    h.publish(&first).await;
    h.start_router(h.options(routes()));
    let tickets = h.wait_for_tickets(1).await;
    h.stop_router().await;
    tickets[0]["id"].as_u64().unwrap()
}

/// The second message of the conversation, whose comment a crash interrupted
/// after the pending row was written.
async fn interrupted_comment(h: &Harness, ticket_id: u64) -> TicketEvent {
    let mut second = chat_event("y-2", "v1", "sent just before the crash");
    second.conversation.thread_id = Some("th".to_owned());
    h.store
        .begin_effect(second.event_id, Effect::Commented, Some(ticket_id))
        .await
        .unwrap();
    second
}

/// Replays `second` (plus a marker event) and checks it is recorded as a
/// comment on `ticket_id`; returns the ticket's comments.
async fn replay_and_check(h: &mut Harness, second: &TicketEvent, ticket_id: u64) -> Vec<Value> {
    h.publish(second).await;
    h.publish(&chat_event("y-3", "v2", "marker")).await;
    h.start_router(h.options(routes()));
    h.wait_until(|h| h.tickets().iter().any(|t| t["subject"] == "marker"))
        .await;
    h.stop_router().await;
    let link = h
        .store
        .ticket_for_event(second.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (link.ticket_id, link.effect),
        (ticket_id, Effect::Commented)
    );
    assert_eq!(h.store.pending_effect(second.event_id).await.unwrap(), None);
    let ticket = h
        .tickets()
        .into_iter()
        .find(|t| t["id"] == ticket_id)
        .unwrap();
    ticket["comments"].as_array().unwrap().clone()
}

fn event_ids(comments: &[Value]) -> Vec<String> {
    comments
        .iter()
        .filter_map(|c| c["metadata"]["custom"]["intake_event_id"].as_str())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_interrupted_comment_that_zendesk_has_is_not_sent_twice() {
    let mut h = Harness::new().await;
    let ticket_id = ticket_with_opening_message(&mut h).await;
    let second = interrupted_comment(&h, ticket_id).await;
    // The crashed run's request reached Zendesk (with the event id) before the crash.
    let delivered = intake_zendesk::TicketUpdate {
        comment: Some(intake_zendesk::Comment {
            body: Some(second.text.clone()),
            public: true,
            ..Default::default()
        }),
        metadata: Some(json!({"intake_event_id": second.event_id.to_string()})),
        ..Default::default()
    };
    h.client.update_ticket(ticket_id, &delivered).await.unwrap();

    let comments = replay_and_check(&mut h, &second, ticket_id).await;
    assert_eq!(comments.len(), 2, "no second copy: {comments:#?}");
    assert_eq!(event_ids(&comments)[1..], [second.event_id.to_string()]);
    let lists = h
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r["method"] == "GET" && r["path"] == format!("/api/v2/tickets/{ticket_id}/audits")
        })
        .count();
    assert_eq!(lists, 1, "the replay verified once, through the audits");
    let comment_lists = h
        .requests()
        .await
        .into_iter()
        .filter(|r| r["path"] == format!("/api/v2/tickets/{ticket_id}/comments"))
        .count();
    assert_eq!(comment_lists, 0, "comments are not listed");
}

#[tokio::test]
async fn an_audit_with_the_event_id_but_no_comment_does_not_count() {
    let mut h = Harness::new().await;
    let ticket_id = ticket_with_opening_message(&mut h).await;
    let second = interrupted_comment(&h, ticket_id).await;
    // An update carried the event id but added no comment.
    let tagged_only = intake_zendesk::TicketUpdate {
        metadata: Some(json!({"intake_event_id": second.event_id.to_string()})),
        tags: Some(vec!["touched".to_owned()]),
        ..Default::default()
    };
    h.client
        .update_ticket(ticket_id, &tagged_only)
        .await
        .unwrap();

    let comments = replay_and_check(&mut h, &second, ticket_id).await;
    assert_eq!(comments.len(), 2, "the comment is sent: {comments:#?}");
    assert_eq!(event_ids(&comments)[1..], [second.event_id.to_string()]);
}

#[tokio::test]
async fn an_interrupted_comment_that_never_reached_zendesk_is_sent_once() {
    let mut h = Harness::new().await;
    let ticket_id = ticket_with_opening_message(&mut h).await;
    let second = interrupted_comment(&h, ticket_id).await;

    let comments = replay_and_check(&mut h, &second, ticket_id).await;
    assert_eq!(
        comments.len(),
        2,
        "the lost comment arrives once: {comments:#?}"
    );
    assert!(
        comments[1]["body"]
            .as_str()
            .unwrap()
            .contains("sent just before the crash")
    );
    assert_eq!(event_ids(&comments)[1..], [second.event_id.to_string()]);
}
