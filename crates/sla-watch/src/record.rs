//! The recorder: consumes `<prefix>.outcomes` in its own group and writes
//! every new ticket's first-response deadline into the state store, the
//! bus position moving only once the watch is written. Outcomes come at
//! least once (decision 27) and `watch_sla` keeps the first write, so a
//! redelivered outcome changes nothing. Runs on every router replica.

use std::sync::Arc;
use std::time::Duration;

use intake_bus::{Bus, Consumer, Delivery};
use intake_event::TicketOutcome;
use intake_store::{SlaStage, SlaWatch, StateStore};
use tokio_util::sync::CancellationToken;

use crate::telemetry::{OutcomeUndecodable, StepFailed, WatchStarted};
use intake_bus::sleep_or_shutdown as sleep;

use crate::SlaWatchOptions;

/// How long one poll waits for an outcome.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);

/// Records deadlines from outcomes (see the module docs).
pub struct DeadlineRecorder {
    bus: Arc<dyn Bus>,
    store: Arc<dyn StateStore>,
    options: SlaWatchOptions,
}

impl DeadlineRecorder {
    pub fn new(bus: Arc<dyn Bus>, store: Arc<dyn StateStore>, options: SlaWatchOptions) -> Self {
        Self {
            bus,
            store,
            options,
        }
    }

    /// The watch an outcome starts, if it opened a ticket with a deadline.
    pub fn watch_for(&self, outcome: &TicketOutcome) -> Option<SlaWatch> {
        if !outcome.effect.opens_ticket() {
            return None;
        }
        let (ticket_id, deadline) = (outcome.ticket_id?, outcome.deadline.as_ref()?);
        let now = (self.options.clock)();
        Some(SlaWatch {
            ticket_id,
            channel: outcome.channel.clone(),
            policy: deadline.policy.clone(),
            calendar: deadline.calendar.clone(),
            locale: outcome.locale.clone(),
            due_at: deadline.due_at,
            warn_at: self.options.warn_at(&deadline.policy, deadline.due_at),
            stage: SlaStage::Watching,
            stage_at: now,
        })
    }

    /// Runs until `shutdown`; bus and store failures are retried (logged),
    /// nothing here ends the process.
    pub async fn run(self, shutdown: CancellationToken) {
        let topic = self.options.topics.outcomes();
        let Some(mut consumer) = self.consumer(&topic, &shutdown).await else {
            return;
        };
        tracing::info!(group = %self.options.consumer_group, %topic, "sla deadline recorder started");
        let mut wait = self.options.retry_initial_backoff;
        loop {
            let polled = tokio::select! {
                () = shutdown.cancelled() => return,
                polled = consumer.poll(POLL_TIMEOUT) => polled,
            };
            let delivery = match polled {
                Ok(Some(delivery)) => delivery,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(error = %error, "polling outcomes failed, retrying");
                    if !sleep(&shutdown, wait).await {
                        return;
                    }
                    wait = (wait * 2).min(self.options.retry_max_backoff);
                    continue;
                }
            };
            wait = self.options.retry_initial_backoff;
            if !self.handle(&delivery, &shutdown).await {
                return;
            }
            if let Err(error) = consumer.done(&delivery).await {
                // Redelivered later, and then a watch already recorded.
                tracing::warn!(error = %error, "storing the outcomes position failed");
            }
        }
    }

    /// False when shutdown came first (the position stays).
    async fn handle(&self, delivery: &Delivery, shutdown: &CancellationToken) -> bool {
        let outcome = match TicketOutcome::from_json(&delivery.payload) {
            Ok(outcome) => outcome,
            Err(error) => {
                // The acknowledgement consumer dead-letters it; here it only
                // has no deadline to watch.
                OutcomeUndecodable {
                    message: &error.to_string(),
                }
                .emit();
                return true;
            }
        };
        let Some(watch) = self.watch_for(&outcome) else {
            return true;
        };
        let mut wait = self.options.retry_initial_backoff;
        loop {
            match self.store.watch_sla(&watch).await {
                Ok(true) => {
                    WatchStarted {
                        ticket_id: watch.ticket_id,
                        policy: &watch.policy,
                        due_at: watch.due_at,
                    }
                    .emit();
                    return true;
                }
                Ok(false) => return true,
                Err(error) => {
                    StepFailed {
                        ticket_id: Some(watch.ticket_id),
                        step: "store",
                        message: &error.to_string(),
                    }
                    .emit();
                    if !sleep(shutdown, wait).await {
                        return false;
                    }
                    wait = (wait * 2).min(self.options.retry_max_backoff);
                }
            }
        }
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
}
