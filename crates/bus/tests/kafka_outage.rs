//! Broker outages after start, against librdkafka's built-in mock cluster
//! (in-process, on 127.0.0.1, no external broker needed): `publish` keeps
//! retrying inside librdkafka while the broker is away and resolves once it
//! acknowledges; after `message.timeout.ms` it fails as `Unavailable`.

use std::time::{Duration, Instant};

use intake_bus::{BusError, BusOptions, KafkaOptions, Record, connect};
use rdkafka::mocking::MockCluster;

const TOPIC: &str = "outage";

fn options(brokers: String, message_timeout_ms: u64) -> BusOptions {
    let mut kafka = KafkaOptions::new(brokers);
    kafka.properties.insert(
        "message.timeout.ms".to_owned(),
        message_timeout_ms.to_string(),
    );
    kafka
        .properties
        .insert("reconnect.backoff.max.ms".to_owned(), "200".to_owned());
    BusOptions::Kafka(kafka)
}

fn record(payload: &str) -> Record {
    Record {
        topic: TOPIC.to_owned(),
        key: "k".to_owned(),
        payload: payload.as_bytes().to_vec(),
        headers: Vec::new(),
    }
}

#[tokio::test]
async fn publish_waits_through_a_short_outage() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("topic");
    // Far longer than any outage here: only a lost message could end it.
    let bus = connect(options(cluster.bootstrap_servers(), 120_000))
        .await
        .expect("connect");
    let publisher = bus.publisher();
    let first = publisher.publish(record("before")).await.expect("publish");

    cluster.broker_down(1).expect("broker down");
    let pending = tokio::spawn({
        let publisher = publisher.clone();
        async move { publisher.publish(record("during")).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !pending.is_finished(),
        "publish must not resolve while the broker is down"
    );
    cluster.broker_up(1).expect("broker up");

    let second = tokio::time::timeout(Duration::from_secs(150), pending)
        .await
        .expect("publish resolves after the broker is back")
        .expect("task")
        .expect("publish succeeds after retrying");
    assert_eq!(second.partition, first.partition);
    assert_eq!(second.offset, first.offset + 1);
}

#[tokio::test]
async fn publish_fails_unavailable_after_message_timeout() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("topic");
    let bus = connect(options(cluster.bootstrap_servers(), 2_000))
        .await
        .expect("connect");
    let publisher = bus.publisher();
    publisher.publish(record("before")).await.expect("publish");

    cluster.broker_down(1).expect("broker down");
    let started = Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(60), publisher.publish(record("lost")))
        .await
        .expect("publish gives up after message.timeout.ms")
        .expect_err("the broker never acknowledged");
    assert!(
        matches!(error, BusError::Unavailable(_)),
        "expected Unavailable, got {error:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "gave up before message.timeout.ms: {:?}",
        started.elapsed()
    );
    assert!(
        bus.check_ready().await.is_err(),
        "a down broker is not ready"
    );
}
