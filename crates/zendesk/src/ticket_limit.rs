//! Per-ticket limits: Zendesk allows 30 updates per 10 minutes per user per
//! ticket, and answers 409 to concurrent updates of one ticket. The client
//! keeps a sliding log of its own updates per ticket (plain logic over an
//! injected clock) and runs updates of one ticket one at a time.

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

/// Sliding log of update times per ticket.
#[derive(Debug, Default)]
pub struct TicketUpdateLog {
    updates: HashMap<u64, VecDeque<Instant>>,
}

impl TicketUpdateLog {
    /// Takes a slot for an update of `ticket` at `now`, or says when one frees up.
    pub fn try_reserve(&mut self, ticket: u64, now: Instant) -> Result<(), Instant> {
        if self.updates.len() > PRUNE_ABOVE {
            self.prune(now);
        }
        let log = self.updates.entry(ticket).or_default();
        while log
            .front()
            .is_some_and(|oldest| now.saturating_duration_since(*oldest) >= WINDOW)
        {
            log.pop_front();
        }
        if log.len() < UPDATES_PER_WINDOW {
            log.push_back(now);
            return Ok(());
        }
        // Full: the oldest update leaves the window first.
        Err(log[0] + WINDOW)
    }

    fn prune(&mut self, now: Instant) {
        self.updates.retain(|_, log| {
            log.back()
                .is_some_and(|newest| now.saturating_duration_since(*newest) < WINDOW)
        });
    }

    /// Tickets currently tracked (for tests of the bound).
    pub fn tracked(&self) -> usize {
        self.updates.len()
    }
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

    /// Waits for an update slot of `ticket`; returns how long it waited.
    pub async fn wait_slot(&self, ticket: u64) -> Duration {
        let started = Instant::now();
        // Each round either takes a slot or sleeps until the oldest update
        // leaves the window, so at most a few rounds run.
        loop {
            let free_at = {
                let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
                log.try_reserve(ticket, Instant::now())
            };
            match free_at {
                Ok(()) => return started.elapsed(),
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
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
            assert_eq!(limits.wait_slot(42).await, Duration::ZERO);
        }
        let waited = limits.wait_slot(42).await;
        assert_eq!(waited, WINDOW);
        assert_eq!(Instant::now() - start, WINDOW);
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
