//! Per-ticket limits: Zendesk allows 30 updates per 10 minutes per user per
//! ticket, and answers 409 to concurrent updates of one ticket. The client
//! keeps a sliding log of its own updates per ticket (plain logic over an
//! injected clock) and runs updates of one ticket one at a time. A 429 from
//! the per-ticket limit holds only that ticket, until its `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Updates allowed per ticket per window.
pub const UPDATES_PER_WINDOW: usize = 30;
/// The per-ticket window.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Map size above which tickets with no update in the window are dropped.
const PRUNE_ABOVE: usize = 1024;

/// One ticket's recent updates and the hold a per-ticket 429 put on it.
#[derive(Debug, Default)]
struct TicketLog {
    sent: VecDeque<Instant>,
    held_until: Option<Instant>,
}

impl TicketLog {
    fn is_idle(&self, now: Instant) -> bool {
        let recent = self
            .sent
            .back()
            .is_some_and(|newest| now.saturating_duration_since(*newest) < WINDOW);
        let held = self.held_until.is_some_and(|until| until > now);
        !recent && !held
    }
}

/// Sliding log of update times per ticket.
#[derive(Debug, Default)]
pub struct TicketUpdateLog {
    updates: HashMap<u64, TicketLog>,
}

impl TicketUpdateLog {
    /// Takes a slot for an update of `ticket` at `now`, or says when one frees up
    /// (the end of a hold, or when the oldest update leaves the window).
    pub fn try_reserve(&mut self, ticket: u64, now: Instant) -> Result<(), Instant> {
        if self.updates.len() > PRUNE_ABOVE {
            self.prune(now);
        }
        let log = self.updates.entry(ticket).or_default();
        match log.held_until {
            Some(until) if until > now => return Err(until),
            Some(_) => log.held_until = None,
            None => {}
        }
        while log
            .sent
            .front()
            .is_some_and(|oldest| now.saturating_duration_since(*oldest) >= WINDOW)
        {
            log.sent.pop_front();
        }
        if log.sent.len() < UPDATES_PER_WINDOW {
            log.sent.push_back(now);
            return Ok(());
        }
        // Full: the oldest update leaves the window first.
        Err(log.sent[0] + WINDOW)
    }

    /// Gives back the slot taken at `at`: the attempt never reached Zendesk's
    /// ticket logic (an account-level 429, a connection that never opened).
    pub fn release(&mut self, ticket: u64, at: Instant) {
        if let Some(log) = self.updates.get_mut(&ticket)
            && let Some(position) = log.sent.iter().rposition(|sent| *sent == at)
        {
            log.sent.remove(position);
        }
    }

    /// Refuses updates of `ticket` until `until` (a per-ticket 429's `Retry-After`).
    /// A shorter hold never shortens a longer one.
    pub fn hold(&mut self, ticket: u64, until: Instant) {
        let log = self.updates.entry(ticket).or_default();
        log.held_until = Some(log.held_until.map_or(until, |old| old.max(until)));
    }

    fn prune(&mut self, now: Instant) {
        self.updates.retain(|_, log| !log.is_idle(now));
    }

    /// Tickets currently tracked (for tests of the bound).
    pub fn tracked(&self) -> usize {
        self.updates.len()
    }

    /// Updates of `ticket` counted in the window ending at `now`.
    pub fn counted(&self, ticket: u64, now: Instant) -> usize {
        self.updates.get(&ticket).map_or(0, |log| {
            log.sent
                .iter()
                .filter(|sent| now.saturating_duration_since(**sent) < WINDOW)
                .count()
        })
    }
}

/// An update slot taken by [`TicketLimits::wait_slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The ticket the slot is for.
    pub ticket: u64,
    /// When the slot was taken (its entry in the log).
    pub at: Instant,
    /// How long the caller waited for it.
    pub waited: Duration,
}

/// The per-ticket state shared by all clones of a client.
#[derive(Debug, Clone, Default)]
pub struct TicketLimits {
    log: Arc<Mutex<TicketUpdateLog>>,
    locks: Arc<Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>>,
}

/// Held while one update of a ticket runs; others for the same ticket wait.
pub struct TicketTurn {
    ticket: u64,
    locks: Arc<Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for TicketTurn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map holds the lock now: nobody waits for this ticket.
        if locks
            .get(&self.ticket)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.ticket);
        }
    }
}

impl TicketLimits {
    /// Waits until no other update of `ticket` runs in this client.
    pub async fn exclusive(&self, ticket: u64) -> TicketTurn {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(ticket).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        TicketTurn {
            ticket,
            locks: self.locks.clone(),
            guard: Some(guard),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, TicketUpdateLog> {
        // Every change is a single push, remove or assignment: consistent even after a panic.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for an update slot of `ticket` (and for any hold on it to end).
    pub async fn wait_slot(&self, ticket: u64) -> Slot {
        let started = Instant::now();
        // Each round either takes a slot or sleeps until a hold ends or the
        // oldest update leaves the window, so at most a few rounds run.
        loop {
            let now = Instant::now();
            let free_at = self.log().try_reserve(ticket, now);
            match free_at {
                Ok(()) => {
                    return Slot {
                        ticket,
                        at: now,
                        waited: started.elapsed(),
                    };
                }
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// Like [`TicketLimits::wait_slot`], but waits only when the slot frees
    /// up within `limit`; otherwise returns when it does, without waiting.
    pub async fn wait_slot_within(&self, ticket: u64, limit: Duration) -> Result<Slot, Instant> {
        let started = Instant::now();
        loop {
            let now = Instant::now();
            let free_at = self.log().try_reserve(ticket, now);
            match free_at {
                Ok(()) => {
                    return Ok(Slot {
                        ticket,
                        at: now,
                        waited: started.elapsed(),
                    });
                }
                Err(at) if at.saturating_duration_since(started) > limit => return Err(at),
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// Gives a slot back: its attempt did not count against the ticket's limit.
    pub fn release(&self, slot: &Slot) {
        self.log().release(slot.ticket, slot.at);
    }

    /// Holds new updates of `ticket` (only) for `wait` from now.
    pub fn hold_for(&self, ticket: u64, wait: Duration) {
        self.log().hold(ticket, Instant::now() + wait);
    }

    /// Updates of `ticket` counted in the current window (for tests).
    pub fn counted(&self, ticket: u64) -> usize {
        self.log().counted(ticket, Instant::now())
    }

    /// Tickets with an open lock (for tests: locks are not leaked).
    pub fn open_locks(&self) -> usize {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirtieth_update_passes_and_thirty_first_waits_for_the_oldest() {
        let t0 = Instant::now();
        let mut log = TicketUpdateLog::default();
        for i in 0..30u32 {
            assert_eq!(
                log.try_reserve(7, t0 + Duration::from_secs(i.into())),
                Ok(())
            );
        }
        let now = t0 + Duration::from_secs(40);
        assert_eq!(log.try_reserve(7, now), Err(t0 + WINDOW));
        // Other tickets are not affected.
        assert_eq!(log.try_reserve(8, now), Ok(()));
        // Once the oldest leaves the window there is room for one more.
        assert_eq!(log.try_reserve(7, t0 + WINDOW), Ok(()));
        assert_eq!(
            log.try_reserve(7, t0 + WINDOW),
            Err(t0 + Duration::from_secs(1) + WINDOW)
        );
    }

    #[test]
    fn idle_tickets_are_forgotten() {
        let t0 = Instant::now();
        let mut log = TicketUpdateLog::default();
        for ticket in 0..=(PRUNE_ABOVE as u64) {
            log.try_reserve(ticket, t0).unwrap();
        }
        assert_eq!(log.tracked(), PRUNE_ABOVE + 1);
        log.try_reserve(999_999, t0 + WINDOW).unwrap();
        assert_eq!(log.tracked(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn thirty_first_update_waits_ten_minutes() {
        let limits = TicketLimits::default();
        let start = Instant::now();
        for _ in 0..30 {
            assert_eq!(limits.wait_slot(42).await.waited, Duration::ZERO);
        }
        let waited = limits.wait_slot(42).await.waited;
        assert_eq!(waited, WINDOW);
        assert_eq!(Instant::now() - start, WINDOW);
    }

    #[test]
    fn a_released_slot_is_not_counted() {
        let t0 = Instant::now();
        let mut log = TicketUpdateLog::default();
        for i in 0..30u32 {
            log.try_reserve(7, t0 + Duration::from_secs(i.into()))
                .unwrap();
        }
        let now = t0 + Duration::from_secs(40);
        assert!(log.try_reserve(7, now).is_err());
        // The attempt at t0 + 5 s was refused by the account limit.
        log.release(7, t0 + Duration::from_secs(5));
        assert_eq!(log.counted(7, now), 29);
        assert_eq!(log.try_reserve(7, now), Ok(()));
        assert!(log.try_reserve(7, now).is_err());
        // Releasing an unknown slot or ticket changes nothing.
        log.release(7, t0 + Duration::from_secs(500));
        log.release(99, t0);
        assert!(log.try_reserve(7, now).is_err());
    }

    #[test]
    fn a_hold_refuses_only_its_ticket_until_it_ends() {
        let t0 = Instant::now();
        let mut log = TicketUpdateLog::default();
        let until = t0 + Duration::from_secs(90);
        log.hold(7, until);
        log.hold(7, t0 + Duration::from_secs(10)); // never shortens
        assert_eq!(log.try_reserve(7, t0), Err(until));
        assert_eq!(
            log.try_reserve(7, until - Duration::from_secs(1)),
            Err(until)
        );
        assert_eq!(log.try_reserve(8, t0), Ok(()));
        assert_eq!(log.try_reserve(7, until), Ok(()));
    }

    #[test]
    fn a_held_ticket_is_not_pruned_while_held() {
        let t0 = Instant::now();
        let mut log = TicketUpdateLog::default();
        log.hold(1, t0 + WINDOW * 2);
        for ticket in 2..=(PRUNE_ABOVE as u64 + 1) {
            log.try_reserve(ticket, t0).unwrap();
        }
        log.try_reserve(999_999, t0 + WINDOW).unwrap();
        assert_eq!(log.tracked(), 2, "the held ticket and the new one");
        assert_eq!(log.try_reserve(1, t0 + WINDOW), Err(t0 + WINDOW * 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_ticket_waits_for_the_hold() {
        let limits = TicketLimits::default();
        limits.hold_for(3, Duration::from_secs(45));
        assert_eq!(limits.wait_slot(4).await.waited, Duration::ZERO);
        let slot = limits.wait_slot(3).await;
        assert_eq!(slot.waited, Duration::from_secs(45));
        assert_eq!(slot.ticket, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bounded_wait_returns_when_the_slot_frees_instead_of_sleeping() {
        let limits = TicketLimits::default();
        let start = Instant::now();
        for _ in 0..30 {
            limits.wait_slot_within(9, Duration::ZERO).await.unwrap();
        }
        let refused = limits.wait_slot_within(9, Duration::from_secs(5)).await;
        assert_eq!(refused, Err(start + WINDOW));
        assert_eq!(Instant::now(), start, "it did not sleep");
        limits.hold_for(10, Duration::from_secs(3));
        let slot = limits
            .wait_slot_within(10, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            slot.waited,
            Duration::from_secs(3),
            "a short hold is waited out"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn updates_of_one_ticket_run_one_at_a_time() {
        let limits = TicketLimits::default();
        let first = limits.exclusive(5).await;
        let second = {
            let limits = limits.clone();
            tokio::spawn(async move {
                let _turn = limits.exclusive(5).await;
                Instant::now()
            })
        };
        let other_ticket = limits.exclusive(6).await;
        drop(other_ticket);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let released = Instant::now();
        drop(first);
        assert!(second.await.unwrap() >= released);
        assert_eq!(limits.open_locks(), 0);
    }
}
