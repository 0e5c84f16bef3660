//! A consumer of the embedded log: reads from the group's stored position,
//! wakes on in-process publishes and polls the file for other processes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{BACKEND, map_sqlx, now_ms};
use crate::events::{ConsumerFailed, report_poll};
use crate::{BusError, Consumer, Delivery, PartitionLag};

/// Fallback poll interval: how soon a record written by another process is seen.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Records read per query.
const BATCH: i64 = 256;

pub(super) struct EmbeddedConsumer {
    pool: SqlitePool,
    notify: Arc<Notify>,
    group: String,
    /// Subscribed topics with the next sequence number to read from each.
    topics: Vec<(String, i64)>,
    /// Read but not yet handed out.
    buffer: VecDeque<Delivery>,
    /// Topic to read from first next time (round robin across topics).
    next_topic: usize,
}

impl EmbeddedConsumer {
    pub(super) async fn start(
        pool: SqlitePool,
        notify: Arc<Notify>,
        group: &str,
        topics: &[String],
    ) -> Result<Self, BusError> {
        let mut positions = Vec::with_capacity(topics.len());
        for topic in topics {
            if topic.is_empty() {
                return Err(BusError::Rejected("empty topic name".to_owned()));
            }
            let stored: Option<i64> = sqlx::query_scalar(
                "SELECT next_seq FROM bus_offsets WHERE group_id = ?1 AND topic = ?2",
            )
            .bind(group)
            .bind(topic)
            .fetch_optional(&pool)
            .await
            .map_err(|e| map_sqlx("reading the group's stored position", e))?;
            positions.push((topic.clone(), stored.unwrap_or(0)));
        }
        Ok(Self {
            pool,
            notify,
            group: group.to_owned(),
            topics: positions,
            buffer: VecDeque::new(),
            next_topic: 0,
        })
    }

    /// Reads the next batch from the first topic (round robin) that has records.
    async fn fill(&mut self) -> Result<(), BusError> {
        for step in 0..self.topics.len() {
            let index = (self.next_topic + step) % self.topics.len();
            let (topic, next_seq) = &self.topics[index];
            let rows = sqlx::query(
                "SELECT seq, key, payload, headers FROM bus_records
                 WHERE topic = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
            )
            .bind(topic)
            .bind(*next_seq)
            .bind(BATCH)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_sqlx("reading records", e))?;
            if rows.is_empty() {
                continue;
            }
            let mut batch = Vec::with_capacity(rows.len());
            for row in rows {
                let seq: i64 = row.get("seq");
                let headers: String = row.get("headers");
                let headers: Vec<(String, String)> =
                    serde_json::from_str(&headers).map_err(|e| {
                        BusError::Other(format!("record {topic}/{seq} has unreadable headers: {e}"))
                    })?;
                batch.push(Delivery {
                    topic: topic.clone(),
                    partition: 0,
                    offset: seq,
                    key: row.get("key"),
                    payload: row.get("payload"),
                    headers,
                });
            }
            if let Some(last) = batch.last() {
                self.topics[index].1 = last.offset + 1;
            }
            self.buffer.extend(batch);
            self.next_topic = (index + 1) % self.topics.len();
            return Ok(());
        }
        Ok(())
    }

    /// Per subscribed topic: the records from the group's stored position (or
    /// the oldest record still kept, when retention removed older ones) to
    /// the end of the topic.
    async fn read_lag(&self) -> Result<Vec<PartitionLag>, BusError> {
        let mut lags = Vec::with_capacity(self.topics.len());
        for (topic, _) in &self.topics {
            let row = sqlx::query(
                "SELECT
                    COALESCE((SELECT next_seq FROM bus_topics WHERE topic = ?1), 0) AS end_seq,
                    COALESCE((SELECT next_seq FROM bus_offsets
                              WHERE group_id = ?2 AND topic = ?1), 0) AS done_seq,
                    (SELECT MIN(seq) FROM bus_records WHERE topic = ?1) AS first_seq",
            )
            .bind(topic)
            .bind(&self.group)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map_sqlx("reading the group's lag", e))?;
            let end_seq: i64 = row.get("end_seq");
            let done_seq: i64 = row.get("done_seq");
            let first_seq: Option<i64> = row.get("first_seq");
            let from = done_seq.max(first_seq.unwrap_or(end_seq));
            lags.push(PartitionLag {
                topic: topic.clone(),
                partition: 0,
                records: u64::try_from(end_seq - from).unwrap_or(0),
            });
        }
        Ok(lags)
    }

    async fn next(&mut self, timeout: Duration) -> Result<Option<Delivery>, BusError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(delivery) = self.buffer.pop_front() {
                return Ok(Some(delivery));
            }
            // Registered before reading, so a publish between the read and
            // the wait still wakes us.
            let notify = self.notify.clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.fill().await?;
            if !self.buffer.is_empty() {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wait = (deadline - now).min(POLL_INTERVAL);
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&mut self, timeout: Duration) -> Result<Option<Delivery>, BusError> {
        let outcome = self.next(timeout).await;
        report_poll(BACKEND, outcome)
    }

    async fn done(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        if delivery.partition != 0 || !self.topics.iter().any(|(t, _)| *t == delivery.topic) {
            return Err(BusError::Rejected(format!(
                "delivery {}/{} does not belong to this consumer",
                delivery.topic, delivery.partition
            )));
        }
        // The stored position never moves backwards.
        let stored = sqlx::query(
            "INSERT INTO bus_offsets (group_id, topic, next_seq, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (group_id, topic) DO UPDATE
             SET next_seq = max(next_seq, excluded.next_seq),
                 updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&self.group)
        .bind(&delivery.topic)
        .bind(delivery.offset + 1)
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        if let Err(error) = stored {
            let error = map_sqlx("storing the group's position", error);
            ConsumerFailed {
                backend: BACKEND,
                operation: "done",
                error: &error,
            }
            .emit();
            return Err(error);
        }
        Ok(())
    }

    async fn lag(&mut self) -> Result<Vec<PartitionLag>, BusError> {
        self.read_lag().await.inspect_err(|error| {
            ConsumerFailed {
                backend: BACKEND,
                operation: "lag",
                error,
            }
            .emit();
        })
    }
}
