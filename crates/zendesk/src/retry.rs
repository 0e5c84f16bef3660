//! When to try a failed call again, and after how long.

use std::time::Duration;

use crate::error::Error;

/// First backoff step.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest backoff step.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Which failures a call may repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Repeating is harmless (reads, keyed creates, matching upserts): every retryable failure.
    Always,
    /// Repeating could do the work twice (a create without an idempotency key):
    /// only failures that prove the request was not processed, a 429 or a
    /// connection that never opened.
    OnlyUnprocessed,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Return the error.
    GiveUp,
    /// Hold every caller of the account for this long, then try again (429).
    PauseAllThenRetry(Duration),
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
            Next::PauseAllThenRetry(wait)
        } else {
            Next::GiveUp
        };
    }
    if !error.is_retryable() || attempt >= max_attempts {
        return Next::GiveUp;
    }
    if policy == RetryPolicy::OnlyUnprocessed && !never_reached_server(error) {
        return Next::GiveUp;
    }
    match (error.status(), error.retry_after()) {
        (Some(503), Some(wait)) => Next::RetryAfter(wait),
        _ => Next::RetryAfter(backoff(attempt, jitter)),
    }
}

fn never_reached_server(error: &Error) -> bool {
    match error {
        Error::Connection { source, .. } => source.is_connect(),
        _ => false,
    }
}

/// The hold a 429 asks of every caller, even when this call gives up.
pub fn rate_limit_hold(error: &Error, attempt: u32, jitter: f64) -> Option<Duration> {
    error.is_rate_limited().then(|| {
        error
            .retry_after()
            .unwrap_or_else(|| backoff(attempt, jitter))
    })
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
                Next::PauseAllThenRetry(Duration::from_secs(7)),
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
                Next::PauseAllThenRetry(Duration::from_secs(7)),
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

    #[test]
    fn a_429_holds_everyone_even_on_the_last_attempt() {
        assert_eq!(
            rate_limit_hold(&api(429, Some(9)), 3, 0.0),
            Some(Duration::from_secs(9))
        );
        assert_eq!(
            rate_limit_hold(&api(429, None), 1, 0.0),
            Some(Duration::from_millis(250))
        );
        assert_eq!(rate_limit_hold(&api(503, Some(9)), 1, 0.0), None);
    }
}
