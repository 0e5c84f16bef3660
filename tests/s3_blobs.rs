//! Gateway and router as separate processes (the built binary, `--role
//! gateway` and `--role router`) on separate local data directories, sharing
//! only the Kafka bus and an S3-compatible bucket (SeaweedFS, a real server):
//!
//! - a chat message with an attachment becomes a ticket with the attachment,
//!   which neither process kept in its own directory;
//! - the S3 server restarted in the middle of a run of 200 messages loses
//!   nothing: the gateway answers 503 while it cannot store, the sender
//!   retries as real senders do, and every message ends as exactly one ticket.
//!
//! The first test uses the server of `scripts/test-services` (`INTAKE_TEST_S3`
//! and its bucket and key); the second starts a SeaweedFS of its own on other
//! loopback ports (the binary in `INTAKE_TEST_S3_WEED`), so that restarting it
//! disturbs no other test. Without them (or without `INTAKE_TEST_KAFKA`) the
//! tests are skipped, except under CI, where they fail.

mod common;
mod s3_harness;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::kafka_brokers;
use intake_blob::{BlobStore, content_ref};
use s3_harness::{
    OwnS3, Pair, attachments_of, chat_message, files_under, required_env, shared_bucket,
};
use serde_json::Value;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_crosses_from_gateway_to_router_through_s3() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let Some(bucket) = shared_bucket() else {
        return;
    };
    let pair = Pair::new(&brokers, &bucket).await;
    let (gateway, router) = pair.start().await;

    let file: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let message = chat_message("conv-s3", "Чек не пришёл\nСм. вложение.", Some(&file));
    let (status, accepted) = pair.post("s3-msg-1", &message).await.expect("answer");
    assert_eq!(status, 202, "{accepted}\n{}", gateway.output());
    let event_id = accepted["event_id"].as_str().expect("event id").to_owned();

    let tickets = pair.wait_tickets(1, Duration::from_secs(90)).await;
    assert_eq!(
        tickets.len(),
        1,
        "{tickets:#?}\ngateway:\n{}\nrouter:\n{}",
        gateway.output(),
        router.output()
    );
    let ticket = &tickets[0];
    assert_eq!(ticket["external_id"].as_str(), Some(event_id.as_str()));
    assert_eq!(ticket["subject"], "Чек не пришёл");
    let attachments = attachments_of(ticket);
    assert_eq!(attachments.len(), 1, "{ticket:#?}");
    assert_eq!(attachments[0]["file_name"], "receipt.pdf");
    assert_eq!(attachments[0]["size"].as_u64(), Some(file.len() as u64));

    // The bytes went through the bucket, not through a shared directory.
    let store = bucket.store();
    assert!(store.exists(&content_ref(&file)).await.unwrap());
    assert_eq!(store.get(&content_ref(&file)).await.unwrap(), file);
    for dir in [&pair.gateway_dir, &pair.router_dir] {
        let local = files_under(&dir.join("blobs"));
        assert!(local.is_empty(), "blobs kept locally: {local:?}");
    }
}

/// Sends one message until the gateway accepts it (bounded in attempts and
/// time), retrying on 503 and on no answer, as a real sender does. Returns
/// the event id and how many 503s it got.
async fn send_until_accepted(pair: &Pair, id: &str, body: &Value) -> (String, u32) {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut unavailable = 0;
    for _attempt in 0..600 {
        match pair.post(id, body).await {
            Ok((202, accepted)) => {
                let event_id = accepted["event_id"].as_str().expect("event id").to_owned();
                return (event_id, unavailable);
            }
            Ok((503, refused)) => {
                assert_eq!(refused["error"], "blob_unavailable", "{refused}");
                unavailable += 1;
            }
            Ok((status, other)) => panic!("{id}: unexpected {status}: {other}"),
            Err(_) => {} // no answer in time: retry like a sender would
        }
        assert!(Instant::now() < deadline, "{id} not accepted after 180 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{id} not accepted after 600 attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_restart_in_a_run_of_200_messages_loses_nothing() {
    const MESSAGES: usize = 200;
    const STOP_AT: usize = 80;
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let Some(weed) = required_env("INTAKE_TEST_S3_WEED") else {
        return;
    };
    let mut s3 = OwnS3::new(PathBuf::from(weed));
    s3.start();
    let bucket = s3.bucket();
    bucket.wait_writable(Duration::from_secs(120)).await;
    let pair = Pair::new(&brokers, &bucket).await;
    let (gateway, router) = pair.start().await;

    let mut event_ids: Vec<String> = Vec::new();
    let mut attachment_sizes: HashMap<String, u64> = HashMap::new();
    let mut refused_while_down = 0;
    for i in 0..MESSAGES {
        if i == STOP_AT {
            s3.stop().await;
            // Down: the gateway says it is not ready (bounded wait)...
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let ready = reqwest::get(format!("http://{}/readyz", pair.gateway_ops))
                    .await
                    .unwrap();
                if ready.status().as_u16() == 503 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "/readyz still {}",
                    ready.status()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // ...and a message with an attachment is refused with 503 while nothing
            // can be stored (a small message without one needs no blob: its raw
            // body travels inside the event).
            let (status, body) = pair
                .post(
                    "probe-while-down",
                    &chat_message("conv-probe", "probe", Some(b"%PDF-1.4 probe")),
                )
                .await
                .expect("the gateway answers while s3 is down");
            assert_eq!(
                (status, body["error"].as_str()),
                (503, Some("blob_unavailable"))
            );
            refused_while_down += 1;
            s3.start();
        }
        // Every fourth message has an attachment, unique to it.
        let attachment: Option<Vec<u8>> =
            (i % 4 == 0).then(|| format!("receipt {i} {}", "x".repeat(i * 37)).into_bytes());
        let body = chat_message(
            &format!("conv-{i}"),
            &format!("message {i}\nrun of {MESSAGES}"),
            attachment.as_deref(),
        );
        let (event_id, refused) = send_until_accepted(&pair, &format!("run-{i}"), &body).await;
        refused_while_down += refused;
        if let Some(bytes) = attachment {
            attachment_sizes.insert(event_id.clone(), bytes.len() as u64);
        }
        event_ids.push(event_id);
    }
    assert!(refused_while_down >= 1);
    eprintln!("{MESSAGES} messages accepted, {refused_while_down} answered 503 while s3 was down");

    let tickets = pair.wait_tickets(MESSAGES, Duration::from_secs(240)).await;
    let mut seen = HashSet::new();
    for ticket in &tickets {
        let external = ticket["external_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(seen.insert(external.clone()), "two tickets for {external}");
    }
    let missing: Vec<&String> = event_ids.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        missing.is_empty() && tickets.len() == MESSAGES,
        "{} tickets for {MESSAGES} messages, missing {missing:?}\ngateway:\n{}\nrouter:\n{}\ns3:\n{}",
        tickets.len(),
        gateway.output(),
        router.output(),
        s3.log()
    );
    for ticket in &tickets {
        let external = ticket["external_id"].as_str().unwrap();
        let attachments = attachments_of(ticket);
        match attachment_sizes.get(external) {
            Some(size) => {
                assert_eq!(attachments.len(), 1, "{ticket:#?}");
                assert_eq!(attachments[0]["size"].as_u64(), Some(*size));
            }
            None => assert!(attachments.is_empty(), "{ticket:#?}"),
        }
    }
    // A little longer: a duplicate would show up now if it were coming.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pair.tickets().await.len(), MESSAGES);
    drop((gateway, router));
}
