//! Slots held back for higher-priority channels (decision 59).
//!
//! Priority in [`Lanes::pick`] decides who takes a slot that frees up; with
//! a mail backlog every slot is taken by mail the moment it frees, so a chat
//! that arrives still waits for one of them to finish. So the last
//! `reserved` free slots of `max_in_flight` go only to channels with no
//! higher-priority channel that has traffic: while chat has had an event
//! within the hold time, mail runs in at most `max_in_flight - reserved`
//! slots and a chat finds one free when it arrives. A channel with no
//! traffic holds nothing back, so mail alone uses every slot. At least one
//! slot always stays open to every channel (`reserved` is capped at
//! `max_in_flight - 1`), so the serial router is unchanged.
//!
//! Plain logic over an injected clock, tested without a bus.

use std::time::Duration;

use tokio::time::Instant;

use crate::lanes::Lanes;

/// How long a channel's last event keeps slots held back for it.
pub(crate) const RESERVE_HOLD: Duration = Duration::from_secs(30);

/// Which channels have had traffic lately, and how many slots they keep.
#[derive(Debug)]
pub(crate) struct Reserve {
    reserved: usize,
    hold: Duration,
    /// Per channel rank: when its last event was polled or finished.
    last_seen: Vec<Option<Instant>>,
}

impl Reserve {
    /// `reserved` slots of `max_in_flight` (at most `max_in_flight - 1`).
    pub(crate) fn new(reserved: usize, max_in_flight: usize, ranks: usize, hold: Duration) -> Self {
        Self {
            reserved: reserved.min(max_in_flight.saturating_sub(1)),
            hold,
            last_seen: vec![None; ranks],
        }
    }

    /// An event of channel `rank` was polled or finished at `now`.
    pub(crate) fn seen(&mut self, rank: usize, now: Instant) {
        if rank >= self.last_seen.len() {
            self.last_seen.resize(rank + 1, None);
        }
        self.last_seen[rank] = Some(now);
    }

    /// The highest-priority channel with traffic at `now`.
    fn busiest_rank(&self, now: Instant) -> Option<usize> {
        self.last_seen
            .iter()
            .position(|seen| seen.is_some_and(|at| now.saturating_duration_since(at) < self.hold))
    }

    /// The lowest priority (highest rank) that may take a slot when `free`
    /// slots are free at `now`: any, unless the slot is one of the reserved
    /// ones and a channel has traffic (then that channel and those above).
    pub(crate) fn max_rank(&self, free: usize, now: Instant) -> Option<usize> {
        if free > self.reserved {
            return None;
        }
        self.busiest_rank(now)
    }
}

/// The next event to start, with `running` of `max_in_flight` slots taken:
/// by [`Lanes::pick`]'s order among the channels [`Reserve::max_rank`]
/// lets in. None when no slot is free or no allowed lane may start.
pub(crate) fn next_start<T>(
    lanes: &mut Lanes<T>,
    reserve: &Reserve,
    running: usize,
    max_in_flight: usize,
    now: Instant,
    max_wait: Duration,
) -> Option<(String, T)> {
    let free = max_in_flight
        .checked_sub(running)
        .filter(|free| *free > 0)?;
    lanes.pick_within(now, max_wait, reserve.max_rank(free, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(60);
    const HOLD: Duration = Duration::from_secs(30);

    /// Starts what may start with `running` taken; returns the items.
    fn fill(
        lanes: &mut Lanes<&'static str>,
        reserve: &Reserve,
        running: &mut usize,
        max: usize,
        now: Instant,
    ) -> Vec<&'static str> {
        let mut started = Vec::new();
        while let Some((_, item)) = next_start(lanes, reserve, *running, max, now, WAIT) {
            *running += 1;
            started.push(item);
        }
        started
    }

    /// With chat traffic, a mail backlog takes all slots but the reserved
    /// one, so a chat arriving next starts at once; without the reserve
    /// (0 slots) mail takes every slot and the chat waits.
    #[test]
    fn a_chat_finds_a_held_back_slot_while_mail_drains() {
        for (reserved, chat_starts) in [(1, true), (0, false)] {
            let t0 = Instant::now();
            let mut lanes = Lanes::new(2);
            let mut reserve = Reserve::new(reserved, 3, 2, HOLD);
            let mails = ["m0", "m1", "m2", "m3", "m4"];
            for (i, mail) in mails.iter().enumerate() {
                lanes.push(&format!("mail-{i}"), 1, *mail, t0);
            }
            reserve.seen(0, t0); // a chat was handled a moment ago
            let mut running = 0;
            let started = fill(&mut lanes, &reserve, &mut running, 3, t0);
            assert_eq!(started.len(), 3 - reserved, "reserve {reserved}");
            let now = t0 + Duration::from_secs(1);
            lanes.push("chat-1", 0, "chat", now);
            reserve.seen(0, now);
            let started = fill(&mut lanes, &reserve, &mut running, 3, now);
            assert_eq!(started == ["chat"], chat_starts, "reserve {reserved}");
        }
    }

    #[test]
    fn no_traffic_holds_nothing_back_and_one_slot_stays_open() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(2);
        for (i, mail) in ["m0", "m1", "m2"].iter().enumerate() {
            lanes.push(&format!("mail-{i}"), 1, *mail, t0);
        }
        let mut reserve = Reserve::new(1, 3, 2, HOLD);
        reserve.seen(0, t0);
        // Chat's last event is older than the hold: mail takes every slot.
        let late = t0 + HOLD;
        let mut running = 0;
        assert_eq!(fill(&mut lanes, &reserve, &mut running, 3, late).len(), 3);
        // The serial router keeps its one slot for whatever comes.
        let serial = Reserve::new(1, 1, 2, HOLD);
        assert_eq!(serial.max_rank(1, t0), None);
        // A channel in the middle holds slots back from those below only.
        let mut reserve = Reserve::new(2, 4, 3, HOLD);
        reserve.seen(1, t0);
        reserve.seen(2, t0);
        assert_eq!(reserve.max_rank(3, t0), None);
        assert_eq!(reserve.max_rank(2, t0), Some(1));
    }
}
