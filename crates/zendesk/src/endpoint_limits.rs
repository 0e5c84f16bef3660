//! Limits of single endpoints, on top of the account's (decision 58).
//!
//! Zendesk's rate limits page lists endpoint limits besides the plan's
//! account limit. Two bind intake:
//! - **Update Ticket** (`PUT /api/v2/tickets/{id}`: every comment and
//!   safe update): 100 requests a minute per account, 300 with the High
//!   Volume add-on ([`ClientOptions::update_ticket_per_minute`]).
//! - **User creation** (`POST /api/v2/users/create_or_update`): 5 a minute
//!   per end-user profile (the Users reference, Create Or Update User) and
//!   1 a second per account (the project's Zendesk notes; *unconfirmed* in
//!   the public reference found).
//!
//! Each has its own bucket here, shared by all clones of a client, once
//! [`crate::Client::set_endpoint_limits`] turned it on (a client is built
//! without: the service sets both from `zendesk.update_ticket_per_minute`
//! and `zendesk.user_creates_per_minute`):
//! - an account bucket per endpoint, spaced like the account pacer (one
//!   reserved send slot after another, never a burst), with headroom below
//!   the limit: Update Ticket at [`paced_per_minute`] of its limit, user
//!   creation a tenth slower than its limit (at 60 a minute one per 1.1 s:
//!   room for 50 ms of network jitter either way against a one-second
//!   window; the simulator, like a rate limiter in front of the work,
//!   counts a request at its arrival, so a slow answer is no jitter);
//! - with user creation on, a sliding log of [`USER_CREATES_PER_USER`] per
//!   [`PER_USER_WINDOW`] per user (its lower-cased e-mail or external id).
//!
//! A call that would wait longer than the caller's wait limit
//! ([`crate::with_ticket_wait_limit`]: the router's) fails at once with
//! [`crate::Error::EndpointHeld`] saying when to come back, so the router
//! parks that conversation instead of holding a slot that a new ticket
//! could use. **Its turn is kept** (decision 63): inside [`with_turn`] (the
//! router's lanes) the refused call is given a [`Turn`], a slot booked in
//! the endpoint's queue, which the caller holds while it waits and comes
//! back with; only that caller is sent in it, and newcomers queue behind
//! every turn. So many conversations waiting on one bucket are told
//! distinct times, one slot apart, and each parks once; without turns all
//! were told the same time, one got the slot and the others parked again,
//! every slot. Channel priority holds in the queue: a refused call is put
//! ahead of the turns of worse ranks ([`crate::pacer::with_priority`]),
//! which move back a slot each, except a turn already moved back by the
//! starvation guard's limit. A caller back before its (moved) turn is told
//! its time again. A turn nobody comes for within [`TURN_GRACE`] of its
//! time (the lane was stopped or moved to another router) lapses. A call
//! refused by its *user's* limit (5 a minute) gets no turn: that wait is
//! its own and holds no one else. Outside [`with_turn`] a refused call is
//! told when the bucket frees and books nothing.
//!
//! **Zendesk's answers.** A 429 to one of these endpoints while the
//! account budget still has room is the endpoint's limit (or, for a ticket
//! update, the per-ticket one): it holds that endpoint's bucket (for an
//! update: the ticket too, as before) until `Retry-After`, not every call
//! of the account.
//!
//! [`ClientOptions::update_ticket_per_minute`]: crate::ClientOptions::update_ticket_per_minute

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::pacer::{CallPriority, paced_per_minute};

/// Update Ticket requests per minute per account Zendesk allows without the
/// High Volume add-on (300 with it).
pub const DEFAULT_UPDATE_TICKET_PER_MINUTE: u32 = 100;
/// User creations per minute per account (Zendesk: 1 a second).
pub const DEFAULT_USER_CREATES_PER_MINUTE: u32 = 60;
/// User creations per user per [`PER_USER_WINDOW`] (Zendesk: 5 a minute).
pub const USER_CREATES_PER_USER: usize = 5;
/// The per-user window, a second longer than Zendesk's minute.
pub const PER_USER_WINDOW: Duration = Duration::from_secs(61);
/// Users tracked before idle ones are dropped.
const PRUNE_ABOVE: usize = 1024;
/// How long after its time a turn given to a refused call waits to be taken
/// before it lapses (a parked lane resumes a little late: its timer, its
/// claim, its state-store reads).
pub const TURN_GRACE: Duration = Duration::from_secs(5);

/// An endpoint with a limit of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `PUT /api/v2/tickets/{id}`.
    UpdateTicket,
    /// `POST /api/v2/users/create_or_update`.
    UserCreate,
}

impl Endpoint {
    /// The `reason` label of `intake_zendesk_rate_limit_wait_seconds_total`
    /// and the limit named in [`crate::Error::EndpointHeld`].
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::UpdateTicket => "update_ticket_limit",
            Endpoint::UserCreate => "user_create_limit",
        }
    }
}

/// A call's place under an endpoint limit: the endpoint and, for user
/// creation, whose profile it is (lower-cased e-mail or external id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limited {
    pub endpoint: Endpoint,
    pub user: Option<String>,
}

/// A refused call's place in an endpoint's queue (decision 63): the caller
/// keeps it across its wait and comes back with it ([`with_turn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    endpoint: Endpoint,
    id: u64,
}

tokio::task_local! {
    static TURN: Cell<Option<Turn>>;
}

/// Runs `work` holding `turn` (from an earlier try of the same work, or
/// none) and returns its output with the turn it holds at the end: a turn
/// given when an endpoint's bucket refused it (to keep for the next try),
/// or none once a call used it. Calls outside this scope are given no
/// turn: refused, they are told when the bucket frees, nothing reserved.
pub async fn with_turn<F: Future>(turn: Option<Turn>, work: F) -> (F::Output, Option<Turn>) {
    TURN.scope(Cell::new(turn), async move {
        let output = work.await;
        (output, TURN.with(Cell::get))
    })
    .await
}

/// A turn in the queue: its time, the rank of its caller, and how far
/// better-ranked calls put ahead of it have moved it back.
#[derive(Debug, Clone, Copy)]
struct Queued {
    id: u64,
    at: Instant,
    rank: usize,
    moved_back: Duration,
}

/// Send slots spaced `interval` apart, with an optional hold, and the
/// turns: slots booked for refused calls, earliest first.
#[derive(Debug)]
struct Spacing {
    interval: Duration,
    /// Where the next slot not yet booked (as a send or a turn) starts.
    next_free: Option<Instant>,
    /// The latest slot given to a send: a turn taken late sends no sooner
    /// than `interval` after it, so late turns never bunch up.
    last_sent: Option<Instant>,
    held_until: Option<Instant>,
    turns: VecDeque<Queued>,
}

impl Spacing {
    fn new(interval: Duration) -> Spacing {
        Spacing {
            interval,
            next_free: None,
            last_sent: None,
            held_until: None,
            turns: VecDeque::new(),
        }
    }

    /// Drops the turns nobody came for within [`TURN_GRACE`] of their time.
    fn lapse(&mut self, now: Instant) {
        self.turns
            .retain(|turn| now.saturating_duration_since(turn.at) <= TURN_GRACE);
    }

    /// Takes turn `id` out of the queue, if it is there.
    fn remove(&mut self, id: u64) -> Option<Queued> {
        let at = self.turns.iter().position(|turn| turn.id == id)?;
        self.turns.remove(at)
    }

    /// Queues turn `id` for a call of `rank` refused at `slot` (the next
    /// free one, after every turn) and returns its time: ahead of the first
    /// turn of a worse rank, which with every later one moves a slot back,
    /// unless moving it would put it more than `starve_after` behind where
    /// it was first queued (the starvation guard: those turns and all
    /// before them are not passed); else last, at `slot`. Only a move
    /// within `starve_after` of `now` counts against the guard: a turn far
    /// back in a long queue waits for the queue, not for the better ranks,
    /// and guarding it would leave them behind the whole backlog.
    fn queue(
        &mut self,
        now: Instant,
        slot: Instant,
        id: u64,
        rank: usize,
        starve_after: Duration,
    ) -> Instant {
        let interval = self.interval;
        let guarded = self
            .turns
            .iter()
            .rposition(|turn| turn.moved_back + interval > starve_after)
            .map_or(0, |i| i + 1);
        let ahead_of = (guarded..self.turns.len())
            .find(|&i| self.turns[i].rank > rank)
            .unwrap_or(self.turns.len());
        let at = self.turns.get(ahead_of).map_or(slot, |turn| turn.at);
        for turn in self.turns.iter_mut().skip(ahead_of) {
            if turn.at <= now + starve_after {
                turn.moved_back += interval;
            }
            turn.at += interval;
        }
        self.turns.insert(
            ahead_of,
            Queued {
                id,
                at,
                rank,
                moved_back: Duration::ZERO,
            },
        );
        let last = self.turns.back().map_or(slot, |turn| turn.at);
        self.book(last.max(slot));
        at
    }

    /// When the next slot is free, at `now` or later.
    fn free_at(&self, now: Instant) -> Instant {
        self.next_free
            .map_or(now, |next| next.max(now))
            .max(self.sendable_at(now))
    }

    /// The earliest a send may go at `now`: past the hold, and `interval`
    /// after the last send.
    fn sendable_at(&self, now: Instant) -> Instant {
        let mut at = now;
        if let Some(until) = self.held_until {
            at = at.max(until);
        }
        if let Some(last) = self.last_sent {
            at = at.max(last + self.interval);
        }
        at
    }

    /// Books `slot` (a send or a turn): the next free slot is after it.
    fn book(&mut self, slot: Instant) {
        let after = slot + self.interval;
        self.next_free = Some(self.next_free.map_or(after, |next| next.max(after)));
    }

    /// Gives `slot` to a send (booked already when it is a turn's).
    fn send(&mut self, slot: Instant) {
        self.book(slot);
        self.last_sent = Some(self.last_sent.map_or(slot, |last| last.max(slot)));
    }

    fn hold(&mut self, until: Instant) {
        self.held_until = Some(self.held_until.map_or(until, |old| old.max(until)));
        // Turns inside the hold move past it, still a slot apart.
        let mut earliest = until;
        for turn in &mut self.turns {
            turn.at = turn.at.max(earliest);
            earliest = turn.at + self.interval;
        }
        if let Some(last) = self.turns.back().map(|turn| turn.at) {
            self.book(last);
        }
    }
}

/// At most `limit` sends in any `window`.
#[derive(Debug)]
struct SlidingLog {
    limit: usize,
    window: Duration,
    sent: VecDeque<Instant>,
}

impl SlidingLog {
    fn new(limit: usize, window: Duration) -> SlidingLog {
        SlidingLog {
            limit: limit.max(1),
            window,
            sent: VecDeque::new(),
        }
    }

    /// When a send is allowed, at `now` or later (for a send at that time).
    fn free_at(&mut self, now: Instant) -> Instant {
        while self
            .sent
            .front()
            .is_some_and(|oldest| now.saturating_duration_since(*oldest) >= self.window)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.limit {
            return now;
        }
        self.sent[self.sent.len() - self.limit] + self.window
    }

    fn take(&mut self, slot: Instant) {
        self.sent.push_back(slot);
    }

    fn is_idle(&self, now: Instant) -> bool {
        self.sent
            .back()
            .is_none_or(|newest| now.saturating_duration_since(*newest) >= self.window)
    }
}

/// Which endpoint limits a client paces itself under (none by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointLimitOptions {
    /// Update Ticket requests per minute per account (Zendesk: 100, 300
    /// with High Volume); `None`: not paced.
    pub update_ticket_per_minute: Option<u32>,
    /// User creations per minute per account (Zendesk: 60); `None`: not
    /// paced (nor per user).
    pub user_creates_per_minute: Option<u32>,
}

/// The spacing of user creations for `per_minute` a minute: a tenth slower.
pub fn user_create_spacing(per_minute: u32) -> Duration {
    (Duration::from_secs(60) / per_minute.max(1)).mul_f64(1.1)
}

/// The buckets of one account (plain logic over an injected clock). An
/// endpoint that is not paced has a spacing of zero, so a 429's hold still
/// applies to it.
#[derive(Debug)]
pub struct EndpointBuckets {
    update_ticket: Spacing,
    user_create: Spacing,
    per_user_on: bool,
    per_user: HashMap<String, SlidingLog>,
    next_turn: u64,
}

impl Default for EndpointBuckets {
    fn default() -> Self {
        EndpointBuckets::new(EndpointLimitOptions::default())
    }
}

impl EndpointBuckets {
    /// Buckets for the limits in `options`.
    pub fn new(options: EndpointLimitOptions) -> EndpointBuckets {
        let update = options
            .update_ticket_per_minute
            .map_or(Duration::ZERO, |limit| {
                Duration::from_secs(60) / paced_per_minute(limit.max(1))
            });
        let users = options
            .user_creates_per_minute
            .map_or(Duration::ZERO, user_create_spacing);
        EndpointBuckets {
            update_ticket: Spacing::new(update),
            user_create: Spacing::new(users),
            per_user_on: options.user_creates_per_minute.is_some(),
            per_user: HashMap::new(),
            next_turn: 0,
        }
    }

    fn spacing(&mut self, endpoint: Endpoint) -> &mut Spacing {
        match endpoint {
            Endpoint::UpdateTicket => &mut self.update_ticket,
            Endpoint::UserCreate => &mut self.user_create,
        }
    }

    /// Reserves the call's slot if it is free within `max_wait` of `now`
    /// and returns its time; otherwise reserves nothing and returns when it
    /// frees up (a call without a turn to keep: see [`EndpointBuckets::reserve_at`]).
    pub fn reserve(
        &mut self,
        endpoint: Endpoint,
        user: Option<&str>,
        now: Instant,
        max_wait: Option<Duration>,
    ) -> Result<Instant, Instant> {
        self.reserve_at(endpoint, user, now, max_wait, CallPriority::UNSCOPED, None)
    }

    /// [`EndpointBuckets::reserve`] for a call of `priority` that can keep a
    /// turn (`turn`: the one it holds, if any, and where a new one goes).
    /// Holding a turn of this endpoint, the call is sent in it when it is
    /// due within `max_wait`, else told its time again. Refused without
    /// one, it is given a turn, queued ahead of worse ranks' turns not yet
    /// moved back by `priority.max_wait`, and told its time. A call its user's own limit
    /// refuses is told when that frees, and holds no turn.
    pub fn reserve_at(
        &mut self,
        endpoint: Endpoint,
        user: Option<&str>,
        now: Instant,
        max_wait: Option<Duration>,
        priority: CallPriority,
        mut turn: Option<&mut Option<Turn>>,
    ) -> Result<Instant, Instant> {
        if self.per_user.len() > PRUNE_ABOVE {
            self.per_user.retain(|_, log| !log.is_idle(now));
        }
        let per_user_on = self.per_user_on;
        let user = user.filter(|_| endpoint == Endpoint::UserCreate && per_user_on);
        let by = max_wait.map(|limit| now + limit);
        // The user's own window, for a send at `at`.
        let user_free_at = |buckets: &mut Self, at: Instant| match user {
            Some(user) => buckets
                .per_user
                .entry(user.to_owned())
                .or_insert_with(|| SlidingLog::new(USER_CREATES_PER_USER, PER_USER_WINDOW))
                .free_at(at),
            None => at,
        };
        self.spacing(endpoint).lapse(now);
        let held = turn
            .as_deref_mut()
            .and_then(|held| held.take_if(|held| held.endpoint == endpoint));
        if let Some(held) = held
            && let Some(queued) = self.spacing(endpoint).remove(held.id)
        {
            let slot = queued.at.max(self.spacing(endpoint).sendable_at(now));
            let user_at = user_free_at(self, slot);
            if user_at > slot {
                return Err(user_at);
            }
            if by.is_some_and(|by| slot > by) {
                // Moved back by better ranks, or here early: not yet.
                let spacing = self.spacing(endpoint);
                let place = spacing
                    .turns
                    .iter()
                    .position(|turn| turn.at > queued.at)
                    .unwrap_or(spacing.turns.len());
                spacing.turns.insert(place, queued);
                if let Some(turn) = turn {
                    *turn = Some(held);
                }
                return Err(slot);
            }
            self.spacing(endpoint).send(slot);
            self.take_user_slot(user, slot);
            return Ok(slot);
        }
        let account_slot = self.spacing(endpoint).free_at(now);
        let slot = account_slot.max(user_free_at(self, account_slot));
        if by.is_some_and(|by| slot > by) {
            if let Some(turn) = turn.filter(|_| slot == account_slot) {
                let id = self.next_turn;
                self.next_turn += 1;
                let at =
                    self.spacing(endpoint)
                        .queue(now, slot, id, priority.rank, priority.max_wait);
                *turn = Some(Turn { endpoint, id });
                return Err(at);
            }
            return Err(slot);
        }
        self.spacing(endpoint).send(slot);
        self.take_user_slot(user, slot);
        Ok(slot)
    }

    fn take_user_slot(&mut self, user: Option<&str>, slot: Instant) {
        if let Some(log) = user.and_then(|user| self.per_user.get_mut(user)) {
            log.take(slot);
        }
    }

    /// Holds every call of `endpoint` until `until` (its 429's `Retry-After`).
    /// Paced or not, the endpoint is held.
    pub fn hold(&mut self, endpoint: Endpoint, until: Instant) {
        self.spacing(endpoint).hold(until);
    }
}

/// Longest `Retry-After` the per-minute Update Ticket limit can ask for: a
/// longer one is the per-ticket limit's (30 per 10 minutes) alone.
const UPDATE_LIMIT_LONGEST_HOLD: Duration = Duration::from_secs(60);

/// The endpoint hold a 429 asks for: a 429 to a limited endpoint whose
/// answer still shows account budget left (`remaining > 0`) comes from the
/// endpoint's limit, so that endpoint's bucket waits out `Retry-After`. A
/// ticket update's 429 may also be the per-ticket limit's (Zendesk uses one
/// status for both), which the ticket's own hold covers; it holds the
/// update bucket too unless it asks for more than a minute.
pub(crate) fn hold_after(
    error: &crate::Error,
    limited: Option<&Limited>,
    budget: &crate::RateLimitInfo,
    attempt: u32,
    jitter: f64,
) -> Option<(Endpoint, Duration)> {
    let limited = limited?;
    if !error.is_rate_limited() || budget.remaining.is_none_or(|left| left == 0) {
        return None;
    }
    let wait = error
        .retry_after()
        .unwrap_or_else(|| crate::retry::backoff(attempt, jitter));
    if limited.endpoint == Endpoint::UpdateTicket && wait > UPDATE_LIMIT_LONGEST_HOLD {
        return None;
    }
    Some((limited.endpoint, wait))
}

/// [`EndpointBuckets`] shared by all clones of a client; sleeps with tokio's timer.
#[derive(Debug, Clone, Default)]
pub(crate) struct EndpointLimits {
    inner: Arc<Mutex<EndpointBuckets>>,
}

impl EndpointLimits {
    /// Replaces the buckets with fresh ones for `options`.
    pub fn set(&self, options: EndpointLimitOptions) {
        *self.lock() = EndpointBuckets::new(options);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EndpointBuckets> {
        // Every change is a single assignment or push: consistent after a panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the call's slot and returns how long it waited, or, when
    /// that is beyond `max_wait`, the time until the call's turn (see
    /// [`EndpointBuckets::reserve`]).
    pub async fn wait_turn(
        &self,
        limited: &Limited,
        max_wait: Option<Duration>,
    ) -> Result<Duration, Duration> {
        let now = Instant::now();
        let priority = crate::pacer::current_priority();
        let mut held = TURN.try_with(Cell::get).ok();
        let reserved = self.lock().reserve_at(
            limited.endpoint,
            limited.user.as_deref(),
            now,
            max_wait,
            priority,
            held.as_mut(),
        );
        if let Some(turn) = held {
            // In a `with_turn` scope: keep what the bucket left us.
            let _ = TURN.try_with(|cell| cell.set(turn));
        }
        match reserved {
            Ok(slot) => {
                tokio::time::sleep_until(slot).await;
                Ok(slot.saturating_duration_since(now))
            }
            Err(free_at) => Err(free_at.saturating_duration_since(now)),
        }
    }

    /// Holds `endpoint` for `wait` from now.
    pub fn hold_for(&self, endpoint: Endpoint, wait: Duration) {
        self.lock().hold(endpoint, Instant::now() + wait);
    }
}

#[cfg(test)]
mod tests;
