//! Telemetry of the Zendesk client: one struct per thing that happens, which
//! both logs and counts it. Labels are bounded: `endpoint` is a fixed call
//! name, `status_class` a status family, `channel` a configured channel name
//! (see [`crate::for_channel`]). Request and response bodies and the
//! `Authorization` header are never logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::{debug, trace, warn};

use crate::caller::channel_label;
use crate::error::{Error, status_class};

pub const CALLS_TOTAL: &str = "intake_zendesk_calls_total";
pub const RETRIES_TOTAL: &str = "intake_zendesk_retries_total";
pub const RATE_LIMIT_WAIT_SECONDS_TOTAL: &str = "intake_zendesk_rate_limit_wait_seconds_total";
pub const RATE_BUDGET_REMAINING: &str = "intake_zendesk_rate_budget_remaining";

/// One HTTP attempt that got a success answer.
pub struct CallSucceeded {
    pub endpoint: &'static str,
    pub status: u16,
    pub attempt: u32,
    pub elapsed: Duration,
}

impl CallSucceeded {
    pub fn emit(self) {
        debug!(
            endpoint = self.endpoint,
            status = self.status,
            attempt = self.attempt,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "zendesk call succeeded"
        );
        metrics::counter!(CALLS_TOTAL, "endpoint" => self.endpoint, "status_class" => status_class(self.status), "channel" => channel_label())
            .increment(1);
    }
}

/// One HTTP attempt that failed (error status, timeout, broken connection).
pub struct CallFailed<'a> {
    pub endpoint: &'static str,
    pub error: &'a Error,
    pub attempt: u32,
    pub max_attempts: u32,
    /// The wait before the next attempt, `None` when the error is returned.
    pub retry_in: Option<Duration>,
}

impl CallFailed<'_> {
    pub fn emit(self) {
        let retry_in_ms = self.retry_in.map(|wait| wait.as_millis() as u64);
        warn!(
            endpoint = self.endpoint,
            status = self.error.status(),
            request_id = self.error.request_id(),
            retryable = self.error.is_retryable(),
            attempt = self.attempt,
            max_attempts = self.max_attempts,
            retry_in_ms,
            // Never the error's `details`: Zendesk may echo customer data there.
            error = %self.error.log_summary(),
            "zendesk call failed"
        );
        metrics::counter!(CALLS_TOTAL, "endpoint" => self.endpoint, "status_class" => self.error.status_class(), "channel" => channel_label())
            .increment(1);
        if self.retry_in.is_some() {
            metrics::counter!(RETRIES_TOTAL, "endpoint" => self.endpoint).increment(1);
        }
    }
}

/// A 429: every caller of the account (scope `account`) or every update of
/// one ticket (scope `ticket`, the per-ticket limit) is held for `retry_after`.
pub struct RateLimitHit {
    pub endpoint: &'static str,
    /// `account` or `ticket`.
    pub scope: &'static str,
    pub retry_after: Duration,
    pub request_id: Option<String>,
}

impl RateLimitHit {
    pub fn emit(self) {
        warn!(
            endpoint = self.endpoint,
            scope = self.scope,
            retry_after_ms = self.retry_after.as_millis() as u64,
            request_id = self.request_id.as_deref(),
            "zendesk rate limit hit, holding calls"
        );
        // `scope` stays out of the labels until the metrics catalogue names it.
        metrics::counter!("intake_zendesk_rate_limit_hits_total", "endpoint" => self.endpoint)
            .increment(1);
    }
}

/// Microseconds callers waited for the rate limit, process-wide, so the
/// counter can be published in whole seconds without losing fractions.
static WAITED_MICROS: AtomicU64 = AtomicU64::new(0);

/// A caller waited before sending (pacing, a 429 hold, the per-ticket limit).
pub struct RateLimitWaited {
    pub endpoint: &'static str,
    /// `pace`, `ticket_updates`.
    pub reason: &'static str,
    pub waited: Duration,
}

impl RateLimitWaited {
    pub fn emit(self) {
        if self.waited.is_zero() {
            return;
        }
        trace!(
            endpoint = self.endpoint,
            reason = self.reason,
            waited_ms = self.waited.as_millis() as u64,
            "zendesk call waited for rate limit"
        );
        let micros = u64::try_from(self.waited.as_micros()).unwrap_or(u64::MAX);
        let total = WAITED_MICROS
            .fetch_add(micros, Ordering::Relaxed)
            .saturating_add(micros);
        metrics::counter!(RATE_LIMIT_WAIT_SECONDS_TOTAL).absolute(total / 1_000_000);
    }
}

/// What the server says is left of the account's budget.
pub struct RateBudgetObserved {
    pub remaining: u32,
    pub limit: Option<u32>,
}

impl RateBudgetObserved {
    pub fn emit(self) {
        trace!(
            remaining = self.remaining,
            limit = self.limit,
            "zendesk rate budget"
        );
        metrics::gauge!(RATE_BUDGET_REMAINING).set(f64::from(self.remaining));
    }
}

/// The server announced a budget below ours, or an exhausted one.
pub struct RateBudgetLowered {
    pub limit_per_minute: u32,
    pub hold: Option<Duration>,
}

impl RateBudgetLowered {
    pub fn emit(self) {
        warn!(
            limit_per_minute = self.limit_per_minute,
            hold_ms = self.hold.map(|h| h.as_millis() as u64),
            "zendesk rate budget lower than configured, slowing down"
        );
        metrics::counter!("intake_zendesk_rate_budget_lowered_total").increment(1);
    }
}
