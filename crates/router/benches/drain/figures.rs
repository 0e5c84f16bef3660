//! What the drain benchmark measures and prints, from the simulator's own
//! records (its tickets, their comments, its request log).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The Zendesk limits a run was under, per minute: the account's, and the
/// endpoints' own when the run turned them on (`None`: not limited).
#[derive(Clone, Copy, Default)]
pub struct Limits {
    pub account: u32,
    pub update_ticket: Option<u32>,
    pub user_creates: Option<u32>,
}

/// The figures of one run.
pub struct Figures {
    pub mode: String,
    pub limits: Limits,
    pub elapsed: Duration,
    /// The run was stopped before the backlog drained (a bounded baseline).
    pub stopped_early: bool,
    pub calls: u64,
    pub rate_limited: u64,
    pub tickets: usize,
    /// Comments added to existing tickets (not the first of a ticket).
    pub comments: usize,
    pub creation_calls: usize,
    pub comment_calls: usize,
    /// Answered `PUT tickets/{id}` (Update Ticket's own limit).
    pub update_calls: usize,
    /// Answered `POST users/create_or_update` (user creation's own limit).
    pub user_create_calls: usize,
    pub events_total: usize,
    pub events_applied: usize,
    pub chats_sent: usize,
    /// Receipt to ticket of each chat answered, sorted.
    pub chat_latencies: Vec<Duration>,
    /// Of chats not answered when the run stopped: how long they had waited.
    pub chat_unanswered: Vec<Duration>,
    /// Mail events not yet applied when the last chat got its ticket.
    pub mail_left_at_last_chat: Option<usize>,
    /// Events applied more than once (a second ticket or comment for one).
    pub doubles: usize,
    /// When each call reached the simulator (its clock), in order.
    pub call_times: Vec<DateTime<Utc>>,
    /// The measured span on the simulator's clock, for the profile (none:
    /// no profile printed).
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The figures the simulator's records of a run give (its stats, request
/// log and tickets); the run's own (mode, limit, time, events and chats
/// sent, chat latencies) are left empty for the caller to set.
pub fn recorded(
    requests: &[intake_zendesk_sim::RequestRecord],
    stats: &Value,
    tickets: &[Value],
) -> Figures {
    let (creation_calls, comment_calls) = classify(requests);
    let answered = |method: &str, on: fn(&str) -> bool| {
        requests
            .iter()
            .filter(|r| r.status != 429 && !r.dropped && r.method == method)
            .filter(|r| on(r.path.trim_end_matches(".json")))
            .count()
    };
    let update_calls = answered("PUT", |path| {
        path.strip_prefix("/api/v2/tickets/")
            .is_some_and(|id| id.chars().all(|c| c.is_ascii_digit()))
    });
    let user_create_calls = answered("POST", |path| path == "/api/v2/users/create_or_update");
    let events_applied: usize = tickets.iter().map(comment_count).sum();
    Figures {
        mode: String::new(),
        limits: Limits::default(),
        elapsed: Duration::ZERO,
        stopped_early: false,
        calls: stats["requests_total"].as_u64().unwrap_or(0),
        rate_limited: stats["by_status"]["429"].as_u64().unwrap_or(0),
        tickets: tickets.len(),
        comments: events_applied - tickets.len(),
        creation_calls,
        comment_calls,
        update_calls,
        user_create_calls,
        events_total: 0,
        events_applied,
        chats_sent: 0,
        chat_latencies: Vec::new(),
        chat_unanswered: Vec::new(),
        mail_left_at_last_chat: None,
        doubles: doubles(tickets),
        call_times: {
            let mut times: Vec<_> = requests.iter().map(|r| r.at).collect();
            times.sort();
            times
        },
        span: None,
    }
}

pub fn comment_count(ticket: &Value) -> usize {
    ticket["comments"].as_array().map_or(0, Vec::len)
}

/// Comment bodies of every ticket, for the exactly-once check.
pub fn doubles(tickets: &[Value]) -> usize {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for ticket in tickets {
        for comment in ticket["comments"].as_array().into_iter().flatten() {
            let body = comment["body"].as_str().unwrap_or_default().to_owned();
            *seen.entry(body).or_default() += 1;
        }
    }
    seen.values().map(|n| n - 1).sum()
}

/// `(creation, comment)` calls in the simulator's request log: `GET` or
/// `PUT tickets/{id}` are a comment's (its `show_ticket` and safe update),
/// everything else that answered (users, ticket creates, searches) a new
/// ticket's. 429s are counted apart.
pub fn classify(requests: &[intake_zendesk_sim::RequestRecord]) -> (usize, usize) {
    let answered = requests.iter().filter(|r| r.status != 429 && !r.dropped);
    let (mut creation, mut comment) = (0, 0);
    for request in answered {
        let path = request.path.trim_end_matches(".json");
        let on_ticket = path
            .strip_prefix("/api/v2/tickets/")
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()));
        if on_ticket && (request.method == "GET" || request.method == "PUT") {
            comment += 1;
        } else if path.starts_with("/api/v2/") {
            creation += 1;
        }
    }
    (creation, comment)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The limit that bounds the run from below: for each limit the run was
/// under, its calls at that limit's rate take at least so long; the longest
/// binds. Returns its name, its calls, its rate and that floor.
pub fn binding(f: &Figures) -> (&'static str, usize, u32, Duration) {
    let floor = |calls: usize, per_minute: u32| {
        Duration::from_secs_f64(calls as f64 * 60.0 / f64::from(per_minute.max(1)))
    };
    let account = f.calls as usize - f.rate_limited as usize;
    let mut candidates = vec![("account", account, f.limits.account)];
    if let Some(limit) = f.limits.update_ticket {
        candidates.push(("update ticket", f.update_calls, limit));
    }
    if let Some(limit) = f.limits.user_creates {
        candidates.push(("user creation", f.user_create_calls, limit));
    }
    candidates
        .into_iter()
        .map(|(name, calls, limit)| (name, calls, limit, floor(calls, limit)))
        .max_by_key(|(.., floor)| *floor)
        .expect("the account limit is always there")
}

/// Where the run's time went: how long before the first call and after the
/// last, the rate in between, and the calls of each minute from the first
/// (so a shortfall shows at the start, in the drain or at the end).
fn profile(f: &Figures) -> Option<String> {
    let (start, end) = f.span?;
    // The calls of the measured span (the routers' setup reads come before).
    let times: Vec<DateTime<Utc>> = f
        .call_times
        .iter()
        .copied()
        .filter(|at| *at >= start && *at <= end)
        .collect();
    let (first, last) = (*times.first()?, *times.last()?);
    let secs = |d: chrono::TimeDelta| d.num_milliseconds() as f64 / 1000.0;
    let between = secs(last - first).max(f64::EPSILON);
    let rate = times.len().saturating_sub(1) as f64 * 60.0 / between;
    let mut minutes: Vec<usize> = Vec::new();
    for at in &times {
        let minute = usize::try_from((*at - first).num_seconds() / 60).unwrap_or(0);
        if minutes.len() <= minute {
            minutes.resize(minute + 1, 0);
        }
        minutes[minute] += 1;
    }
    let tail = secs(last - first) - 60.0 * (minutes.len() - 1) as f64;
    let per_minute: Vec<String> = minutes.iter().map(usize::to_string).collect();
    Some(format!(
        "    profile: first call {:.1} s after the start, last {:.1} s before the end; \
         between them {:.0}/min = {:.3} of the limit; calls per minute from the first: {} \
         (the last minute {:.0} s long)",
        secs(first - start),
        secs(end - last),
        rate,
        rate / f64::from(f.limits.account),
        per_minute.join(" "),
        tail,
    ))
}

pub fn print(f: &Figures) {
    let minutes = f.elapsed.as_secs_f64() / 60.0;
    let per_minute = f.calls as f64 / minutes;
    let ms = |d: Duration| d.as_millis();
    let mut chats = format!(
        "chat receipt-to-ticket p50 {} ms, p99 {} ms, max {} ms ({} of {} chats)",
        ms(percentile(&f.chat_latencies, 50.0)),
        ms(percentile(&f.chat_latencies, 99.0)),
        ms(f.chat_latencies.last().copied().unwrap_or_default()),
        f.chat_latencies.len(),
        f.chats_sent,
    );
    if !f.chat_unanswered.is_empty() {
        let longest = f.chat_unanswered.iter().max().copied().unwrap_or_default();
        chats.push_str(&format!(
            "; {} chats still waiting at the stop (up to {} ms so far)",
            f.chat_unanswered.len(),
            ms(longest)
        ));
    }
    if let Some(left) = f.mail_left_at_last_chat {
        chats.push_str(&format!(
            "; mail events still waiting when the last chat got its ticket: {left}"
        ));
    }
    println!(
        "{}: {:.1} s{}, {} of {} events applied, {} calls = {:.0}/min = {:.3} of the limit \
         ({}/min), 429s {}, calls per new ticket {:.2}, per comment {:.2}, tickets/min {:.1}, \
         events/min {:.1}, doubles {}\n    {}",
        f.mode,
        f.elapsed.as_secs_f64(),
        if f.stopped_early {
            " (stopped early: a bounded part of the backlog)"
        } else {
            ""
        },
        f.events_applied,
        f.events_total,
        f.calls,
        per_minute,
        per_minute / f64::from(f.limits.account),
        f.limits.account,
        f.rate_limited,
        f.creation_calls as f64 / f.tickets.max(1) as f64,
        f.comment_calls as f64 / f.comments.max(1) as f64,
        f.tickets as f64 / minutes,
        f.events_applied as f64 / minutes,
        f.doubles,
        chats,
    );
    let (name, calls, limit, floor) = binding(f);
    println!(
        "    binding limit: {name} ({calls} calls at {limit}/min need at least {:.1} s): \
         {:.3} of it; update ticket calls {}, user creations {}",
        floor.as_secs_f64(),
        floor.as_secs_f64() / f.elapsed.as_secs_f64().max(f64::EPSILON),
        f.update_calls,
        f.user_create_calls,
    );
    if let Some(profile) = profile(f) {
        println!("{profile}");
    }
}
