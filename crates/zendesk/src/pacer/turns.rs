//! Whose call takes the pacer's next send slot: the channel priority of the
//! event a call is made for (decision 59).
//!
//! The router runs each event's work inside [`with_priority`], naming its
//! channel's rank (0 first) and the starvation limit. Callers waiting in the
//! pacer are served by rank, in arrival order within a rank, so a chat's
//! calls take the next free slot before the calls of a mail backlog queued
//! ahead of them; a caller that has waited longer than its limit is served
//! first (the oldest such), so a steady stream of higher-priority calls
//! delays the others but never starves them (decision 13's guard, extended
//! to the pacer). Calls outside a scope (the CLI, setup) rank first: they are
//! few and someone waits for them.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static PRIORITY: CallPriority;
}

/// The priority of the calls of one piece of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPriority {
    /// 0 is served first.
    pub rank: usize,
    /// Past this wait in the pacer a call is served before higher ranks.
    pub max_wait: Duration,
}

impl CallPriority {
    /// What calls outside [`with_priority`] get: first rank, and a limit
    /// that never matters for them.
    pub const UNSCOPED: CallPriority = CallPriority {
        rank: 0,
        max_wait: Duration::from_secs(60),
    };
}

/// Runs `work` with every Zendesk call inside it paced at `priority`.
pub async fn with_priority<F: Future>(priority: CallPriority, work: F) -> F::Output {
    PRIORITY.scope(priority, work).await
}

/// The priority of the current call.
pub(crate) fn current() -> CallPriority {
    PRIORITY
        .try_with(|priority| *priority)
        .unwrap_or(CallPriority::UNSCOPED)
}

/// One caller waiting for a send slot.
#[derive(Debug)]
struct Waiter {
    id: u64,
    priority: CallPriority,
    since: Instant,
}

impl Waiter {
    fn starves_at(&self) -> Instant {
        self.since + self.priority.max_wait
    }
}

/// The callers waiting for a send slot. Plain logic over an injected clock.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    waiting: Vec<Waiter>,
    next_id: u64,
}

impl Turns {
    /// Queues a caller; returns its id.
    pub(crate) fn join(&mut self, priority: CallPriority, now: Instant) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.push(Waiter {
            id,
            priority,
            since: now,
        });
        id
    }

    /// Removes a caller (served, or gave up waiting).
    pub(crate) fn leave(&mut self, id: u64) {
        self.waiting.retain(|waiter| waiter.id != id);
    }

    /// Whose turn it is at `now`: the longest-waiting caller that reached
    /// its limit, else the lowest rank, first come first within it.
    pub(crate) fn first(&self, now: Instant) -> Option<u64> {
        let starved = self
            .waiting
            .iter()
            .filter(|waiter| waiter.starves_at() <= now)
            .min_by_key(|waiter| (waiter.since, waiter.id));
        starved
            .or_else(|| {
                self.waiting
                    .iter()
                    .min_by_key(|waiter| (waiter.priority.rank, waiter.id))
            })
            .map(|waiter| waiter.id)
    }

    /// When caller `id` joined.
    pub(crate) fn since(&self, id: u64) -> Option<Instant> {
        self.find(id).map(|waiter| waiter.since)
    }

    /// When caller `id`, not first now, may become first without anyone
    /// leaving (its starvation limit passes).
    pub(crate) fn starves_at(&self, id: u64) -> Option<Instant> {
        self.find(id).map(Waiter::starves_at)
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    fn find(&self, id: u64) -> Option<&Waiter> {
        self.waiting.iter().find(|waiter| waiter.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    fn rank(rank: usize) -> CallPriority {
        CallPriority {
            rank,
            max_wait: LIMIT,
        }
    }

    #[test]
    fn the_lowest_rank_goes_first_then_arrival_order() {
        let t0 = Instant::now();
        let mut turns = Turns::default();
        let mail_1 = turns.join(rank(1), t0);
        let mail_2 = turns.join(rank(1), t0);
        let chat = turns.join(rank(0), t0 + Duration::from_secs(1));
        let now = t0 + Duration::from_secs(2);
        assert_eq!(turns.first(now), Some(chat));
        turns.leave(chat);
        assert_eq!(turns.first(now), Some(mail_1));
        turns.leave(mail_1);
        assert_eq!(turns.first(now), Some(mail_2));
        turns.leave(mail_2);
        assert_eq!(turns.first(now), None);
        assert_eq!(turns.len(), 0);
    }

    #[test]
    fn a_caller_past_its_limit_goes_before_higher_ranks() {
        let t0 = Instant::now();
        let mut turns = Turns::default();
        let mail = turns.join(rank(1), t0);
        let chat = turns.join(rank(0), t0 + Duration::from_secs(5));
        let before = t0 + LIMIT - Duration::from_millis(1);
        assert_eq!(turns.first(before), Some(chat), "not yet starved");
        assert_eq!(turns.starves_at(mail), Some(t0 + LIMIT));
        assert_eq!(turns.first(t0 + LIMIT), Some(mail));
        assert_eq!(turns.since(mail), Some(t0));
    }

    #[tokio::test]
    async fn the_scope_sets_the_priority_of_its_calls() {
        assert_eq!(current(), CallPriority::UNSCOPED);
        let inside = with_priority(rank(3), async { current() }).await;
        assert_eq!(inside, rank(3));
        assert_eq!(current(), CallPriority::UNSCOPED);
    }
}
