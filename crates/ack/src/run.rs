//! The consumer: one outcome at a time, in order, position stored only once
//! the decision about its acknowledgement is recorded.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use intake_bus::{Bus, Consumer, Delivery};
use intake_calendar::refresh::LivePolicies;
use intake_channel::{Reply, ReplySenders};
use intake_event::TicketOutcome;
use intake_store::{AckRecord, AckStatus, StateStore, StoreError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::deliver::Sent;
use crate::policy::{Suppression, static_rules, window_rule};
use crate::telemetry::{AckFailed, AckSent, AckSuppressed, OutcomeLagSampled};
use crate::{AckError, AckOptions, Templates};

/// How long one poll waits for an outcome.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);
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

    /// Runs until `shutdown`. Bus and store failures are retried (logged);
    /// nothing here ends the process.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), AckError> {
        let topic = self.options.topics.outcomes();
        let Some(mut consumer) = self.consumer(&topic, &shutdown).await else {
            return Ok(());
        };
        tracing::info!(group = %self.options.consumer_group, %topic, "acknowledgements started");
        let mut next_lag = Instant::now();
        let mut backoff = self.options.retry_initial_backoff;
        loop {
            if Instant::now() >= next_lag {
                self.sample_lag(consumer.as_mut()).await;
                next_lag = Instant::now() + LAG_SAMPLE_INTERVAL;
            }
            let polled = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                polled = consumer.poll(POLL_TIMEOUT) => polled,
            };
            let delivery = match polled {
                Ok(Some(delivery)) => delivery,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(error = %error, "polling outcomes failed, retrying");
                    if !sleep(&shutdown, backoff).await {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(self.options.retry_max_backoff);
                    continue;
                }
            };
            backoff = self.options.retry_initial_backoff;
            match self.handle(&delivery, &shutdown).await {
                Handled::Stopped => return Ok(()),
                Handled::Done => {
                    if let Err(error) = consumer.done(&delivery).await {
                        // Redelivered later and then a recorded duplicate.
                        tracing::warn!(error = %error, "storing the outcomes position failed");
                    }
                }
            }
        }
    }

    async fn consumer(
        &self,
        topic: &str,
        shutdown: &CancellationToken,
    ) -> Option<Box<dyn Consumer>> {
        let topics = [topic.to_owned()];
        let mut wait = self.options.retry_initial_backoff;
        loop {
            match self
                .bus
                .consumer(&self.options.consumer_group, &topics)
                .await
            {
                Ok(consumer) => return Some(consumer),
                Err(error) => {
                    tracing::warn!(error = %error, "cannot consume outcomes yet, retrying");
                    if !sleep(shutdown, wait).await {
                        return None;
                    }
                    wait = (wait * 2).min(self.options.retry_max_backoff);
                }
            }
        }
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

/// Sleeps `wait`; false when shutdown came first.
pub(crate) async fn sleep(shutdown: &CancellationToken, wait: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(wait) => true,
    }
}
