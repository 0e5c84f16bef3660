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
//! could use. **Its turn is kept**: the refused call's slot is reserved as
//! a *turn* (queued after every turn already given), and the first call at
//! the endpoint once a turn is due takes it. So many conversations waiting
//! on one bucket are told distinct times, one slot apart, and each parks
//! once; without turns all were told the same time, one got the slot and
//! the others parked again, every slot (decision 63). A turn nobody takes
//! within [`TURN_GRACE`] of its time (the lane was stopped or moved to
//! another router) lapses. A call refused by its *user's* limit (5 a
//! minute) gets no turn: that wait is its own and holds no one else.
//! Channel priority holds in the turns: a refused call is queued ahead of
//! the turns of worse ranks ([`crate::pacer::with_priority`]) that have not waited
//! the starvation guard's limit.
//!
//! **Zendesk's answers.** A 429 to one of these endpoints while the
//! account budget still has room is the endpoint's limit (or, for a ticket
//! update, the per-ticket one): it holds that endpoint's bucket (for an
//! update: the ticket too, as before) until `Retry-After`, not every call
//! of the account.
//!
//! [`ClientOptions::update_ticket_per_minute`]: crate::ClientOptions::update_ticket_per_minute

use std::collections::{HashMap, VecDeque};
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

/// Send slots spaced `interval` apart, with an optional hold, and the
/// turns: slots reserved for refused calls, earliest first.
#[derive(Debug)]
struct Spacing {
    interval: Duration,
    /// Where the next slot not yet booked (as a send or a turn) starts.
    next_free: Option<Instant>,
    /// The latest slot given to a send: a turn taken late sends no sooner
    /// than `interval` after it, so late turns never bunch up.
    last_sent: Option<Instant>,
    held_until: Option<Instant>,
    /// The turns' times, earliest first.
    turns: VecDeque<Instant>,
    /// Who is served in each turn, in the same order: turns are not named,
    /// so these only say which ranks wait, for a new call to be queued
    /// ahead of worse ranks (channel priority, rule 3).
    owners: VecDeque<Owner>,
}

/// A waiting call's rank and when it was first given a turn.
#[derive(Debug, Clone, Copy)]
struct Owner {
    rank: usize,
    since: Instant,
}

impl Spacing {
    fn new(interval: Duration) -> Spacing {
        Spacing {
            interval,
            next_free: None,
            last_sent: None,
            held_until: None,
            turns: VecDeque::new(),
            owners: VecDeque::new(),
        }
    }

    /// Takes the earliest turn due by `by` (turns lapsed before `now`
    /// less [`TURN_GRACE`] are dropped first).
    fn take_due_turn(&mut self, now: Instant, by: Option<Instant>) -> Option<(Instant, Owner)> {
        while self
            .turns
            .front()
            .is_some_and(|turn| now.saturating_duration_since(*turn) > TURN_GRACE)
        {
            self.pop_turn();
        }
        let due = self
            .turns
            .front()
            .is_some_and(|turn| by.is_none_or(|by| *turn <= by));
        if due { self.pop_turn() } else { None }
    }

    fn pop_turn(&mut self) -> Option<(Instant, Owner)> {
        Some((self.turns.pop_front()?, self.owners.pop_front()?))
    }

    /// Books a turn for a call of `owner`'s rank refused at `slot` (the
    /// next free one) and returns when it is to come back: at the first
    /// turn held by a worse rank, which with every later one moves a slot
    /// back (anonymous turns: the times stay, the owners shift), unless a
    /// call has waited `starve_after` already (those and all before them
    /// are not passed); else at `slot`, last.
    fn queue(&mut self, slot: Instant, owner: Owner, starve_after: Duration) -> Instant {
        self.book(slot);
        self.turns.push_back(slot);
        let after_starving = self
            .owners
            .iter()
            .rposition(|waiting| {
                owner.since.saturating_duration_since(waiting.since) >= starve_after
            })
            .map_or(0, |i| i + 1);
        let ahead_of = (after_starving..self.owners.len())
            .find(|&i| self.owners[i].rank > owner.rank)
            .unwrap_or(self.owners.len());
        self.owners.insert(ahead_of, owner);
        self.turns[ahead_of]
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
        // Turns inside the hold are void: their callers come back, find
        // none, and are queued after it.
        while self.turns.front().is_some_and(|turn| *turn < until) {
            self.pop_turn();
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
        }
    }

    fn spacing(&mut self, endpoint: Endpoint) -> &mut Spacing {
        match endpoint {
            Endpoint::UpdateTicket => &mut self.update_ticket,
            Endpoint::UserCreate => &mut self.user_create,
        }
    }

    /// Reserves the call's slot if it is free within `max_wait` of `now`
    /// and returns its time: a turn that is due, else the bucket's next
    /// slot. Otherwise returns when to come back, the call's turn (see the
    /// module's notes), or, when its user's own limit refuses it, when that
    /// frees up (nothing reserved).
    pub fn reserve(
        &mut self,
        endpoint: Endpoint,
        user: Option<&str>,
        now: Instant,
        max_wait: Option<Duration>,
    ) -> Result<Instant, Instant> {
        self.reserve_at(endpoint, user, now, max_wait, CallPriority::UNSCOPED)
    }

    /// [`EndpointBuckets::reserve`] for a call of `priority`: refused, it is
    /// queued ahead of the turns of worse ranks that have not waited
    /// `priority.max_wait` yet (the pacer's starvation guard).
    pub fn reserve_at(
        &mut self,
        endpoint: Endpoint,
        user: Option<&str>,
        now: Instant,
        max_wait: Option<Duration>,
        priority: CallPriority,
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
        if let Some((turn, owner)) = self.spacing(endpoint).take_due_turn(now, by) {
            let slot = turn.max(self.spacing(endpoint).sendable_at(now));
            if user_free_at(self, slot) <= slot {
                self.spacing(endpoint).send(slot);
                self.take_user_slot(user, slot);
                return Ok(slot);
            }
            // Not this user's time: the turn stays for the next call.
            let spacing = self.spacing(endpoint);
            spacing.turns.push_front(turn);
            spacing.owners.push_front(owner);
        }
        let account_slot = self.spacing(endpoint).free_at(now);
        let slot = account_slot.max(user_free_at(self, account_slot));
        if by.is_some_and(|by| slot > by) {
            if slot == account_slot {
                let owner = Owner {
                    rank: priority.rank,
                    since: now,
                };
                return Err(self.spacing(endpoint).queue(slot, owner, priority.max_wait));
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
        let reserved = self.lock().reserve_at(
            limited.endpoint,
            limited.user.as_deref(),
            now,
            max_wait,
            priority,
        );
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
mod tests {
    use super::*;

    fn limits(update: u32, users: Option<u32>) -> EndpointBuckets {
        EndpointBuckets::new(EndpointLimitOptions {
            update_ticket_per_minute: Some(update),
            user_creates_per_minute: users,
        })
    }

    #[test]
    fn ticket_updates_are_spaced_under_the_endpoint_limit() {
        let t0 = Instant::now();
        let mut buckets = limits(100, None);
        let slots: Vec<Instant> = (0..300)
            .map(|_| {
                buckets
                    .reserve(Endpoint::UpdateTicket, None, t0, None)
                    .unwrap()
            })
            .collect();
        assert_eq!(slots[0], t0, "an idle bucket sends at once");
        for (i, start) in slots.iter().enumerate() {
            let in_window = slots[i..]
                .iter()
                .take_while(|s| s.duration_since(*start) < Duration::from_secs(60))
                .count();
            assert!(in_window < 100, "window from slot {i} holds {in_window}");
        }
        // The High Volume limit spaces them three times closer.
        let mut high = limits(300, None);
        high.reserve(Endpoint::UpdateTicket, None, t0, None)
            .unwrap();
        let second = high
            .reserve(Endpoint::UpdateTicket, None, t0, None)
            .unwrap();
        assert_eq!(second - t0, Duration::from_secs(60) / paced_per_minute(300));
    }

    #[test]
    fn a_call_beyond_the_wait_limit_is_given_a_turn() {
        let t0 = Instant::now();
        let mut buckets = limits(60, Some(60));
        let limit = Some(Duration::from_secs(2));
        let spacing = Duration::from_secs(60) / paced_per_minute(60);
        // 60/min paced at 59: a slot every ~1.02 s; the third is past 2 s.
        assert!(
            buckets
                .reserve(Endpoint::UpdateTicket, None, t0, limit)
                .is_ok()
        );
        assert!(
            buckets
                .reserve(Endpoint::UpdateTicket, None, t0, limit)
                .is_ok()
        );
        let turn = buckets
            .reserve(Endpoint::UpdateTicket, None, t0, limit)
            .unwrap_err();
        assert_eq!(turn, t0 + spacing * 2);
        // The next refused call is queued after it, not told the same time.
        let next_turn = buckets
            .reserve(Endpoint::UpdateTicket, None, t0, limit)
            .unwrap_err();
        assert_eq!(next_turn, turn + spacing);
        // Come back when told: the turn is there.
        assert_eq!(
            buckets.reserve(Endpoint::UpdateTicket, None, turn, limit),
            Ok(turn)
        );
        // A little late, within the grace: still there, sent at once.
        let late = next_turn + Duration::from_millis(700);
        assert_eq!(
            buckets.reserve(Endpoint::UpdateTicket, None, late, limit),
            Ok(late)
        );
        // User creation has a bucket of its own.
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, Some("a@x.test"), t0, limit),
            Ok(t0)
        );
    }

    /// The lanes of a backlog waiting on one bucket, in virtual time: each
    /// comes back when told. With turns each parks about once; told the
    /// same time (no turns), one got the slot and the rest parked again,
    /// every slot: hundreds of parks each.
    #[test]
    fn waiting_lanes_park_once_each_not_once_per_slot() {
        let t0 = Instant::now();
        let mut buckets = limits(100, Some(60));
        let limit = Some(Duration::from_secs(2));
        let lanes = 200;
        // (when the lane calls, its lane number), earliest first.
        let mut calls: std::collections::BTreeMap<(Instant, usize), ()> =
            (0..lanes).map(|lane| ((t0, lane), ())).collect();
        let mut parks = vec![0u32; lanes];
        let mut sent = Vec::new();
        while let Some(((at, lane), ())) = calls.pop_first() {
            let user = format!("user{lane}@x.test");
            match buckets.reserve(Endpoint::UserCreate, Some(&user), at, limit) {
                Ok(slot) => sent.push(slot),
                Err(back) => {
                    parks[lane] += 1;
                    // Resumed a little late, as a parked lane is (0-790 ms).
                    let late = Duration::from_millis((lane as u64 * 37) % 800);
                    calls.insert((back + late, lane), ());
                }
            }
        }
        assert_eq!(sent.len(), lanes, "every lane sent");
        let most = parks.iter().max().copied().unwrap_or_default();
        assert!(most <= 2, "a lane parked {most} times");
        let total: u32 = parks.iter().sum();
        assert!(
            total <= lanes as u32 + lanes as u32 / 10,
            "{total} parks for {lanes} lanes"
        );
        // And the bucket still spaced them as before.
        sent.sort();
        for pair in sent.windows(2) {
            assert!(pair[1] - pair[0] >= user_create_spacing(60));
        }
        let span = *sent.last().unwrap() - sent[0];
        let slots = span.as_secs_f64() / user_create_spacing(60).as_secs_f64();
        assert!(
            slots <= lanes as f64 * 1.5,
            "{slots:.0} slots for {lanes} sends"
        );
    }

    fn rank(rank: usize) -> CallPriority {
        CallPriority {
            rank,
            max_wait: Duration::from_secs(30),
        }
    }

    /// Mail (rank 1) waits in turns for user creation; a chat (rank 0) that
    /// is refused comes back at the first mail turn, not after all of them,
    /// and no waiting lane parks twice for it.
    #[test]
    fn a_better_rank_is_queued_ahead_of_waiting_turns() {
        let t0 = Instant::now();
        let mut buckets = limits(100, Some(60));
        let limit = Some(Duration::from_secs(2));
        let spacing = user_create_spacing(60);
        let mut mail_turns = Vec::new();
        for i in 0..20 {
            let user = format!("mail{i}");
            if let Err(turn) =
                buckets.reserve_at(Endpoint::UserCreate, Some(&user), t0, limit, rank(1))
            {
                mail_turns.push(turn);
            }
        }
        assert_eq!(mail_turns.len(), 18);
        let chat = buckets
            .reserve_at(Endpoint::UserCreate, Some("chat"), t0, limit, rank(0))
            .unwrap_err();
        assert_eq!(chat, mail_turns[0], "told the first mail turn's time");
        // Everyone comes back when told (the chat after the mail at its time).
        let mut calls: Vec<(Instant, String)> = mail_turns
            .iter()
            .enumerate()
            .map(|(i, at)| (*at, format!("mail{}", i + 2)))
            .collect();
        calls.push((chat + Duration::from_millis(1), "chat".to_owned()));
        calls.sort();
        let mut sent = std::collections::HashMap::new();
        for (at, user) in calls {
            let slot = buckets
                .reserve_at(Endpoint::UserCreate, Some(&user), at, limit, rank(1))
                .unwrap_or_else(|_| panic!("{user} refused again at its time"));
            sent.insert(user, slot);
        }
        assert!(
            sent["chat"] <= mail_turns[0] + spacing,
            "the chat went second at worst"
        );
        assert!(sent["mail19"] <= *mail_turns.last().unwrap() + spacing);
    }

    #[test]
    fn a_turn_waiting_past_the_priority_limit_is_not_passed() {
        let t0 = Instant::now();
        let mut buckets = limits(100, Some(60));
        let limit = Some(Duration::from_secs(2));
        for user in ["a", "b"] {
            assert!(
                buckets
                    .reserve_at(Endpoint::UserCreate, Some(user), t0, limit, rank(1))
                    .is_ok()
            );
        }
        let old_mail = buckets
            .reserve_at(Endpoint::UserCreate, Some("old"), t0, limit, rank(1))
            .unwrap_err();
        // 40 s later (the bucket held meanwhile, say), a younger mail and a chat.
        let later = t0 + Duration::from_secs(40);
        buckets.user_create.next_free = Some(later + Duration::from_secs(10));
        buckets.user_create.turns[0] = later + Duration::from_secs(3);
        let young_mail = buckets
            .reserve_at(Endpoint::UserCreate, Some("young"), later, limit, rank(1))
            .unwrap_err();
        let chat = buckets
            .reserve_at(Endpoint::UserCreate, Some("chat"), later, limit, rank(0))
            .unwrap_err();
        assert!(old_mail < chat);
        assert_eq!(
            chat, young_mail,
            "ahead of the young mail, behind the starving one"
        );
    }

    /// User creation at 60 a minute with a 2 s wait limit: a and b are sent
    /// at `t0`, c and d are given turns (returned).
    fn two_sent_then_two_turns() -> (EndpointBuckets, [Instant; 2]) {
        let t0 = Instant::now();
        let mut buckets = limits(100, Some(60));
        for user in ["a", "b"] {
            assert!(
                buckets
                    .reserve(Endpoint::UserCreate, Some(user), t0, WAIT)
                    .is_ok()
            );
        }
        let turns = ["c", "d"].map(|user| {
            buckets
                .reserve(Endpoint::UserCreate, Some(user), t0, WAIT)
                .unwrap_err()
        });
        (buckets, turns)
    }

    const WAIT: Option<Duration> = Some(Duration::from_secs(2));

    #[test]
    fn a_turn_taken_late_does_not_bunch_the_sends() {
        let (mut buckets, [first, second]) = two_sent_then_two_turns();
        let (limit, spacing) = (WAIT, user_create_spacing(60));
        // c comes back 1 s late, just before d's turn.
        let c_back = first + Duration::from_secs(1);
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, Some("c"), c_back, limit),
            Ok(c_back)
        );
        // d, on time, still goes a full spacing after c.
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, Some("d"), second, limit),
            Ok(c_back + spacing)
        );
        // And a newcomer is given the turn after both (beyond its wait).
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, Some("e"), second, limit),
            Err(c_back + spacing * 2)
        );
    }

    #[test]
    fn a_turn_not_taken_lapses_and_a_newcomer_takes_a_due_one() {
        let (mut buckets, [turn_c, turn_d]) = two_sent_then_two_turns();
        let (limit, spacing) = (WAIT, user_create_spacing(60));
        assert_eq!(turn_d, turn_c + spacing);
        // Another caller comes when c's turn is due, before c: it takes it.
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, Some("e"), turn_c, limit),
            Ok(turn_c)
        );
        // c, a moment later, takes d's (due within its wait limit) ...
        let c_back = turn_c + Duration::from_millis(100);
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, Some("c"), c_back, limit),
            Ok(turn_d)
        );
        // ... and d, back at its time, gets the next slot within its wait.
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, Some("d"), turn_d, limit),
            Ok(turn_d + spacing)
        );
        let g_turn = buckets
            .reserve(Endpoint::UserCreate, Some("g"), turn_d, limit)
            .unwrap_err();
        assert_eq!(g_turn, turn_d + spacing * 2);
        // Nobody comes for g's turn: past the grace it lapses, and a later
        // caller is served at once.
        let later = g_turn + TURN_GRACE + Duration::from_secs(1);
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, Some("f"), later, limit),
            Ok(later)
        );
        assert!(buckets.user_create.turns.is_empty());
    }

    #[test]
    fn a_user_over_its_own_limit_gets_no_turn() {
        let t0 = Instant::now();
        let mut buckets = limits(100, Some(60));
        let limit = Some(Duration::from_secs(2));
        let mut at = t0;
        for _ in 0..USER_CREATES_PER_USER {
            at = buckets
                .reserve(Endpoint::UserCreate, Some("ann"), at, None)
                .unwrap();
        }
        let free = buckets
            .reserve(Endpoint::UserCreate, Some("ann"), at, limit)
            .unwrap_err();
        assert_eq!(free, t0 + PER_USER_WINDOW);
        assert!(buckets.user_create.turns.is_empty());
        // Another user is not held behind Ann.
        let bob = at + user_create_spacing(60);
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, Some("bob"), at, limit),
            Ok(bob)
        );
    }

    #[test]
    fn user_creations_are_a_second_apart_and_five_a_minute_per_user() {
        let t0 = Instant::now();
        let mut buckets = limits(100, Some(60));
        let spacing = user_create_spacing(60);
        assert_eq!(spacing, Duration::from_millis(1100));
        let mut slots = Vec::new();
        for _ in 0..6 {
            slots.push(
                buckets
                    .reserve(Endpoint::UserCreate, Some("ann@x.test"), t0, None)
                    .unwrap(),
            );
        }
        for pair in slots[..5].windows(2) {
            assert_eq!(pair[1] - pair[0], spacing);
        }
        assert_eq!(
            slots[5],
            slots[0] + PER_USER_WINDOW,
            "the sixth waits for the window"
        );
        // Another user is only spaced by the account bucket.
        let other = buckets
            .reserve(Endpoint::UserCreate, Some("bob@x.test"), t0, None)
            .unwrap();
        assert_eq!(other, slots[5] + spacing);
    }

    #[test]
    fn endpoints_not_configured_are_not_paced_but_can_be_held() {
        let t0 = Instant::now();
        let mut off = EndpointBuckets::default();
        for _ in 0..1000 {
            assert_eq!(off.reserve(Endpoint::UpdateTicket, None, t0, None), Ok(t0));
            assert_eq!(
                off.reserve(Endpoint::UserCreate, Some("a"), t0, None),
                Ok(t0)
            );
        }
        let until = t0 + Duration::from_secs(1);
        off.hold(Endpoint::UserCreate, until);
        assert_eq!(off.reserve(Endpoint::UserCreate, None, t0, None), Ok(until));
        assert_eq!(off.reserve(Endpoint::UpdateTicket, None, t0, None), Ok(t0));
    }

    #[test]
    fn a_hold_moves_the_next_slot_past_it() {
        let t0 = Instant::now();
        let mut buckets = limits(100, Some(60));
        let until = t0 + Duration::from_secs(30);
        buckets.hold(Endpoint::UpdateTicket, until);
        buckets.hold(Endpoint::UpdateTicket, t0 + Duration::from_secs(3));
        assert_eq!(
            buckets.reserve(Endpoint::UpdateTicket, None, t0, None),
            Ok(until)
        );
        assert_eq!(
            buckets.reserve(Endpoint::UserCreate, None, t0, None),
            Ok(t0)
        );
    }
}
