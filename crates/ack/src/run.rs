//! The consumer: one queue per channel, so an acknowledgement being retried
//! (a messenger API that is down) holds back only its own channel's later
//! ones. Within a channel outcomes are handled one at a time, in order; the
//! position of a partition is stored only over the contiguous prefix of
//! outcomes whose decision is recorded (`intake_bus::commits`), so a crash
//! replays the undecided ones and the store makes the decided ones
//! duplicates.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use intake_bus::commits::Commits;
use intake_bus::{Bus, Consumer, Delivery, sleep_or_shutdown as sleep};
use intake_calendar::refresh::LivePolicies;
use intake_channel::{Reply, ReplySenders};
use intake_event::TicketOutcome;
use intake_store::{AckRecord, AckStatus, StateStore, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::deliver::Sent;
use crate::policy::{Suppression, static_rules, window_rule};
use crate::telemetry::{AckFailed, AckSent, AckSuppressed, OutcomeLagSampled};
use crate::{AckError, AckOptions, Templates};

/// How long one poll waits for an outcome.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one poll waits while outcomes are being handled, so that their
/// positions are stored soon after they finish.
const BUSY_POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// Outcomes a channel's queue holds before the consumer waits for it: the
/// room other channels have while one channel's sends are being retried.
const CHANNEL_QUEUE: usize = 256;
/// How often the lag on the outcomes topic is sampled.
const LAG_SAMPLE_INTERVAL: Duration = Duration::from_secs(10);
/// The `channel` label of an outcome for a channel nobody configured.
const OTHER_CHANNEL_LABEL: &str = "other";

/// Consumes outcomes and sends acknowledgements (see the crate docs).
pub struct Acknowledger {
    bus: Arc<dyn Bus>,
    store: Arc<dyn StateStore>,
    senders: ReplySenders,
    policies: LivePolicies,
    templates: Templates,
    options: AckOptions,
    /// Channel names usable as a metric label.
    known_channels: BTreeSet<String>,
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy)]
enum Handled {
    /// Decided and recorded: the position may move.
    Done,
    /// Shutdown came first: leave the position, the outcome comes again.
    Stopped,
}

impl Acknowledger {
    /// Compiles the templates; fails on one that does not compile.
    pub fn new(
        bus: Arc<dyn Bus>,
        store: Arc<dyn StateStore>,
        senders: ReplySenders,
        policies: LivePolicies,
        options: AckOptions,
    ) -> Result<Self, AckError> {
        let overrides = options
            .channels
            .iter()
            .map(|(name, channel)| (name.clone(), channel.templates.clone()))
            .collect();
        let templates = Templates::new(options.default_language, &overrides)?;
        let mut known_channels: BTreeSet<String> = senders.channels().map(str::to_owned).collect();
        known_channels.extend(options.channels.keys().cloned());
        Ok(Self {
            bus,
            store,
            senders,
            policies,
            templates,
            options,
            known_channels,
        })
    }

    /// Runs until `shutdown`, then waits for every channel's queue to stop
    /// and stores the positions of what was decided. Bus and store failures
    /// are retried (logged); nothing here ends the process.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), AckError> {
        let topic = self.options.topics.outcomes();
        let Some(mut consumer) = self.consumer(&topic, &shutdown).await else {
            return Ok(());
        };
        tracing::info!(group = %self.options.consumer_group, %topic, "acknowledgements started");
        let this = Arc::new(self);
        let mut queues = Queues::new(Arc::clone(&this), shutdown.clone());
        let mut next_lag = Instant::now();
        let mut backoff = this.options.retry_initial_backoff;
        while !shutdown.is_cancelled() {
            if Instant::now() >= next_lag {
                this.sample_lag(consumer.as_mut()).await;
                next_lag = Instant::now() + LAG_SAMPLE_INTERVAL;
            }
            if queues.store_finished(consumer.as_mut()).await.is_err() {
                break;
            }
            let wait = match queues.held() {
                0 => POLL_TIMEOUT,
                _ => BUSY_POLL_TIMEOUT,
            };
            let polled = tokio::select! {
                () = shutdown.cancelled() => break,
                polled = consumer.poll(wait) => polled,
            };
            match polled {
                Ok(Some(delivery)) => {
                    backoff = this.options.retry_initial_backoff;
                    let channel = this.queue_of(&delivery);
                    queues.push(channel, delivery).await;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(error = %error, "polling outcomes failed, retrying");
                    if !sleep(&shutdown, backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(this.options.retry_max_backoff);
                }
            }
        }
        queues.close(consumer.as_mut()).await;
        Ok(())
    }

    /// The queue an outcome waits in: its channel's (a metric label, so an
    /// unknown or undecodable one shares `other`).
    fn queue_of(&self, delivery: &Delivery) -> String {
        TicketOutcome::from_json(&delivery.payload)
            .map(|o| self.label(&o.channel).to_owned())
            .unwrap_or_else(|_| OTHER_CHANNEL_LABEL.to_owned())
    }

    async fn consumer(
        &self,
        topic: &str,
        shutdown: &CancellationToken,
    ) -> Option<Box<dyn Consumer>> {
        intake_bus::consumer_when_ready(
            self.bus.as_ref(),
            &self.options.consumer_group,
            &[topic.to_owned()],
            (
                self.options.retry_initial_backoff,
                self.options.retry_max_backoff,
            ),
            shutdown,
        )
        .await
    }

    async fn sample_lag(&self, consumer: &mut dyn Consumer) {
        match tokio::time::timeout(LAG_SAMPLE_INTERVAL, consumer.lag()).await {
            Ok(Ok(partitions)) => OutcomeLagSampled {
                records: partitions.iter().map(|p| p.records).sum(),
            }
            .emit(),
            Ok(Err(error)) => tracing::debug!(error = %error, "outcome lag sample failed"),
            Err(_) => tracing::debug!("outcome lag sample timed out"),
        }
    }

    fn label<'a>(&self, channel: &'a str) -> &'a str {
        if self.known_channels.contains(channel) {
            channel
        } else {
            OTHER_CHANNEL_LABEL
        }
    }

    async fn handle(&self, delivery: &Delivery, shutdown: &CancellationToken) -> Handled {
        let outcome = match TicketOutcome::from_json(&delivery.payload) {
            Ok(outcome) => outcome,
            Err(error) => {
                let message = error.to_string();
                AckFailed {
                    channel: OTHER_CHANNEL_LABEL,
                    outcome_id: None,
                    reason: "undecodable_outcome",
                    message: &message,
                }
                .emit();
                return self
                    .dead_letter(delivery, "undecodable_outcome", &message, shutdown)
                    .await;
            }
        };
        let channel = self.label(&outcome.channel);
        let suppressed = |reason| {
            AckSuppressed {
                channel,
                outcome_id: outcome.outcome_id,
                reason,
            }
            .emit();
        };
        let enabled = self.options.channel_enabled(&outcome.channel);
        let has_sender = self.senders.get(&outcome.channel).is_some();
        if let Err(reason) = static_rules(&outcome, enabled, has_sender) {
            suppressed(reason);
            return Handled::Done;
        }
        let Some(existing) = self
            .store_call(shutdown, || self.store.acknowledgement(outcome.outcome_id))
            .await
        else {
            return Handled::Stopped;
        };
        if existing.is_some() {
            suppressed(Suppression::Duplicate);
            return Handled::Done;
        }
        let key = &outcome.contact.key;
        let Some(last_sent) = self
            .store_call(shutdown, || self.store.last_acknowledgement_sent(key))
            .await
        else {
            return Handled::Stopped;
        };
        let now = intake_telemetry::clock::now();
        if let Err(reason) = window_rule(last_sent, now, self.options.sender_window) {
            suppressed(reason);
            return self
                .record(
                    &outcome,
                    AckStatus::Suppressed,
                    Some(reason.as_str()),
                    shutdown,
                )
                .await;
        }
        let text = match self
            .templates
            .render(&outcome, &self.policies.current(), now)
        {
            Ok(text) => text,
            Err(error) => {
                return self
                    .fail(delivery, &outcome, "template", &error.to_string(), shutdown)
                    .await;
            }
        };
        let reply = Reply {
            channel: outcome.channel.clone(),
            contact_key: outcome.contact.key.clone(),
            conversation_id: outcome.conversation_id.clone(),
            ticket_id: outcome.ticket_id,
            text,
            outcome_id: outcome.outcome_id,
            deadline: outcome.deadline.as_ref().map(|d| d.due_at),
            account: outcome.channel_account.clone(),
            ..Reply::default()
        };
        match crate::deliver::send(&self.senders, &self.options, &reply, channel, shutdown).await {
            Sent::Delivered { attempts } => {
                AckSent {
                    channel,
                    outcome_id: outcome.outcome_id,
                    ticket_id: outcome.ticket_id,
                    attempts,
                }
                .emit();
                self.record(&outcome, AckStatus::Sent, None, shutdown).await
            }
            Sent::Failed { reason, message } => {
                self.fail(delivery, &outcome, reason, &message, shutdown)
                    .await
            }
            Sent::Stopped => Handled::Stopped,
        }
    }

    /// A permanent failure: counted, dead-lettered with the reason, recorded.
    async fn fail(
        &self,
        delivery: &Delivery,
        outcome: &TicketOutcome,
        reason: &str,
        message: &str,
        shutdown: &CancellationToken,
    ) -> Handled {
        AckFailed {
            channel: self.label(&outcome.channel),
            outcome_id: Some(outcome.outcome_id),
            reason,
            message,
        }
        .emit();
        if let Handled::Stopped = self.dead_letter(delivery, reason, message, shutdown).await {
            return Handled::Stopped;
        }
        self.record(outcome, AckStatus::Failed, Some(reason), shutdown)
            .await
    }

    async fn record(
        &self,
        outcome: &TicketOutcome,
        status: AckStatus,
        reason: Option<&str>,
        shutdown: &CancellationToken,
    ) -> Handled {
        let record = AckRecord {
            outcome_id: outcome.outcome_id,
            channel: outcome.channel.clone(),
            contact_key: outcome.contact.key.clone(),
            ticket_id: outcome.ticket_id,
            status,
            reason: reason.map(str::to_owned),
            at: intake_telemetry::clock::now(),
        };
        match self
            .store_call(shutdown, || self.store.record_acknowledgement(&record))
            .await
        {
            Some(_) => Handled::Done,
            None => Handled::Stopped,
        }
    }

    /// Publishes the dead letter, retrying while the bus is unavailable. A
    /// bus that refuses it for good is logged and the outcome let go: an
    /// acknowledgement must never stop the gateway.
    async fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &str,
        message: &str,
        shutdown: &CancellationToken,
    ) -> Handled {
        let record = crate::dlq::record(&self.options.topics, delivery, reason, message);
        let publisher = self.bus.publisher();
        let mut wait = self.options.retry_initial_backoff;
        loop {
            match publisher.publish(record.clone()).await {
                Ok(_) => return Handled::Done,
                Err(error) if error.is_retryable() => {
                    tracing::warn!(error = %error, "publishing an acknowledgement dead letter failed, retrying");
                    if !sleep(shutdown, wait).await {
                        return Handled::Stopped;
                    }
                    wait = (wait * 2).min(self.options.retry_max_backoff);
                }
                Err(error) => {
                    tracing::error!(error = %error, reason, "the bus refused an acknowledgement dead letter");
                    return Handled::Done;
                }
            }
        }
    }

    /// Runs a store call, retrying with backoff; None when shutdown came first.
    async fn store_call<T, F, Fut>(&self, shutdown: &CancellationToken, call: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut wait = self.options.retry_initial_backoff;
        loop {
            match call().await {
                Ok(value) => return Some(value),
                Err(error) => {
                    tracing::warn!(error = %error, "state store call failed, retrying");
                    if !sleep(shutdown, wait).await {
                        return None;
                    }
                    wait = (wait * 2).min(self.options.retry_max_backoff);
                }
            }
        }
    }
}

/// One outcome's decision, from a channel's queue to the consumer.
struct Finished {
    topic: String,
    partition: i32,
    offset: i64,
    handled: Handled,
}

/// The per-channel queues: one task each, handling its outcomes in order.
struct Queues {
    acknowledger: Arc<Acknowledger>,
    shutdown: CancellationToken,
    senders: HashMap<String, mpsc::Sender<Delivery>>,
    tasks: JoinSet<()>,
    /// None once closing: the queue tasks hold the only senders.
    finished_tx: Option<mpsc::UnboundedSender<Finished>>,
    finished: mpsc::UnboundedReceiver<Finished>,
    commits: Commits,
}

impl Queues {
    fn new(acknowledger: Arc<Acknowledger>, shutdown: CancellationToken) -> Self {
        let (finished_tx, finished) = mpsc::unbounded_channel();
        Self {
            acknowledger,
            shutdown,
            senders: HashMap::new(),
            tasks: JoinSet::new(),
            finished_tx: Some(finished_tx),
            finished,
            commits: Commits::default(),
        }
    }

    /// Outcomes polled and not yet stored.
    fn held(&self) -> usize {
        self.commits.held()
    }

    /// Hands a delivery to its channel's queue (started on first use); waits
    /// while that queue is full.
    async fn push(&mut self, channel: String, delivery: Delivery) {
        if !self
            .commits
            .track(&delivery.topic, delivery.partition, delivery.offset)
        {
            return; // delivered again while held: the first copy is handled
        }
        let Some(finished_tx) = &self.finished_tx else {
            return;
        };
        let sender = self.senders.entry(channel).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(CHANNEL_QUEUE);
            self.tasks.spawn(drain_queue(
                Arc::clone(&self.acknowledger),
                rx,
                finished_tx.clone(),
                self.shutdown.clone(),
            ));
            tx
        });
        // The queue task ends only at shutdown; then the outcome comes again.
        let _ = sender.send(delivery).await;
    }

    /// Stores the position over every finished prefix; Err when shutdown
    /// came first.
    async fn store_finished(&mut self, consumer: &mut dyn Consumer) -> Result<(), ()> {
        while let Ok(finished) = self.finished.try_recv() {
            self.finish(consumer, finished).await?;
        }
        Ok(())
    }

    async fn finish(&mut self, consumer: &mut dyn Consumer, finished: Finished) -> Result<(), ()> {
        if let Handled::Stopped = finished.handled {
            return Err(());
        }
        let Finished {
            topic,
            partition,
            offset,
            ..
        } = finished;
        let Some(stored) = self.commits.finish(&topic, partition, offset) else {
            return Ok(());
        };
        let position = Delivery {
            topic,
            partition,
            offset: stored,
            key: String::new(),
            payload: Vec::new(),
            headers: Vec::new(),
        };
        if let Err(error) = consumer.done(&position).await {
            // Redelivered later and then a recorded duplicate.
            tracing::warn!(error = %error, "storing the outcomes position failed");
        }
        Ok(())
    }

    /// Stops taking outcomes, waits for every queue task to end (each ends
    /// its current outcome, or stops it at shutdown), then stores the
    /// positions of what was decided.
    async fn close(mut self, consumer: &mut dyn Consumer) {
        self.senders.clear();
        self.finished_tx = None;
        while self.tasks.join_next().await.is_some() {}
        let mut decided = Vec::new();
        while let Some(finished) = self.finished.recv().await {
            decided.push(finished);
        }
        for finished in decided {
            if let Handled::Done = finished.handled {
                let _ = self.finish(consumer, finished).await;
            }
        }
    }
}

/// One channel's queue: its outcomes in order, until the queue is closed or
/// shutdown stops the one being handled.
async fn drain_queue(
    acknowledger: Arc<Acknowledger>,
    mut queue: mpsc::Receiver<Delivery>,
    finished: mpsc::UnboundedSender<Finished>,
    shutdown: CancellationToken,
) {
    while let Some(delivery) = queue.recv().await {
        if shutdown.is_cancelled() {
            return;
        }
        let handled = acknowledger.handle(&delivery, &shutdown).await;
        let _ = finished.send(Finished {
            topic: delivery.topic,
            partition: delivery.partition,
            offset: delivery.offset,
            handled,
        });
        if let Handled::Stopped = handled {
            return;
        }
    }
}
