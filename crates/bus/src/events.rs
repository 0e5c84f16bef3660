//! Typed telemetry events of the bus: each one logs and counts itself.
//!
//! Labels are bounded: `backend` is `kafka` or `embedded`, `kind` is a
//! [`BusError::kind`] name.

use std::time::Duration;

use tracing::{debug, info, warn};

use crate::BusError;

/// A record is durable on the bus.
pub(crate) struct RecordPublished<'a> {
    pub backend: &'static str,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

impl RecordPublished<'_> {
    pub fn emit(self) {
        debug!(
            backend = self.backend,
            topic = self.topic,
            partition = self.partition,
            offset = self.offset,
            "record published"
        );
        metrics::counter!("intake_bus_records_published_total", "backend" => self.backend)
            .increment(1);
    }
}

/// A publish failed; the record may not be durable.
pub(crate) struct PublishFailed<'a> {
    pub backend: &'static str,
    pub topic: &'a str,
    pub error: &'a BusError,
}

impl PublishFailed<'_> {
    pub fn emit(self) {
        warn!(
            backend = self.backend,
            topic = self.topic,
            error = %self.error,
            retryable = self.error.is_retryable(),
            "publish failed"
        );
        metrics::counter!(
            "intake_bus_publish_failures_total",
            "backend" => self.backend,
            "kind" => self.error.kind()
        )
        .increment(1);
    }
}

/// The embedded bus committed one transaction holding `records` published
/// records (group commit: records published / commits = mean batch size).
pub(crate) struct BatchCommitted {
    pub backend: &'static str,
    pub records: usize,
}

impl BatchCommitted {
    pub fn emit(self) {
        debug!(
            backend = self.backend,
            records = self.records,
            "publish batch committed"
        );
        metrics::counter!("intake_bus_commits_total", "backend" => self.backend).increment(1);
    }
}

/// Emits [`RecordPublished`] or [`PublishFailed`] for a publish outcome and
/// passes the outcome on; both backends report through this.
pub(crate) fn report_publish(
    backend: &'static str,
    topic: &str,
    outcome: Result<crate::Position, BusError>,
) -> Result<crate::Position, BusError> {
    match &outcome {
        Ok(position) => RecordPublished {
            backend,
            topic,
            partition: position.partition,
            offset: position.offset,
        }
        .emit(),
        Err(error) => PublishFailed {
            backend,
            topic,
            error,
        }
        .emit(),
    }
    outcome
}

/// Emits [`RecordDelivered`] or [`ConsumerFailed`] for a poll outcome and
/// passes the outcome on; both backends report through this.
pub(crate) fn report_poll(
    backend: &'static str,
    outcome: Result<Option<crate::Delivery>, BusError>,
) -> Result<Option<crate::Delivery>, BusError> {
    match &outcome {
        Ok(Some(delivery)) => RecordDelivered {
            backend,
            topic: &delivery.topic,
            partition: delivery.partition,
            offset: delivery.offset,
        }
        .emit(),
        Ok(None) => {}
        Err(error) => ConsumerFailed {
            backend,
            operation: "poll",
            error,
        }
        .emit(),
    }
    outcome
}

/// A record was handed to a consumer.
pub(crate) struct RecordDelivered<'a> {
    pub backend: &'static str,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

impl RecordDelivered<'_> {
    pub fn emit(self) {
        debug!(
            backend = self.backend,
            topic = self.topic,
            partition = self.partition,
            offset = self.offset,
            "record delivered"
        );
        metrics::counter!("intake_bus_records_delivered_total", "backend" => self.backend)
            .increment(1);
    }
}

/// A consumer could not read or could not store its position.
pub(crate) struct ConsumerFailed<'a> {
    pub backend: &'static str,
    pub operation: &'static str,
    pub error: &'a BusError,
}

impl ConsumerFailed<'_> {
    pub fn emit(self) {
        warn!(
            backend = self.backend,
            operation = self.operation,
            error = %self.error,
            retryable = self.error.is_retryable(),
            "consumer operation failed"
        );
        metrics::counter!(
            "intake_bus_consumer_errors_total",
            "backend" => self.backend,
            "operation" => self.operation,
            "kind" => self.error.kind()
        )
        .increment(1);
    }
}

/// A retention pass of the embedded bus deleted `records` consumed records.
pub(crate) struct RecordsPurged {
    pub backend: &'static str,
    pub records: u64,
    pub older_than: Duration,
}

impl RecordsPurged {
    pub fn emit(self) {
        let older_than_hours = self.older_than.as_secs() / 3600;
        if self.records > 0 {
            info!(
                backend = self.backend,
                records = self.records,
                older_than_hours,
                "consumed records purged"
            );
        } else {
            debug!(
                backend = self.backend,
                older_than_hours, "no consumed records to purge"
            );
        }
        metrics::counter!("intake_bus_records_purged_total", "backend" => self.backend)
            .increment(self.records);
    }
}

/// A retention pass failed; records stay until the next pass.
pub(crate) struct PurgeFailed<'a> {
    pub backend: &'static str,
    pub error: &'a BusError,
}

impl PurgeFailed<'_> {
    pub fn emit(self) {
        warn!(
            backend = self.backend,
            error = %self.error,
            retryable = self.error.is_retryable(),
            "purging consumed records failed"
        );
        metrics::counter!(
            "intake_bus_purge_failures_total",
            "backend" => self.backend,
            "kind" => self.error.kind()
        )
        .increment(1);
    }
}

/// A rebalance (or this member leaving the group, e.g. after
/// `max.poll.interval.ms` without a poll) took partitions from a consumer.
pub(crate) struct PartitionsRevoked {
    pub backend: &'static str,
    pub partitions: usize,
}

impl PartitionsRevoked {
    pub fn emit(self) {
        info!(
            backend = self.backend,
            partitions = self.partitions,
            "partitions revoked from this consumer"
        );
        metrics::counter!("intake_bus_partitions_revoked_total", "backend" => self.backend)
            .increment(self.partitions as u64);
    }
}

/// A rebalance gave partitions to a consumer (the whole new assignment of
/// an eager rebalance): which partitions of which topics this member now
/// reads, so an operator can see how replicas share the work.
pub(crate) struct PartitionsAssigned {
    pub backend: &'static str,
    /// `topic[p, q]` per topic.
    pub assignment: String,
}

impl PartitionsAssigned {
    pub fn emit(self) {
        info!(
            backend = self.backend,
            assignment = %self.assignment,
            "partitions assigned to this consumer"
        );
    }
}
