//! The embedded bus's own retention task: consumed, old records go; records
//! some group still needs, young records and unread topics stay. And
//! closing: `close` stops the tasks and releases the file before it returns.

use std::path::Path;
use std::time::{Duration, Instant};

use intake_bus::{Bus as _, BusError, Consumer, Delivery, EmbeddedBus, EmbeddedOptions, Record};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{ConnectOptions as _, Connection as _};
use tempfile::TempDir;

const HOUR_MS: i64 = 3_600_000;
/// Upper bound for a wait on a condition (never reached on a working bus).
const WAIT: Duration = Duration::from_secs(60);

fn record(topic: &str, i: u8) -> Record {
    Record {
        topic: topic.to_owned(),
        key: "k".to_owned(),
        payload: vec![i],
        headers: Vec::new(),
    }
}

fn with_retention(path: &Path, retention_hours: u64) -> EmbeddedOptions {
    let mut options = EmbeddedOptions::new(path);
    options.retention_hours = retention_hours;
    options
}

/// A second connection to the file, to look at and age records directly.
async fn raw(path: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(path))
        .await
        .expect("raw connection")
}

async fn seqs(pool: &SqlitePool, topic: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT seq FROM bus_records WHERE topic = ?1 ORDER BY seq")
        .bind(topic)
        .fetch_all(pool)
        .await
        .expect("read seqs")
}

/// The next record; the poll returns as soon as one is there.
async fn next(consumer: &mut dyn Consumer) -> Delivery {
    consumer
        .poll(WAIT)
        .await
        .expect("poll")
        .expect("a record within the wait")
}

/// Topic `t`: 6 records, group `fast` done 0..=4, group `slow` done 0..=2.
/// Topic `u`: 2 records no group has read. Every record but `t`/0 is then
/// aged by 200 hours.
async fn prepare(path: &Path) {
    let bus = EmbeddedBus::open(with_retention(path, 0))
        .await
        .expect("open");
    for i in 0..6 {
        bus.publisher()
            .publish(record("t", i))
            .await
            .expect("publish");
    }
    for i in 0..2 {
        bus.publisher()
            .publish(record("u", i))
            .await
            .expect("publish");
    }
    for (group, done) in [("fast", 5), ("slow", 3)] {
        let mut consumer = bus
            .consumer(group, &["t".to_owned()])
            .await
            .expect("consumer");
        for _ in 0..done {
            let delivery = next(consumer.as_mut()).await;
            consumer.done(&delivery).await.expect("done");
        }
    }
    bus.close().await.expect("close");
    let pool = raw(path).await;
    sqlx::query(
        "UPDATE bus_records SET created_at_ms = created_at_ms - ?1
         WHERE NOT (topic = 't' AND seq = 0)",
    )
    .bind(200 * HOUR_MS)
    .execute(&pool)
    .await
    .expect("age records");
    pool.close().await;
}

#[tokio::test]
async fn retention_purges_old_records_every_group_has_done_while_opening() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("bus.sqlite");
    prepare(&path).await;
    let pool = raw(&path).await;

    // 0 keeps everything: no purge at open (which would have run by now).
    let keep_forever = EmbeddedBus::open(with_retention(&path, 0))
        .await
        .expect("open");
    assert_eq!(seqs(&pool, "t").await, [0, 1, 2, 3, 4, 5]);
    keep_forever.close().await.expect("close");

    // 7 days: the first purge is done when `open` returns.
    let bus = EmbeddedBus::open(with_retention(&path, 168))
        .await
        .expect("open");
    // 0: young; 1, 2: old and done by both groups (gone); 3, 4: `slow` has
    // not done them; 5: nobody has.
    assert_eq!(seqs(&pool, "t").await, [0, 3, 4, 5]);
    assert_eq!(
        seqs(&pool, "u").await,
        [0, 1],
        "an unread topic is kept whole"
    );

    // The slow group still gets what it has not done.
    let mut slow = bus
        .consumer("slow", &["t".to_owned()])
        .await
        .expect("consumer");
    let first = next(slow.as_mut()).await;
    assert_eq!((first.offset, first.payload.as_slice()), (3, &[3u8][..]));
    bus.close().await.expect("close");
}

#[tokio::test]
async fn close_stops_the_tasks_and_releases_the_file() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("bus.sqlite");
    let wal = dir.path().join("bus.sqlite-wal");
    let bus = EmbeddedBus::open(with_retention(&path, 168))
        .await
        .expect("open");
    let publisher = bus.publisher();
    publisher.publish(record("t", 0)).await.expect("publish");
    let mut consumer = bus
        .consumer("g", &["t".to_owned()])
        .await
        .expect("consumer");
    let got = next(consumer.as_mut()).await;
    assert!(wal.exists(), "an open bus has a write-ahead log");

    bus.close().await.expect("close");
    // SQLite removes the log when the file's last connection closes: the
    // writer's, the retention task's and the consumers' are all closed.
    assert!(!wal.exists(), "the closed bus still holds the file open");

    let refused = publisher
        .publish(record("t", 1))
        .await
        .expect_err("a closed bus takes no publishes");
    assert!(
        matches!(refused, BusError::Unavailable(_)),
        "expected Unavailable, got {refused:?}"
    );
    assert!(
        bus.check_ready().await.is_err(),
        "a closed bus is not ready"
    );
    assert!(consumer.done(&got).await.is_err(), "its consumers stop too");
    bus.close().await.expect("closing twice is fine");
    assert!(!wal.exists());

    // The file is intact: a new bus reads the record.
    let reopened = EmbeddedBus::open(with_retention(&path, 168))
        .await
        .expect("reopen");
    let mut consumer = reopened
        .consumer("g", &["t".to_owned()])
        .await
        .expect("consumer");
    assert_eq!(next(consumer.as_mut()).await.payload, [0]);
    reopened.close().await.expect("close");
}

#[tokio::test]
async fn dropping_the_bus_without_close_also_releases_the_file() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("bus.sqlite");
    let bus = EmbeddedBus::open(with_retention(&path, 168))
        .await
        .expect("open");
    bus.publisher()
        .publish(record("t", 0))
        .await
        .expect("publish");
    drop(bus);
    // Without `close` nothing waits for the tasks, and the connections close
    // all at once (so none may be the last to delete the log): wait for the
    // condition that no other connection is open, which is when a lone one
    // may leave WAL mode.
    let deadline = Instant::now() + WAIT;
    let mut mode = String::new();
    while mode != "delete" && Instant::now() < deadline {
        let mut lone = SqliteConnectOptions::new()
            .filename(&path)
            .connect()
            .await
            .expect("connect");
        mode = sqlx::query_scalar("PRAGMA journal_mode = DELETE")
            .fetch_one(&mut lone)
            .await
            .unwrap_or_default();
        lone.close().await.expect("close the lone connection");
        if mode != "delete" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(mode, "delete", "the dropped bus still holds the file open");
}
