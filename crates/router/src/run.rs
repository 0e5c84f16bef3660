//! The consume loop: one consumer per channel topic, always serving the
//! highest-priority channel that has a record ready, one event at a time.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use intake_blob::BlobStore;
use intake_bus::{Bus, BusError, Consumer, Delivery, Publisher};
use intake_calendar::Deadline;
use intake_event::TicketEvent;
use intake_store::StateStore;
use intake_zendesk::Client;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::RouterError;
use crate::backoff::Backoff;
use crate::deadline;
use crate::dlq::{self, DeadLetter, DlqReason};
use crate::lag::{self, LagClock};
use crate::options::{ChannelRoute, RouterOptions};
use crate::outcome;
use crate::process::{Failure, Outcome, Processor, since_receipt};
use crate::telemetry::{CommentAdded, DuplicateSuppressed, RetryScheduled, TicketCreated};

/// Turns bus events into Zendesk effects. Build with [`Router::new`], then
/// [`Router::run`] until the shutdown token is cancelled.
pub struct Router {
    bus: Arc<dyn Bus>,
    processor: Processor,
    options: RouterOptions,
}

/// One channel: its route, its topic, its consumer, and a record polled but
/// not yet handled.
pub(crate) struct Slot {
    pub(crate) route: ChannelRoute,
    topic: String,
    consumer: Box<dyn Consumer>,
    head: Option<Delivery>,
    /// When the head was polled (for the starvation guard).
    head_since: Option<Instant>,
}

/// How handling one delivery ended.
pub(crate) enum Step {
    Done,
    Interrupted,
}

impl Router {
    /// Checks the options (at least one channel, no channel twice, valid names).
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
        let processor = Processor {
            store,
            blobs,
            zendesk,
            subject_max_chars: options.subject_max_chars,
            deadline_field_id: options.deadline_field_id,
        };
        Ok(Self {
            bus,
            processor,
            options,
        })
    }

    /// Consumes until `shutdown` is cancelled. An event being handled is
    /// finished first; a retry wait is cut short without marking the event done.
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
                head: None,
                head_since: None,
            });
        }
        let publisher = self.bus.publisher();
        tracing::info!(
            channels = ?self.options.channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            backend = self.bus.backend(),
            "router started"
        );
        let mut poll_backoff = self.backoff();
        let mut lag = LagClock::new();
        while !shutdown.is_cancelled() {
            if lag.is_due() {
                sample_lag(&mut slots, &mut lag, &shutdown).await;
                continue;
            }
            match self.next_ready(&mut slots, &shutdown).await {
                Ok(Some(index)) => {
                    poll_backoff = self.backoff();
                    let Some(delivery) = slots[index].head.take() else {
                        continue;
                    };
                    slots[index].head_since = None;
                    let mut run = Run {
                        slots: &mut slots,
                        lag: &mut lag,
                        shutdown: &shutdown,
                    };
                    if let Step::Interrupted =
                        self.process(&mut run, index, delivery, &publisher).await?
                    {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) if e.is_retryable() => {
                    let delay = poll_backoff.next_delay();
                    tracing::warn!(error = %e, delay_ms = delay.as_millis() as u64, "bus poll failed, backing off");
                    if !wait(delay, &mut slots, &mut lag, &shutdown).await {
                        break;
                    }
                }
                Err(e) => return Err(RouterError::Bus(e)),
            }
        }
        tracing::info!("router stopped");
        Ok(())
    }

    pub(crate) fn topics(&self) -> &intake_bus::Topics {
        &self.options.topics
    }

    pub(crate) fn processor(&self) -> &Processor {
        &self.processor
    }

    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::new(
            self.options.retry_initial_backoff,
            self.options.retry_max_backoff,
        )
    }

    /// Fills empty heads without waiting (highest priority first) and returns
    /// the slot to serve: a head that waited longer than `max_priority_wait`
    /// (the oldest such), else the highest-priority slot holding a record;
    /// when none has one, waits on each channel in turn for up to `idle_poll`.
    async fn next_ready(
        &self,
        slots: &mut [Slot],
        shutdown: &CancellationToken,
    ) -> Result<Option<usize>, BusError> {
        for slot in slots.iter_mut().filter(|s| s.head.is_none()) {
            slot.head = slot.consumer.poll(Duration::ZERO).await?;
            slot.head_since = slot.head.as_ref().map(|_| Instant::now());
        }
        if let Some(index) = starved(slots, self.options.max_priority_wait) {
            return Ok(Some(index));
        }
        if let Some(index) = slots.iter().position(|s| s.head.is_some()) {
            return Ok(Some(index));
        }
        for slot in slots.iter_mut() {
            let polled = tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                polled = slot.consumer.poll(self.options.idle_poll) => polled?,
            };
            if polled.is_some() {
                slot.head = polled;
                slot.head_since = Some(Instant::now());
                // Go round again so that higher-priority channels are looked at first.
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Handles one delivery until it is done (effect recorded or dead-lettered)
    /// or shutdown interrupts a wait.
    async fn process(
        &self,
        run: &mut Run<'_>,
        index: usize,
        delivery: Delivery,
        publisher: &Arc<dyn Publisher>,
    ) -> Result<Step, RouterError> {
        let route = run.slots[index].route.clone();
        let channel = route.name.as_str();
        let payload = match dlq::payload_blob(&delivery) {
            None => delivery.payload.clone(),
            Some(blob) => match self.payload_from_blob(run, &blob).await {
                Ok(Some(payload)) => payload,
                Ok(None) => return Ok(Step::Interrupted),
                Err(letter) => {
                    let event_id = delivery.header("ce_id").unwrap_or("unknown").to_owned();
                    return self
                        .dead_letter(run, index, &delivery, &event_id, &letter, publisher)
                        .await;
                }
            },
        };
        let event = match TicketEvent::from_json(&payload) {
            Ok(event) => event,
            Err(e) => {
                let event_id = delivery.header("ce_id").unwrap_or("unknown").to_owned();
                let letter = DeadLetter::new(DlqReason::UndecodableEvent, e.to_string());
                return self
                    .dead_letter(run, index, &delivery, &event_id, &letter, publisher)
                    .await;
            }
        };
        let event_id = event.event_id.to_string();
        // Once per event, from its receipt: a replay computes the same one.
        let deadline = deadline::for_event(&self.options.sla.current(), &route, &event);
        let mut backoff = self.backoff();
        loop {
            let span = tracing::info_span!("event", event_id = %event_id, channel);
            let handled = intake_zendesk::for_channel(
                channel,
                self.processor
                    .handle_event(&route, &event, deadline.as_ref()),
            )
            .instrument(span)
            .await;
            match handled {
                Ok(effect) => {
                    report(channel, &event_id, &event, &effect, deadline.as_ref());
                    let outcome = outcome::for_effect(&event, &effect, deadline.as_ref());
                    if !self
                        .publish_outcome(run, publisher, &delivery, &outcome)
                        .await?
                    {
                        return Ok(Step::Interrupted);
                    }
                    intake_telemetry::crashpoint("router.after_outcome_publish");
                    return self.mark_done(run, index, &delivery, &event_id).await;
                }
                Err(Failure::Retry { stage, message }) => {
                    let delay = backoff.next_delay();
                    RetryScheduled {
                        channel,
                        event_id: &event_id,
                        stage,
                        message: &message,
                        delay,
                    }
                    .emit();
                    if !run.wait(delay).await {
                        return Ok(Step::Interrupted);
                    }
                }
                Err(Failure::DeadLetter(letter)) => {
                    return self
                        .dead_letter(run, index, &delivery, &event_id, &letter, publisher)
                        .await;
                }
                Err(Failure::Fatal(e)) => {
                    tracing::error!(event_id = %event_id, channel, error = %e, "router cannot go on");
                    return Err(e);
                }
            }
        }
    }

    pub(crate) async fn mark_done(
        &self,
        run: &mut Run<'_>,
        index: usize,
        delivery: &Delivery,
        event_id: &str,
    ) -> Result<Step, RouterError> {
        let mut backoff = self.backoff();
        loop {
            match run.slots[index].consumer.done(delivery).await {
                Ok(()) => return Ok(Step::Done),
                Err(e) if e.is_retryable() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(event_id, error = %e, "marking the record done failed, retrying");
                    if !run.wait(delay).await {
                        return Ok(Step::Interrupted);
                    }
                }
                Err(e) => return Err(RouterError::Bus(e)),
            }
        }
    }
}

impl Router {
    /// The payload of a record that carries it in the blob store (a replayed
    /// oversized dead letter); `Ok(None)` when shutdown came first.
    async fn payload_from_blob(
        &self,
        run: &mut Run<'_>,
        blob: &intake_event::BlobRef,
    ) -> Result<Option<Vec<u8>>, DeadLetter> {
        let mut backoff = self.backoff();
        loop {
            match self.processor.blobs.get(blob).await {
                Ok(payload) => return Ok(Some(payload)),
                Err(e) if e.is_retryable() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, "reading a payload from the blob store failed, retrying");
                    if !run.wait(delay).await {
                        return Ok(None);
                    }
                }
                Err(e) => {
                    return Err(DeadLetter::new(
                        DlqReason::PayloadUnavailable,
                        e.to_string(),
                    ));
                }
            }
        }
    }
}

fn report(
    channel: &str,
    event_id: &str,
    event: &TicketEvent,
    outcome: &Outcome,
    deadline: Option<&Deadline>,
) {
    match *outcome {
        Outcome::Duplicate(link) => {
            DuplicateSuppressed {
                channel,
                event_id,
                ticket_id: link.ticket_id,
            }
            .emit();
        }
        Outcome::Created {
            ticket_id,
            follow_up_of,
            already_in_zendesk,
        } => TicketCreated {
            channel,
            event_id,
            ticket_id,
            follow_up_of,
            already_in_zendesk,
            receipt_to_ticket: since_receipt(event),
            until_deadline: deadline
                .map(|d| (d.due_at - event.received_at).to_std().unwrap_or_default()),
        }
        .emit(),
        Outcome::Commented { ticket_id } => CommentAdded {
            channel,
            event_id,
            ticket_id,
            receipt_to_ticket: since_receipt(event),
        }
        .emit(),
    }
}

/// The slot whose head has waited longest, if that is longer than `limit`.
fn starved(slots: &[Slot], limit: Duration) -> Option<usize> {
    slots
        .iter()
        .enumerate()
        .filter_map(|(index, slot)| Some((index, slot.head_since?)))
        .filter(|(_, since)| since.elapsed() > limit)
        .min_by_key(|(_, since)| *since)
        .map(|(index, _)| index)
}

/// What handling one delivery needs besides the router: every channel (to
/// keep sampling the lag while a retry waits), the lag clock, the shutdown.
pub(crate) struct Run<'a> {
    pub(crate) slots: &'a mut [Slot],
    lag: &'a mut LagClock,
    shutdown: &'a CancellationToken,
}

impl Run<'_> {
    pub(crate) async fn wait(&mut self, delay: Duration) -> bool {
        wait(delay, self.slots, self.lag, self.shutdown).await
    }
}

/// Sleeps for `delay`, sampling every channel's lag when due meanwhile (a
/// retry can wait minutes, which is when lag matters); false when shutdown
/// came first.
async fn wait(
    delay: Duration,
    slots: &mut [Slot],
    lag: &mut LagClock,
    shutdown: &CancellationToken,
) -> bool {
    let until = tokio::time::Instant::now() + delay;
    loop {
        if lag.is_due() {
            sample_lag(slots, lag, shutdown).await;
        }
        let now = tokio::time::Instant::now();
        if now >= until {
            return !shutdown.is_cancelled();
        }
        let step = until.min(lag.next_at()).saturating_duration_since(now);
        if !sleep_unless_cancelled(step, shutdown).await {
            return false;
        }
    }
}

/// Samples every channel consumer's lag into the gauge (cut short by shutdown).
async fn sample_lag(slots: &mut [Slot], lag: &mut LagClock, shutdown: &CancellationToken) {
    for slot in slots.iter_mut() {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = lag::sample(&slot.topic, slot.consumer.as_mut()) => {}
        }
    }
    lag.sampled();
}

/// Sleeps for `delay`; false when shutdown came first.
async fn sleep_unless_cancelled(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}
