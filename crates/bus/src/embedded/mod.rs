//! The embedded backend: a durable log in one SQLite file.
//!
//! **For one machine only.** Processes on the same host may share the file
//! (SQLite locking in WAL mode; a consumer sees another process's records
//! within its poll interval), but never over a network filesystem. Every
//! topic has a single partition (0) and offsets are the per-topic sequence
//! numbers, so a consumer group has one active reader at a time: two
//! consumers of the same group would both read every record.
//!
//! Publishes go through one writer task that owns its own connection and
//! commits concurrent publishes together (group commit, see [`writer`]).
//! Writes commit with `synchronous=FULL`: when `publish` or `done` returns,
//! the record or the group's position survives a crash or power loss.

mod consumer;
mod retention;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::ConnectOptions as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Notify;
use tracing::info;

use crate::{Bus, BusError, Consumer, EmbeddedOptions, Publisher};
use consumer::EmbeddedConsumer;
use retention::RetentionTask;
use writer::{EmbeddedPublisher, Limits, WriterTask};

const BACKEND: &str = "embedded";
/// How long a writer waits for another writer's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Bus::close`] waits for connections on their way back to the
/// pool (a ping each; far longer than that takes even on a busy machine).
const CLOSE_WAIT: Duration = Duration::from_secs(30);
/// How often `close` looks again for connections returned meanwhile.
const CLOSE_RECHECK: Duration = Duration::from_millis(2);
/// The largest record the embedded bus stores by default
/// (`EmbeddedOptions::max_record_bytes`): key, payload and headers together,
/// in bytes. The same as Kafka's default `message.max.bytes`, so a record
/// that fits here fits a default Kafka too.
pub const EMBEDDED_MAX_RECORD_BYTES: u64 = 1_000_000;

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
/// Concurrent publishes share one SQLite transaction (group commit): a
/// writer task takes the records queued while the previous commit ran (at
/// most `max_batch_records`, waiting at most `max_batch_wait_micros` for
/// more) and commits them together; each caller is answered after the
/// commit that holds its record, or with the error of its failed batch.
///
/// With `retention_hours > 0`, records older than the retention that every
/// group reading their topic has marked done are deleted once while
/// opening and then hourly by a background task.
///
/// [`Bus::close`] stops the writer (after committing what is queued) and the
/// retention task and closes every connection, so the file is released when
/// it returns. Dropping the bus without closing it stops them too, but
/// without waiting.
pub struct EmbeddedBus {
    pool: SqlitePool,
    notify: Arc<Notify>,
    publisher: Arc<EmbeddedPublisher>,
    /// The background tasks; `None` once closed.
    tasks: tokio::sync::Mutex<Option<Tasks>>,
}

/// The tasks a bus runs; dropping them stops them (without waiting).
struct Tasks {
    writer: WriterTask,
    retention: Option<RetentionTask>,
}

impl EmbeddedBus {
    /// Opens (creating when missing) the file and its schema, starts the
    /// writer and, with retention on, purges once and starts the hourly purge.
    pub async fn open(options: EmbeddedOptions) -> Result<Self, BusError> {
        let EmbeddedOptions {
            path,
            retention_hours,
            max_batch_records,
            max_batch_wait_micros,
            max_record_bytes,
        } = options;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                BusError::Unavailable(format!(
                    "cannot create the directory of the embedded bus file {}: {e}",
                    path.display()
                ))
            })?;
        }
        let opening = format!("opening the embedded bus file {}", path.display());
        let connect_options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(BUSY_TIMEOUT * 2)
            .connect_with(connect_options.clone())
            .await
            .map_err(|e| map_sqlx(&opening, e))?;
        sqlx::raw_sql(SCHEMA)
            .execute(&pool)
            .await
            .map_err(|e| map_sqlx("creating the embedded bus schema", e))?;
        let connection = connect_options
            .connect()
            .await
            .map_err(|e| map_sqlx(&opening, e))?;
        let notify = shared_notify(&path);
        let limits = Limits {
            max_batch_records: max_batch_records.max(1),
            max_batch_wait: Duration::from_micros(max_batch_wait_micros),
            max_record_bytes,
        };
        let (publisher, writer) =
            writer::start(connect_options, connection, notify.clone(), limits);
        let retention = match retention_hours {
            0 => None,
            hours => {
                let retention = Duration::from_secs(hours.saturating_mul(3600));
                // A failure is logged and counted by the event; the task tries again hourly.
                let _ = retention::purge_consumed(&pool, retention).await;
                Some(RetentionTask::start(pool.clone(), retention))
            }
        };
        info!(
            path = %path.display(),
            retention_hours,
            max_batch_records,
            max_batch_wait_micros,
            max_record_bytes,
            "embedded bus opened"
        );
        Ok(Self {
            pool,
            notify,
            publisher: Arc::new(publisher),
            tasks: tokio::sync::Mutex::new(Some(Tasks { writer, retention })),
        })
    }

    /// Retention: deletes records older than `older_than` that every
    /// consumer group reading their topic has marked done. Topics no group
    /// has read are kept whole. Returns how many records were deleted.
    pub async fn purge_consumed(&self, older_than: Duration) -> Result<u64, BusError> {
        retention::purge_consumed(&self.pool, older_than).await
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
        if self.publisher.is_closed() {
            return Err(BusError::Unavailable(writer::CLOSED.to_owned()));
        }
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| map_sqlx("embedded bus readiness check", e))
    }

    /// Stops taking publishes, commits the ones already queued (their callers
    /// are answered as usual), stops the retention task and closes every
    /// connection to the file. Consumers of this bus fail from then on.
    async fn close(&self) -> Result<(), BusError> {
        let mut tasks = self.tasks.lock().await;
        let mut outcome = Ok(());
        if let Some(Tasks { writer, retention }) = tasks.take() {
            outcome = writer.stop().await;
            if let Some(retention) = retention {
                retention.stop().await;
            }
        }
        // Waits until every connection (consumers' included) is closed. sqlx
        // returns a connection to the pool in a task of its own (after a
        // ping); one still on its way back when `close` ran ends up idle and
        // open, so close again until the pool is empty.
        self.pool.close().await;
        let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
        while self.pool.size() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return Err(BusError::Other(format!(
                    "{} connections to the embedded bus file still open after {} s",
                    self.pool.size(),
                    CLOSE_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(CLOSE_RECHECK).await;
            self.pool.close().await;
        }
        outcome
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
