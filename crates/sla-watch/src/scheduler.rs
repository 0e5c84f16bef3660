//! The scheduler: on the replica that holds the lease, every scan takes the
//! watches due and moves each one step (see the crate docs and decision 41).
//!
//! Exactly once across restarts and replicas:
//! - the Zendesk step (tag + note in one safe update) is skipped when the
//!   ticket already carries the tag, so a crash between the update and the
//!   stage write does not note the ticket twice;
//! - every stage change is a compare-and-set in the store, so of two
//!   schedulers (a lease lost during a long pause) only one counts a step
//!   and goes on to post in Slack;
//! - the Slack post follows the stage `warning` and is confirmed by
//!   `warned`; the one gap left is a crash between Slack's answer and that
//!   write, which posts once more.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use intake_calendar::refresh::LivePolicies;
use intake_store::{SlaStage, SlaWatch, StateStore};
use intake_zendesk::{Client, Comment, Status, Ticket, TicketUpdate};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::answered::{AuthorRoles, agent_answered};
use crate::note::{Texts, ticket_link, warning_texts};
use crate::slack::SlackNotifier;
use crate::telemetry::{Breached, Leadership, NotificationFailed, StepFailed, Warned, WatchEnded};
use crate::{LEASE_NAME, SlaWatchOptions};

/// Store reads per scan (each of `options.batch` watches).
const MAX_BATCHES_PER_SCAN: usize = 10;
/// Longest wait for a ticket's update slot inside a scan.
const TICKET_WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);
/// The custom metadata key on the updates the scheduler makes.
const METADATA_KEY: &str = "intake_sla_watch";

/// Added to the wait past a stamp's second (clocks differ a little).
const STAMP_MARGIN: std::time::Duration = std::time::Duration::from_millis(200);

/// Completed scan rounds (with or without the lease): tests wait on it.
pub type ScanCount = watch::Receiver<u64>;

/// The active-replica scheduler (see the module docs).
pub struct Scheduler {
    store: Arc<dyn StateStore>,
    zendesk: Client,
    slack: Option<SlackNotifier>,
    policies: LivePolicies,
    options: SlaWatchOptions,
    roles: AuthorRoles,
    scans: watch::Sender<u64>,
    /// Until when this process may act on its lease (None: not leading).
    lease_until: Option<Instant>,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn StateStore>,
        zendesk: Client,
        slack: Option<SlackNotifier>,
        policies: LivePolicies,
        options: SlaWatchOptions,
    ) -> Self {
        Self {
            store,
            zendesk,
            slack,
            policies,
            options,
            roles: AuthorRoles::default(),
            scans: watch::Sender::new(0),
            lease_until: None,
        }
    }

    /// Completed scan rounds so far.
    pub fn scans(&self) -> ScanCount {
        self.scans.subscribe()
    }

    /// Runs until `shutdown`, then gives the lease up. Nothing here ends
    /// the process: failures are counted and retried on the next scan.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.options.scan_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            self.lead().await;
            if self.lease_until.is_some() {
                self.scan(&shutdown).await;
            }
            self.scans.send_modify(|count| *count += 1);
        }
        if self.lease_until.take().is_some() {
            let holder = &self.options.holder;
            if let Err(error) = self.store.release_lease(LEASE_NAME, holder).await {
                tracing::warn!(error = %error, "releasing the sla watch lease failed (it expires)");
            }
            Leadership {
                holder,
                leading: false,
            }
            .emit();
        }
    }

    /// Renews the lease (or tries to take it).
    async fn lead(&mut self) {
        let (holder, ttl) = (self.options.holder.as_str(), self.options.lease_ttl);
        let asked_at = Instant::now();
        let mut held = match self.lease_until {
            Some(_) => self.store.renew_lease(LEASE_NAME, holder, ttl).await,
            None => Ok(false),
        };
        if matches!(held, Ok(false)) {
            held = self.store.try_acquire_lease(LEASE_NAME, holder, ttl).await;
        }
        let leading = match held {
            Ok(leading) => leading,
            Err(error) => {
                StepFailed {
                    ticket_id: None,
                    step: "lease",
                    message: &error.to_string(),
                }
                .emit();
                false
            }
        };
        if leading != self.lease_until.is_some() {
            Leadership { holder, leading }.emit();
        }
        // Act only well inside the lease: stop a fifth of it early.
        self.lease_until = leading.then(|| asked_at + ttl - ttl / 5);
    }

    fn lease_runs(&self) -> bool {
        self.lease_until.is_some_and(|until| Instant::now() < until)
    }

    async fn scan(&mut self, shutdown: &CancellationToken) {
        // Page by (deadline, ticket), so watches whose step keeps failing
        // do not hide the ones behind them.
        let now = (self.options.clock)();
        let mut after = None;
        for _ in 0..MAX_BATCHES_PER_SCAN {
            let due = match self
                .store
                .due_sla_watches(now, after, self.options.batch)
                .await
            {
                Ok(due) => due,
                Err(error) => {
                    StepFailed {
                        ticket_id: None,
                        step: "scan",
                        message: &error.to_string(),
                    }
                    .emit();
                    return;
                }
            };
            let full = due.len() >= self.options.batch;
            after = due.last().map(|last| (last.due_at, last.ticket_id));
            for watch in due {
                if shutdown.is_cancelled() || !self.lease_runs() {
                    return;
                }
                // A ticket at its update limit fails at once and is tried
                // again next scan, instead of holding every other watch.
                intake_zendesk::with_ticket_wait_limit(TICKET_WAIT_LIMIT, self.step(watch)).await;
            }
            if !full {
                return;
            }
        }
    }

    /// Moves one watch on.
    async fn step(&mut self, watch: SlaWatch) {
        if watch.stage == SlaStage::Warning {
            self.notify(&watch).await;
            return;
        }
        let now = (self.options.clock)();
        let ticket = match self.zendesk.show_ticket(watch.ticket_id).await {
            Ok(ticket) => ticket,
            Err(error) if error.is_not_found() => {
                return self.end(&watch, SlaStage::Gone, "gone").await;
            }
            Err(error) => return self.failed(&watch, "read_ticket", &error.to_string()),
        };
        if matches!(ticket.status, Status::Solved | Status::Closed) {
            return self.end(&watch, SlaStage::Closed, "closed").await;
        }
        match agent_answered(&self.zendesk, &ticket, &mut self.roles).await {
            Ok(true) => return self.end(&watch, SlaStage::Answered, "answered").await,
            Ok(false) => {}
            Err(error) => return self.failed(&watch, "comments", &error.to_string()),
        }
        let breach = now >= watch.due_at;
        let texts = self.texts(&watch, now);
        let (tag, note) = match breach {
            true => (self.options.breach_tag.clone(), None),
            false => (self.options.warning_tag.clone(), Some(texts.note)),
        };
        if !ticket.tags.contains(&tag)
            && let Err(error) = self.update(&ticket, tag, note, breach).await
        {
            return self.failed(&watch, "update_ticket", &error.to_string());
        }
        let to = if breach {
            SlaStage::Breached
        } else {
            SlaStage::Warning
        };
        match self
            .store
            .advance_sla_watch(watch.ticket_id, watch.stage, to, now)
            .await
        {
            Ok(true) if breach => Breached {
                ticket_id: watch.ticket_id,
                policy: &watch.policy,
            }
            .emit(),
            Ok(true) => {
                Warned {
                    ticket_id: watch.ticket_id,
                    policy: &watch.policy,
                    minutes_left: crate::note::minutes_left(now, watch.due_at),
                }
                .emit();
                let warning = SlaWatch {
                    stage: SlaStage::Warning,
                    stage_at: now,
                    ..watch
                };
                self.notify(&warning).await;
            }
            // Another scheduler took the step.
            Ok(false) => {}
            Err(error) => self.failed(&watch, "store", &error.to_string()),
        }
    }

    /// The tag (and the note) in one safe update against the ticket as read.
    async fn update(
        &self,
        ticket: &Ticket,
        tag: String,
        note: Option<String>,
        breach: bool,
    ) -> Result<(), intake_zendesk::Error> {
        let mut tags = ticket.tags.clone();
        tags.push(tag);
        if let Some(updated_at) = ticket.updated_at {
            wait_past_second(updated_at).await;
        }
        let stamp = ticket
            .updated_at
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true));
        let update = TicketUpdate {
            comment: note.map(|body| Comment {
                body: Some(body),
                public: false,
                ..Comment::default()
            }),
            tags: Some(tags),
            metadata: Some(json!({ METADATA_KEY: if breach { "breach" } else { "warning" } })),
            safe_update: stamp.as_ref().map(|_| true),
            updated_stamp: stamp,
            ..TicketUpdate::default()
        };
        self.zendesk.update_ticket(ticket.id, &update).await?;
        Ok(())
    }

    /// Posts the warning to Slack (when configured) and marks it `warned`.
    async fn notify(&self, watch: &SlaWatch) {
        let now = (self.options.clock)();
        if let Some(slack) = &self.slack {
            let texts = self.texts(watch, now);
            if let Err(error) = slack.post(&texts.slack).await {
                // Retried next scan, but never past the deadline.
                let permanent = !error.is_retryable() || now >= watch.due_at;
                NotificationFailed {
                    ticket_id: watch.ticket_id,
                    reason: error.reason,
                    message: &error.message,
                    permanent,
                }
                .emit();
                if !permanent {
                    return;
                }
            }
        }
        if let Err(error) = self
            .store
            .advance_sla_watch(watch.ticket_id, SlaStage::Warning, SlaStage::Warned, now)
            .await
        {
            self.failed(watch, "store", &error.to_string());
        }
    }

    async fn end(&self, watch: &SlaWatch, to: SlaStage, reason: &'static str) {
        let now = (self.options.clock)();
        match self
            .store
            .advance_sla_watch(watch.ticket_id, watch.stage, to, now)
            .await
        {
            Ok(true) => WatchEnded {
                ticket_id: watch.ticket_id,
                policy: &watch.policy,
                reason,
            }
            .emit(),
            Ok(false) => {}
            Err(error) => self.failed(watch, "store", &error.to_string()),
        }
    }

    fn failed(&self, watch: &SlaWatch, step: &'static str, message: &str) {
        StepFailed {
            ticket_id: Some(watch.ticket_id),
            step,
            message,
        }
        .emit();
    }

    fn texts(&self, watch: &SlaWatch, now: DateTime<Utc>) -> Texts {
        let zone = self
            .policies
            .current()
            .calendars()
            .get(&watch.calendar)
            .map_or(Tz::UTC, |calendar| calendar.time_zone());
        let link = self
            .options
            .zendesk_base_url
            .as_ref()
            .and_then(|base| ticket_link(base, watch.ticket_id));
        warning_texts(
            watch.ticket_id,
            &watch.policy,
            watch.due_at,
            zone,
            now,
            link.as_deref(),
        )
    }
}

/// `updated_at` has whole seconds, so a safe update in the stamp's own
/// second could apply after another one did (decision 34): wait until this
/// clock is past that second (at most a second and the margin).
async fn wait_past_second(updated_at: DateTime<Utc>) {
    let past = updated_at + chrono::Duration::seconds(1);
    if let Ok(wait) = (past - Utc::now()).to_std() {
        let wait = (wait + STAMP_MARGIN).min(std::time::Duration::from_secs(1) + STAMP_MARGIN);
        tokio::time::sleep(wait).await;
    }
}
