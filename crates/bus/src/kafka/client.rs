//! librdkafka plumbing: client configs, the client context (logs through
//! `tracing`) and the mapping of Kafka errors onto [`BusError`].

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tracing::{debug, error, info, warn};

use crate::BusError;
use crate::events::{PartitionsAssigned, PartitionsRevoked};
use crate::options::{KafkaOptions, is_secret_property};

/// Default `message.timeout.ms`: how long librdkafka retries one publish
/// (broker down, leader moving) before `publish` fails. Overridable through
/// `properties`.
const DEFAULT_MESSAGE_TIMEOUT_MS: &str = "30000";
/// Default `auto.commit.interval.ms`: how often stored offsets are committed.
/// Done records within the last interval are replayed after a hard crash.
const DEFAULT_AUTO_COMMIT_INTERVAL_MS: &str = "1000";

/// Default `max.poll.interval.ms` of consumers: 30 minutes. The router stops
/// polling a channel while it holds `router.max_held_events` unfinished
/// events (all of them waiting on Zendesk in an outage), so gaps of minutes
/// between polls are normal; liveness is still watched by the heartbeat
/// (`session.timeout.ms`). Past it librdkafka takes the member out of the
/// group; the next poll reports `PollExceeded` (retryable) and rejoins.
/// Overridable through `properties`.
const DEFAULT_MAX_POLL_INTERVAL_MS: &str = "1800000";

/// The context of every client the bus makes: librdkafka's own log lines and
/// error callbacks go to `tracing`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KafkaContext;

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => error!(facility, message, "librdkafka"),
            RDKafkaLogLevel::Warning => warn!(facility, message, "librdkafka"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                info!(facility, message, "librdkafka")
            }
            RDKafkaLogLevel::Debug => debug!(facility, message, "librdkafka"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        warn!(error = %error, reason, "kafka client error");
    }
}

impl ConsumerContext for KafkaContext {}

/// Partitions taken from a consumer by a rebalance (or by leaving the group),
/// shared between librdkafka's rebalance callback and the consumer. A set:
/// bounded by the partition count even if nobody drains it.
pub(crate) type RevokedPartitions = Arc<Mutex<BTreeSet<(String, i32)>>>;

/// The context of group consumers: [`KafkaContext`]'s logging, plus the
/// partitions each rebalance revokes, for [`crate::Consumer::revoked`].
#[derive(Clone, Default)]
pub(crate) struct GroupContext {
    pub(crate) revoked: RevokedPartitions,
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        KafkaContext.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        KafkaContext.error(error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let revoked: Vec<(String, i32)> = list
            .elements()
            .iter()
            .map(|element| (element.topic().to_owned(), element.partition()))
            .collect();
        if revoked.is_empty() {
            return;
        }
        PartitionsRevoked {
            backend: super::BACKEND,
            partitions: revoked.len(),
        }
        .emit();
        self.revoked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(revoked);
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(list) = rebalance else {
            return;
        };
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for element in list.elements() {
            by_topic
                .entry(element.topic().to_owned())
                .or_default()
                .push(element.partition());
        }
        let assignment = if by_topic.is_empty() {
            "none".to_owned()
        } else {
            by_topic
                .iter()
                .map(|(topic, partitions)| format!("{topic}{partitions:?}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        PartitionsAssigned {
            backend: super::BACKEND,
            assignment,
        }
        .emit();
    }
}

/// Settings shared by every client: brokers, client id, then the user's properties.
fn base_config(options: &KafkaOptions, defaults: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &options.brokers);
    config.set("client.id", &options.client_id);
    for (name, value) in defaults {
        config.set(*name, *value);
    }
    for (name, value) in &options.properties {
        config.set(name, value);
    }
    config
}

/// Producer config: idempotent, acknowledged by all in-sync replicas.
pub(crate) fn producer_config(options: &KafkaOptions) -> ClientConfig {
    let mut config = base_config(
        options,
        &[("message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT_MS)],
    );
    // The durability contract; not overridable.
    config.set("enable.idempotence", "true");
    config.set("acks", "all");
    config
}

/// Consumer config: offsets are stored only by `done`, committed in the background.
pub(crate) fn consumer_config(options: &KafkaOptions, group: &str) -> ClientConfig {
    let mut config = base_config(
        options,
        &[
            ("auto.commit.interval.ms", DEFAULT_AUTO_COMMIT_INTERVAL_MS),
            ("max.poll.interval.ms", DEFAULT_MAX_POLL_INTERVAL_MS),
        ],
    );
    // The at-least-once contract; not overridable.
    config.set("group.id", group);
    config.set("enable.auto.commit", "true");
    config.set("enable.auto.offset.store", "false");
    config.set("auto.offset.reset", "earliest");
    config.set("enable.partition.eof", "false");
    config
}

/// Admin client config.
pub(crate) fn admin_config(options: &KafkaOptions) -> ClientConfig {
    base_config(options, &[])
}

/// Maps a Kafka error onto the bus's error, with `what` saying what failed.
/// Property values never reach the message when the property looks secret.
pub(crate) fn classify(what: &str, error: &KafkaError) -> BusError {
    if let KafkaError::ClientConfig(_, description, name, _) = error {
        return if is_secret_property(name) {
            BusError::Rejected(format!("{what}: invalid value for kafka property {name}"))
        } else {
            BusError::Rejected(format!("{what}: kafka property {name}: {description}"))
        };
    }
    if let KafkaError::ClientCreation(reason) = error {
        return BusError::Rejected(format!("{what}: cannot create kafka client: {reason}"));
    }
    let message = format!("{what}: {error}");
    match error.rdkafka_error_code() {
        Some(code) if is_unavailable(code) => BusError::Unavailable(message),
        Some(code) if is_rejected(code) => BusError::Rejected(message),
        _ => BusError::Other(message),
    }
}

fn is_unavailable(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageTimedOut
            // This member left the group (no poll within max.poll.interval.ms):
            // the next poll rejoins it and reads on from the committed position.
            | C::PollExceeded
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::OperationTimedOut
            | C::RequestTimedOut
            | C::TimedOutQueue
            | C::Resolve
            | C::QueueFull
            | C::NetworkException
            | C::BrokerNotAvailable
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::CoordinatorNotAvailable
            | C::CoordinatorLoadInProgress
            | C::NotCoordinator
            | C::WaitingForCoordinator
            | C::RebalanceInProgress
            | C::KafkaStorageError
            | C::ThrottlingQuotaExceeded
            | C::NotController
            | C::Retry
    )
}

/// True for a record over the producer's or the broker's size limit.
pub(crate) fn is_too_large(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        error.rdkafka_error_code(),
        Some(C::MessageSizeTooLarge | C::MessageBatchTooLarge)
    )
}

fn is_rejected(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::MessageBatchTooLarge
            | C::UnknownTopicOrPartition
            | C::UnknownTopic
            | C::UnknownPartition
            | C::InvalidTopic
            | C::TopicAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::SaslAuthenticationFailed
            | C::Authentication
            | C::UnsupportedSASLMechanism
            | C::SSL
            | C::InvalidConfig
            | C::InvalidPartitions
            | C::InvalidReplicationFactor
            | C::PolicyViolation
            | C::InvalidArgument
            | C::InvalidGroupId
            | C::InvalidSessionTimeout
            | C::InvalidRecord
    )
}

#[cfg(test)]
mod tests {
    use rdkafka::types::RDKafkaConfRes;

    use super::*;

    #[test]
    fn config_errors_never_show_secret_values() {
        let error = KafkaError::ClientConfig(
            RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"hunter2\"".to_owned(),
            "sasl.password".to_owned(),
            "hunter2".to_owned(),
        );
        let mapped = classify("creating producer", &error);
        assert!(matches!(mapped, BusError::Rejected(_)), "{mapped:?}");
        assert!(!mapped.to_string().contains("hunter2"), "{mapped}");
        assert!(mapped.to_string().contains("sasl.password"), "{mapped}");
    }

    #[test]
    fn timeouts_are_retryable_and_size_errors_are_not() {
        let timeout = classify(
            "publish",
            &KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
        );
        assert!(timeout.is_retryable(), "{timeout:?}");
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(is_too_large(&too_large));
        assert!(!classify("publish", &too_large).is_retryable());
        assert!(!is_too_large(&KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageTimedOut
        )));
        let left = classify(
            "receiving from kafka",
            &KafkaError::MessageConsumption(RDKafkaErrorCode::PollExceeded),
        );
        assert!(left.is_retryable(), "max.poll.interval exceeded: {left:?}");
    }

    #[test]
    fn guarantees_cannot_be_overridden_by_properties() {
        let mut options = KafkaOptions::new("b:1");
        options.properties.insert("acks".into(), "1".into());
        options
            .properties
            .insert("enable.auto.offset.store".into(), "true".into());
        options
            .properties
            .insert("message.timeout.ms".into(), "5000".into());
        let producer = producer_config(&options);
        assert_eq!(producer.get("acks"), Some("all"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert_eq!(producer.get("message.timeout.ms"), Some("5000"));
        let consumer = consumer_config(&options, "g");
        assert_eq!(consumer.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(consumer.get("group.id"), Some("g"));
    }
}
