//! Retention of the embedded log: consumed, old records are deleted.

use std::time::Duration;

use sqlx::sqlite::SqlitePool;
use tokio::task::JoinHandle;

use super::{BACKEND, map_sqlx, now_ms};
use crate::BusError;
use crate::events::{PurgeFailed, RecordsPurged};

/// How often the retention task purges (the bus also purges once at open).
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes records older than `older_than` that every consumer group
/// reading their topic has marked done; returns how many went.
pub(super) async fn purge_consumed(
    pool: &SqlitePool,
    older_than: Duration,
) -> Result<u64, BusError> {
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

/// The hourly purge; aborted when dropped, [`RetentionTask::stop`] also
/// waits until it has ended (and so released its pool connection).
pub(super) struct RetentionTask {
    handle: JoinHandle<()>,
}

impl RetentionTask {
    /// Purges every [`PURGE_INTERVAL`], the first time one interval from now.
    pub(super) fn start(pool: SqlitePool, retention: Duration) -> Self {
        let handle = tokio::spawn(async move {
            let first = tokio::time::Instant::now() + PURGE_INTERVAL;
            let mut ticks = tokio::time::interval_at(first, PURGE_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // A failure is logged and counted by the event; try again next hour.
                let _ = purge_consumed(&pool, retention).await;
            }
        });
        Self { handle }
    }

    /// Aborts the task and waits until it has ended.
    pub(super) async fn stop(mut self) {
        self.handle.abort();
        // The only outcome of an aborted endless loop is "cancelled".
        let _ = (&mut self.handle).await;
    }
}

impl Drop for RetentionTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
