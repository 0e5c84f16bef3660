//! Group commit: one writer task owns the connection that appends records.
//!
//! A publish checks its record, queues it on a bounded channel with a
//! oneshot for the answer and waits. The writer takes the first queued
//! record, then whatever else is queued (waiting at most `max_batch_wait`
//! for more, at most `max_batch_records` records and [`MAX_BATCH_BYTES`]),
//! appends them all in one `BEGIN IMMEDIATE … COMMIT` and only then answers
//! each caller with its position. Records that arrive while a commit runs
//! wait for the next one, so under load one fsync serves many publishes,
//! and an idle bus commits a lone record at once (with no wait configured).
//!
//! A batch commits or fails as a whole: on any error it is rolled back and
//! every caller in it gets the error, none is told "durable". Per-record
//! problems (empty topic, too large) are refused before queueing, so they
//! never fail other callers' records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection as _, QueryBuilder, Sqlite};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{BACKEND, map_sqlx, now_ms};
use crate::events::{BatchCommitted, report_publish};
use crate::{BusError, Position, Publisher, Record};

/// A batch stops growing once its records hold this many bytes.
pub(super) const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Rows per multi-row INSERT (6 bound values each, well under SQLite's limit).
const ROWS_PER_INSERT: usize = 500;
/// The answer to a publish on a closed bus.
pub(super) const CLOSED: &str = "the embedded bus is closed";

/// How batches are formed, and the size a record may have.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// At least 1.
    pub max_batch_records: usize,
    pub max_batch_wait: Duration,
    /// Key + payload + encoded headers.
    pub max_record_bytes: u64,
}

/// A checked record waiting for its commit.
struct Pending {
    topic: String,
    key: String,
    payload: Vec<u8>,
    /// The headers as stored (JSON).
    headers: String,
    reply: oneshot::Sender<Result<Position, BusError>>,
}

impl Pending {
    fn bytes(&self) -> usize {
        self.key.len() + self.payload.len() + self.headers.len()
    }
}

/// Starts the writer on `connection`; `options` reopen it after a failure.
pub(super) fn start(
    options: SqliteConnectOptions,
    connection: SqliteConnection,
    notify: Arc<Notify>,
    limits: Limits,
) -> (EmbeddedPublisher, WriterTask) {
    let (queue, pending) = mpsc::channel(limits.max_batch_records.saturating_mul(2));
    let (close, closing) = oneshot::channel();
    let appender = Appender {
        options,
        connection: Some(connection),
        notify,
    };
    let handle = tokio::spawn(run(appender, pending, closing, limits));
    let publisher = EmbeddedPublisher {
        queue,
        max_record_bytes: limits.max_record_bytes,
    };
    (
        publisher,
        WriterTask {
            close: Some(close),
            handle,
        },
    )
}

/// The running writer. Dropping it tells the writer to finish (it commits
/// what is queued, then closes its connection) without waiting.
pub(super) struct WriterTask {
    close: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

impl WriterTask {
    /// Tells the writer to finish and waits until it has closed its connection.
    pub(super) async fn stop(mut self) -> Result<(), BusError> {
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        (&mut self.handle)
            .await
            .map_err(|e| BusError::Other(format!("the embedded bus writer failed: {e}")))
    }
}

/// The writer loop: batches until closed, then drains the queue and ends.
async fn run(
    mut appender: Appender,
    mut queue: mpsc::Receiver<Pending>,
    mut closing: oneshot::Receiver<()>,
    limits: Limits,
) {
    let mut closed = false;
    loop {
        let first = tokio::select! {
            biased;
            // Sent by `stop`, or the sender dropped with the bus.
            _ = &mut closing, if !closed => {
                // New publishes fail from now on; queued ones are still committed.
                queue.close();
                closed = true;
                continue;
            }
            next = queue.recv() => match next {
                Some(pending) => pending,
                None => break,
            },
        };
        let batch = gather(first, &mut queue, &limits).await;
        appender.commit(batch).await;
    }
    appender.shut().await;
}

/// The batch that starts with `first`: what is queued, plus what arrives
/// within `max_batch_wait`, up to the record and byte bounds.
async fn gather(
    first: Pending,
    queue: &mut mpsc::Receiver<Pending>,
    limits: &Limits,
) -> Vec<Pending> {
    let deadline = tokio::time::Instant::now() + limits.max_batch_wait;
    let mut bytes = first.bytes();
    let mut batch = vec![first];
    while batch.len() < limits.max_batch_records && bytes < MAX_BATCH_BYTES {
        let next = match queue.try_recv() {
            Ok(pending) => pending,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) if limits.max_batch_wait.is_zero() => break,
            Err(TryRecvError::Empty) => match tokio::time::timeout_at(deadline, queue.recv()).await
            {
                Ok(Some(pending)) => pending,
                Ok(None) | Err(_) => break,
            },
        };
        bytes += next.bytes();
        batch.push(next);
    }
    batch
}

/// The writer's connection (reopened when a failed batch leaves it unusable).
struct Appender {
    options: SqliteConnectOptions,
    connection: Option<SqliteConnection>,
    notify: Arc<Notify>,
}

impl Appender {
    /// Appends `batch` in one transaction and answers every caller in it.
    async fn commit(&mut self, batch: Vec<Pending>) {
        match self.write(&batch).await {
            Ok(offsets) => {
                BatchCommitted {
                    backend: BACKEND,
                    records: batch.len(),
                }
                .emit();
                self.notify.notify_waiters();
                for (pending, offset) in batch.into_iter().zip(offsets) {
                    // A caller that gave up waiting no longer listens.
                    let _ = pending.reply.send(Ok(Position {
                        partition: 0,
                        offset,
                    }));
                }
            }
            Err(error) => {
                for pending in batch {
                    let _ = pending.reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// The offsets of `batch` in order, once committed.
    async fn write(&mut self, batch: &[Pending]) -> Result<Vec<i64>, BusError> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => {
                let reopened = self
                    .options
                    .connect()
                    .await
                    .map_err(|e| map_sqlx("reopening the embedded bus writer", e))?;
                self.connection.insert(reopened)
            }
        };
        // The write lock up front: no read snapshot to upgrade later.
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *connection)
            .await
            .map_err(|e| map_sqlx(&format!("starting a batch of {} records", batch.len()), e))?;
        let written = append(connection, batch).await;
        // Leave no transaction behind. SQLite may already have rolled back
        // (then ROLLBACK fails too): start the next batch on a new connection.
        if written.is_err()
            && sqlx::query("ROLLBACK")
                .execute(&mut *connection)
                .await
                .is_err()
            && let Some(connection) = self.connection.take()
        {
            let _ = connection.close().await;
        }
        written
    }

    /// Closes the connection (the file is released once every connection is).
    async fn shut(self) {
        if let Some(connection) = self.connection {
            let _ = connection.close().await;
        }
    }
}

/// In the open transaction: per topic, reserve the next sequence numbers,
/// insert the records; then commit. Returns each record's offset.
async fn append(
    connection: &mut SqliteConnection,
    batch: &[Pending],
) -> Result<Vec<i64>, BusError> {
    let failed = |what: &str| {
        let what = format!("{what} ({} records)", batch.len());
        move |e| map_sqlx(&what, e)
    };
    let mut by_topic: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, pending) in batch.iter().enumerate() {
        by_topic.entry(&pending.topic).or_default().push(index);
    }
    let created_at_ms = now_ms();
    let mut offsets = vec![0; batch.len()];
    for (topic, indices) in by_topic {
        let count = i64::try_from(indices.len()).unwrap_or(i64::MAX);
        let first: i64 = sqlx::query_scalar(
            "INSERT INTO bus_topics (topic, next_seq) VALUES (?1, ?2)
             ON CONFLICT (topic) DO UPDATE SET next_seq = next_seq + ?2
             RETURNING next_seq - ?2",
        )
        .bind(topic)
        .bind(count)
        .fetch_one(&mut *connection)
        .await
        .map_err(failed(&format!("appending to topic {topic}")))?;
        for (seq, &index) in (first..).zip(&indices) {
            offsets[index] = seq;
        }
        for chunk in indices.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO bus_records (topic, seq, key, payload, headers, created_at_ms) ",
            );
            insert.push_values(chunk, |mut row, &index| {
                let pending = &batch[index];
                row.push_bind(topic)
                    .push_bind(offsets[index])
                    .push_bind(pending.key.as_str())
                    .push_bind(pending.payload.as_slice())
                    .push_bind(pending.headers.as_str())
                    .push_bind(created_at_ms);
            });
            insert
                .build()
                .execute(&mut *connection)
                .await
                .map_err(failed(&format!("appending to topic {topic}")))?;
        }
    }
    sqlx::query("COMMIT")
        .execute(&mut *connection)
        .await
        .map_err(failed("committing a batch"))?;
    Ok(offsets)
}

/// The publisher: checks a record, queues it for the writer and waits for
/// the commit that holds it.
pub(super) struct EmbeddedPublisher {
    queue: mpsc::Sender<Pending>,
    max_record_bytes: u64,
}

impl EmbeddedPublisher {
    /// True once the bus is closed (the writer takes no more records).
    pub(super) fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    async fn append(&self, record: Record) -> Result<Position, BusError> {
        let Record {
            topic,
            key,
            payload,
            headers,
        } = record;
        if topic.is_empty() {
            return Err(BusError::Rejected("empty topic name".to_owned()));
        }
        let headers = serde_json::to_string(&headers)
            .map_err(|e| BusError::Rejected(format!("headers cannot be encoded: {e}")))?;
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            topic,
            key,
            payload,
            headers,
            reply,
        };
        if u64::try_from(pending.bytes()).unwrap_or(u64::MAX) > self.max_record_bytes {
            return Err(BusError::TooLarge {
                limit_bytes: self.max_record_bytes,
            });
        }
        self.queue
            .send(pending)
            .await
            .map_err(|_| BusError::Unavailable(CLOSED.to_owned()))?;
        answer.await.unwrap_or_else(|_| {
            Err(BusError::Unavailable(
                "the embedded bus writer stopped before answering; the record may not be durable"
                    .to_owned(),
            ))
        })
    }
}

#[async_trait]
impl Publisher for EmbeddedPublisher {
    async fn publish(&self, record: Record) -> Result<Position, BusError> {
        let topic = record.topic.clone();
        let outcome = self.append(record).await;
        report_publish(BACKEND, &topic, outcome)
    }
}
