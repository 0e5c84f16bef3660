//! The dispatcher: one consumer per channel topic, many events in flight.
//!
//! It polls every channel ahead of the work (bounded), puts each record in
//! its lane (`lanes.rs`: one conversation, or one requester, at a time, in
//! order), starts a worker (`worker.rs`) whenever fewer than
//! `max_in_flight` run, choosing by channel priority with the starvation
//! guard, and stores each partition's position over the contiguous prefix
//! of finished records only (`commit.rs`). The lag gauge is sampled here,
//! so it keeps moving whatever the workers wait for.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use intake_blob::BlobStore;
use intake_bus::{Bus, BusError, Consumer, Delivery};
use intake_store::{ParkedLane, StateStore};
use intake_zendesk::pacer::{CallPriority, with_priority};
use intake_zendesk::{Client, with_turn};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::RouterError;
use crate::backoff::Backoff;
use crate::commit::Commits;
use crate::fence::Fence;
use crate::lag::{self, LagClock};
use crate::lanes::Lanes;
use crate::options::{ChannelRoute, RouterOptions};
use crate::parking::{self, Decision, LaneParked, RetryState};
use crate::process::Processor;
use crate::reserve::{self, RESERVE_HOLD, Reserve};
use crate::telemetry::RetryScheduled;
use crate::worker::{RetryLater, Step, Worker};

/// Turns bus events into Zendesk effects. Build with [`Router::new`], then
/// [`Router::run`] until the shutdown token is cancelled.
pub struct Router {
    bus: Arc<dyn Bus>,
    processor: Processor,
    options: RouterOptions,
}

/// One channel: its route, its topic and its consumer.
struct Slot {
    route: ChannelRoute,
    topic: String,
    consumer: Box<dyn Consumer>,
}

/// A polled record in its lane.
#[derive(Debug)]
pub(crate) struct Held {
    /// Index of its channel's slot (= its priority rank).
    channel: usize,
    delivery: Delivery,
    /// Its failures so far, once it failed (its lane was parked).
    retry: Option<RetryState>,
    /// Its place in a Zendesk endpoint's queue, kept while it is parked for
    /// that endpoint (decision 63).
    turn: Option<intake_zendesk::Turn>,
}

/// What a worker hands back.
struct Finished {
    lane: String,
    held: Held,
    step: Result<Step, RouterError>,
}

impl Router {
    /// Checks the options (at least one channel, no channel twice, valid
    /// names, at least one event in flight).
    pub fn new(
        bus: Arc<dyn Bus>,
        store: Arc<dyn StateStore>,
        blobs: Arc<dyn BlobStore>,
        zendesk: Client,
        options: RouterOptions,
    ) -> Result<Self, RouterError> {
        if options.channels.is_empty() {
            return Err(RouterError::Config("no channels to route".to_owned()));
        }
        let mut seen = HashSet::new();
        for route in &options.channels {
            if !intake_event::is_valid_channel_name(&route.name) {
                return Err(RouterError::Config(format!(
                    "channel name {:?} must be lower-case letters, digits, '-' or '_'",
                    route.name
                )));
            }
            if !seen.insert(route.name.as_str()) {
                return Err(RouterError::Config(format!(
                    "channel {:?} listed twice",
                    route.name
                )));
            }
        }
        if options.subject_max_chars == 0 {
            return Err(RouterError::Config(
                "subject_max_chars must be at least 1".to_owned(),
            ));
        }
        if options.max_in_flight == 0 || options.max_held_events < options.max_in_flight {
            return Err(RouterError::Config(
                "max_in_flight must be at least 1 and max_held_events at least max_in_flight"
                    .to_owned(),
            ));
        }
        if options.claim_ttl < std::time::Duration::from_secs(1) {
            return Err(RouterError::Config(
                "claim_ttl must be at least 1 s".to_owned(),
            ));
        }
        let processor = Processor {
            store,
            blobs,
            zendesk,
            subject_max_chars: options.subject_max_chars,
            deadline_field_id: options.deadline_field_id,
            automatic_messages: options.automatic_messages,
            cross_channel: options.cross_channel.clone(),
            rulebook: options.rulebook.clone(),
        };
        Ok(Self {
            bus,
            processor,
            options,
        })
    }

    /// Consumes until `shutdown` is cancelled. Events being handled are
    /// finished first (their positions stored); retry waits are cut short
    /// without marking their events done.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RouterError> {
        let topics = &self.options.topics;
        let mut all_topics: Vec<String> = self
            .options
            .channels
            .iter()
            .map(|c| topics.events(&c.name))
            .collect();
        all_topics.push(topics.dlq());
        all_topics.push(topics.outcomes());
        self.bus.ensure_topics(&all_topics).await?;
        let mut slots = Vec::with_capacity(self.options.channels.len());
        for route in &self.options.channels {
            let group = format!("{}.{}", self.options.consumer_group, route.name);
            let topic = topics.events(&route.name);
            let consumer = self
                .bus
                .consumer(&group, std::slice::from_ref(&topic))
                .await?;
            slots.push(Slot {
                route: route.clone(),
                topic,
                consumer,
            });
        }
        tracing::info!(
            channels = ?self.options.channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            backend = self.bus.backend(),
            max_in_flight = self.options.max_in_flight,
            "router started"
        );
        let store = self.processor.store.clone();
        let restored = match store.parked_lanes(Some(&self.options.consumer_group)).await {
            Ok(rows) => rows
                .into_iter()
                .map(|row| (row.lane.clone(), row))
                .collect(),
            Err(error) => {
                parking::report_store_failure("parked_lanes", &error);
                HashMap::new()
            }
        };
        let stop = shutdown.child_token();
        let fence = Arc::new(Fence::new(store.clone(), self.options.claim_ttl));
        let worker = Arc::new(Worker {
            processor: self.processor,
            options: self.options.clone(),
            publisher: self.bus.publisher(),
            stop: stop.clone(),
            fence: fence.clone(),
        });
        let dispatcher = Dispatcher {
            lanes: Lanes::new(slots.len()),
            reserve: Reserve::new(
                self.options.reserved_in_flight,
                self.options.max_in_flight,
                slots.len(),
                RESERVE_HOLD,
            ),
            slots,
            commits: Commits::default(),
            tasks: JoinSet::new(),
            worker,
            options: self.options,
            lag: LagClock::new(),
            stop,
            fatal: None,
            store,
            restored,
            parked_reported: None,
            partitions: HashMap::new(),
            fence: fence.clone(),
        };
        let result = dispatcher.run().await;
        fence.release_all().await;
        tracing::info!("router stopped");
        result
    }
}

struct Dispatcher {
    slots: Vec<Slot>,
    lanes: Lanes<Held>,
    /// Slots held back for higher-priority channels with traffic.
    reserve: Reserve,
    commits: Commits,
    tasks: JoinSet<Finished>,
    worker: Arc<Worker>,
    options: RouterOptions,
    lag: LagClock,
    stop: CancellationToken,
    /// The first fatal error; the router stops with it.
    fatal: Option<RouterError>,
    store: Arc<dyn StateStore>,
    /// Lanes an earlier run left parked in the state store (their events
    /// continue their retry count when polled again).
    restored: HashMap<String, ParkedLane>,
    /// The parked-lanes gauge's last value.
    parked_reported: Option<usize>,
    /// Per partition with running events: cancelled when it is revoked, so
    /// they stop before their next Zendesk write (`fence.rs`).
    partitions: HashMap<(String, i32), CancellationToken>,
    fence: Arc<Fence>,
}

impl Dispatcher {
    async fn run(mut self) -> Result<(), RouterError> {
        let mut poll_backoff = self.backoff();
        while !self.stop.is_cancelled() {
            if self.lag.is_due() {
                self.sample_lag().await;
            }
            let polled = match self.fill().await {
                Ok(()) if self.idle() => self.wait_for_record().await,
                other => other,
            };
            self.drop_revoked().await;
            match polled {
                Ok(()) => poll_backoff = self.backoff(),
                Err(e) if e.is_retryable() => {
                    let delay = poll_backoff.next_delay();
                    tracing::warn!(error = %e, delay_ms = delay.as_millis() as u64, "bus poll failed, backing off");
                    self.wait_for_progress(delay).await;
                    continue;
                }
                Err(e) => {
                    self.fail(RouterError::Bus(e));
                    break;
                }
            }
            self.dispatch();
            self.report_parked();
            if !self.idle() {
                self.wait_for_progress(self.options.idle_poll).await;
            }
        }
        // Let running events finish (their waits end at once), storing what
        // they finish.
        while let Some(joined) = self.tasks.join_next().await {
            self.finished(joined).await;
        }
        match self.fatal {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(
            self.options.retry_initial_backoff,
            self.options.retry_max_backoff,
        )
    }

    /// Nothing running and nothing waiting.
    fn idle(&self) -> bool {
        self.tasks.is_empty() && self.lanes.waiting_total() == 0
    }

    fn fail(&mut self, error: RouterError) {
        self.fatal.get_or_insert(error);
        self.stop.cancel();
    }

    /// Polls every channel, highest priority first, without waiting, while it
    /// has fewer than `max_in_flight` events that could start and the
    /// router holds fewer than `max_held_events`.
    async fn fill(&mut self) -> Result<(), BusError> {
        for index in 0..self.slots.len() {
            while self.commits.held() < self.options.max_held_events
                && self.lanes.startable(index, Instant::now()) < self.options.max_in_flight
            {
                let polled = self.slots[index].consumer.poll(Duration::ZERO).await;
                // A rebalance runs inside a poll: what it revoked is dropped
                // before the record it returned (which is the new
                // assignment's) is accepted.
                self.drop_revoked().await;
                match polled? {
                    Some(delivery) => self.accept(index, delivery),
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Nothing to do: waits on each channel in turn for up to `idle_poll`,
    /// highest priority first, until one has a record.
    async fn wait_for_record(&mut self) -> Result<(), BusError> {
        for index in 0..self.slots.len() {
            let polled = tokio::select! {
                () = self.stop.cancelled() => return Ok(()),
                polled = self.slots[index].consumer.poll(self.options.idle_poll) => polled,
            };
            self.drop_revoked().await;
            if let Some(delivery) = polled? {
                self.accept(index, delivery);
                return Ok(());
            }
        }
        Ok(())
    }

    fn accept(&mut self, index: usize, delivery: Delivery) {
        if !self
            .commits
            .track(&delivery.topic, delivery.partition, delivery.offset)
        {
            tracing::debug!(
                topic = %delivery.topic,
                partition = delivery.partition,
                offset = delivery.offset,
                "record delivered again while held; the first copy is handled"
            );
            return;
        }
        let lane = lane_of(&self.slots[index].route.name, &delivery);
        let now = Instant::now();
        self.reserve.seen(index, now);
        let mut held = Held {
            channel: index,
            delivery,
            retry: None,
            turn: None,
        };
        // Parked by an earlier run: the same event goes on with its count
        // and waits out its resume time.
        if let Some(row) = self.restored.get(&lane)
            && delivery_event_id(&held.delivery) == Some(row.event_id)
        {
            held.retry = Some(RetryState::resumed(self.backoff(), row));
            let wait = (row.resume_at - chrono::Utc::now())
                .to_std()
                .unwrap_or_default();
            self.lanes.park(&lane, index, held, now + wait, now);
            return;
        }
        self.lanes.push(&lane, index, held, now);
    }

    /// Partitions a rebalance took from a channel consumer (or all of them,
    /// when it left the group after `max.poll.interval.ms` without a poll):
    /// their waiting events are dropped and nothing polled from them before
    /// stores a position, so the new owner (maybe this router again, from the
    /// committed position) reads them again. Events already running finish;
    /// a retry of one is dropped (see `finished`).
    ///
    /// Taken after every poll, before the record it returned is accepted: a
    /// rebalance runs inside a poll, and what comes after it is the new
    /// assignment's (for a partition given back to this router, read again
    /// from the committed position). Taken only after a round of polls, it
    /// dropped those records too, and no one read them again.
    async fn drop_revoked(&mut self) {
        let mut revoked_any = false;
        for slot in &mut self.slots {
            for (topic, partition) in slot.consumer.revoked() {
                if let Some(running) = self.partitions.remove(&(topic.clone(), partition)) {
                    running.cancel();
                }
                self.commits.forget(&topic, partition);
                let dropped = self.lanes.drop_waiting(|held| {
                    held.delivery.topic != topic || held.delivery.partition != partition
                });
                tracing::info!(
                    topic = %topic,
                    partition,
                    dropped,
                    "partition revoked; its waiting events are left to its new owner"
                );
                revoked_any = true;
            }
        }
        // Lanes left with nothing to do give their claims up at once, so the
        // new owner need not wait for them to lapse.
        if revoked_any {
            for lane in self.fence.held_lanes() {
                if !self.lanes.contains(&lane) {
                    self.fence.release(&lane).await;
                }
            }
        }
    }

    /// Starts workers while slots are free and a lane may start (the last
    /// free slots only for the channels they are held back for).
    fn dispatch(&mut self) {
        loop {
            let Some((lane, mut held)) = reserve::next_start(
                &mut self.lanes,
                &self.reserve,
                self.tasks.len(),
                self.options.max_in_flight,
                Instant::now(),
                self.options.max_priority_wait,
            ) else {
                return;
            };
            let worker = self.worker.clone();
            let route = self.slots[held.channel].route.clone();
            let priority = CallPriority {
                rank: held.channel,
                max_wait: self.options.max_priority_wait,
            };
            let revoked = self
                .partitions
                .entry((held.delivery.topic.clone(), held.delivery.partition))
                .or_default()
                .clone();
            let turn = held.turn.take();
            self.tasks.spawn(async move {
                // Boxed: the event's future is large, and each wrapper
                // would move it again on the stack.
                let work = Box::pin(worker.process(&route, &held.delivery, &lane, revoked));
                let (step, turn) = with_turn(turn, with_priority(priority, work)).await;
                held.turn = turn;
                Finished { lane, held, step }
            });
        }
    }

    /// Waits up to `delay` (less when a parked lane resumes sooner) for a
    /// worker to finish, and handles it.
    async fn wait_for_progress(&mut self, delay: Duration) {
        let now = Instant::now();
        let until = self
            .lanes
            .next_resume(now)
            .map_or(now + delay, |resume| resume.min(now + delay))
            .min(self.lag.next_at());
        tokio::select! {
            () = self.stop.cancelled() => {}
            Some(joined) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                self.finished(joined).await;
            }
            () = tokio::time::sleep_until(until) => {}
        }
    }

    async fn finished(&mut self, joined: Result<Finished, tokio::task::JoinError>) {
        let finished = match joined {
            Ok(finished) => finished,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => {
                self.fail(RouterError::Config(format!("router worker ended: {error}")));
                return;
            }
        };
        let Finished { lane, held, step } = finished;
        self.reserve.seen(held.channel, Instant::now());
        let delivery = &held.delivery;
        if matches!(step, Ok(Step::Retry(_)))
            && !self
                .commits
                .is_tracked(&delivery.topic, delivery.partition, delivery.offset)
        {
            // Its partition was revoked meanwhile: its new owner retries it.
            self.finish_lane(&lane).await;
            return;
        }
        if let Ok(Step::Retry(failure)) = step {
            self.retry_later(lane, held, failure).await;
            return;
        }
        self.finish_lane(&lane).await;
        match step {
            Ok(Step::Done) => {
                if held.retry.is_some() || self.restored.remove(&lane).is_some() {
                    let group = &self.options.consumer_group;
                    if let Err(error) = self.store.unpark_lane(group, &lane).await {
                        parking::report_store_failure("unpark_lane", &error);
                    }
                }
                let delivery = &held.delivery;
                if let Some(offset) =
                    self.commits
                        .finish(&delivery.topic, delivery.partition, delivery.offset)
                {
                    self.mark_done(held.channel, delivery, offset).await;
                }
            }
            Ok(Step::Interrupted) | Ok(Step::Retry(_)) => {}
            Err(error) => self.fail(error),
        }
    }

    /// A transient failure: parks the lane until the hold or backoff ends,
    /// or dead-letters the event once its retries are spent.
    async fn retry_later(&mut self, lane: String, mut held: Held, failure: RetryLater) {
        let now = chrono::Utc::now();
        let backoff = self.backoff();
        let state = held
            .retry
            .get_or_insert_with(|| RetryState::new(backoff, now));
        let decision = state.on_failure(
            &failure,
            now,
            self.options.retry_max_attempts,
            self.options.retry_max_age,
        );
        let route = self.slots[held.channel].route.clone();
        let event_id = failure.event_id.to_string();
        match decision {
            Decision::GiveUp(letter) => {
                // The lane stays busy until the letter is written.
                let worker = self.worker.clone();
                self.tasks.spawn(async move {
                    let step = worker
                        .give_up(&route, &held.delivery, &event_id, &letter)
                        .await;
                    Finished { lane, held, step }
                });
            }
            Decision::Park(wait) => {
                RetryScheduled {
                    channel: &route.name,
                    event_id: &event_id,
                    stage: failure.stage,
                    message: &failure.message,
                    delay: wait,
                }
                .emit();
                LaneParked {
                    channel: &route.name,
                    event_id: &event_id,
                    reason: failure.reason.as_str(),
                    stage: failure.stage,
                    message: &failure.message,
                    attempts: state.attempts,
                    resume_in: wait,
                }
                .emit();
                let resume_at =
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                let row = state.row(
                    &self.options.consumer_group,
                    &lane,
                    &route.name,
                    &failure,
                    resume_at,
                );
                if let Err(error) = self.store.park_lane(&row).await {
                    parking::report_store_failure("park_lane", &error);
                }
                let at = Instant::now();
                let channel = held.channel;
                // Another router may take the conversation while it waits.
                self.fence.release(&lane).await;
                self.lanes.park(&lane, channel, held, at + wait, at);
            }
        }
    }

    /// The running event of `lane` ended: a lane with nothing more to do
    /// gives its claim up, so another router may take the conversation.
    async fn finish_lane(&mut self, lane: &str) {
        if self.lanes.finish(lane) {
            self.fence.release(lane).await;
        }
    }

    fn report_parked(&mut self) {
        let parked = self.lanes.parked(Instant::now());
        if self.parked_reported != Some(parked) {
            parking::report_parked(parked);
            self.parked_reported = Some(parked);
        }
    }

    /// Stores the position after `offset` on `delivery`'s partition.
    async fn mark_done(&mut self, channel: usize, delivery: &Delivery, offset: i64) {
        let position = Delivery {
            topic: delivery.topic.clone(),
            partition: delivery.partition,
            offset,
            key: String::new(),
            payload: Vec::new(),
            headers: Vec::new(),
        };
        let mut backoff = self.backoff();
        loop {
            match self.slots[channel].consumer.done(&position).await {
                Ok(()) => return,
                Err(e) if e.is_retryable() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(offset, error = %e, "marking the records done failed, retrying");
                    // Stopping: the records are replayed and suppressed as duplicates.
                    if !self.worker.wait(delay).await {
                        return;
                    }
                }
                Err(e) => {
                    self.fail(RouterError::Bus(e));
                    return;
                }
            }
        }
    }

    /// Samples every channel consumer's lag into the gauge (cut short by shutdown).
    async fn sample_lag(&mut self) {
        for slot in &mut self.slots {
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = lag::sample(&slot.topic, slot.consumer.as_mut()) => {}
            }
        }
        self.lag.sampled();
    }
}

/// The event id a record names (`ce_id`).
fn delivery_event_id(delivery: &Delivery) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(delivery.header("ce_id")?.trim()).ok()
}

/// The lane of a record: its conversation (channel + thread id), else its
/// requester (contact key), else (a payload that does not decode, or one
/// kept in the blob store) its bus key.
pub(crate) fn lane_of(channel: &str, delivery: &Delivery) -> String {
    let value: serde_json::Value = serde_json::from_slice(&delivery.payload).unwrap_or_default();
    let text = |v: &serde_json::Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(thread) = text(&value["conversation"]["thread_id"]) {
        return format!("thread:{channel}:{thread}");
    }
    if let Some(contact) = text(&value["contact"]["key"]) {
        return format!("contact:{contact}");
    }
    format!("key:{}:{}", delivery.topic, delivery.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(payload: serde_json::Value) -> Delivery {
        Delivery {
            topic: "intake.events.chat".to_owned(),
            partition: 0,
            offset: 0,
            key: "k".to_owned(),
            payload: serde_json::to_vec(&payload).unwrap(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn the_lane_is_the_conversation_else_the_requester_else_the_key() {
        let threaded = delivery(serde_json::json!({
            "contact": {"key": "chat:v1"}, "conversation": {"thread_id": " t-9 "}
        }));
        assert_eq!(lane_of("chat", &threaded), "thread:chat:t-9");
        let unthreaded = delivery(serde_json::json!({
            "contact": {"key": "email:a@x.test"}, "conversation": {"thread_id": "  "}
        }));
        assert_eq!(lane_of("email", &unthreaded), "contact:email:a@x.test");
        let mut broken = delivery(serde_json::json!({}));
        broken.payload = b"not json".to_vec();
        assert_eq!(lane_of("chat", &broken), "key:intake.events.chat:k");
    }
}
