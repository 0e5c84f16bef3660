//! When to try a failed call again, and after how long.

use std::time::Duration;

use crate::error::Error;
use crate::headers::RateLimitInfo;

/// First backoff step.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest backoff step.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Which failures a call may repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Repeating is harmless (reads, keyed creates, matching upserts): every retryable failure.
    Always,
    /// Repeating could do the work twice (a create without an idempotency key,
    /// a comment): only failures that prove the request was not processed, a
    /// 429, a 409 (a concurrent update refused this one) or a connection that
    /// never opened.
    OnlyUnprocessed,
    /// A `safe_update` comment: as `OnlyUnprocessed`, but a 409 is returned
    /// at once (the caller decides from the ticket's `updated_at` whether
    /// its stamp is stale; repeating it with the same stamp cannot help).
    SafeUpdate,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Return the error.
    GiveUp,
    /// A 429: wait out the hold it started (see [`Hold`]: every caller of the
    /// account, or only updates of one ticket), which lasts this long, then try again.
    HeldThenRetry(Duration),
    /// Wait this long (this caller only), then try again.
    RetryAfter(Duration),
}

/// Exponential backoff with "equal jitter": half the step fixed, half random.
/// `jitter` is a number in `[0, 1)`; `attempt` counts from 1.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let step = BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_CAP);
    let half = step / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// Decides the next step after attempt `attempt` of `max_attempts` failed with `error`.
pub fn next_step(
    error: &Error,
    attempt: u32,
    max_attempts: u32,
    policy: RetryPolicy,
    jitter: f64,
) -> Next {
    if error.is_rate_limited() {
        // Every caller must hold even when this one gives up.
        let wait = error
            .retry_after()
            .unwrap_or_else(|| backoff(attempt, jitter));
        return if attempt < max_attempts {
            Next::HeldThenRetry(wait)
        } else {
            Next::GiveUp
        };
    }
    if !error.is_retryable() || attempt >= max_attempts {
        return Next::GiveUp;
    }
    if policy == RetryPolicy::SafeUpdate && error.status() == Some(409) {
        return Next::GiveUp;
    }
    if policy != RetryPolicy::Always && !proves_unprocessed(error) {
        return Next::GiveUp;
    }
    match (error.status(), error.retry_after()) {
        (Some(503), Some(wait)) => Next::RetryAfter(wait),
        _ => Next::RetryAfter(backoff(attempt, jitter)),
    }
}

/// The request never reached Zendesk: the connection did not open.
fn never_reached_server(error: &Error) -> bool {
    match error {
        Error::Connection { source, .. } => source.is_connect(),
        _ => false,
    }
}

/// The failure proves Zendesk did not apply the request: it never got it, or
/// refused it before doing anything (409: a concurrent update of the same
/// ticket; "serialize, then retry"). A 429 is handled before this is asked.
fn proves_unprocessed(error: &Error) -> bool {
    never_reached_server(error) || error.status() == Some(409)
}

/// Whom a 429 holds, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The account's limit: every caller of every clone waits.
    Everyone(Duration),
    /// The per-ticket update limit: only updates of this ticket wait.
    Ticket(u64, Duration),
}

/// The hold a 429 asks for, even when this call gives up.
///
/// A 429 to a ticket update whose response still shows account budget left
/// (`remaining > 0`) comes from Zendesk's per-ticket update limit: it holds
/// that ticket only. Every other 429 holds every caller of the account.
pub fn rate_limit_hold(
    error: &Error,
    ticket: Option<u64>,
    budget: &RateLimitInfo,
    attempt: u32,
    jitter: f64,
) -> Option<Hold> {
    if !error.is_rate_limited() {
        return None;
    }
    let wait = error
        .retry_after()
        .unwrap_or_else(|| backoff(attempt, jitter));
    match ticket {
        Some(ticket) if budget.remaining.is_some_and(|left| left > 0) => {
            Some(Hold::Ticket(ticket, wait))
        }
        _ => Some(Hold::Everyone(wait)),
    }
}

/// Whether a failed attempt of a ticket update counts against the ticket's
/// update limit: only attempts that reached Zendesk's ticket logic do. A 429
/// (the account limit refused it before the ticket logic; a per-ticket 429
/// is a refusal, not an update) or a connection that never opened does not.
pub fn counts_as_ticket_update(error: &Error) -> bool {
    !(error.is_rate_limited() || never_reached_server(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, retry_after: Option<u64>) -> Error {
        Error::Api {
            endpoint: "create_ticket",
            status,
            body: Box::default(),
            request_id: None,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(1, 0.999_999).as_millis(), 499);
        assert_eq!(backoff(2, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(3, 0.5), Duration::from_millis(1500));
        assert_eq!(backoff(40, 1.0), BACKOFF_CAP);
        assert_eq!(backoff(0, 0.0), Duration::from_millis(250));
    }

    #[test]
    fn table_of_decisions() {
        let always = RetryPolicy::Always;
        let cases = [
            (
                api(429, Some(7)),
                1,
                always,
                Next::HeldThenRetry(Duration::from_secs(7)),
            ),
            (api(429, Some(7)), 3, always, Next::GiveUp),
            (
                api(503, Some(2)),
                1,
                always,
                Next::RetryAfter(Duration::from_secs(2)),
            ),
            (
                api(503, None),
                2,
                always,
                Next::RetryAfter(Duration::from_millis(500)),
            ),
            (
                api(500, None),
                1,
                always,
                Next::RetryAfter(Duration::from_millis(250)),
            ),
            (
                api(409, None),
                1,
                always,
                Next::RetryAfter(Duration::from_millis(250)),
            ),
            (api(500, None), 3, always, Next::GiveUp),
            (api(422, None), 1, always, Next::GiveUp),
            (api(401, None), 1, always, Next::GiveUp),
            (
                Error::Timeout { endpoint: "x" },
                1,
                always,
                Next::RetryAfter(Duration::from_millis(250)),
            ),
            (
                api(429, Some(7)),
                1,
                RetryPolicy::OnlyUnprocessed,
                Next::HeldThenRetry(Duration::from_secs(7)),
            ),
            (
                api(409, None),
                2,
                RetryPolicy::OnlyUnprocessed,
                Next::RetryAfter(Duration::from_millis(500)),
            ),
            (
                api(409, None),
                3,
                RetryPolicy::OnlyUnprocessed,
                Next::GiveUp,
            ),
            (
                api(503, Some(2)),
                1,
                RetryPolicy::OnlyUnprocessed,
                Next::GiveUp,
            ),
            (
                api(500, None),
                1,
                RetryPolicy::OnlyUnprocessed,
                Next::GiveUp,
            ),
            (
                Error::Timeout { endpoint: "x" },
                1,
                RetryPolicy::OnlyUnprocessed,
                Next::GiveUp,
            ),
        ];
        for (error, attempt, policy, expected) in cases {
            assert_eq!(
                next_step(&error, attempt, 3, policy, 0.0),
                expected,
                "{error} attempt {attempt}"
            );
        }
    }

    fn budget(remaining: Option<u32>) -> RateLimitInfo {
        RateLimitInfo {
            limit: Some(700),
            remaining,
            reset: None,
        }
    }

    #[test]
    fn a_429_holds_everyone_even_on_the_last_attempt() {
        let left = budget(Some(650));
        assert_eq!(
            rate_limit_hold(&api(429, Some(9)), None, &left, 3, 0.0),
            Some(Hold::Everyone(Duration::from_secs(9)))
        );
        assert_eq!(
            rate_limit_hold(&api(429, None), None, &left, 1, 0.0),
            Some(Hold::Everyone(Duration::from_millis(250)))
        );
        assert_eq!(
            rate_limit_hold(&api(503, Some(9)), Some(4), &left, 1, 0.0),
            None
        );
    }

    #[test]
    fn a_ticket_429_with_budget_left_holds_only_that_ticket() {
        let error = api(429, Some(540));
        assert_eq!(
            rate_limit_hold(&error, Some(4), &budget(Some(650)), 1, 0.0),
            Some(Hold::Ticket(4, Duration::from_secs(540)))
        );
        // An exhausted or unknown account budget: the account's limit, everyone waits.
        for unknown in [budget(Some(0)), budget(None)] {
            assert_eq!(
                rate_limit_hold(&error, Some(4), &unknown, 1, 0.0),
                Some(Hold::Everyone(Duration::from_secs(540))),
                "{unknown:?}"
            );
        }
    }

    #[test]
    fn only_attempts_that_reached_the_ticket_logic_count() {
        assert!(!counts_as_ticket_update(&api(429, Some(3))));
        assert!(counts_as_ticket_update(&api(500, None)));
        assert!(counts_as_ticket_update(&api(409, None)));
        assert!(counts_as_ticket_update(&Error::Timeout { endpoint: "x" }));
    }
}
