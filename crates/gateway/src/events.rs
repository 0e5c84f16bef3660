//! Typed telemetry of the HTTP edge: each struct is one thing that happens to
//! a request, and `emit` both logs it and counts it. Labels are bounded: the
//! matched route template (never the raw path), the [`Limit`] that acted, and
//! the status class.

use std::time::Duration;

use axum::http::StatusCode;
use metrics::{counter, gauge, histogram};

/// Metric names, for dashboards and tests.
pub mod names {
    pub const REQUESTS_SHED: &str = "intake_http_requests_shed_total";
    pub const REQUEST_TIMEOUTS: &str = "intake_http_request_timeouts_total";
    pub const REQUEST_DURATION: &str = "intake_http_request_duration_seconds";
    pub const REQUESTS_IN_FLIGHT: &str = "intake_http_requests_in_flight";
}

/// The `route` label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Registers help texts for the HTTP metrics with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        names::REQUESTS_SHED,
        "Requests refused with 503 overloaded because a limit of the data listener was reached, by route and limit"
    );
    metrics::describe_counter!(
        names::REQUEST_TIMEOUTS,
        "Requests answered 408 timeout: the body arrived too slowly or the request took too long, by route and limit"
    );
    metrics::describe_gauge!(
        names::REQUESTS_IN_FLIGHT,
        "Requests on the data listener now, by phase: unauthenticated (body still arriving) or work (body read)"
    );
    metrics::describe_histogram!(
        names::REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from a request's arrival to its answer, by route template and status class"
    );
}

/// Which limit of the data listener refused or cut a request; the label
/// value is the configuration key that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Every authenticated-work slot (`http.max_in_flight`) was taken.
    MaxInFlight,
    /// Every slot for requests still reading their body was taken.
    MaxUnauthenticatedInFlight,
    /// The shared buffer for unauthenticated bodies was full.
    MaxUnauthenticatedBufferBytes,
    /// The whole request took longer than `http.request_timeout_secs`.
    RequestTimeout,
    /// The body was not complete within `http.body_read_timeout_secs`.
    BodyReadTimeout,
    /// The body arrived slower than `http.min_body_bytes_per_sec`.
    MinBodyRate,
}

impl Limit {
    pub const ALL: [Limit; 6] = [
        Limit::MaxInFlight,
        Limit::MaxUnauthenticatedInFlight,
        Limit::MaxUnauthenticatedBufferBytes,
        Limit::RequestTimeout,
        Limit::BodyReadTimeout,
        Limit::MinBodyRate,
    ];

    /// The `limit` label value: the `[http]` key that sets the limit.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::MaxInFlight => "max_in_flight",
            Limit::MaxUnauthenticatedInFlight => "max_unauthenticated_in_flight",
            Limit::MaxUnauthenticatedBufferBytes => "max_unauthenticated_buffer_bytes",
            Limit::RequestTimeout => "request_timeout_secs",
            Limit::BodyReadTimeout => "body_read_timeout_secs",
            Limit::MinBodyRate => "min_body_bytes_per_sec",
        }
    }

    /// True for the limits that answer 408 (time), false for those that
    /// shed with 503 (capacity).
    pub fn is_timeout(self) -> bool {
        matches!(
            self,
            Limit::RequestTimeout | Limit::BodyReadTimeout | Limit::MinBodyRate
        )
    }
}

/// A request was refused (503 `overloaded`) because a capacity limit was reached.
#[derive(Debug, Clone, Copy)]
pub struct RequestShed<'a> {
    pub route: &'a str,
    pub limit: Limit,
}

impl RequestShed<'_> {
    pub fn emit(&self) {
        tracing::warn!(
            route = self.route,
            limit = self.limit.as_str(),
            "request shed: limit reached"
        );
        counter!(
            names::REQUESTS_SHED,
            "route" => self.route.to_owned(),
            "limit" => self.limit.as_str()
        )
        .increment(1);
    }
}

/// A request was cut (408 `timeout`): its body was too slow or it took too long.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimedOut<'a> {
    pub route: &'a str,
    pub limit: Limit,
    pub elapsed: Duration,
    /// Body bytes that had arrived.
    pub received_bytes: u64,
}

impl RequestTimedOut<'_> {
    pub fn emit(&self) {
        tracing::warn!(
            route = self.route,
            limit = self.limit.as_str(),
            elapsed_ms = u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
            received_bytes = self.received_bytes,
            "request timed out"
        );
        counter!(
            names::REQUEST_TIMEOUTS,
            "route" => self.route.to_owned(),
            "limit" => self.limit.as_str()
        )
        .increment(1);
    }
}

/// A request got its answer.
#[derive(Debug, Clone, Copy)]
pub struct RequestAnswered<'a> {
    pub route: &'a str,
    pub status: StatusCode,
    pub elapsed: Duration,
}

impl RequestAnswered<'_> {
    pub fn emit(&self) {
        tracing::debug!(
            route = self.route,
            status = self.status.as_u16(),
            elapsed_ms = u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
            "request answered"
        );
        histogram!(
            names::REQUEST_DURATION,
            "route" => self.route.to_owned(),
            "status_class" => status_class(self.status)
        )
        .record(self.elapsed.as_secs_f64());
    }
}

/// Where a request on the data listener is: the `phase` label of
/// `intake_http_requests_in_flight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Its body is still arriving; nothing about it is authenticated yet.
    Unauthenticated,
    /// Its body was read; it is being verified and worked on.
    Work,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Unauthenticated => "unauthenticated",
            Phase::Work => "work",
        }
    }
}

/// Counts one request in `phase` for as long as it lives.
#[derive(Debug)]
pub struct InFlight(Phase);

impl InFlight {
    pub fn enter(phase: Phase) -> Self {
        gauge!(names::REQUESTS_IN_FLIGHT, "phase" => phase.as_str()).increment(1.0);
        Self(phase)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(names::REQUESTS_IN_FLIGHT, "phase" => self.0.as_str()).decrement(1.0);
    }
}

/// `2xx`, `3xx`, `4xx`, `5xx`, or `other` (1xx and anything unusual).
pub fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_have_distinct_labels_that_name_their_keys() {
        let mut labels: Vec<_> = Limit::ALL.iter().map(|l| l.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Limit::ALL.len());
        let timeouts: Vec<_> = Limit::ALL.iter().filter(|l| l.is_timeout()).collect();
        assert_eq!(timeouts.len(), 3);
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(StatusCode::ACCEPTED), "2xx");
        assert_eq!(status_class(StatusCode::REQUEST_TIMEOUT), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
        assert_eq!(status_class(StatusCode::CONTINUE), "other");
    }
}
