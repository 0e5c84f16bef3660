//! Lanes: which polled event may be worked on next.
//!
//! Every event belongs to one lane: its conversation (channel + thread id)
//! or, where it names none, its requester (contact key). A lane runs one
//! event at a time, in the order the events were polled, so one
//! conversation's messages reach Zendesk in order; different lanes run
//! concurrently. When a worker slot frees up, [`Lanes::pick`] chooses among
//! the heads of the lanes that are neither busy nor parked: a head that has
//! waited longer than the starvation limit (the oldest such) first, else the
//! highest-priority channel (lowest rank), oldest first within it.
//!
//! Plain logic over an injected clock, so it is tested without a bus.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// One event waiting in its lane.
#[derive(Debug)]
struct Waiting<T> {
    item: T,
    /// Channel rank: 0 is served first.
    rank: usize,
    /// When it was polled (for the starvation guard).
    since: Instant,
    /// Poll order, for ties.
    seq: u64,
}

#[derive(Debug)]
struct Lane<T> {
    queue: VecDeque<Waiting<T>>,
    /// An event of this lane is being worked on.
    busy: bool,
    /// Parked: the head may not start before this instant.
    not_before: Option<Instant>,
}

/// The lanes of every event held by the router and not finished yet.
#[derive(Debug)]
pub(crate) struct Lanes<T> {
    lanes: HashMap<String, Lane<T>>,
    next_seq: u64,
    /// Events waiting (not being worked on), per channel rank.
    waiting_per_rank: Vec<usize>,
}

impl<T> Lanes<T> {
    pub(crate) fn new(ranks: usize) -> Self {
        Self {
            lanes: HashMap::new(),
            next_seq: 0,
            waiting_per_rank: vec![0; ranks],
        }
    }

    /// Queues `item` at the end of `lane`.
    pub(crate) fn push(&mut self, lane: &str, rank: usize, item: T, now: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.count(rank, true);
        let entry = self.lanes.entry(lane.to_owned()).or_insert_with(|| Lane {
            queue: VecDeque::new(),
            busy: false,
            not_before: None,
        });
        entry.queue.push_back(Waiting {
            item,
            rank,
            since: now,
            seq,
        });
    }

    /// Takes the next event to work on (see the module doc) and marks its
    /// lane busy; None when no lane may start now.
    #[cfg(test)]
    pub(crate) fn pick(&mut self, now: Instant, max_wait: Duration) -> Option<(String, T)> {
        self.pick_within(now, max_wait, None)
    }

    /// [`Lanes::pick`] among heads of rank at most `max_rank` (all: None).
    pub(crate) fn pick_within(
        &mut self,
        now: Instant,
        max_wait: Duration,
        max_rank: Option<usize>,
    ) -> Option<(String, T)> {
        let mut starved: Option<(&String, (Instant, u64))> = None;
        let mut best: Option<(&String, (usize, u64))> = None;
        for (key, lane) in &self.lanes {
            if lane.busy || lane.not_before.is_some_and(|at| at > now) {
                continue;
            }
            let Some(head) = lane.queue.front() else {
                continue;
            };
            // A starved head (decision 13) may take even a held-back slot:
            // the starvation guard outranks the reserve.
            let age = (head.since, head.seq);
            if now.saturating_duration_since(head.since) > max_wait
                && starved.is_none_or(|(_, oldest)| age < oldest)
            {
                starved = Some((key, age));
            }
            if max_rank.is_some_and(|max| head.rank > max) {
                continue;
            }
            let order = (head.rank, head.seq);
            if best.is_none_or(|(_, o)| order < o) {
                best = Some((key, order));
            }
        }
        let key = starved.map(|(k, _)| k).or(best.map(|(k, _)| k))?.clone();
        let lane = self.lanes.get_mut(&key)?;
        let head = lane.queue.pop_front()?;
        lane.busy = true;
        lane.not_before = None;
        self.count(head.rank, false);
        Some((key, head.item))
    }

    /// The event of `lane` being worked on is finished: the lane's next
    /// event may start. True when the lane has nothing more to do (it is
    /// forgotten).
    pub(crate) fn finish(&mut self, lane: &str) -> bool {
        let Some(entry) = self.lanes.get_mut(lane) else {
            return true;
        };
        entry.busy = false;
        if entry.queue.is_empty() {
            self.lanes.remove(lane);
            return true;
        }
        false
    }

    /// The event of `lane` being worked on must wait until `until`: it goes
    /// back to the head of its lane, and nothing of the lane starts before.
    pub(crate) fn park(&mut self, lane: &str, rank: usize, item: T, until: Instant, now: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.count(rank, true);
        let entry = self.lanes.entry(lane.to_owned()).or_insert_with(|| Lane {
            queue: VecDeque::new(),
            busy: false,
            not_before: None,
        });
        entry.busy = false;
        entry.not_before = Some(until);
        entry.queue.push_front(Waiting {
            item,
            rank,
            since: now,
            seq,
        });
    }

    /// Removes every waiting (not running) event for which `keep` is false;
    /// a lane whose head goes is no longer parked. Returns how many went.
    pub(crate) fn drop_waiting(&mut self, mut keep: impl FnMut(&T) -> bool) -> usize {
        let mut dropped_ranks = Vec::new();
        self.lanes.retain(|_, lane| {
            let before = lane.queue.front().map(|head| head.seq);
            lane.queue.retain(|waiting| {
                let kept = keep(&waiting.item);
                if !kept {
                    dropped_ranks.push(waiting.rank);
                }
                kept
            });
            if lane.queue.front().map(|head| head.seq) != before {
                lane.not_before = None;
            }
            lane.busy || !lane.queue.is_empty()
        });
        for rank in &dropped_ranks {
            self.count(*rank, false);
        }
        dropped_ranks.len()
    }

    /// Lanes whose head is of channel `rank` and could start now (neither
    /// busy nor parked): what a free worker could take from that channel.
    pub(crate) fn startable(&self, rank: usize, now: Instant) -> usize {
        self.lanes
            .values()
            .filter(|lane| !lane.busy && lane.not_before.is_none_or(|at| at <= now))
            .filter(|lane| lane.queue.front().is_some_and(|head| head.rank == rank))
            .count()
    }

    /// Whether `lane` has an event waiting or running.
    pub(crate) fn contains(&self, lane: &str) -> bool {
        self.lanes.contains_key(lane)
    }

    /// Events waiting in all lanes.
    pub(crate) fn waiting_total(&self) -> usize {
        self.waiting_per_rank.iter().sum()
    }

    /// Lanes parked now (their head may not start yet).
    pub(crate) fn parked(&self, now: Instant) -> usize {
        self.lanes
            .values()
            .filter(|lane| lane.not_before.is_some_and(|at| at > now))
            .count()
    }

    /// When the earliest parked lane may resume.
    pub(crate) fn next_resume(&self, now: Instant) -> Option<Instant> {
        self.lanes
            .values()
            .filter_map(|lane| lane.not_before)
            .filter(|at| *at > now)
            .min()
    }

    fn count(&mut self, rank: usize, added: bool) {
        if rank >= self.waiting_per_rank.len() {
            self.waiting_per_rank.resize(rank + 1, 0);
        }
        let slot = &mut self.waiting_per_rank[rank];
        *slot = if added {
            *slot + 1
        } else {
            slot.saturating_sub(1)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(60);

    #[test]
    fn dropping_waiting_events_keeps_running_ones_and_unparks_the_lane() {
        let now = Instant::now();
        let mut lanes = Lanes::new(1);
        lanes.push("a", 0, 1, now);
        lanes.push("a", 0, 2, now);
        lanes.push("b", 0, 3, now);
        assert_eq!(lanes.pick(now, LIMIT), Some(("a".to_owned(), 1)));
        // c's head 4 failed and waits.
        lanes.park("c", 0, 4, now + LIMIT, now);
        lanes.push("c", 0, 5, now);
        // Drop the even ones (2 waits behind the running 1; 4 is parked).
        assert_eq!(lanes.drop_waiting(|item| item % 2 == 1), 2);
        assert_eq!(lanes.waiting_total(), 2);
        assert_eq!(lanes.parked(now), 0, "c's parked head went");
        let mut started = Vec::new();
        while let Some((_, item)) = lanes.pick(now, LIMIT) {
            started.push(item);
        }
        started.sort_unstable();
        assert_eq!(started, vec![3, 5], "a stays busy with 1");
        lanes.finish("a");
        assert_eq!(lanes.pick(now, LIMIT), None, "2 was dropped");
    }

    #[test]
    fn one_lane_runs_one_event_at_a_time_in_order() {
        let now = Instant::now();
        let mut lanes = Lanes::new(1);
        lanes.push("a", 0, 1, now);
        lanes.push("a", 0, 2, now);
        lanes.push("b", 0, 3, now);
        assert_eq!(lanes.startable(0, now), 2);
        assert_eq!(lanes.pick(now, LIMIT), Some(("a".to_owned(), 1)));
        assert_eq!(lanes.startable(0, now), 1, "a is busy");
        // "a" is busy: its second event waits, "b" may run concurrently.
        assert_eq!(lanes.pick(now, LIMIT), Some(("b".to_owned(), 3)));
        assert_eq!(lanes.pick(now, LIMIT), None);
        lanes.finish("a");
        assert_eq!(lanes.pick(now, LIMIT), Some(("a".to_owned(), 2)));
        lanes.finish("a");
        lanes.finish("b");
        assert_eq!(lanes.waiting_total(), 0);
        assert!(lanes.lanes.is_empty(), "finished lanes are forgotten");
    }

    #[test]
    fn priority_decides_and_the_starvation_guard_stays() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(2);
        lanes.push("mail-1", 1, "mail", t0);
        let later = t0 + Duration::from_secs(1);
        lanes.push("chat-1", 0, "chat", later);
        lanes.push("chat-2", 0, "chat too", later);
        assert_eq!(lanes.startable(0, later), 2);
        assert_eq!(lanes.startable(1, later), 1);
        assert_eq!(lanes.waiting_total(), 3);
        assert_eq!(lanes.pick(later, LIMIT).unwrap().1, "chat");
        // Past the limit the mail is served before the waiting chat.
        let late = t0 + LIMIT + Duration::from_secs(1);
        assert_eq!(lanes.pick(late, LIMIT).unwrap().1, "mail");
        assert_eq!(lanes.pick(late, LIMIT).unwrap().1, "chat too");
        assert_eq!(lanes.waiting_total(), 0);
    }

    #[test]
    fn a_parked_lane_waits_while_others_go_on() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(1);
        lanes.push("a", 0, 1, t0);
        lanes.push("a", 0, 2, t0);
        lanes.push("b", 0, 3, t0);
        let (lane, item) = lanes.pick(t0, LIMIT).unwrap();
        assert_eq!((lane.as_str(), item), ("a", 1));
        let until = t0 + Duration::from_secs(30);
        lanes.park("a", 0, item, until, t0);
        assert_eq!(lanes.parked(t0), 1);
        assert_eq!(lanes.next_resume(t0), Some(until));
        assert_eq!(lanes.pick(t0, LIMIT), Some(("b".to_owned(), 3)));
        assert_eq!(lanes.pick(t0, LIMIT), None, "a is parked");
        // At the resume time the parked event comes first, then the next.
        assert_eq!(lanes.pick(until, LIMIT), Some(("a".to_owned(), 1)));
        lanes.finish("a");
        assert_eq!(lanes.pick(until, LIMIT), Some(("a".to_owned(), 2)));
        assert_eq!(lanes.parked(until), 0);
    }
}
