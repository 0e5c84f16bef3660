//! The pull half of the conformance kit: runs a pull channel against an
//! in-memory bus and a fake upstream, and checks that the upstream is
//! acknowledged only after the bus confirmed the event, and that a crash
//! between the two replays the message with the same event id.
//!
//! A channel's tests call [`pull_conformance`] once with a constructor of the
//! channel over a fake upstream that implements [`PullTestSource`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use intake_blob::LocalDirBlobStore;
use intake_bus::{BusError, Position, Publisher, Record, Topics};
use tokio_util::sync::CancellationToken;

use crate::{ChannelContext, PullChannel, PullStatus};

/// Longest wait for anything the harness waits on.
const WAIT: Duration = Duration::from_secs(30);
/// The texts of the messages the checks push (events are told apart by text).
const FIRST: &str = "conformance: first message";
const SECOND: &str = "conformance: second message";
/// How often the harness looks again.
const POLL: Duration = Duration::from_millis(10);

/// The fake upstream a pull channel reads in the conformance checks: it keeps
/// a message until the channel acknowledges it, and offers every
/// unacknowledged message again to a new session (as an IMAP mailbox or a
/// Telegram offset does).
pub trait PullTestSource: Default + Send + Sync + 'static {
    /// Puts a message with the upstream's own id `id` into the source.
    fn push(&self, id: &str, text: &str);
    /// The ids the channel acknowledged so far.
    fn acknowledged(&self) -> Vec<String>;
}

/// What the harness's bus does with a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusMode {
    /// Stores the record and confirms it.
    Confirm,
    /// Refuses with [`BusError::Unavailable`].
    Fail,
    /// Never answers (the record is not stored).
    Stall,
    /// Stores the record but never confirms it: the point at which a crash
    /// leaves a durable event and an unacknowledged source.
    StoreThenStall,
}

/// An in-memory bus whose behaviour the test sets with [`BusMode`].
#[derive(Debug)]
pub struct ControlledPublisher {
    mode: Mutex<BusMode>,
    records: Mutex<Vec<Record>>,
    attempts: AtomicUsize,
}

impl ControlledPublisher {
    pub fn new(mode: BusMode) -> Arc<Self> {
        Arc::new(Self {
            mode: Mutex::new(mode),
            records: Mutex::new(Vec::new()),
            attempts: AtomicUsize::new(0),
        })
    }

    pub fn set_mode(&self, mode: BusMode) {
        *self.mode.lock().expect("mode lock") = mode;
    }

    /// The records stored so far, in order.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().expect("records lock").clone()
    }

    /// Publish calls so far (stored, refused or stalled).
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Publisher for ControlledPublisher {
    async fn publish(&self, record: Record) -> Result<Position, BusError> {
        let mode = *self.mode.lock().expect("mode lock");
        self.attempts.fetch_add(1, Ordering::SeqCst);
        match mode {
            BusMode::Fail => Err(BusError::Unavailable("harness bus set to fail".into())),
            BusMode::Stall => std::future::pending().await,
            BusMode::Confirm | BusMode::StoreThenStall => {
                let offset = {
                    let mut records = self.records.lock().expect("records lock");
                    records.push(record);
                    records.len() as i64 - 1
                };
                if mode == BusMode::StoreThenStall {
                    std::future::pending::<()>().await;
                }
                Ok(Position {
                    partition: 0,
                    offset,
                })
            }
        }
    }
}

/// One run of the channel under test, in its own task.
struct Running {
    task: tokio::task::JoinHandle<Result<(), crate::ChannelError>>,
    shutdown: CancellationToken,
}

impl Running {
    fn start(mut channel: Box<dyn PullChannel>, publisher: &Arc<ControlledPublisher>) -> Self {
        let ctx = ChannelContext {
            publisher: Arc::clone(publisher) as Arc<dyn Publisher>,
            topics: Topics::new("conformance"),
            blobs: Arc::new(LocalDirBlobStore::new(
                std::env::temp_dir().join("intake-pull-conformance"),
            )),
        };
        let status = PullStatus::new(channel.name());
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { channel.run(ctx, status, token).await });
        Self { task, shutdown }
    }

    /// Asks the channel to stop and waits for it (aborting it after [`WAIT`]).
    async fn stop(self) {
        self.shutdown.cancel();
        let abort = self.task.abort_handle();
        if tokio::time::timeout(WAIT, self.task).await.is_err() {
            abort.abort();
        }
    }

    /// Drops the channel wherever it is, as a crash would.
    async fn crash(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Waits until `done` holds, up to [`WAIT`]; returns whether it did.
async fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
    done()
}

/// The ce_id (event id) of every record whose event carries `text`.
fn event_ids_of(publisher: &ControlledPublisher, text: &str) -> Vec<String> {
    publisher
        .records()
        .iter()
        .filter(|record| {
            crate::TicketEvent::from_json(&record.payload).is_ok_and(|event| event.text == text)
        })
        .filter_map(|record| record.header("ce_id").map(str::to_owned))
        .collect()
}

/// A bus that refuses, then one that stalls: nothing is acknowledged; once
/// the bus confirms, the message is published and then acknowledged.
pub async fn check_ack_after_publish<S: PullTestSource>(
    make: &dyn Fn(Arc<S>) -> Box<dyn PullChannel>,
) -> Result<(), String> {
    let source = Arc::new(S::default());
    source.push("conformance-1", FIRST);
    let publisher = ControlledPublisher::new(BusMode::Fail);

    let running = Running::start(make(Arc::clone(&source)), &publisher);
    let settled = wait_for(|| {
        running.task.is_finished() || publisher.attempts() >= 2 || !source.acknowledged().is_empty()
    })
    .await;
    running.stop().await;
    if !source.acknowledged().is_empty() {
        return Err(format!(
            "acknowledged {:?} although the bus refused the event",
            source.acknowledged()
        ));
    }
    if !settled {
        return Err("the channel neither published nor stopped within 30 s".to_owned());
    }

    publisher.set_mode(BusMode::Stall);
    let attempts = publisher.attempts();
    let running = Running::start(make(Arc::clone(&source)), &publisher);
    let reached =
        wait_for(|| publisher.attempts() > attempts || !source.acknowledged().is_empty()).await;
    let acknowledged = source.acknowledged();
    running.crash().await;
    if !acknowledged.is_empty() {
        return Err(format!(
            "acknowledged {acknowledged:?} while the bus had not confirmed the event"
        ));
    }
    if !reached {
        return Err("the channel did not publish the message within 30 s".to_owned());
    }

    publisher.set_mode(BusMode::Confirm);
    let running = Running::start(make(Arc::clone(&source)), &publisher);
    let acked = wait_for(|| source.acknowledged().iter().any(|id| id == "conformance-1")).await;
    running.stop().await;
    if !acked {
        return Err("the message was not acknowledged within 30 s of a working bus".to_owned());
    }
    if event_ids_of(&publisher, FIRST).is_empty() {
        return Err("the message was acknowledged but never published".to_owned());
    }
    Ok(())
}

/// The bus stores the event, then the channel is dropped before it learns
/// so (a crash between publish and ack): a new channel on the same upstream
/// publishes the message again with the same event id, then acknowledges it.
pub async fn check_replay_after_crash<S: PullTestSource>(
    make: &dyn Fn(Arc<S>) -> Box<dyn PullChannel>,
) -> Result<(), String> {
    let source = Arc::new(S::default());
    source.push("conformance-2", SECOND);
    let publisher = ControlledPublisher::new(BusMode::StoreThenStall);

    let running = Running::start(make(Arc::clone(&source)), &publisher);
    let stored = wait_for(|| {
        !event_ids_of(&publisher, SECOND).is_empty() || !source.acknowledged().is_empty()
    })
    .await;
    running.crash().await;
    if !source.acknowledged().is_empty() {
        return Err(format!(
            "acknowledged {:?} before the bus confirmed the event",
            source.acknowledged()
        ));
    }
    if !stored {
        return Err("the channel did not publish the message within 30 s".to_owned());
    }
    let first = event_ids_of(&publisher, SECOND);

    publisher.set_mode(BusMode::Confirm);
    let running = Running::start(make(Arc::clone(&source)), &publisher);
    let acked = wait_for(|| source.acknowledged().iter().any(|id| id == "conformance-2")).await;
    running.stop().await;
    let ids = event_ids_of(&publisher, SECOND);
    if ids.len() <= first.len() {
        return Err("the message was not published again after the crash".to_owned());
    }
    if ids.iter().any(|id| *id != first[0]) {
        return Err(format!(
            "the replay has another event id ({ids:?}): the router could not suppress it"
        ));
    }
    if !acked {
        return Err("the replayed message was not acknowledged within 30 s".to_owned());
    }
    Ok(())
}

/// Every pull check; panics with each failure. One call in a pull channel's tests:
/// `pull_conformance::<MyFakeUpstream>(&|upstream| Box::new(MyChannel::new(upstream))).await`.
pub async fn pull_conformance<S: PullTestSource>(make: &dyn Fn(Arc<S>) -> Box<dyn PullChannel>) {
    let mut failures = Vec::new();
    if let Err(failure) = check_ack_after_publish::<S>(make).await {
        failures.push(format!("ack after publish: {failure}"));
    }
    if let Err(failure) = check_replay_after_crash::<S>(make).await {
        failures.push(format!("replay after crash: {failure}"));
    }
    assert!(
        failures.is_empty(),
        "pull channel conformance failed:\n  {}",
        failures.join("\n  ")
    );
}
