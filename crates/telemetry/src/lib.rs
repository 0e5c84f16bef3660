#![forbid(unsafe_code)]
//! Telemetry: logging, metrics, the shutdown signal and test crash points.
//!
//! - [`init_logging`]: `tracing` to stderr, human-readable or JSON lines.
//! - [`metrics()`]: the process-wide Prometheus recorder behind the `metrics`
//!   facade; the gateway serves [`MetricsHandle::render`] on `GET /metrics`.
//! - [`shutdown_signal`] and [`drain`]: one cancellation token for the whole
//!   process, and draining of tasks with a deadline.
//! - [`events`]: the typed-event pattern every crate uses to log and count.

pub mod clock;
mod crashpoint;
pub mod events;
mod logging;
mod prometheus;
mod shutdown;

pub use crashpoint::crashpoint;
pub use logging::{LogFormat, init_logging, validate_log_filter};
pub use prometheus::{MetricsHandle, SECONDS_BUCKETS, metrics};
pub use shutdown::{DrainReport, ShutdownReason, cancel_on, drain, drain_with, shutdown_signal};

/// Telemetry failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter is not valid EnvFilter syntax.
    #[error("invalid log filter {filter:?}: {reason}")]
    InvalidLogFilter { filter: String, reason: String },
}

impl TelemetryError {
    /// Never retryable: the same input fails the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
