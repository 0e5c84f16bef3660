//! Group commit on the embedded bus: concurrent publishes share SQLite
//! transactions, each caller is answered only after the commit that holds
//! its record, a failed commit fails every caller of its batch, and what
//! was confirmed survives a crash.
//!
//! The tests run on tokio's current-thread runtime (the `#[tokio::test]`
//! default): publishers spawned together all queue their records before the
//! writer task runs again, which is what makes them share a batch. No test
//! measures time.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use intake_bus::{Bus, BusError, EmbeddedBus, EmbeddedOptions, Position, Publisher, Record};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tempfile::TempDir;
use tokio::task::JoinSet;

/// Upper bound for a wait on a condition (never reached on a working bus).
const WAIT: Duration = Duration::from_secs(60);

fn record(topic: &str, key: &str, payload: impl Into<Vec<u8>>) -> Record {
    Record {
        topic: topic.to_owned(),
        key: key.to_owned(),
        payload: payload.into(),
        headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
    }
}

async fn open(path: &Path) -> EmbeddedBus {
    EmbeddedBus::open(EmbeddedOptions::new(path))
        .await
        .expect("open")
}

/// A second connection to the file, to look at it directly.
async fn raw(path: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(path))
        .await
        .expect("raw connection")
}

/// Every stored record of `topic` as (offset, key, payload), in offset order.
async fn stored(pool: &SqlitePool, topic: &str) -> Vec<(i64, String, Vec<u8>)> {
    sqlx::query_as("SELECT seq, key, payload FROM bus_records WHERE topic = ?1 ORDER BY seq")
        .bind(topic)
        .fetch_all(pool)
        .await
        .expect("read records")
}

fn counter(snapshot: &[(metrics_util::CompositeKey, DebugValue)], name: &str) -> u64 {
    snapshot
        .iter()
        .filter(|(key, _)| key.key().name() == name)
        .map(|(_, value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

/// 64 publishers, one key each, publish 10 records each one after the
/// other (each waits for its confirmation): every record is confirmed,
/// stored once at its confirmed offset and delivered in per-key order, and
/// the 640 records took far fewer than 640 commits.
#[tokio::test]
async fn concurrent_publishes_share_commits_and_keep_per_key_order() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The current-thread runtime runs the writer on this thread too.
    let _recording = metrics::set_default_local_recorder(&recorder);

    let dir = TempDir::new().expect("temp dir");
    let bus = open(&dir.path().join("bus.sqlite")).await;
    let (keys, per_key) = (64, 10);
    let mut publishers = JoinSet::new();
    for k in 0..keys {
        let publisher = bus.publisher();
        publishers.spawn(async move {
            let key = format!("contact-{k}");
            let mut confirmed = Vec::new();
            for n in 0..per_key {
                let payload = format!("{key}:{n}");
                let position = publisher
                    .publish(record("t", &key, payload.clone()))
                    .await
                    .expect("publish");
                confirmed.push((payload, position));
            }
            confirmed
        });
    }
    let mut positions: BTreeMap<String, Position> = BTreeMap::new();
    while let Some(joined) = publishers.join_next().await {
        positions.extend(joined.expect("publisher task"));
    }
    assert_eq!(positions.len(), keys * per_key);

    let mut consumer = bus
        .consumer("g", &["t".to_owned()])
        .await
        .expect("consumer");
    let mut next_per_key: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..keys * per_key {
        let delivery = consumer
            .poll(WAIT)
            .await
            .expect("poll")
            .expect("every confirmed record is delivered");
        let payload = String::from_utf8(delivery.payload.clone()).expect("utf-8");
        let (key, n) = payload.split_once(':').expect("payload shape");
        assert_eq!(delivery.key, key);
        assert_eq!(delivery.header("content-type"), Some("text/plain"));
        let expected = next_per_key.entry(key.to_owned()).or_default();
        assert_eq!(n.parse::<usize>().expect("n"), *expected, "order of {key}");
        *expected += 1;
        assert_eq!(
            positions[&payload].offset, delivery.offset,
            "{payload} delivered at another offset than confirmed"
        );
        consumer.done(&delivery).await.expect("done");
    }
    assert!(next_per_key.values().all(|n| *n == per_key));
    let nothing_more = consumer.poll(Duration::from_millis(100)).await;
    assert!(matches!(nothing_more, Ok(None)), "{nothing_more:?}");
    bus.close().await.expect("close");

    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect();
    let records = (keys * per_key) as u64;
    assert_eq!(
        counter(&snapshot, "intake_bus_records_published_total"),
        records
    );
    let commits = counter(&snapshot, "intake_bus_commits_total");
    assert!(
        (1..=records / 4).contains(&commits),
        "{records} concurrent records took {commits} commits; group commit should share them"
    );
}

/// Fault injection at COMMIT: a trigger makes the record with key `poison`
/// leave a dangling deferred foreign key, so the COMMIT of its transaction
/// fails (after every INSERT worked). Every caller whose record was in that
/// batch gets the error and none of those records is in the file; every
/// caller told "durable" finds its record at its offset; the writer goes on.
#[tokio::test]
async fn a_failed_commit_fails_every_caller_of_its_batch() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("bus.sqlite");
    let bus = open(&path).await;
    let pool = raw(&path).await;
    sqlx::raw_sql(
        "CREATE TABLE fault_parent (id INTEGER PRIMARY KEY);
         CREATE TABLE fault_child (
             parent INTEGER REFERENCES fault_parent (id) DEFERRABLE INITIALLY DEFERRED
         );
         CREATE TRIGGER fault_on_poison AFTER INSERT ON bus_records
         WHEN NEW.key = 'poison'
         BEGIN INSERT INTO fault_child (parent) VALUES (42); END;",
    )
    .execute(&pool)
    .await
    .expect("install the fault");

    let mut publishers = JoinSet::new();
    for i in 0..40 {
        let publisher = bus.publisher();
        let key = if i == 20 {
            "poison".to_owned()
        } else {
            format!("k{i}")
        };
        publishers.spawn(async move {
            let payload = format!("{i}");
            let outcome = publisher.publish(record("t", &key, payload.clone())).await;
            (payload, outcome)
        });
    }
    let mut confirmed = BTreeMap::new();
    let mut failed = Vec::new();
    while let Some(joined) = publishers.join_next().await {
        match joined.expect("publisher task") {
            (payload, Ok(position)) => {
                confirmed.insert(position.offset, payload);
            }
            (payload, Err(error)) => {
                assert!(
                    error.to_string().contains("FOREIGN KEY"),
                    "the batch's error reaches the caller: {error}"
                );
                failed.push(payload);
            }
        }
    }
    assert!(
        failed.contains(&"20".to_owned()),
        "the poisoned record failed"
    );
    assert!(
        failed.len() > 1,
        "the records sharing the poisoned batch failed with it: {failed:?}"
    );

    let rows = stored(&pool, "t").await;
    let in_file: BTreeMap<i64, String> = rows
        .iter()
        .map(|(seq, _, payload)| (*seq, String::from_utf8(payload.clone()).expect("utf-8")))
        .collect();
    assert_eq!(
        in_file, confirmed,
        "the file holds exactly the confirmed records"
    );
    for payload in &failed {
        assert!(
            !in_file.values().any(|p| p == payload),
            "{payload} is stored"
        );
    }

    // The writer recovered; offsets continue without a gap.
    let after = bus
        .publisher()
        .publish(record("t", "k", "after"))
        .await
        .expect("a publish after the failed batch");
    assert_eq!(after.offset, i64::try_from(confirmed.len()).expect("count"));
    pool.close().await;
    bus.close().await.expect("close");
}

/// Publishes queued when `close` is called are committed and confirmed
/// before it returns; later ones fail as `Unavailable` and are not stored.
#[tokio::test]
async fn close_commits_what_is_queued_and_refuses_the_rest() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("bus.sqlite");
    let bus = open(&path).await;
    let publisher = bus.publisher();
    let mut publishers = JoinSet::new();
    for i in 0..50 {
        let publisher = Arc::clone(&publisher);
        publishers.spawn(async move { publisher.publish(record("t", "k", format!("{i}"))).await });
    }
    // Let the publishers queue their records.
    tokio::task::yield_now().await;
    bus.close().await.expect("close");
    let mut confirmed = Vec::new();
    while let Some(joined) = publishers.join_next().await {
        match joined.expect("publisher task") {
            Ok(position) => confirmed.push(position.offset),
            Err(error) => assert!(
                matches!(error, BusError::Unavailable(_)),
                "expected Unavailable, got {error:?}"
            ),
        }
    }
    assert!(!confirmed.is_empty(), "the queued records were committed");
    let late = publisher.publish(record("t", "k", "late")).await;
    assert!(
        matches!(late, Err(BusError::Unavailable(_))),
        "a publish after close: {late:?}"
    );

    let pool = raw(&path).await;
    let mut offsets: Vec<i64> = stored(&pool, "t").await.iter().map(|r| r.0).collect();
    confirmed.sort_unstable();
    offsets.sort_unstable();
    assert_eq!(
        offsets, confirmed,
        "the file holds exactly the confirmed records"
    );
    pool.close().await;
}

/// The record limit counts key, payload and headers; one byte over it is
/// refused as `TooLarge` (not retryable) and stored nowhere, while a record
/// exactly at the limit goes through.
#[tokio::test]
async fn a_record_over_the_limit_is_too_large_and_does_not_fail_others() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("bus.sqlite");
    let mut options = EmbeddedOptions::new(&path);
    options.max_record_bytes = 4096;
    let bus = EmbeddedBus::open(options).await.expect("open");
    let headers = serde_json::to_string(&[("content-type", "text/plain")]).expect("json");
    let fits = 4096 - "key".len() - headers.len();

    let publisher = bus.publisher();
    let (over, exact) = tokio::join!(
        publisher.publish(record("t", "key", vec![b'x'; fits + 1])),
        publisher.publish(record("t", "key", vec![b'y'; fits])),
    );
    let error = over.expect_err("one byte over the limit");
    assert!(
        matches!(error, BusError::TooLarge { limit_bytes: 4096 }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(error.kind(), "too_large");
    assert!(error.to_string().contains("4096"), "{error}");
    assert_eq!(exact.expect("exactly at the limit").offset, 0);

    let pool = raw(&path).await;
    let rows = stored(&pool, "t").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2.len(), fits);
    pool.close().await;
    bus.close().await.expect("close");
}

const CHILD_PATH_ENV: &str = "INTAKE_BUS_TEST_CRASH_PATH";
const CONFIRMED: &str = "confirmed";
const PARKED: &str = "parked";

/// Run only as a child process by `confirmed_records_survive_a_crash`:
/// publishes 400 records from 64 tasks and prints each confirmation as soon
/// as it arrives; after the 150th it says so and blocks the process, with
/// other records still queued or being committed, until the parent kills
/// it with SIGKILL (no close, no destructors).
#[tokio::test]
#[ignore = "helper: runs as a child process of another test"]
async fn child_crashing_publisher() {
    let Ok(path) = std::env::var(CHILD_PATH_ENV) else {
        return;
    };
    let bus = open(Path::new(&path)).await;
    let publisher: Arc<dyn Publisher> = bus.publisher();
    let printed = Arc::new(std::sync::Mutex::new(0usize));
    let mut tasks = JoinSet::new();
    for t in 0..64 {
        let publisher = Arc::clone(&publisher);
        let printed = Arc::clone(&printed);
        tasks.spawn(async move {
            for n in (t..400).step_by(64) {
                let payload = format!("record-{n}");
                let position = publisher
                    .publish(record("t", &format!("k{t}"), payload.clone()))
                    .await
                    .expect("publish");
                let mut printed = printed.lock().expect("lock");
                let mut out = std::io::stdout().lock();
                writeln!(out, "{CONFIRMED} {} {payload}", position.offset).expect("print");
                *printed += 1;
                if *printed == 150 {
                    writeln!(out, "{PARKED}").expect("print");
                    out.flush().expect("flush");
                    // The whole runtime stops here until SIGKILL.
                    loop {
                        std::thread::park();
                    }
                }
                out.flush().expect("flush");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    panic!("all 400 records were confirmed before the crash point");
}

/// Every record the killed process was told is durable is in the file
/// after reopening it, at the offset it was given.
#[tokio::test]
async fn confirmed_records_survive_a_crash() {
    use std::io::BufRead as _;
    let dir = TempDir::new().expect("temp dir");
    let path: PathBuf = dir.path().join("bus.sqlite");
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_crashing_publisher",
            "--ignored",
            "--nocapture",
            "--quiet",
        ])
        .env(CHILD_PATH_ENV, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("child stdout");
    let reading = tokio::task::spawn_blocking(move || {
        let mut confirmed = BTreeMap::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("read the child's output");
            if line == PARKED {
                return Some(confirmed);
            }
            if let Some(rest) = line.strip_prefix(CONFIRMED) {
                let (offset, payload) = rest.trim().split_once(' ').expect("line shape");
                confirmed.insert(offset.parse::<i64>().expect("offset"), payload.to_owned());
            }
        }
        None
    });
    let read = tokio::time::timeout(WAIT, reading).await;
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    let confirmed = read
        .expect("the child reached its crash point within the wait")
        .expect("reader task")
        .expect("the child reached its crash point");
    assert_eq!(confirmed.len(), 150, "the child confirmed 150 records");

    let bus = open(&path).await;
    let pool = raw(&path).await;
    let in_file: BTreeMap<i64, String> = stored(&pool, "t")
        .await
        .into_iter()
        .map(|(seq, _, payload)| (seq, String::from_utf8(payload).expect("utf-8")))
        .collect();
    for (offset, payload) in &confirmed {
        assert_eq!(
            in_file.get(offset),
            Some(payload),
            "confirmed record {payload} at {offset} lost in the crash"
        );
    }
    pool.close().await;
    bus.close().await.expect("close");
}
