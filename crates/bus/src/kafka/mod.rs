//! The Kafka backend: an idempotent producer (`acks=all`), consumer groups
//! that store offsets only through `done`, topic creation by the admin client.

mod client;
mod consumer;
mod lag;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::metadata::Metadata;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use tracing::{info, warn};

use crate::events::report_publish;
use crate::{
    Bus, BusError, Consumer, KafkaOptions, Position, Publisher, Record, min_insync_replicas_for,
};
use client::{
    GroupContext, KafkaContext, admin_config, classify, consumer_config, is_too_large,
    producer_config,
};
use consumer::KafkaConsumer;

const BACKEND: &str = "kafka";
/// How long `publish` waits for room in librdkafka's local queue when it is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_secs(10);
/// Timeout of topic creation requests.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The Kafka bus. Cheap to share; every consumer is its own group member.
pub struct KafkaBus {
    options: KafkaOptions,
    publisher: Arc<KafkaPublisher>,
    admin: AdminClient<KafkaContext>,
}

impl KafkaBus {
    /// Builds the clients and checks that the brokers answer a metadata
    /// request within `ready_timeout_secs` ([`BusError::Unavailable`] if not).
    pub async fn connect(options: KafkaOptions) -> Result<Self, BusError> {
        if options.brokers.trim().is_empty() {
            return Err(BusError::Rejected("kafka brokers are empty".to_owned()));
        }
        let producer: FutureProducer<KafkaContext> = producer_config(&options)
            .create_with_context(KafkaContext)
            .map_err(|e| classify("creating the kafka producer", &e))?;
        let admin: AdminClient<KafkaContext> = admin_config(&options)
            .create_with_context(KafkaContext)
            .map_err(|e| classify("creating the kafka admin client", &e))?;
        let max_record_bytes = max_record_bytes(&options);
        let bus = Self {
            options,
            publisher: Arc::new(KafkaPublisher {
                producer,
                max_record_bytes,
            }),
            admin,
        };
        bus.check_ready().await?;
        info!(brokers = %bus.options.brokers, "kafka bus connected");
        Ok(bus)
    }

    fn ready_timeout(&self) -> Duration {
        Duration::from_secs(self.options.ready_timeout_secs.max(1))
    }

    /// All-topics metadata from the producer's client, off the async threads.
    async fn metadata(&self) -> Result<Metadata, BusError> {
        let producer = self.publisher.producer.clone();
        let timeout = self.ready_timeout();
        let brokers = self.options.brokers.clone();
        let answer =
            tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout))
                .await
                .map_err(|e| BusError::Other(format!("metadata task failed: {e}")))?;
        answer.map_err(|e| match classify("kafka metadata request", &e) {
            BusError::Rejected(message) => BusError::Rejected(message),
            _ => BusError::Unavailable(format!(
                "kafka brokers {brokers} did not answer a metadata request within {}s: {e}",
                timeout.as_secs()
            )),
        })
    }

    /// Waits (up to [`ADMIN_TIMEOUT`]) until the broker's metadata lists every
    /// topic with its partitions: a KRaft broker learns a topic just created
    /// from the controller a moment later, and a consumer subscribing before
    /// then is told the topic is unknown. Past the deadline it only warns:
    /// consumers wait for a topic they do not see yet (see the consumer's
    /// poll).
    async fn wait_listed(&self, topics: &[String]) {
        let deadline = tokio::time::Instant::now() + ADMIN_TIMEOUT;
        let mut pause = Duration::from_millis(50);
        loop {
            let unlisted: Vec<&str> = match self.metadata().await {
                Ok(metadata) => unlisted(&metadata, topics, true),
                Err(_) => topics.iter().map(String::as_str).collect(),
            };
            if unlisted.is_empty() {
                return;
            }
            if tokio::time::Instant::now() + pause > deadline {
                warn!(
                    topics = %unlisted.join(", "),
                    waited_secs = ADMIN_TIMEOUT.as_secs(),
                    "kafka topics created but not yet in the broker's metadata; consumers wait for them"
                );
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

/// The topics of `topics` that `metadata` does not list without an error
/// (and, with `with_partitions`, with at least one partition).
fn unlisted<'a>(metadata: &Metadata, topics: &'a [String], with_partitions: bool) -> Vec<&'a str> {
    topics
        .iter()
        .map(String::as_str)
        .filter(|wanted| {
            !metadata.topics().iter().any(|t| {
                t.name() == *wanted
                    && t.error().is_none()
                    && (!with_partitions || !t.partitions().is_empty())
            })
        })
        .collect()
}

#[async_trait]
impl Bus for KafkaBus {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn publisher(&self) -> Arc<dyn Publisher> {
        self.publisher.clone()
    }

    async fn consumer(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn Consumer>, BusError> {
        if group.is_empty() || topics.is_empty() {
            return Err(BusError::Rejected(
                "a consumer needs a group and at least one topic".to_owned(),
            ));
        }
        let inner: StreamConsumer<GroupContext> = consumer_config(&self.options, group)
            .create_with_context(GroupContext::default())
            .map_err(|e| classify("creating the kafka consumer", &e))?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        inner
            .subscribe(&names)
            .map_err(|e| classify("subscribing", &e))?;
        Ok(Box::new(KafkaConsumer::new(inner)))
    }

    async fn ensure_topics(&self, topics: &[String]) -> Result<(), BusError> {
        if topics.is_empty() {
            return Ok(());
        }
        if !self.options.create_topics {
            let metadata = self.metadata().await?;
            let missing = unlisted(&metadata, topics, false);
            if missing.is_empty() {
                return Ok(());
            }
            return Err(BusError::Rejected(format!(
                "kafka topics missing and create_topics is off: {}",
                missing.join(", ")
            )));
        }
        let brokers = self.metadata().await?.brokers().len();
        let min_insync = min_insync_replicas_for(
            self.options.min_insync_replicas,
            brokers,
            self.options.replication_factor,
        )
        .to_string();
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|name| {
                NewTopic::new(
                    name,
                    self.options.partitions,
                    TopicReplication::Fixed(self.options.replication_factor),
                )
                .set("min.insync.replicas", &min_insync)
            })
            .collect();
        let admin_options = AdminOptions::new()
            .operation_timeout(Some(Timeout::After(ADMIN_TIMEOUT)))
            .request_timeout(Some(Timeout::After(ADMIN_TIMEOUT)));
        let results = self
            .admin
            .create_topics(&new_topics, &admin_options)
            .await
            .map_err(|e| classify("creating kafka topics", &e))?;
        for result in results {
            match result {
                Ok(topic) => info!(
                    topic = %topic,
                    min_insync_replicas = %min_insync,
                    "kafka topic created"
                ),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(classify(
                        &format!("creating kafka topic {topic}"),
                        &KafkaError::AdminOp(code),
                    ));
                }
            }
        }
        self.wait_listed(topics).await;
        Ok(())
    }

    async fn check_ready(&self) -> Result<(), BusError> {
        let metadata = self.metadata().await?;
        if metadata.brokers().is_empty() {
            return Err(BusError::Unavailable(
                "kafka metadata lists no brokers".to_owned(),
            ));
        }
        Ok(())
    }

    async fn close(&self) -> Result<(), BusError> {
        // Every publish waits for its acknowledgement, so the queue is
        // normally empty here; flush whatever a cancelled publish left.
        let producer = self.publisher.producer.clone();
        let timeout = self.ready_timeout();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| BusError::Other(format!("flush task failed: {e}")))?
            .map_err(|e| classify("flushing the kafka producer", &e))
    }
}

/// librdkafka's default `message.max.bytes`.
const DEFAULT_MESSAGE_MAX_BYTES: u64 = 1_000_000;

/// The producer's `message.max.bytes`: the record limit `TooLarge` reports.
/// (A broker or topic limit below it is refused by the broker with the same
/// error code; keep the topics' `max.message.bytes` at least this large.)
fn max_record_bytes(options: &KafkaOptions) -> u64 {
    options
        .properties
        .get("message.max.bytes")
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES)
}

/// Publishes through one shared idempotent producer.
struct KafkaPublisher {
    producer: FutureProducer<KafkaContext>,
    /// See [`max_record_bytes`].
    max_record_bytes: u64,
}

impl KafkaPublisher {
    async fn send(&self, record: &Record) -> Result<Position, BusError> {
        if record.topic.is_empty() {
            return Err(BusError::Rejected("empty topic name".to_owned()));
        }
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_bytes()),
            });
        }
        let kafka_record = FutureRecord::to(&record.topic)
            .key(&record.key)
            .payload(&record.payload)
            .headers(headers);
        // Resolves only with the delivery report: acked by all in-sync
        // replicas, or failed after librdkafka's retries (message.timeout.ms).
        match self.producer.send(kafka_record, QUEUE_FULL_WAIT).await {
            Ok(delivery) => Ok(Position {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((error, _)) if is_too_large(&error) => Err(BusError::TooLarge {
                limit_bytes: self.max_record_bytes,
            }),
            Err((error, _)) => Err(classify(
                &format!("publishing to kafka topic {}", record.topic),
                &error,
            )),
        }
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, record: Record) -> Result<Position, BusError> {
        let outcome = self.send(&record).await;
        report_publish(BACKEND, &record.topic, outcome)
    }
}
