//! The shared bus suite against a real Kafka broker.
//!
//! The broker address comes from `INTAKE_TEST_KAFKA` (`scripts/test-services
//! start` runs one; `scripts/test-services env` prints the variable). Without
//! it the tests are skipped, except under CI (`CI` set), where they fail.

mod suite;

use std::net::TcpListener;

use intake_bus::{BusOptions, KafkaOptions, connect};

fn broker() -> Option<String> {
    match std::env::var("INTAKE_TEST_KAFKA") {
        Ok(address) if !address.trim().is_empty() => Some(address),
        _ if std::env::var_os("CI").is_some() => panic!(
            "INTAKE_TEST_KAFKA is not set under CI: run `scripts/test-services start` \
             and `eval \"$(scripts/test-services env)\"` before the tests"
        ),
        _ => {
            eprintln!(
                "skipping kafka test: INTAKE_TEST_KAFKA is not set \
                 (run `scripts/test-services start`, then `eval \"$(scripts/test-services env)\"`)"
            );
            None
        }
    }
}

fn options(brokers: String) -> BusOptions {
    let mut kafka = KafkaOptions::new(brokers);
    kafka.client_id = "intake-bus-tests".to_owned();
    kafka.replication_factor = 1;
    kafka.partitions = 3;
    kafka
        .properties
        .insert("session.timeout.ms".to_owned(), "6000".to_owned());
    kafka
        .properties
        .insert("heartbeat.interval.ms".to_owned(), "1000".to_owned());
    BusOptions::Kafka(kafka)
}

#[tokio::test]
async fn publish_then_consume_in_order_per_key() {
    let Some(brokers) = broker() else { return };
    suite::publish_then_consume_in_order_per_key(options(brokers)).await;
}

#[tokio::test]
async fn oversized_record_is_too_large() {
    let Some(brokers) = broker() else { return };
    let BusOptions::Kafka(mut kafka) = options(brokers) else {
        unreachable!()
    };
    // A small producer limit, so the test record stays small.
    kafka
        .properties
        .insert("message.max.bytes".to_owned(), "4000".to_owned());
    suite::oversized_record_is_too_large(BusOptions::Kafka(kafka), 4000).await;
}

#[tokio::test]
async fn undone_record_is_redelivered() {
    let Some(brokers) = broker() else { return };
    suite::undone_record_is_redelivered(options(brokers)).await;
}

#[tokio::test]
async fn restart_resumes_from_stored_position() {
    let Some(brokers) = broker() else { return };
    suite::restart_resumes_from_stored_position(options(brokers)).await;
}

#[tokio::test]
async fn headers_and_payload_round_trip() {
    let Some(brokers) = broker() else { return };
    suite::headers_and_payload_round_trip(options(brokers)).await;
}

#[tokio::test]
async fn lag_counts_records_not_done() {
    let Some(brokers) = broker() else { return };
    suite::lag_counts_records_not_done(options(brokers)).await;
}

#[tokio::test]
async fn broker_down_at_start_is_a_clear_error() {
    // Needs no broker: a port that was just free has nothing listening.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let BusOptions::Kafka(mut kafka) = options(format!("127.0.0.1:{port}")) else {
        unreachable!()
    };
    kafka.ready_timeout_secs = 2;
    suite::unreachable_bus_is_a_clear_error(BusOptions::Kafka(kafka)).await;
}

#[tokio::test]
async fn missing_topic_without_create_topics_is_rejected() {
    let Some(brokers) = broker() else { return };
    let BusOptions::Kafka(mut kafka) = options(brokers) else {
        unreachable!()
    };
    kafka.create_topics = false;
    let bus = connect(BusOptions::Kafka(kafka)).await.expect("connect");
    let topic = suite::unique("missing");
    let error = bus
        .ensure_topics(std::slice::from_ref(&topic))
        .await
        .expect_err("a missing topic is an error");
    assert!(!error.is_retryable(), "{error:?}");
    assert!(error.to_string().contains(&topic), "{error}");
}

#[tokio::test]
async fn ensure_topics_is_idempotent_and_check_ready_answers() {
    let Some(brokers) = broker() else { return };
    let BusOptions::Kafka(mut kafka) = options(brokers) else {
        unreachable!()
    };
    // -1: the broker's num.partitions and default.replication.factor.
    kafka.partitions = -1;
    kafka.replication_factor = -1;
    let bus = connect(BusOptions::Kafka(kafka)).await.expect("connect");
    assert_eq!(bus.backend(), "kafka");
    let topics = vec![suite::unique("twice")];
    bus.ensure_topics(&topics).await.expect("create");
    bus.ensure_topics(&topics)
        .await
        .expect("already exists is fine");
    bus.check_ready().await.expect("ready");
}

/// Reads `min.insync.replicas` of `topic` back from the broker: its value and
/// whether it was set on the topic (not the broker's default). A topic just
/// created may not be in the answering broker's metadata yet (KRaft brokers
/// learn it from the controller a moment later): asked again until listed,
/// within a generous deadline.
async fn min_insync_of(brokers: &str, topic: &str) -> (String, bool) {
    use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    use std::time::Duration;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let described = admin
            .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
            .await
            .expect("describe configs");
        let listed = described
            .into_iter()
            .next()
            .and_then(Result::ok)
            .and_then(|resource| {
                let entry = resource.get("min.insync.replicas")?;
                Some((
                    entry.value.clone().unwrap_or_default(),
                    entry.source == ConfigSource::DynamicTopic,
                ))
            });
        if let Some(found) = listed {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "min.insync.replicas of {topic} not listed within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn created_topics_get_min_insync_replicas() {
    let Some(brokers) = broker() else { return };
    // Not configured: the test broker is a single broker, so 1, set on the
    // topic itself (without the setting the source is the broker default).
    let bus = connect(options(brokers.clone())).await.expect("connect");
    let topic = suite::unique("insync-auto");
    bus.ensure_topics(std::slice::from_ref(&topic))
        .await
        .expect("create");
    assert_eq!(
        min_insync_of(&brokers, &topic).await,
        ("1".to_owned(), true)
    );
    // Configured above the replication factor: capped at it.
    let BusOptions::Kafka(mut kafka) = options(brokers.clone()) else {
        unreachable!()
    };
    kafka.min_insync_replicas = Some(3);
    kafka.replication_factor = 1;
    let bus = connect(BusOptions::Kafka(kafka)).await.expect("connect");
    let topic = suite::unique("insync-capped");
    bus.ensure_topics(std::slice::from_ref(&topic))
        .await
        .expect("create");
    assert_eq!(
        min_insync_of(&brokers, &topic).await,
        ("1".to_owned(), true)
    );
}

#[tokio::test]
async fn a_rebalance_reports_the_revoked_partitions() {
    use std::time::Duration;

    use intake_bus::Record;
    let Some(brokers) = broker() else { return };
    let bus = connect(options(brokers)).await.expect("connect");
    let topic = suite::unique("revoked");
    bus.ensure_topics(std::slice::from_ref(&topic))
        .await
        .expect("create");
    for partition_key in ["a", "b", "c", "d", "e", "f"] {
        bus.publisher()
            .publish(Record {
                topic: topic.clone(),
                key: partition_key.to_owned(),
                payload: b"x".to_vec(),
                headers: Vec::new(),
            })
            .await
            .expect("publish");
    }
    let group = suite::unique("revoked-group");
    let topics = std::slice::from_ref(&topic);
    let mut first = bus.consumer(&group, topics).await.expect("consumer");
    // Polling until a record comes: the first member holds every partition.
    let mut polled = false;
    for _ in 0..60 {
        if first
            .poll(Duration::from_secs(1))
            .await
            .expect("poll")
            .is_some()
        {
            polled = true;
            break;
        }
    }
    assert!(polled, "no record within 60 s");
    assert!(first.revoked().is_empty(), "nothing revoked yet");
    // A second member joins: the rebalance takes partitions from the first.
    let mut second = bus.consumer(&group, topics).await.expect("consumer");
    let mut revoked = Vec::new();
    for _ in 0..60 {
        let _ = first.poll(Duration::from_millis(500)).await;
        let _ = second.poll(Duration::from_millis(500)).await;
        revoked.extend(first.revoked());
        if !revoked.is_empty() {
            break;
        }
    }
    assert!(!revoked.is_empty(), "no revocation reported within 60 s");
    assert!(
        revoked
            .iter()
            .all(|(t, p)| t == &topic && (0..3).contains(p)),
        "{revoked:?}"
    );
    assert!(first.revoked().is_empty(), "drained by the first call");
}

/// A member subscribed to a topic the broker does not know yet (a router
/// started a moment after `ensure_topics`, before the broker learnt the new
/// topic; or a topic an operator creates later) is told to wait, not to
/// stop: every poll error is retryable, and once the topic exists its
/// records arrive. Before this, the first poll answered "unknown topic" as a
/// permanent refusal and the router shut down.
#[tokio::test]
async fn a_consumer_waits_for_a_topic_that_is_not_there_yet() {
    use std::time::{Duration, Instant};

    use intake_bus::Record;
    let Some(brokers) = broker() else { return };
    let BusOptions::Kafka(mut kafka) = options(brokers) else {
        unreachable!()
    };
    // Look for the missing topic again every second, not every 5 minutes.
    kafka.properties.insert(
        "topic.metadata.refresh.interval.ms".to_owned(),
        "1000".to_owned(),
    );
    let bus = connect(BusOptions::Kafka(kafka)).await.expect("connect");
    let topic = suite::unique("later");
    let group = suite::unique("later-group");
    let mut consumer = bus
        .consumer(&group, std::slice::from_ref(&topic))
        .await
        .expect("consumer");
    // Polls until librdkafka has reported the topic missing at least once.
    let mut errors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while errors.is_empty() && Instant::now() < deadline {
        if let Err(error) = consumer.poll(Duration::from_millis(500)).await {
            errors.push(error);
        }
    }
    assert!(!errors.is_empty(), "the missing topic was never reported");
    bus.ensure_topics(std::slice::from_ref(&topic))
        .await
        .expect("create");
    bus.publisher()
        .publish(Record {
            topic: topic.clone(),
            key: "k".to_owned(),
            payload: b"arrived".to_vec(),
            headers: Vec::new(),
        })
        .await
        .expect("publish");
    let deadline = Instant::now() + Duration::from_secs(120);
    let delivery = loop {
        assert!(
            Instant::now() < deadline,
            "no record within 120 s: {errors:?}"
        );
        match consumer.poll(Duration::from_millis(500)).await {
            Ok(Some(delivery)) => break delivery,
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    };
    assert_eq!(delivery.payload, b"arrived");
    for error in &errors {
        assert!(error.is_retryable(), "a permanent refusal: {error}");
    }
}
