//! The embedded backend: a durable log in one SQLite file.
//!
//! **For one machine only.** Processes on the same host may share the file
//! (SQLite locking in WAL mode; a consumer sees another process's records
//! within its poll interval), but never over a network filesystem. Every
//! topic has a single partition (0) and offsets are the per-topic sequence
//! numbers, so a consumer group has one active reader at a time: two
//! consumers of the same group would both read every record.
//!
//! Writes commit with `synchronous=FULL`: when `publish` or `done` returns,
//! the record or the group's position survives a crash or power loss.

mod consumer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tracing::info;

use crate::events::{PurgeFailed, RecordsPurged, report_publish};
use crate::{Bus, BusError, Consumer, EmbeddedOptions, Position, Publisher, Record};
use consumer::EmbeddedConsumer;

const BACKEND: &str = "embedded";
/// How long a writer waits for another writer's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest record the embedded bus stores: key, payload and headers
/// together, in bytes. The same as Kafka's default `message.max.bytes`, so a
/// record that fits here fits a default Kafka too.
pub const EMBEDDED_MAX_RECORD_BYTES: u64 = 1_000_000;

/// How often the retention task purges (it also purges once at open).
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bus_topics (
    topic TEXT PRIMARY KEY NOT NULL,
    next_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bus_records (
    topic TEXT NOT NULL,
    seq INTEGER NOT NULL,
    key TEXT NOT NULL,
    payload BLOB NOT NULL,
    headers TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_offsets (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    next_seq INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic)
) WITHOUT ROWID;
";

/// The embedded bus: a durable log in one SQLite file (WAL, `synchronous=FULL`).
///
/// **For one machine only**: processes on the same host may share the file,
/// never over a network filesystem. One partition (0) per topic, offsets are
/// per-topic sequence numbers, so each consumer group should have one active
/// consumer at a time (two would both read every record). Consumers wake at
/// once on publishes from this process and poll the file every 200 ms for
/// records written by other processes.
///
/// With `retention_hours > 0`, a background task deletes records older than
/// the retention that every group reading their topic has marked done, once
/// at open and then hourly, until the bus is dropped.
pub struct EmbeddedBus {
    pool: SqlitePool,
    notify: Arc<Notify>,
    publisher: Arc<EmbeddedPublisher>,
    /// The retention task, stopped when the bus is dropped.
    _retention: Option<RetentionTask>,
}

impl EmbeddedBus {
    /// Opens (creating when missing) the file and its schema.
    pub async fn open(options: EmbeddedOptions) -> Result<Self, BusError> {
        let EmbeddedOptions {
            path,
            retention_hours,
        } = options;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                BusError::Unavailable(format!(
                    "cannot create the directory of the embedded bus file {}: {e}",
                    path.display()
                ))
            })?;
        }
        let connect_options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(BUSY_TIMEOUT * 2)
            .connect_with(connect_options)
            .await
            .map_err(|e| {
                map_sqlx(
                    &format!("opening the embedded bus file {}", path.display()),
                    e,
                )
            })?;
        sqlx::raw_sql(SCHEMA)
            .execute(&pool)
            .await
            .map_err(|e| map_sqlx("creating the embedded bus schema", e))?;
        let notify = shared_notify(&path);
        let retention = (retention_hours > 0).then(|| {
            RetentionTask::start(
                pool.clone(),
                Duration::from_secs(retention_hours.saturating_mul(3600)),
            )
        });
        info!(path = %path.display(), retention_hours, "embedded bus opened");
        Ok(Self {
            publisher: Arc::new(EmbeddedPublisher {
                pool: pool.clone(),
                notify: notify.clone(),
            }),
            pool,
            notify,
            _retention: retention,
        })
    }

    /// Retention: deletes records older than `older_than` that every
    /// consumer group reading their topic has marked done. Topics no group
    /// has read are kept whole. Returns how many records were deleted.
    pub async fn purge_consumed(&self, older_than: Duration) -> Result<u64, BusError> {
        purge_consumed(&self.pool, older_than).await
    }
}

async fn purge_consumed(pool: &SqlitePool, older_than: Duration) -> Result<u64, BusError> {
    let cutoff_ms = now_ms().saturating_sub(older_than.as_millis().try_into().unwrap_or(i64::MAX));
    let result = sqlx::query(
        "DELETE FROM bus_records
         WHERE created_at_ms < ?1
           AND seq < (SELECT MIN(o.next_seq) FROM bus_offsets o
                      WHERE o.topic = bus_records.topic)",
    )
    .bind(cutoff_ms)
    .execute(pool)
    .await
    .map_err(|e| map_sqlx("purging consumed records", e));
    match result {
        Ok(done) => {
            RecordsPurged {
                backend: BACKEND,
                records: done.rows_affected(),
                older_than,
            }
            .emit();
            Ok(done.rows_affected())
        }
        Err(error) => {
            PurgeFailed {
                backend: BACKEND,
                error: &error,
            }
            .emit();
            Err(error)
        }
    }
}

/// The background retention task; aborted when dropped.
struct RetentionTask {
    handle: AbortHandle,
}

impl RetentionTask {
    fn start(pool: SqlitePool, retention: Duration) -> Self {
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PURGE_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // The first tick is immediate: one purge at open.
                ticks.tick().await;
                // A failure is logged and counted by the event; try again next hour.
                let _ = purge_consumed(&pool, retention).await;
            }
        });
        Self {
            handle: task.abort_handle(),
        }
    }
}

impl Drop for RetentionTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
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
        let consumer =
            EmbeddedConsumer::start(self.pool.clone(), self.notify.clone(), group, topics).await?;
        Ok(Box::new(consumer))
    }

    async fn ensure_topics(&self, topics: &[String]) -> Result<(), BusError> {
        // Topics come into being with their first record.
        match topics.iter().find(|t| t.is_empty()) {
            Some(_) => Err(BusError::Rejected("empty topic name".to_owned())),
            None => Ok(()),
        }
    }

    async fn check_ready(&self) -> Result<(), BusError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| map_sqlx("embedded bus readiness check", e))
    }
}

struct EmbeddedPublisher {
    pool: SqlitePool,
    notify: Arc<Notify>,
}

impl EmbeddedPublisher {
    async fn append(&self, record: &Record) -> Result<Position, BusError> {
        if record.topic.is_empty() {
            return Err(BusError::Rejected("empty topic name".to_owned()));
        }
        let headers = serde_json::to_string(&record.headers)
            .map_err(|e| BusError::Rejected(format!("headers cannot be encoded: {e}")))?;
        let size = record.key.len() + record.payload.len() + headers.len();
        if size as u64 > EMBEDDED_MAX_RECORD_BYTES {
            return Err(BusError::TooLarge {
                limit_bytes: EMBEDDED_MAX_RECORD_BYTES,
            });
        }
        let failed = |e| map_sqlx(&format!("appending to topic {}", record.topic), e);
        let mut tx = self.pool.begin().await.map_err(failed)?;
        // The first statement writes, so the transaction takes the write lock
        // at once (no stale read snapshot to upgrade).
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO bus_topics (topic, next_seq) VALUES (?1, 1)
             ON CONFLICT (topic) DO UPDATE SET next_seq = next_seq + 1
             RETURNING next_seq - 1",
        )
        .bind(&record.topic)
        .fetch_one(&mut *tx)
        .await
        .map_err(failed)?;
        sqlx::query(
            "INSERT INTO bus_records (topic, seq, key, payload, headers, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&record.topic)
        .bind(seq)
        .bind(&record.key)
        .bind(&record.payload)
        .bind(&headers)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        self.notify.notify_waiters();
        Ok(Position {
            partition: 0,
            offset: seq,
        })
    }
}

#[async_trait]
impl Publisher for EmbeddedPublisher {
    async fn publish(&self, record: Record) -> Result<Position, BusError> {
        let outcome = self.append(&record).await;
        report_publish(BACKEND, &record.topic, outcome)
    }
}

/// One wake-up signal per file in this process, so that every bus instance
/// on the same file wakes its consumers promptly after a publish.
fn shared_notify(path: &Path) -> Arc<Notify> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<Notify>>>> = OnceLock::new();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut registry = REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    registry.retain(|_, notify| notify.strong_count() > 0);
    if let Some(existing) = registry.get(&key).and_then(Weak::upgrade) {
        return existing;
    }
    let notify = Arc::new(Notify::new());
    registry.insert(key, Arc::downgrade(&notify));
    notify
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Maps SQLite failures: a busy/locked/unopenable/full/IO-failing file is
/// `Unavailable` (may clear up), anything else `Other`.
pub(crate) fn map_sqlx(what: &str, error: sqlx::Error) -> BusError {
    let message = format!("{what}: {error}");
    match &error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            BusError::Unavailable(message)
        }
        sqlx::Error::Database(db) => {
            let primary = db
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .map(|code| code & 0xff);
            // SQLITE_PERM 3, BUSY 5, LOCKED 6, READONLY 8, IOERR 10, FULL 13, CANTOPEN 14.
            match primary {
                Some(3 | 5 | 6 | 8 | 10 | 13 | 14) => BusError::Unavailable(message),
                _ => BusError::Other(message),
            }
        }
        _ => BusError::Other(message),
    }
}
