//! The embedded bus's own retention task: consumed, old records go; records
//! some group still needs, young records and unread topics stay.

use std::path::Path;
use std::time::{Duration, Instant};

use intake_bus::{Bus as _, EmbeddedBus, EmbeddedOptions, Record};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tempfile::TempDir;

const HOUR_MS: i64 = 3_600_000;

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
            let delivery = consumer
                .poll(Duration::from_secs(1))
                .await
                .expect("poll")
                .expect("a record");
            consumer.done(&delivery).await.expect("done");
        }
    }
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
async fn retention_task_purges_old_records_every_group_has_done() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("bus.sqlite");
    prepare(&path).await;
    let pool = raw(&path).await;

    // 0 keeps everything: no task runs.
    let keep_forever = EmbeddedBus::open(with_retention(&path, 0))
        .await
        .expect("open");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(seqs(&pool, "t").await, [0, 1, 2, 3, 4, 5]);
    drop(keep_forever);

    // 7 days: the task purges once at open.
    let bus = EmbeddedBus::open(with_retention(&path, 168))
        .await
        .expect("open");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut remaining = seqs(&pool, "t").await;
    while remaining.len() == 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        remaining = seqs(&pool, "t").await;
    }
    // 0: young; 1, 2: old and done by both groups (gone); 3, 4: `slow` has
    // not done them; 5: nobody has.
    assert_eq!(remaining, [0, 3, 4, 5]);
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
    let next = slow
        .poll(Duration::from_secs(1))
        .await
        .expect("poll")
        .expect("a record");
    assert_eq!((next.offset, next.payload.as_slice()), (3, &[3u8][..]));
}

#[tokio::test]
async fn retention_task_stops_when_the_bus_is_dropped() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("bus.sqlite");
    let wal = dir.path().join("bus.sqlite-wal");
    let bus = EmbeddedBus::open(with_retention(&path, 168))
        .await
        .expect("open");
    bus.publisher()
        .publish(record("t", 0))
        .await
        .expect("publish");
    assert!(wal.exists(), "an open bus has a write-ahead log");
    drop(bus);
    // SQLite removes the log when the file's last connection closes; a
    // retention task left running would keep its connections open.
    let deadline = Instant::now() + Duration::from_secs(10);
    while wal.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!wal.exists(), "the dropped bus still holds the file open");
}
