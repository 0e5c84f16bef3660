//! Fencing across router replicas (issue 13 point 4, decision 39).
//!
//! Whatever a router does in Zendesk for an event happens under a claim on
//! the event's conversation (its lane) in the state store, which no other
//! router can hold at the same time: taken by the worker before the
//! event's first Zendesk call, renewed while the event runs, given up when
//! the lane has nothing more to do (or is parked, or its partition was
//! revoked), and checked again right before each write (ticket create,
//! follow-up, comment). A router whose claim lapsed or was taken, or whose
//! partition was revoked meanwhile, stops before the write: the event goes
//! back to the dispatcher as a retry, which drops it when the partition is
//! gone (its new owner handles it) and otherwise tries it again under a new
//! claim. A router that finds the claim held elsewhere parks the lane until
//! the other's claim ends (at most its time to live).
//!
//! The claim of the running event lives in a task-local ([`scope`]), so the
//! write paths check it with one call ([`check_before_write`]) and code run
//! outside a worker (no claim) is not fenced.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use intake_store::{ClaimAttempt, ConversationClaim, StateStore};
use metrics::counter;
use tokio_util::sync::CancellationToken;

use crate::process::{Failure, ParkReason};

tokio::task_local! {
    static ACTIVE: Active;
}

/// The claim of the event running in this task.
#[derive(Clone)]
struct Active {
    fence: Arc<Fence>,
    claim: ConversationClaim,
    channel: String,
    /// Cancelled when the event's partition is revoked or a renewal found
    /// the claim lost.
    stopped: CancellationToken,
}

/// This router's claims.
pub(crate) struct Fence {
    store: Arc<dyn StateStore>,
    /// Unique per process: `<host>:<pid>:<random>`.
    holder: String,
    ttl: Duration,
    /// Claims taken and not given up yet, per lane.
    held: Mutex<HashMap<String, ConversationClaim>>,
}

/// Why an event may not go on.
pub(crate) enum Refused {
    /// Another router holds the conversation for up to this long.
    Busy(Duration),
    /// A state store failure.
    Failure(Failure),
}

impl Fence {
    pub(crate) fn new(store: Arc<dyn StateStore>, ttl: Duration) -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| "router".to_owned());
        let holder = format!(
            "{host}:{}:{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        Self {
            store,
            holder,
            ttl,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// How long before its expiry a claim counts as lost for a write, and
    /// how often it is renewed: a third of its time to live.
    fn margin(&self) -> Duration {
        self.ttl / 3
    }

    /// Takes (or renews) the claim on `lane`.
    pub(crate) async fn take(
        &self,
        lane: &str,
        channel: &str,
        event_id: &str,
    ) -> Result<ConversationClaim, Refused> {
        match self
            .store
            .claim_conversation(lane, &self.holder, self.ttl)
            .await
        {
            Ok(ClaimAttempt::Held(claim)) => {
                self.held_claims().insert(lane.to_owned(), claim.clone());
                Ok(claim)
            }
            Ok(ClaimAttempt::Busy { holder, remaining }) => {
                ClaimBusy {
                    channel,
                    event_id,
                    holder: &holder,
                    remaining,
                }
                .emit();
                Err(Refused::Busy(remaining))
            }
            Err(error) => Err(Refused::Failure(error.into())),
        }
    }

    /// Gives up the claim on `lane`, if this router holds one (a failure is
    /// logged: the claim then lapses at its expiry).
    pub(crate) async fn release(&self, lane: &str) {
        let Some(claim) = self.held_claims().remove(lane) else {
            return;
        };
        if let Err(error) = self.store.release_conversation(&claim).await {
            tracing::warn!(lane, error = %error, "giving up a conversation claim failed; it lapses at its expiry");
        }
    }

    /// The lanes this router holds claims on.
    pub(crate) fn held_lanes(&self) -> Vec<String> {
        self.held_claims().keys().cloned().collect()
    }

    /// Gives up every claim (the router stops).
    pub(crate) async fn release_all(&self) {
        let lanes: Vec<String> = self.held_claims().keys().cloned().collect();
        for lane in lanes {
            self.release(&lane).await;
        }
    }

    fn held_claims(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConversationClaim>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Renews `claim` every [`Fence::margin`] until it is lost (then
    /// cancels `stopped` and waits forever). Run beside the event's work.
    async fn keep(&self, claim: &ConversationClaim, stopped: &CancellationToken) {
        loop {
            tokio::select! {
                () = stopped.cancelled() => break,
                () = tokio::time::sleep(self.margin()) => {}
            }
            match self
                .store
                .claim_conversation(&claim.lane, &self.holder, self.ttl)
                .await
            {
                Ok(ClaimAttempt::Held(renewed)) if renewed.token == claim.token => {}
                Ok(_) => {
                    stopped.cancel();
                    break;
                }
                // The next check tells whether the claim is still alive.
                Err(error) => {
                    tracing::warn!(lane = %claim.lane, error = %error, "renewing a conversation claim failed");
                }
            }
        }
        std::future::pending::<()>().await;
    }
}

/// Runs `work` (one event) under `claim`, renewing it meanwhile; `stopped`
/// is cancelled when the event's partition is revoked.
pub(crate) async fn scope<F: Future>(
    fence: Arc<Fence>,
    claim: ConversationClaim,
    channel: &str,
    stopped: CancellationToken,
    work: F,
) -> F::Output {
    let active = Active {
        fence: fence.clone(),
        claim: claim.clone(),
        channel: channel.to_owned(),
        stopped: stopped.clone(),
    };
    let keep = fence.keep(&claim, &stopped);
    let work = ACTIVE.scope(active, work);
    tokio::select! {
        output = work => output,
        () = keep => unreachable!("renewing a claim never ends"),
    }
}

/// Checks, right before a Zendesk write for `event_id`, that this router
/// still holds the conversation's claim for at least the margin and that
/// the event's partition was not revoked. Without a claim (outside a
/// worker) there is nothing to check.
pub(crate) async fn check_before_write(event_id: uuid::Uuid) -> Result<(), Failure> {
    let Ok(active) = ACTIVE.try_with(Clone::clone) else {
        return Ok(());
    };
    let reason = if active.stopped.is_cancelled() {
        Some("stopped")
    } else {
        match active
            .fence
            .store
            .conversation_claim_held(&active.claim, active.fence.margin())
            .await
        {
            Ok(true) => None,
            Ok(false) => Some("lost"),
            Err(error) => return Err(error.into()),
        }
    };
    let Some(reason) = reason else {
        return Ok(());
    };
    Fenced {
        channel: &active.channel,
        event_id: &event_id.to_string(),
        lane: &active.claim.lane,
        reason,
    }
    .emit();
    Err(Failure::Retry {
        stage: "conversation_claim",
        message: format!("the conversation's claim is {reason}; nothing was written"),
        reason: ParkReason::Claimed,
        resume_in: Some(Duration::ZERO),
    })
}

/// Another router holds the conversation of an event: it waits.
struct ClaimBusy<'a> {
    channel: &'a str,
    event_id: &'a str,
    holder: &'a str,
    remaining: Duration,
}

impl ClaimBusy<'_> {
    fn emit(&self) {
        tracing::info!(
            event_id = self.event_id,
            channel = self.channel,
            holder = self.holder,
            remaining_ms = self.remaining.as_millis() as u64,
            "conversation claimed by another router; waiting"
        );
        counter!("intake_router_claims_busy_total", "channel" => self.channel.to_owned())
            .increment(1);
    }
}

/// An event stopped before a Zendesk write: its claim was lost (`lost`) or
/// its partition revoked (`stopped`).
struct Fenced<'a> {
    channel: &'a str,
    event_id: &'a str,
    lane: &'a str,
    reason: &'static str,
}

impl Fenced<'_> {
    fn emit(&self) {
        tracing::warn!(
            event_id = self.event_id,
            channel = self.channel,
            lane = self.lane,
            reason = self.reason,
            "event fenced before a Zendesk write"
        );
        counter!(
            "intake_router_events_fenced_total",
            "channel" => self.channel.to_owned(),
            "reason" => self.reason
        )
        .increment(1);
    }
}
