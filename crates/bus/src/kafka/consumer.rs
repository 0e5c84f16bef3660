//! A Kafka consumer group member whose offsets move only through `done`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use tracing::warn;

use super::BACKEND;
use super::client::{GroupContext, RevokedPartitions, classify};
use crate::events::{ConsumerFailed, report_poll};
use crate::{BusError, Consumer, Delivery, PartitionLag};

/// How long one background lag measurement waits for the brokers overall.
const LAG_TIMEOUT: Duration = Duration::from_secs(5);

type LagTask = tokio::task::JoinHandle<Result<Vec<PartitionLag>, BusError>>;

/// Offsets are stored (`enable.auto.offset.store=false`) only in `done`, and
/// committed by librdkafka's auto-commit and when the consumer closes.
pub(super) struct KafkaConsumer {
    /// `Some` until dropped; closing happens off the async threads. Shared
    /// only with a running lag measurement (blocking, off the async threads).
    inner: Option<Arc<StreamConsumer<GroupContext>>>,
    /// Highest offset marked done per (topic, partition), so a stored
    /// position never moves backwards.
    done_offsets: HashMap<(String, i32), i64>,
    /// The lag measurement running in the background, if any.
    lag_task: Option<LagTask>,
    /// The last finished lag measurement.
    last_lag: Vec<PartitionLag>,
    /// Filled by the rebalance callback, drained by `revoked`.
    revoked: RevokedPartitions,
}

impl KafkaConsumer {
    pub(super) fn new(inner: StreamConsumer<GroupContext>) -> Self {
        let revoked = inner.context().revoked.clone();
        Self {
            revoked,
            inner: Some(Arc::new(inner)),
            done_offsets: HashMap::new(),
            lag_task: None,
            last_lag: Vec::new(),
        }
    }

    fn inner(&self) -> Result<&Arc<StreamConsumer<GroupContext>>, BusError> {
        self.inner
            .as_ref()
            .ok_or_else(|| BusError::Other("kafka consumer already closed".to_owned()))
    }
}

/// A consumption error as the bus reports it. A subscribed topic that the
/// broker answering this member does not know is retried, not fatal: right
/// after `ensure_topics` created it, a KRaft broker may not have learnt it
/// from the controller yet (a router started then used to stop at once), and
/// a topic an operator has yet to create may appear; librdkafka keeps looking
/// for it and the member joins its partitions when it does.
fn classify_poll_error(error: &rdkafka::error::KafkaError) -> BusError {
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition) => {
            BusError::Unavailable(format!(
                "receiving from kafka: a subscribed topic is not available (yet); \
                 waiting for it: {error}"
            ))
        }
        _ => classify("receiving from kafka", error),
    }
}

fn to_delivery(message: &BorrowedMessage<'_>) -> Delivery {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|header| {
                    let value = String::from_utf8_lossy(header.value.unwrap_or_default());
                    (header.key.to_owned(), value.into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    Delivery {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
        payload: message.payload().unwrap_or_default().to_vec(),
        headers,
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, timeout: Duration) -> Result<Option<Delivery>, BusError> {
        let inner = self.inner()?;
        let received = match tokio::time::timeout(timeout, inner.recv()).await {
            Err(_elapsed) => return Ok(None),
            Ok(received) => received,
        };
        let outcome = received
            .map(|message| Some(to_delivery(&message)))
            .map_err(|error| classify_poll_error(&error));
        report_poll(BACKEND, outcome)
    }

    async fn done(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let slot = (delivery.topic.clone(), delivery.partition);
        if self
            .done_offsets
            .get(&slot)
            .is_some_and(|done| *done >= delivery.offset)
        {
            return Ok(());
        }
        // librdkafka stores `offset + 1`: the next record to read.
        let stored =
            self.inner()?
                .store_offset(&delivery.topic, delivery.partition, delivery.offset);
        if let Err(error) = stored {
            if error.rdkafka_error_code() == Some(RDKafkaErrorCode::State) {
                // The partition was revoked (rebalance, or this member left the
                // group after a long pause): its new owner reads this record
                // again, and the event id makes that harmless. Not an error
                // for the caller, who could do nothing else.
                warn!(
                    backend = BACKEND,
                    topic = %delivery.topic,
                    partition = delivery.partition,
                    offset = delivery.offset,
                    "partition no longer assigned; the record will be delivered to its new owner"
                );
                return Ok(());
            }
            let error = classify(
                &format!(
                    "storing offset {} of {}/{}",
                    delivery.offset, delivery.topic, delivery.partition
                ),
                &error,
            );
            ConsumerFailed {
                backend: BACKEND,
                operation: "done",
                error: &error,
            }
            .emit();
            return Err(error);
        }
        self.done_offsets.insert(slot, delivery.offset);
        Ok(())
    }

    /// Never waits for the brokers: measuring takes broker round trips (about
    /// a second per topic), and the router samples lag on its consuming path.
    /// Each call returns the last finished measurement (empty before the
    /// first) and starts the next one in the background if none is running.
    async fn lag(&mut self) -> Result<Vec<PartitionLag>, BusError> {
        let inner = Arc::clone(self.inner()?);
        let mut failure = None;
        if let Some(task) = self.lag_task.take_if(|task| task.is_finished()) {
            match task.await {
                Ok(Ok(lags)) => self.last_lag = lags,
                Ok(Err(error)) => failure = Some(error),
                Err(join_error) => {
                    failure = Some(BusError::Other(format!("lag task failed: {join_error}")));
                }
            }
        }
        if self.lag_task.is_none() {
            let done_offsets = self.done_offsets.clone();
            self.lag_task = Some(tokio::task::spawn_blocking(move || {
                super::lag::measure(&inner, &done_offsets, LAG_TIMEOUT)
            }));
        }
        if let Some(error) = failure {
            ConsumerFailed {
                backend: BACKEND,
                operation: "lag",
                error: &error,
            }
            .emit();
            return Err(error);
        }
        Ok(self.last_lag.clone())
    }

    fn revoked(&mut self) -> Vec<(String, i32)> {
        let revoked = std::mem::take(
            &mut *self
                .revoked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        // A partition assigned again starts from the committed position,
        // which may be behind what this member marked done before.
        for slot in &revoked {
            self.done_offsets.remove(slot);
        }
        revoked.into_iter().collect()
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        // Closing commits the stored offsets and leaves the group; it blocks
        // on network round trips, so keep it off the async worker threads.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || drop(inner));
            }
            Err(_) => drop(inner),
        }
    }
}
