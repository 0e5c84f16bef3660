//! Typed telemetry events: the house pattern for logging and counting.
//!
//! Every thing that happens and that an operator may want to see gets one
//! struct, named for what happened (`ShutdownStarted`, `SignatureRejected`,
//! `TicketCreated`), whose fields are what is worth knowing about it. Its
//! `emit(self)` writes the log line *and* bumps the metric, so the two can
//! never disagree and a call site is one line:
//!
//! ```
//! # use intake_telemetry::{events::ShutdownStarted, ShutdownReason};
//! ShutdownStarted { reason: ShutdownReason::Sigterm }.emit();
//! ```
//!
//! Rules for an event:
//! - metric names are `intake_<noun>_<unit>_total` for counters and
//!   `intake_<noun>_seconds` for histograms (which get [`crate::SECONDS_BUCKETS`]);
//! - labels take bounded values only (`channel`, `reason`, `status` class),
//!   never an id, an address or raw error text: those go in the log fields;
//! - log messages are lowercase without a trailing period, with structured
//!   fields; no secrets or message bodies above `debug`;
//! - the struct lives in the crate that emits it (`src/events.rs` there);
//!   this module holds the events of the process lifecycle.

use std::time::Duration;

use crate::ShutdownReason;

/// The shutdown signal arrived; draining starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownStarted {
    pub reason: ShutdownReason,
}

impl ShutdownStarted {
    pub const METRIC: &'static str = "intake_shutdowns_total";

    pub fn emit(self) {
        tracing::info!(reason = self.reason.as_str(), "shutdown started");
        metrics::counter!(Self::METRIC, "reason" => self.reason.as_str()).increment(1);
    }
}

/// Draining ended, in time or at the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainFinished {
    pub finished: usize,
    pub panicked: usize,
    pub aborted: usize,
    pub elapsed: Duration,
}

impl DrainFinished {
    pub const ABORTED_METRIC: &'static str = "intake_shutdown_tasks_aborted_total";
    pub const DURATION_METRIC: &'static str = "intake_shutdown_drain_seconds";

    pub fn emit(self) {
        let elapsed_ms = u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX);
        if self.aborted > 0 {
            tracing::warn!(
                finished = self.finished,
                panicked = self.panicked,
                aborted = self.aborted,
                elapsed_ms,
                "drain deadline passed, tasks aborted"
            );
        } else {
            tracing::info!(
                finished = self.finished,
                panicked = self.panicked,
                elapsed_ms,
                "drain finished"
            );
        }
        metrics::counter!(Self::ABORTED_METRIC).increment(self.aborted as u64);
        metrics::histogram!(Self::DURATION_METRIC).record(self.elapsed.as_secs_f64());
    }
}
