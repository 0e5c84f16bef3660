//! First channel end to end, on both bus backends: bad requests are refused
//! with their status and never reach the bus; one good signed message becomes
//! exactly one ticket with the right requester, subject, body, tags, priority
//! and attachment; the metrics count the traffic; the logs carry the event id.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Backend, World, kafka_brokers, metric_value};
use serde_json::{Value, json};

const MAX_BODY: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_message_becomes_one_ticket_embedded() {
    first_channel_end_to_end(Backend::Embedded, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_message_becomes_one_ticket_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    first_channel_end_to_end(Backend::Kafka, Some(&brokers)).await;
}

async fn first_channel_end_to_end(backend: Backend, brokers: Option<&str>) {
    let extra = format!("max_body_bytes = {MAX_BODY}\n");
    let world = World::with_sim(backend, brokers, Default::default(), &extra).await;
    let mut intake = world.spawn("all", None);
    world.wait_ready(&mut intake).await;

    // --- Bad requests: each its own status and error code. ---
    let good_json = serde_json::to_vec(&common::chat_body(
        "conv-bad",
        "v-bad",
        None,
        "should never arrive",
    ))
    .unwrap();
    let now = chrono::Utc::now().timestamp();

    let wrong_key_sig = {
        let mut other = World::sign_with(&[9u8; 32], "bad-sig", now, &good_json);
        other.push(' ');
        other.push_str("v1,AAAA");
        other
    };
    let (status, body) = world
        .post_raw(
            "bad-sig",
            now,
            &wrong_key_sig,
            "application/json",
            good_json.clone(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("signature")),
        "{body}"
    );

    let stale = now - 3600;
    let stale_sig = world.sign("bad-stale", stale, &good_json);
    let (status, body) = world
        .post_raw(
            "bad-stale",
            stale,
            &stale_sig,
            "application/json",
            good_json.clone(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("stale_timestamp")),
        "{body}"
    );

    let huge = serde_json::to_vec(&common::chat_body(
        "conv-bad",
        "v-bad",
        None,
        &"x".repeat(MAX_BODY + 1),
    ))
    .unwrap();
    let huge_sig = world.sign("bad-huge", now, &huge);
    let (status, body) = world
        .post_raw("bad-huge", now, &huge_sig, "application/json", huge)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );

    let broken = b"{\"conversation_id\": \"conv-bad\", \"author\": {".to_vec();
    let broken_sig = world.sign("bad-json", now, &broken);
    let (status, body) = world
        .post_raw("bad-json", now, &broken_sig, "application/json", broken)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad_json")),
        "{body}"
    );

    // --- One good message with an attachment. ---
    let file: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
    let mut message = common::chat_body(
        "conv-good",
        "visitor-42",
        Some("olga@example.com"),
        "Оплата не проходит\nЗаказ 1042, карта отклонена.",
    );
    message["attachments"] = json!([{
        "filename": "screenshot.png",
        "content_type": "image/png",
        "data_base64": BASE64.encode(&file),
    }]);
    let (status, accepted) = world.post_chat("good-1", &message).await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["event_id"].as_str().expect("event id").to_owned();

    // --- The bus holds the good message and nothing else. ---
    let records = world
        .read_topic(
            &world.chat_topic(),
            1,
            Duration::from_secs(3),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        records.len(),
        1,
        "exactly one record on {}: {records:?}",
        world.chat_topic()
    );
    let record = &records[0];
    assert_eq!(record.header("ce_id"), Some(event_id.as_str()));
    // The bus key is the conversation (decision 37), whoever the visitor is.
    assert_eq!(record.key, "thread:chat:conv-good");
    let event: Value = serde_json::from_slice(&record.payload).unwrap();
    assert_eq!(event["channel_message_id"], "good-1");
    assert_eq!(event["contact"]["verified"], false);
    assert_eq!(event["contact"]["email"], "olga@example.com");

    // --- Exactly one ticket, with everything right. ---
    let tickets = world.wait_tickets(1, Duration::from_secs(60)).await;
    assert_eq!(
        tickets.len(),
        1,
        "one ticket: {tickets:#?}\n{}",
        intake.output()
    );
    let ticket = &tickets[0];
    assert_eq!(ticket["subject"], "Оплата не проходит");
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["external_id"].as_str(), Some(event_id.as_str()));
    let tags: Vec<&str> = ticket["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for tag in ["intake", "channel_chat", "web"] {
        assert!(tags.contains(&tag), "tag {tag} missing: {tags:?}");
    }
    let users = world.sim_users().await;
    let requester = users
        .iter()
        .find(|u| u["id"] == ticket["requester_id"])
        .unwrap_or_else(|| panic!("requester {} not among {users:#?}", ticket["requester_id"]));
    assert_eq!(requester["name"], "Ольга Тестова");
    // The visitor typed the e-mail and nothing vouches for it (decision 2):
    // the requester is the visitor, the claimed address is shown, not attached.
    assert_eq!(requester["email"], Value::Null);
    assert_eq!(requester["external_id"], "chat:visitor-42");
    assert_eq!(requester["role"], "end-user");
    assert!(tags.contains(&"intake_unverified_identity"), "{tags:?}");
    let comments = ticket["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let comment_body = comments[0]["body"].as_str().unwrap();
    assert!(
        comment_body.contains("Заказ 1042, карта отклонена."),
        "{comment_body}"
    );
    assert!(comment_body.contains("olga@example.com"), "{comment_body}");
    let attachments = comments[0]["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{attachments:#?}");
    assert_eq!(attachments[0]["file_name"], "screenshot.png");
    assert_eq!(attachments[0]["size"].as_u64(), Some(file.len() as u64));

    // --- Metrics match the traffic: 5 requests, 4 refused, 1 published, 1 ticket. ---
    let metrics = world.metrics().await;
    let chat = [("channel", "chat")];
    let value = |name: &str, labels: &[(&str, &str)]| metric_value(&metrics, name, labels);
    assert_eq!(
        value("intake_messages_received_total", &chat),
        Some(5.0),
        "{metrics}"
    );
    assert_eq!(
        value("intake_events_published_total", &chat),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        value("intake_tickets_created_total", &chat),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        value("intake_signature_failures_total", &chat),
        Some(2.0),
        "{metrics}"
    );
    for reason in ["signature", "stale_timestamp", "too_large", "bad_json"] {
        assert_eq!(
            value(
                "intake_messages_rejected_total",
                &[("channel", "chat"), ("reason", reason)]
            ),
            Some(1.0),
            "rejected reason={reason}\n{metrics}"
        );
    }
    assert_eq!(
        value("intake_messages_rejected_total", &chat),
        Some(4.0),
        "{metrics}"
    );
    assert_eq!(
        value("intake_receipt_to_ticket_seconds_count", &chat),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        value(
            "intake_receipt_to_ticket_seconds_bucket",
            &[("channel", "chat"), ("le", "+Inf")]
        ),
        Some(1.0),
        "receipt-to-ticket is a histogram with buckets\n{metrics}"
    );
    let requests = world
        .sim_admin(reqwest::Method::GET, "/admin/requests", None)
        .await;
    let api_calls = requests["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/api/")))
        .count();
    assert!(
        api_calls >= 3,
        "user, upload and ticket calls at least: {requests}"
    );
    assert_eq!(
        value("intake_zendesk_calls_total", &[("channel", "chat")]),
        Some(api_calls as f64),
        "every Zendesk call was made for the chat event\n{metrics}"
    );

    // --- Every log line about the event carries its id. ---
    let output = intake.output();
    let lines_with_id: Vec<&str> = output.lines().filter(|l| l.contains(&event_id)).collect();
    assert!(
        lines_with_id.iter().any(|l| l.contains("event published")),
        "publish line with {event_id}:\n{output}"
    );
    assert!(
        lines_with_id.iter().any(|l| l.contains("ticket created")),
        "ticket-created line with {event_id}:\n{output}"
    );

    // Stopped (a drain that waits): a second ticket would be in by now.
    intake.terminate(Duration::from_secs(30)).await;
    let tickets = world.tickets().await;
    assert_eq!(tickets.len(), 1, "still one ticket: {tickets:#?}");
}
