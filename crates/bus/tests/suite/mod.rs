//! The bus contract, as one suite of async tests run against every backend
//! (`tests/embedded.rs`, `tests/kafka.rs`). Each function takes the
//! [`BusOptions`] of a reachable bus and opens it through `connect`, so a
//! "restart" is simply a second `connect` with the same options.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use intake_bus::{
    Bus, BusError, BusOptions, Consumer, Delivery, PartitionLag, Position, Record, connect,
};

/// Upper bound for waiting on records in one test step.
const WAIT: Duration = Duration::from_secs(60);

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn open(options: &BusOptions) -> Arc<dyn Bus> {
    connect(options.clone()).await.expect("bus connects")
}

fn record(topic: &str, key: &str, payload: impl Into<Vec<u8>>) -> Record {
    Record {
        topic: topic.to_owned(),
        key: key.to_owned(),
        payload: payload.into(),
        headers: Vec::new(),
    }
}

/// Polls until `count` records came or `WAIT` passed; panics on timeout.
async fn receive(consumer: &mut dyn Consumer, count: usize) -> Vec<Delivery> {
    let deadline = Instant::now() + WAIT;
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records arrived within {WAIT:?}",
            received.len()
        );
        match consumer.poll(Duration::from_secs(1)).await {
            Ok(Some(delivery)) => received.push(delivery),
            Ok(None) => {}
            Err(error) => panic!("poll failed: {error}"),
        }
    }
    received
}

/// Polls for `quiet` and fails if anything arrives.
async fn expect_nothing(consumer: &mut dyn Consumer, quiet: Duration) {
    let got = consumer.poll(quiet).await.expect("poll");
    assert!(got.is_none(), "unexpected extra delivery: {got:?}");
}

/// 200 records over 5 keys: every one comes back once, in publish order per
/// key, at the position `publish` reported.
pub async fn publish_then_consume_in_order_per_key(options: BusOptions) {
    let bus = open(&options).await;
    let topic = unique("order");
    bus.ensure_topics(std::slice::from_ref(&topic))
        .await
        .expect("ensure topics");
    let publisher = bus.publisher();
    let mut positions: BTreeMap<String, Position> = BTreeMap::new();
    for i in 0..200 {
        let key = format!("contact-{}", i % 5);
        let payload = format!("{key}:{:03}", i / 5);
        let position = publisher
            .publish(record(&topic, &key, payload.clone()))
            .await
            .expect("publish");
        positions.insert(payload, position);
    }

    let mut consumer = bus
        .consumer(&unique("group"), std::slice::from_ref(&topic))
        .await
        .expect("consumer");
    let deliveries = receive(consumer.as_mut(), 200).await;
    let mut next_per_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = HashSet::new();
    for delivery in &deliveries {
        let payload = String::from_utf8(delivery.payload.clone()).expect("utf-8 payload");
        assert!(seen.insert(payload.clone()), "delivered twice: {payload}");
        let (key, number) = payload.split_once(':').expect("payload shape");
        assert_eq!(delivery.key, key, "key of {payload}");
        assert_eq!(delivery.topic, topic);
        let expected = next_per_key.entry(key.to_owned()).or_default();
        assert_eq!(
            number.parse::<usize>().expect("number"),
            *expected,
            "out of order for {key}"
        );
        *expected += 1;
        let position = positions[&payload];
        assert_eq!(
            (delivery.partition, delivery.offset),
            (position.partition, position.offset),
            "delivery position of {payload} differs from the publish position"
        );
        consumer.done(delivery).await.expect("done");
    }
    assert_eq!(next_per_key.len(), 5);
    assert!(next_per_key.values().all(|n| *n == 40), "{next_per_key:?}");
    expect_nothing(consumer.as_mut(), Duration::from_secs(1)).await;
}

/// A consumer that "crashes" (is dropped) before `done` leaves the record for
/// the next consumer of the group; records marked done are not redelivered.
pub async fn undone_record_is_redelivered(options: BusOptions) {
    let bus = open(&options).await;
    let topic = unique("redeliver");
    let group = unique("group");
    let topics = vec![topic.clone()];
    bus.ensure_topics(&topics).await.expect("ensure topics");
    let publisher = bus.publisher();
    for payload in ["first", "second", "third"] {
        publisher
            .publish(record(&topic, "k", payload))
            .await
            .expect("publish");
    }

    let mut crashing = bus.consumer(&group, &topics).await.expect("consumer");
    let got = receive(crashing.as_mut(), 2).await;
    assert_eq!(got[0].payload, b"first");
    assert_eq!(got[1].payload, b"second");
    crashing.done(&got[0]).await.expect("done");
    drop(crashing); // "second" was never marked done

    let mut next = bus.consumer(&group, &topics).await.expect("consumer");
    let got = receive(next.as_mut(), 2).await;
    assert_eq!(got[0].payload, b"second", "the undone record comes again");
    assert_eq!(got[1].payload, b"third");
    for delivery in &got {
        next.done(delivery).await.expect("done");
    }
    expect_nothing(next.as_mut(), Duration::from_secs(1)).await;
}

/// A new bus instance (process restart) resumes the group at its stored
/// position: nothing done comes back, everything not done does.
pub async fn restart_resumes_from_stored_position(options: BusOptions) {
    let topic = unique("restart");
    let group = unique("group");
    let topics = vec![topic.clone()];
    {
        let bus = open(&options).await;
        bus.ensure_topics(&topics).await.expect("ensure topics");
        let publisher = bus.publisher();
        for i in 0..10 {
            publisher
                .publish(record(&topic, "k", format!("{i}")))
                .await
                .expect("publish");
        }
        let mut consumer = bus.consumer(&group, &topics).await.expect("consumer");
        let got = receive(consumer.as_mut(), 10).await;
        for delivery in &got[..7] {
            consumer.done(delivery).await.expect("done");
        }
        drop(consumer);
        bus.close().await.expect("close");
    }

    let bus = open(&options).await;
    let mut consumer = bus.consumer(&group, &topics).await.expect("consumer");
    let got = receive(consumer.as_mut(), 3).await;
    let payloads: Vec<&[u8]> = got.iter().map(|d| d.payload.as_slice()).collect();
    assert_eq!(payloads, [b"7", b"8", b"9"], "resumes after the last done");
    expect_nothing(consumer.as_mut(), Duration::from_secs(2)).await;
}

/// Polls `lag` until it sums to `expected` records or `WAIT` passed (Kafka
/// reports partitions only once they are assigned); returns the last answer.
async fn wait_for_lag(consumer: &mut dyn Consumer, expected: u64) -> Vec<PartitionLag> {
    let deadline = Instant::now() + WAIT;
    loop {
        let lags = consumer.lag().await.expect("lag");
        let total: u64 = lags.iter().map(|l| l.records).sum();
        if total == expected && !lags.is_empty() {
            return lags;
        }
        assert!(
            Instant::now() < deadline,
            "lag stayed {total} (expected {expected}) for {WAIT:?}: {lags:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Lag is what the group has not marked done: N published, k done → N − k,
/// reported only for the consumer's own topic; all done → 0.
pub async fn lag_counts_records_not_done(options: BusOptions) {
    let bus = open(&options).await;
    let topic = unique("lag");
    let topics = vec![topic.clone()];
    bus.ensure_topics(&topics).await.expect("ensure topics");
    let publisher = bus.publisher();
    for i in 0..12 {
        publisher
            .publish(record(
                &topic,
                &format!("contact-{}", i % 3),
                format!("{i}"),
            ))
            .await
            .expect("publish");
    }
    let mut consumer = bus
        .consumer(&unique("group"), &topics)
        .await
        .expect("consumer");
    let got = receive(consumer.as_mut(), 5).await;
    for delivery in &got {
        consumer.done(delivery).await.expect("done");
    }
    let lags = wait_for_lag(consumer.as_mut(), 12 - 5).await;
    assert!(lags.iter().all(|l| l.topic == topic), "{lags:?}");

    let rest = receive(consumer.as_mut(), 7).await;
    // Polled but not done is still lag.
    wait_for_lag(consumer.as_mut(), 7).await;
    for delivery in &rest {
        consumer.done(delivery).await.expect("done");
    }
    wait_for_lag(consumer.as_mut(), 0).await;
}

/// Key, binary payload and headers (order, duplicates, non-ASCII) come back
/// exactly as published.
pub async fn headers_and_payload_round_trip(options: BusOptions) {
    let bus = open(&options).await;
    let topic = unique("headers");
    bus.ensure_topics(std::slice::from_ref(&topic))
        .await
        .expect("ensure topics");
    let mut headers = intake_bus::cloudevent_headers(
        "0b7f4a4e-6d3f-5b1c-9a51-3e2f1c0d9e8a",
        "intake/email",
        "intake.ticket_event.v1",
        chrono::Utc::now(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    headers.push(("x-note".to_owned(), "Привет, 世界".to_owned()));
    headers.push(("x-note".to_owned(), "second value".to_owned()));
    let payload: Vec<u8> = vec![0, 159, 146, 150, 255, b'{', b'}'];
    let sent = Record {
        topic: topic.clone(),
        key: "email:alice@example.com".to_owned(),
        payload: payload.clone(),
        headers: headers.clone(),
    };
    bus.publisher().publish(sent).await.expect("publish");

    let mut consumer = bus
        .consumer(&unique("group"), std::slice::from_ref(&topic))
        .await
        .expect("consumer");
    let got = receive(consumer.as_mut(), 1).await.remove(0);
    assert_eq!(got.key, "email:alice@example.com");
    assert_eq!(got.payload, payload);
    assert_eq!(got.headers, headers);
    assert_eq!(got.header("CE_TYPE"), Some("intake.ticket_event.v1"));
    consumer.done(&got).await.expect("done");
}

/// A bus that cannot be reached at start gives a clear, retryable
/// `Unavailable` error, without a panic and without hanging (it must answer
/// within [`WAIT`], far beyond any configured timeout).
pub async fn unreachable_bus_is_a_clear_error(options: BusOptions) {
    let result = tokio::time::timeout(WAIT, connect(options))
        .await
        .unwrap_or_else(|_| panic!("connect did not answer within {WAIT:?}"));
    let error = match result {
        Ok(bus) => panic!("connect to an unreachable {} bus succeeded", bus.backend()),
        Err(error) => error,
    };
    assert!(
        matches!(error, BusError::Unavailable(_)),
        "expected Unavailable, got {error:?}"
    );
    assert!(error.is_retryable());
    assert!(
        error.to_string().len() > 20,
        "error says too little: {error}"
    );
}

/// A record over the bus's size limit is refused as `TooLarge` with the
/// limit, not as "unavailable": retrying it can never work. A record within
/// the limit on the same topic still goes through.
pub async fn oversized_record_is_too_large(options: BusOptions, limit_bytes: u64) {
    let bus = open(&options).await;
    let topic = unique("size");
    bus.ensure_topics(std::slice::from_ref(&topic))
        .await
        .expect("ensure topics");
    let publisher = bus.publisher();
    let oversized = vec![b'x'; usize::try_from(limit_bytes).unwrap() + 1];
    let error = publisher
        .publish(record(&topic, "k", oversized))
        .await
        .expect_err("an oversized record is refused");
    assert!(
        matches!(error, BusError::TooLarge { limit_bytes: got } if got == limit_bytes),
        "{error:?}"
    );
    assert!(!error.is_retryable(), "{error:?}");
    assert_eq!(error.kind(), "too_large");
    let fitting = vec![b'y'; usize::try_from(limit_bytes).unwrap() / 2];
    publisher
        .publish(record(&topic, "k", fitting))
        .await
        .expect("a record within the limit is published");
}
