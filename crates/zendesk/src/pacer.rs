//! Pacing calls under the account's rate limit.
//!
//! [`Pacer`] is plain logic over an injected clock (`now` is an argument), a
//! token bucket of depth one in its "theoretical arrival time" form: every
//! call reserves the next free send slot, slots are `interval` apart, so a
//! backlog drains at the paced rate in arrival order and never bursts.
//! [`SharedPacer`] wraps it for all clones of a client and does the sleeping
//! with tokio's timer (so unit tests run it on paused time).
//!
//! The paced rate keeps a small headroom below the limit (see
//! [`paced_per_minute`]) so that network jitter and a server window that
//! counts both ends never tip a steady stream into a 429.
//!
//! **One budget for all replicas.** The account's limit is shared by every
//! router (and every other integration), which each bucket alone cannot
//! know. So every answer's rate-limit headers also set the pace: the
//! requests the account has left (`X-Rate-Limit-Remaining`,
//! `ratelimit-remaining`) spread over the time until the window frees up
//! (`ratelimit-reset`) give a spacing that no send goes faster than until
//! that reset. Each replica sees the same, shrinking remainder, so together
//! they slow down as the window fills and speed up as it empties, without
//! anyone dividing the limit by the number of replicas; an exhausted budget
//! holds every caller until the reset. Answers are late, though: each
//! replica reads the remainder after its round trip, while the others keep
//! sending, so spreading the whole remainder overfills the window near its
//! end (the two-router benchmark saw 429s). So each replica spreads only its
//! share of the remainder (`zendesk.replicas`, the number of processes
//! spending the budget at once), less its own calls still in flight; a
//! replica alone, or with idle partners, still sees a large remainder and
//! keeps its local pace. The window slides, so calls also leave it before
//! the reset: each replica adds half of its own answered calls that leave
//! the window by then (decision 64; counting all of them lets the echo of
//! a busy minute build up, and the others' are not known). An answer's
//! spacing counts from the last slot handed out, so it sets the gap once
//! instead of stretching it again with every answer (decision 65).
//!
//! **Priority turns.** Callers waiting in a [`SharedPacer`] do not keep the
//! slots they arrived for: each free slot goes to the waiter whose turn it is
//! (`turns.rs`: by channel rank, with the starvation guard), so a chat's call
//! queued behind a mail backlog takes the next slot (decision 59).

mod turns;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::headers::RateLimitInfo;
use turns::Turns;
pub(crate) use turns::current as current_priority;
pub use turns::{CallPriority, with_priority};

/// What a waiting caller may do now (see [`Pacer::take_turn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Send: this slot is the caller's (at or before now).
    Send(Instant),
    /// The caller is first, and its slot comes at this instant.
    WaitUntil(Instant),
    /// Another caller goes first; ask again when one is served or left, or
    /// at this instant if any (when this caller's starvation limit passes).
    Behind(Option<Instant>),
}

/// Calls per minute actually sent for an account limit of `limit`: 2.5% (at
/// least one call) below it.
pub fn paced_per_minute(limit: u32) -> u32 {
    limit.saturating_sub((limit / 40).max(1)).max(1)
}

/// The pacing state of one account.
#[derive(Debug)]
pub struct Pacer {
    configured_per_minute: u32,
    server_per_minute: Option<u32>,
    next_slot: Option<Instant>,
    /// The last slot handed out (the next one is spaced from it).
    last_slot: Option<Instant>,
    paused_until: Option<Instant>,
    /// The spacing the last answer asked for (its remaining budget spread
    /// over the time to its reset), and until when it holds.
    server_spacing: Option<(Duration, Instant)>,
    /// Callers waiting for a slot, in priority order.
    turns: Turns,
    /// Calls sent whose answers have not been read yet.
    in_flight: u32,
    /// Processes spending the account's budget at once (`zendesk.replicas`).
    replicas: u32,
    /// When this process read the answers of its calls of the last window,
    /// oldest first: a call is counted by the account before its answer, so
    /// it has left the account's window a [`WINDOW`] after that at the latest.
    answered: VecDeque<Instant>,
}

/// The account's window: Zendesk counts the calls of the last minute.
const WINDOW: Duration = Duration::from_secs(60);

impl Pacer {
    /// `requests_per_minute` is the plan's limit; it must be at least 1.
    pub fn new(requests_per_minute: u32) -> Pacer {
        Pacer {
            configured_per_minute: requests_per_minute.max(1),
            server_per_minute: None,
            next_slot: None,
            last_slot: None,
            paused_until: None,
            server_spacing: None,
            turns: Turns::default(),
            in_flight: 0,
            replicas: 1,
            answered: VecDeque::new(),
        }
    }

    /// The limit in force: ours, or the server's when it announced a lower one.
    pub fn limit_per_minute(&self) -> u32 {
        match self.server_per_minute {
            Some(server) => self.configured_per_minute.min(server.max(1)),
            None => self.configured_per_minute,
        }
    }

    /// Time between two sends.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(60) / paced_per_minute(self.limit_per_minute())
    }

    /// Time between two sends at `now`: [`Pacer::interval`], or more while
    /// the account's remaining budget asks for it.
    pub fn interval_at(&self, now: Instant) -> Duration {
        match self.server_spacing {
            Some((spacing, until)) if until > now => self.interval().max(spacing),
            _ => self.interval(),
        }
    }

    /// When all callers are held (after a 429), if that is still ahead of `now`.
    pub fn paused_until(&self, now: Instant) -> Option<Instant> {
        self.paused_until.filter(|until| *until > now)
    }

    /// Reserves the next send slot and returns its time (`now` if free).
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let mut slot = self.next_slot.map_or(now, |next| next.max(now));
        if let Some(until) = self.paused_until(now) {
            slot = slot.max(until);
        }
        self.last_slot = Some(slot);
        self.next_slot = Some(slot + self.interval_at(now));
        slot
    }

    /// Queues a caller for a slot (see [`Pacer::take_turn`]); returns its id.
    pub fn join(&mut self, priority: CallPriority, now: Instant) -> u64 {
        self.turns.join(priority, now)
    }

    /// Removes a waiting caller that gave up (its future was dropped).
    pub fn leave(&mut self, id: u64) {
        self.turns.leave(id);
    }

    /// Callers waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.turns.len()
    }

    /// Caller `id`'s turn at `now`. Only the caller whose turn it is (see
    /// `turns.rs`) gets a slot; it is the next free one, or the time the
    /// caller joined if that is later (an idle pacer banks no burst), never
    /// inside a pause. A caller served leaves the queue.
    pub fn take_turn(&mut self, id: u64, now: Instant) -> Turn {
        let Some(since) = self.turns.since(id) else {
            // Not queued (left already): treat as a fresh caller.
            return Turn::Send(self.reserve(now));
        };
        if self.turns.first(now) != Some(id) {
            let starves_at = self.turns.starves_at(id).filter(|at| *at > now);
            return Turn::Behind(starves_at);
        }
        if let Some(until) = self.paused_until(now) {
            return Turn::WaitUntil(until);
        }
        let slot = self.next_slot.map_or(since, |next| next.max(since));
        if slot > now {
            return Turn::WaitUntil(slot);
        }
        self.turns.leave(id);
        self.last_slot = Some(slot);
        self.next_slot = Some(slot + self.interval_at(now));
        Turn::Send(slot)
    }

    /// How many processes spend the account's budget at the same time (at
    /// least 1): each spaces its sends by its share of the remainder.
    pub fn set_replicas(&mut self, replicas: u32) {
        self.replicas = replicas.max(1);
    }

    /// A call was sent (its answer is awaited).
    pub fn sent(&mut self) {
        self.in_flight += 1;
    }

    /// A sent call ended at `now` (answered or failed).
    pub fn ended(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        while self.answered.front().is_some_and(|at| *at + WINDOW <= now) {
            self.answered.pop_front();
        }
        self.answered.push_back(now);
    }

    /// This process's calls that have surely left the account's window by
    /// `until` and had not by `now`.
    fn leaving_by(&self, now: Instant, until: Instant) -> u32 {
        let leaving = self
            .answered
            .iter()
            .filter(|at| {
                let left = **at + WINDOW;
                left > now && left <= until
            })
            .count();
        u32::try_from(leaving).unwrap_or(u32::MAX)
    }

    /// Holds every caller until `until` (a 429's `Retry-After`, an exhausted budget).
    pub fn pause_until(&mut self, until: Instant) {
        let until = self.paused_until.map_or(until, |old| old.max(until));
        self.paused_until = Some(until);
        self.next_slot = Some(self.next_slot.map_or(until, |next| next.max(until)));
    }

    /// Takes in what a response said about the budget: a lower limit slows
    /// the pace; an exhausted budget with a known reset holds every caller
    /// until the reset. Returns the pause it started, if any.
    pub fn observe(&mut self, now: Instant, info: &RateLimitInfo) -> Option<Instant> {
        if let Some(limit) = info.limit {
            self.server_per_minute = Some(limit);
        }
        match (info.remaining, info.reset) {
            (Some(0), Some(reset)) if !reset.is_zero() => {
                let until = now + reset;
                self.pause_until(until);
                Some(until)
            }
            (Some(remaining), Some(reset)) if !reset.is_zero() => {
                // This process's share of what the account has left, and
                // half of its own calls that leave the window before the
                // reset, less its own calls still in flight (spent already,
                // but after this answer was counted; the answered call is
                // one of them).
                let spendable = (remaining / self.replicas + self.leaving_by(now, now + reset) / 2)
                    .saturating_sub(self.in_flight.saturating_sub(1))
                    .max(1);
                let spacing = reset / spendable;
                self.server_spacing = Some((spacing, now + reset));
                // A slot reserved at the old pace moves out to the new one:
                // the new spacing after the last slot handed out (not after
                // the local interval's: the old pace may have been an
                // answer's already, and each answer would stretch the gap
                // again).
                if let (Some(next), Some(last)) = (self.next_slot, self.last_slot) {
                    self.next_slot = Some(next.max(last + spacing));
                }
                None
            }
            _ => None,
        }
    }
}

/// A [`Pacer`] shared by all clones of a client.
#[derive(Debug, Clone)]
pub struct SharedPacer {
    inner: Arc<Mutex<Pacer>>,
    /// Woken whenever a waiter leaves (served or gone), so the next one in
    /// turn order looks at its slot.
    turn_changed: Arc<Notify>,
}

/// Takes a waiter out of the queue when its wait ends, however it ends (a
/// dropped future included), and wakes the others.
struct Queued<'a> {
    pacer: &'a SharedPacer,
    id: u64,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.pacer.lock().leave(self.id);
        self.pacer.turn_changed.notify_waiters();
    }
}

/// A call in flight (see [`SharedPacer::in_flight`]).
pub struct InFlight<'a> {
    pacer: &'a SharedPacer,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.pacer.lock().ended(Instant::now());
    }
}

impl SharedPacer {
    pub fn new(requests_per_minute: u32) -> SharedPacer {
        SharedPacer {
            inner: Arc::new(Mutex::new(Pacer::new(requests_per_minute))),
            turn_changed: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pacer> {
        // The state stays consistent even if a holder panicked: every update is a single assignment.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for this caller's send slot; returns how long it waited.
    ///
    /// Waiting callers are served in turn order (the priority of the scope
    /// the call runs in, see [`with_priority`]), each at the next free slot.
    /// A slot that falls inside a pause begun while waiting is not used:
    /// the caller waits out the pause first.
    pub async fn wait_turn(&self) -> Duration {
        let started = Instant::now();
        let priority = turns::current();
        let id = self.lock().join(priority, started);
        let _queued = Queued { pacer: self, id };
        // Each round ends with a send, or a wake-up: a waiter ahead left, the
        // slot time came, or this caller's starvation limit passed. Waiters
        // ahead are finitely many and are served at a finite pace, so this
        // ends.
        loop {
            let changed = self.turn_changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a change in between still wakes it.
            changed.as_mut().enable();
            let turn = self.lock().take_turn(id, Instant::now());
            match turn {
                Turn::Send(_) => return started.elapsed(),
                Turn::WaitUntil(at) | Turn::Behind(Some(at)) => {
                    tokio::select! {
                        () = &mut changed => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                Turn::Behind(None) => changed.await,
            }
        }
    }

    /// See [`Pacer::set_replicas`].
    pub fn set_replicas(&self, replicas: u32) {
        self.lock().set_replicas(replicas);
    }

    /// Counts a call as in flight until the guard is dropped (answered,
    /// failed or cancelled): the answers' spacing leaves those calls out.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.lock().sent();
        InFlight { pacer: self }
    }

    /// Holds every caller for `wait` from now.
    pub fn pause_for(&self, wait: Duration) {
        self.lock().pause_until(Instant::now() + wait);
    }

    /// See [`Pacer::observe`]; returns the pause length it started, if any.
    pub fn observe(&self, info: &RateLimitInfo) -> Option<Duration> {
        let now = Instant::now();
        self.lock()
            .observe(now, info)
            .map(|until| until.saturating_duration_since(now))
    }

    pub fn limit_per_minute(&self) -> u32 {
        self.lock().limit_per_minute()
    }
}

#[cfg(test)]
mod tests;
