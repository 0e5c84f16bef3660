//! The shared bus suite against the embedded (SQLite) backend, plus the
//! embedded-only behaviour: another process's writes, retention.

mod suite;

use std::path::PathBuf;
use std::time::Duration;

use intake_bus::{BusOptions, EmbeddedBus, EmbeddedOptions, Record, connect};
use tempfile::TempDir;

/// Upper bound for a poll that must find a record (it returns at once when one is there).
const WAIT: Duration = Duration::from_secs(60);

fn options(dir: &TempDir) -> BusOptions {
    BusOptions::Embedded(EmbeddedOptions::new(
        dir.path().join("data").join("bus.sqlite"),
    ))
}

#[tokio::test]
async fn publish_then_consume_in_order_per_key() {
    let dir = TempDir::new().expect("temp dir");
    suite::publish_then_consume_in_order_per_key(options(&dir)).await;
}

#[tokio::test]
async fn undone_record_is_redelivered() {
    let dir = TempDir::new().expect("temp dir");
    suite::undone_record_is_redelivered(options(&dir)).await;
}

#[tokio::test]
async fn restart_resumes_from_stored_position() {
    let dir = TempDir::new().expect("temp dir");
    suite::restart_resumes_from_stored_position(options(&dir)).await;
}

#[tokio::test]
async fn headers_and_payload_round_trip() {
    let dir = TempDir::new().expect("temp dir");
    suite::headers_and_payload_round_trip(options(&dir)).await;
}

#[tokio::test]
async fn oversized_record_is_too_large() {
    let dir = TempDir::new().expect("temp dir");
    suite::oversized_record_is_too_large(options(&dir), intake_bus::EMBEDDED_MAX_RECORD_BYTES)
        .await;
}

#[tokio::test]
async fn lag_counts_records_not_done() {
    let dir = TempDir::new().expect("temp dir");
    suite::lag_counts_records_not_done(options(&dir)).await;
}

#[tokio::test]
async fn unwritable_path_is_a_clear_error() {
    let dir = TempDir::new().expect("temp dir");
    // A regular file where a directory should be: unwritable even for root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").expect("write blocker");
    let options = BusOptions::Embedded(EmbeddedOptions::new(blocker.join("bus.sqlite")));
    suite::unreachable_bus_is_a_clear_error(options).await;
}

const CHILD_PATH_ENV: &str = "INTAKE_BUS_TEST_CHILD_PATH";
const CHILD_TOPIC_ENV: &str = "INTAKE_BUS_TEST_CHILD_TOPIC";

/// Run only as a child process by `records_from_another_process_are_seen`.
#[tokio::test]
#[ignore = "helper: runs as a child process of another test"]
async fn child_process_publisher() {
    let (Ok(path), Ok(topic)) = (
        std::env::var(CHILD_PATH_ENV),
        std::env::var(CHILD_TOPIC_ENV),
    ) else {
        return;
    };
    let bus = connect(BusOptions::Embedded(EmbeddedOptions::new(PathBuf::from(
        path,
    ))))
    .await
    .expect("child connects");
    bus.publisher()
        .publish(Record {
            topic,
            key: "k".to_owned(),
            payload: b"from another process".to_vec(),
            headers: Vec::new(),
        })
        .await
        .expect("child publishes");
}

#[tokio::test]
async fn records_from_another_process_are_seen() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("bus.sqlite");
    let topic = suite::unique("cross");
    let bus = connect(BusOptions::Embedded(EmbeddedOptions::new(path.clone())))
        .await
        .expect("connect");
    let mut consumer = bus
        .consumer("g", std::slice::from_ref(&topic))
        .await
        .expect("consumer");

    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child_process_publisher", "--ignored", "--quiet"])
        .env(CHILD_PATH_ENV, &path)
        .env(CHILD_TOPIC_ENV, &topic)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("spawn child");
    assert!(status.success(), "child publisher failed: {status}");

    let got = consumer
        .poll(WAIT)
        .await
        .expect("poll")
        .expect("the other process's record is seen");
    assert_eq!(got.payload, b"from another process");
    assert_eq!(got.offset, 0);
}

#[tokio::test]
async fn retention_deletes_only_what_every_group_has_done() {
    let dir = TempDir::new().expect("temp dir");
    let bus = EmbeddedBus::open(EmbeddedOptions::new(dir.path().join("bus.sqlite")))
        .await
        .expect("open");
    use intake_bus::Bus as _;
    let topic = "t".to_owned();
    for i in 0..4 {
        bus.publisher()
            .publish(Record {
                topic: topic.clone(),
                key: "k".to_owned(),
                payload: vec![i],
                headers: Vec::new(),
            })
            .await
            .expect("publish");
    }
    // No group has read the topic yet: nothing may go.
    assert_eq!(bus.purge_consumed(Duration::ZERO).await.expect("purge"), 0);

    let topics = [topic.clone()];
    let mut fast = bus.consumer("fast", &topics).await.expect("consumer");
    let mut slow = bus.consumer("slow", &topics).await.expect("consumer");
    for _ in 0..3 {
        let d = fast.poll(WAIT).await.unwrap().unwrap();
        fast.done(&d).await.expect("done");
    }
    let d = slow.poll(WAIT).await.unwrap().unwrap();
    slow.done(&d).await.expect("done");

    // Too young for an hour's retention.
    assert_eq!(
        bus.purge_consumed(Duration::from_secs(3600))
            .await
            .expect("purge"),
        0
    );
    // Only record 0 is done by both groups.
    assert_eq!(bus.purge_consumed(Duration::ZERO).await.expect("purge"), 1);

    // The slow group still gets everything it has not done.
    let rest: Vec<u8> = [
        slow.poll(WAIT).await.unwrap().unwrap(),
        slow.poll(WAIT).await.unwrap().unwrap(),
        slow.poll(WAIT).await.unwrap().unwrap(),
    ]
    .iter()
    .map(|d| d.payload[0])
    .collect();
    assert_eq!(rest, [1, 2, 3]);

    // Offsets keep growing after a purge.
    let position = bus
        .publisher()
        .publish(Record {
            topic,
            key: "k".to_owned(),
            payload: vec![4],
            headers: Vec::new(),
        })
        .await
        .expect("publish");
    assert_eq!(position.offset, 4);
}
