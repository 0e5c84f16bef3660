//! The endpoint buckets' unit tests: plain logic over injected times.

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

const WAIT: Option<Duration> = Some(Duration::from_secs(2));

fn rank(rank: usize) -> CallPriority {
    CallPriority {
        rank,
        max_wait: Duration::from_secs(30),
    }
}

/// One try of a caller holding `turn` (as the router's lane does).
fn try_at(
    buckets: &mut EndpointBuckets,
    user: &str,
    at: Instant,
    priority: usize,
    turn: &mut Option<Turn>,
) -> Result<Instant, Instant> {
    buckets.reserve_at(
        Endpoint::UserCreate,
        Some(user),
        at,
        WAIT,
        rank(priority),
        Some(turn),
    )
}

/// User creation at 60 a minute with a 2 s wait limit, after two calls
/// at `t0` took the slots within it: the next one is refused.
fn two_sent() -> (EndpointBuckets, Instant) {
    let t0 = Instant::now();
    let mut buckets = limits(100, Some(60));
    for user in ["a", "b"] {
        assert!(try_at(&mut buckets, user, t0, 1, &mut None).is_ok());
    }
    (buckets, t0)
}

#[test]
fn a_call_beyond_the_wait_limit_is_given_a_turn() {
    let t0 = Instant::now();
    let mut buckets = limits(100, Some(60));
    let spacing = user_create_spacing(60);
    let mut turns = [None; 4];
    // 1.1 s apart: the third is past the 2 s wait limit.
    assert_eq!(try_at(&mut buckets, "a", t0, 1, &mut turns[0]), Ok(t0));
    assert_eq!(
        try_at(&mut buckets, "b", t0, 1, &mut turns[1]),
        Ok(t0 + spacing)
    );
    assert_eq!(turns[..2], [None, None], "sent: no turn held");
    let c = try_at(&mut buckets, "c", t0, 1, &mut turns[2]).unwrap_err();
    assert_eq!(c, t0 + spacing * 2);
    assert!(turns[2].is_some(), "refused: a turn to keep");
    // The next refused call is queued after it, not told the same time.
    let d = try_at(&mut buckets, "d", t0, 1, &mut turns[3]).unwrap_err();
    assert_eq!(d, c + spacing);
    // A call that keeps no turn (outside `with_turn`) is told when the
    // bucket frees, after the turns, and books nothing.
    let free = buckets
        .reserve(Endpoint::UserCreate, Some("e"), t0, WAIT)
        .unwrap_err();
    assert_eq!(free, d + spacing);
    // Coming back when told, each is sent in its turn, and holds none after.
    assert_eq!(try_at(&mut buckets, "c", c, 1, &mut turns[2]), Ok(c));
    let late = d + Duration::from_millis(700);
    assert_eq!(try_at(&mut buckets, "d", late, 1, &mut turns[3]), Ok(late));
    assert_eq!(turns[2..], [None, None]);
}

/// The lanes of a backlog waiting on one bucket, in virtual time: each
/// comes back when told, a little late, holding its turn; new lanes keep
/// arriving. Each parks once and no slot is lost. Told the same time (no
/// turns), one got the slot and the rest parked again, every slot.
#[test]
fn waiting_lanes_park_once_each_not_once_per_slot() {
    let t0 = Instant::now();
    let mut buckets = limits(100, Some(60));
    let spacing = user_create_spacing(60);
    let lanes = 200;
    let mut turns = vec![None; lanes];
    // (when the lane calls, its lane number): half at the start, then one
    // new lane every 0.5 s.
    let mut calls: std::collections::BTreeSet<(Instant, usize)> = (0..lanes)
        .map(|lane| {
            let arrives = if lane < lanes / 2 {
                t0
            } else {
                t0 + Duration::from_millis(500) * (lane - lanes / 2) as u32
            };
            (arrives, lane)
        })
        .collect();
    let mut parks = vec![0u32; lanes];
    let mut sent = Vec::new();
    while let Some((at, lane)) = calls.pop_first() {
        let user = format!("user{lane}@x.test");
        match try_at(&mut buckets, &user, at, 1, &mut turns[lane]) {
            Ok(slot) => sent.push(slot),
            Err(back) => {
                parks[lane] += 1;
                // Resumed a little late, as a parked lane is (0-790 ms).
                let late = Duration::from_millis((lane as u64 * 37) % 800);
                calls.insert((back + late, lane));
            }
        }
    }
    assert_eq!(sent.len(), lanes, "every lane sent");
    let most = parks.iter().max().copied().unwrap_or_default();
    assert!(most <= 1, "a lane parked {most} times");
    sent.sort();
    for pair in sent.windows(2) {
        assert!(pair[1] - pair[0] >= spacing, "sends bunched");
    }
    // Lateness costs up to 0.8 s per late turn; nothing else is lost.
    let span = *sent.last().unwrap() - sent[0];
    let slots = span.as_secs_f64() / spacing.as_secs_f64();
    assert!(
        slots <= lanes as f64 * 1.75,
        "{slots:.0} slots for {lanes} sends"
    );
}

/// Mail (rank 1) waits in turns for user creation; a chat (rank 0) that
/// is refused is queued ahead of it, and the mail moved back by one slot
/// parks once more at most.
#[test]
fn a_better_rank_is_queued_ahead_of_waiting_turns() {
    let t0 = Instant::now();
    let mut buckets = limits(100, Some(60));
    let spacing = user_create_spacing(60);
    let mut mail = vec![None; 20];
    let mut told = Vec::new();
    for (i, turn) in mail.iter_mut().enumerate() {
        if let Err(at) = try_at(&mut buckets, &format!("mail{i}"), t0, 1, turn) {
            told.push((at, i));
        }
    }
    assert_eq!(told.len(), 18);
    let first_mail_turn = told[0].0;
    let mut chat = None;
    let chat_at = try_at(&mut buckets, "chat", t0, 0, &mut chat).unwrap_err();
    assert_eq!(chat_at, first_mail_turn, "ahead of every waiting mail");
    assert_eq!(
        try_at(&mut buckets, "chat", chat_at, 0, &mut chat),
        Ok(chat_at)
    );
    // The mail, back when first told: each is one slot later now, within
    // the wait limit, so it is sent without parking again.
    for (at, i) in told {
        let slot = try_at(&mut buckets, &format!("mail{i}"), at, 1, &mut mail[i])
            .unwrap_or_else(|again| panic!("mail{i} told again: {again:?}"));
        assert_eq!(slot, at + spacing);
    }
}

#[test]
fn a_turn_moved_back_to_the_priority_limit_is_not_passed() {
    let (mut buckets, t0) = two_sent();
    let spacing = user_create_spacing(60);
    let mut mail = None;
    let mail_at = try_at(&mut buckets, "mail", t0, 1, &mut mail).unwrap_err();
    // One more mail behind it, so a chat at `mail_at` is refused too.
    let mut tail = None;
    let tail_at = try_at(&mut buckets, "tail", t0, 1, &mut tail).unwrap_err();
    assert_eq!(tail_at, mail_at + spacing);
    // Chats at its time (so it stays within the 30 s the guard looks at):
    // 27 slots of 1.1 s put ahead of it move it back 29.7 s.
    let mut chats = Vec::new();
    for i in 0..27 {
        let mut turn = None;
        let at = try_at(&mut buckets, &format!("chat{i}"), mail_at, 0, &mut turn).unwrap_err();
        assert_eq!(at, mail_at + spacing * i, "chat{i} ahead of the mail");
        chats.push(turn);
    }
    // One more would move them past 30 s: this chat goes after both.
    let mut late_chat = None;
    let late = try_at(&mut buckets, "chat27", mail_at, 0, &mut late_chat).unwrap_err();
    assert_eq!(late, mail_at + spacing * 29);
    let mail_now = try_at(&mut buckets, "mail", mail_at, 1, &mut mail).unwrap_err();
    assert_eq!(mail_now, mail_at + spacing * 27, "told its new time once");
}

/// In a long backlog only the turns near their time are guarded: better
/// ranks still go ahead of the rest, instead of behind the whole backlog
/// once every turn in it has been moved back by the limit.
#[test]
fn the_guard_holds_the_front_of_a_long_queue_only() {
    let t0 = Instant::now();
    let mut buckets = limits(100, Some(60));
    // 100 mail turns: 110 s of queue, the priority limit 30 s.
    for user in ["a", "b"] {
        assert!(try_at(&mut buckets, user, t0, 1, &mut None).is_ok());
    }
    let mut mail_turns = Vec::new();
    for i in 0..100 {
        let mut turn = None;
        let at = try_at(&mut buckets, &format!("m{i}"), t0, 1, &mut turn).unwrap_err();
        mail_turns.push(at);
    }
    // 60 chats: the first 27 go ahead of everything; after that the front
    // (within 30 s) is guarded and they go right behind it, not last.
    let last_mail = *mail_turns.last().unwrap();
    for i in 0..60 {
        let at = try_at(&mut buckets, &format!("chat{i}"), t0, 0, &mut None).unwrap_err();
        assert!(
            at < last_mail,
            "chat{i} at {:?}, behind the whole queue",
            at - t0
        );
        assert!(
            at - t0 < Duration::from_secs(70),
            "chat{i} waits {:?}",
            at - t0
        );
    }
}

#[test]
fn a_turn_nobody_comes_for_lapses() {
    let (mut buckets, t0) = two_sent();
    let spacing = user_create_spacing(60);
    let mut gone = None;
    let turn = try_at(&mut buckets, "gone", t0, 1, &mut gone).unwrap_err();
    // Before its time a newcomer queues behind it, not in it.
    let mut other = None;
    assert_eq!(
        try_at(&mut buckets, "other", t0, 1, &mut other),
        Err(turn + spacing)
    );
    // Past the grace it is dropped; the next caller is not held for it.
    let later = turn + spacing + TURN_GRACE + Duration::from_secs(1);
    assert_eq!(try_at(&mut buckets, "next", later, 1, &mut None), Ok(later));
    assert!(buckets.user_create.turns.is_empty());
    // Its caller, back after all, is treated as new.
    assert_eq!(
        try_at(&mut buckets, "gone", later, 1, &mut gone),
        Ok(later + spacing)
    );
}

#[test]
fn a_turn_taken_late_does_not_bunch_the_sends() {
    let (mut buckets, t0) = two_sent();
    let spacing = user_create_spacing(60);
    let (mut c, mut d) = (None, None);
    let first = try_at(&mut buckets, "c", t0, 1, &mut c).unwrap_err();
    let second = try_at(&mut buckets, "d", t0, 1, &mut d).unwrap_err();
    // c comes back 1 s late, just before d's turn.
    let c_back = first + Duration::from_secs(1);
    assert_eq!(try_at(&mut buckets, "c", c_back, 1, &mut c), Ok(c_back));
    // d, on time, still goes a full spacing after c.
    assert_eq!(
        try_at(&mut buckets, "d", second, 1, &mut d),
        Ok(c_back + spacing)
    );
}

#[test]
fn a_user_over_its_own_limit_gets_no_turn() {
    let t0 = Instant::now();
    let mut buckets = limits(100, Some(60));
    let mut at = t0;
    for _ in 0..USER_CREATES_PER_USER {
        at = buckets
            .reserve(Endpoint::UserCreate, Some("ann"), at, None)
            .unwrap();
    }
    let mut turn = None;
    let free = try_at(&mut buckets, "ann", at, 1, &mut turn).unwrap_err();
    assert_eq!(free, t0 + PER_USER_WINDOW);
    assert_eq!(turn, None);
    assert!(buckets.user_create.turns.is_empty());
    // Another user is not held behind Ann.
    let bob = at + user_create_spacing(60);
    assert_eq!(try_at(&mut buckets, "bob", at, 1, &mut None), Ok(bob));
}

#[test]
fn a_hold_moves_the_turns_past_it() {
    let (mut buckets, t0) = two_sent();
    let spacing = user_create_spacing(60);
    let (mut c, mut d) = (None, None);
    let c_at = try_at(&mut buckets, "c", t0, 1, &mut c).unwrap_err();
    try_at(&mut buckets, "d", t0, 1, &mut d).unwrap_err();
    let until = t0 + Duration::from_secs(20);
    buckets.hold(Endpoint::UserCreate, until);
    // Back at its old time, c is told the new one; then sent in it.
    assert_eq!(try_at(&mut buckets, "c", c_at, 1, &mut c), Err(until));
    assert_eq!(try_at(&mut buckets, "c", until, 1, &mut c), Ok(until));
    assert_eq!(
        try_at(&mut buckets, "d", until, 1, &mut d),
        Ok(until + spacing)
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
