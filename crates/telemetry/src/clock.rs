//! The business clock: the instant that stamps a message's receipt and that
//! acknowledgements are worded from.
//!
//! It is the system clock, unless the environment variable
//! [`TEST_NOW_ENV`] (`INTAKE_TEST_NOW`) holds an RFC 3339 instant: then the
//! clock starts at that instant when first read and advances normally from
//! there. End-to-end tests use it to place a message at 17:57 on a Friday
//! without touching the machine's clock. Transport checks (webhook
//! timestamp windows, TLS, retention) keep the system clock. A process with
//! the variable set logs a warning at start ([`warn_if_shifted`]).

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

/// The variable that shifts the business clock (tests only).
pub const TEST_NOW_ENV: &str = "INTAKE_TEST_NOW";

/// The shift from the system clock, fixed at the first read.
fn shift() -> &'static Option<chrono::Duration> {
    static SHIFT: OnceLock<Option<chrono::Duration>> = OnceLock::new();
    SHIFT.get_or_init(|| {
        let value = std::env::var(TEST_NOW_ENV).ok()?;
        let start = parse_test_now(&value)?;
        Some(start - Utc::now())
    })
}

/// The instant in `value`, when it is RFC 3339.
pub fn parse_test_now(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.trim())
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// Now, on the business clock.
pub fn now() -> DateTime<Utc> {
    let real = Utc::now();
    match shift() {
        Some(shift) => real + *shift,
        None => real,
    }
}

/// Logs a warning when [`TEST_NOW_ENV`] is set (and says when it is set
/// but unreadable, in which case the system clock is used). Call once
/// logging is up.
pub fn warn_if_shifted() {
    let Ok(value) = std::env::var(TEST_NOW_ENV) else {
        return;
    };
    match shift() {
        Some(_) => tracing::warn!(
            variable = TEST_NOW_ENV,
            value = %value,
            now = %now(),
            "the business clock is shifted for a test; never set this in production"
        ),
        None => tracing::warn!(
            variable = TEST_NOW_ENV,
            "not an RFC 3339 instant; using the system clock"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_now_is_read_as_rfc_3339() {
        let at = parse_test_now("2026-12-04T17:57:00+03:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-04T14:57:00+00:00");
        assert_eq!(parse_test_now("Friday"), None);
    }

    #[test]
    fn without_the_variable_the_clock_is_the_system_clock() {
        // The test process never sets INTAKE_TEST_NOW.
        assert!(std::env::var_os(TEST_NOW_ENV).is_none());
        let before = Utc::now();
        let read = now();
        assert!(read >= before && read <= Utc::now());
    }
}
