#![forbid(unsafe_code)]
//! The event bus. One interface ([`Bus`], [`Publisher`], [`Consumer`]) with
//! two backends: Kafka (production) and an embedded durable log in SQLite
//! (single machine, the default).
//!
//! Contract shared by both backends (and tested by one suite against both):
//! - [`Publisher::publish`] returns only once the record is durable
//!   (Kafka: acknowledged by all in-sync replicas with an idempotent producer;
//!   embedded: committed to the SQLite file with `synchronous=FULL`, in a
//!   transaction that concurrent publishes share).
//! - Records with the same key on the same topic are delivered in publish order.
//! - A consumer group's position advances only through [`Consumer::done`];
//!   a record polled but never marked done is delivered again to the next
//!   consumer of the group (after a crash or restart).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub mod commits;
mod embedded;
mod events;
mod kafka;
mod options;
mod subscribe;

pub use embedded::{EMBEDDED_MAX_RECORD_BYTES, EmbeddedBus};
pub use kafka::KafkaBus;
pub use options::{
    BusOptions, EmbeddedOptions, KafkaOptions, RedactedProperties, holds_secret,
    is_secret_property, min_insync_replicas_for,
};
pub use subscribe::{consumer_when_ready, sleep_or_shutdown};

/// Opens the configured backend and checks that it answers.
///
/// Kafka: builds the producer, then sends a metadata request; a broker that
/// does not answer within a few seconds gives [`BusError::Unavailable`].
/// Embedded: opens (creating if missing) the SQLite file and its schema.
pub async fn connect(options: BusOptions) -> Result<Arc<dyn Bus>, BusError> {
    match options {
        BusOptions::Kafka(kafka) => Ok(Arc::new(KafkaBus::connect(kafka).await?)),
        BusOptions::Embedded(embedded) => Ok(Arc::new(EmbeddedBus::open(embedded).await?)),
    }
}

/// A record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    /// Partition key: the conversation, else the contact key (decision 37),
    /// so one conversation stays in order on one partition.
    pub key: String,
    pub payload: Vec<u8>,
    /// Headers (CloudEvents binary mode `ce_*`, `content-type`, `traceparent`, errors on the DLQ).
    pub headers: Vec<(String, String)>,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Where a published record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

/// A record handed to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Bus failures. Every variant says whether retrying the same call may work.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// The broker or file cannot be reached now (broker down, timeout, locked file).
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The bus refused the request (bad topic, auth failure, bad config).
    #[error("bus rejected the request: {0}")]
    Rejected(String),
    /// The record is larger than the bus accepts (Kafka `MessageSizeTooLarge`,
    /// the embedded bus's [`EMBEDDED_MAX_RECORD_BYTES`]). Never retryable:
    /// the same record is refused again.
    #[error("the record is larger than the bus accepts ({limit_bytes} bytes)")]
    TooLarge {
        /// The record limit in bytes (Kafka: the producer's `message.max.bytes`).
        limit_bytes: u64,
    },
    /// Anything else from the backend.
    #[error("bus error: {0}")]
    Other(String),
}

impl BusError {
    /// True when the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BusError::Unavailable(_))
    }

    /// A short fixed name for the variant, usable as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            BusError::Unavailable(_) => "unavailable",
            BusError::Rejected(_) => "rejected",
            BusError::TooLarge { .. } => "too_large",
            BusError::Other(_) => "other",
        }
    }
}

/// Writes records durably.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Returns once the record is durable; an error means it may not be.
    async fn publish(&self, record: Record) -> Result<Position, BusError>;
}

/// Reads records for one consumer group, in order per partition.
#[async_trait]
pub trait Consumer: Send {
    /// Waits up to `timeout` for the next record; `Ok(None)` when none came.
    async fn poll(&mut self, timeout: Duration) -> Result<Option<Delivery>, BusError>;
    /// Marks the delivery (and so everything before it on its partition) done:
    /// the group's stored position moves past it. Call in delivery order.
    async fn done(&mut self, delivery: &Delivery) -> Result<(), BusError>;
    /// How far the group is behind on each (topic, partition) this consumer
    /// is assigned: records published but not yet marked done by the group.
    ///
    /// Embedded: every subscribed topic (partition 0), read from the file.
    /// Kafka: the partitions assigned to this member (none before the first
    /// rebalance), from the brokers' high watermarks. It never waits for the
    /// brokers: it returns the last finished measurement (empty before the
    /// first) and starts the next one in the background, so it is cheap
    /// enough to call on the consuming path.
    async fn lag(&mut self) -> Result<Vec<PartitionLag>, BusError>;
    /// The (topic, partition)s taken from this consumer since the last call
    /// (a rebalance, or leaving the group after `max.poll.interval.ms`
    /// without a poll). Records of these partitions polled before must not
    /// be marked done: their new owner (maybe this consumer again, from the
    /// committed position) reads them again. Kafka only; the default (and the
    /// embedded bus, one reader per group) never revokes.
    fn revoked(&mut self) -> Vec<(String, i32)> {
        Vec::new()
    }
}

/// The lag of one (topic, partition) for one consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Records published but not yet marked done by the group.
    pub records: u64,
}

/// A bus backend: hands out the publisher and consumers.
#[async_trait]
pub trait Bus: Send + Sync {
    /// The backend's name for logs and metrics (`kafka`, `embedded`).
    fn backend(&self) -> &'static str;
    fn publisher(&self) -> Arc<dyn Publisher>;
    /// A consumer in `group` reading `topics`, starting at the group's stored
    /// position (the beginning for a new group).
    async fn consumer(&self, group: &str, topics: &[String])
    -> Result<Box<dyn Consumer>, BusError>;
    /// Creates missing topics (no-op where topics need no creation).
    async fn ensure_topics(&self, topics: &[String]) -> Result<(), BusError>;
    /// Readiness: Ok when the bus answers now.
    async fn check_ready(&self) -> Result<(), BusError>;
    /// Shuts the bus down and waits until it has: publishes already
    /// underway are answered, later ones fail, background tasks have ended.
    /// Embedded: the writer commits what is queued, the retention task
    /// stops and every connection to the file is closed. Kafka: the
    /// producer's queue is flushed (bounded by `ready_timeout_secs`).
    /// The default does nothing (for wrappers and test doubles).
    async fn close(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// Topic names: `<prefix>.events.<channel>`, `<prefix>.dlq` and `<prefix>.outcomes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub prefix: String,
}

impl Topics {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }
    pub fn events(&self, channel: &str) -> String {
        format!("{}.events.{channel}", self.prefix)
    }
    pub fn dlq(&self) -> String {
        format!("{}.dlq", self.prefix)
    }
    /// What the router did with each event (`intake.ticket_outcome/v1`).
    pub fn outcomes(&self) -> String {
        format!("{}.outcomes", self.prefix)
    }
}

/// CloudEvents Kafka binding (binary mode) headers for one event.
pub fn cloudevent_headers(
    id: &str,
    source: &str,
    ce_type: &str,
    time: chrono::DateTime<chrono::Utc>,
    traceparent: Option<&str>,
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("ce_specversion".to_owned(), "1.0".to_owned()),
        ("ce_id".to_owned(), id.to_owned()),
        ("ce_source".to_owned(), source.to_owned()),
        ("ce_type".to_owned(), ce_type.to_owned()),
        (
            "ce_time".to_owned(),
            time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    if let Some(tp) = traceparent {
        headers.push(("traceparent".to_owned(), tp.to_owned()));
    }
    headers
}
