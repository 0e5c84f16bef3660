#![forbid(unsafe_code)]
//! The gateway's two HTTP listeners.
//!
//! - [`app`]: the data listener, every registered [`HttpChannel`]'s routes
//!   behind the request limits ([`RequestLimits`]): unauthenticated bodies in
//!   flight are counted and bounded apart from authenticated work, their
//!   bytes bounded in total, and a body must arrive within a deadline and at
//!   a minimum rate (see `admission.rs`).
//! - [`ops_app`]: the operational listener, `GET /metrics`, `GET /healthz`
//!   and `GET /readyz`, outside those limits.
//!
//! Unknown routes answer with the JSON error body on both.

mod admission;
pub mod events;
mod health;
mod ops;
mod serve;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use intake_channel::{ApiError, ChannelContext, HttpChannel};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::admission::{Pools, declared_length};
use crate::events::{Limit, RequestAnswered, RequestShed, RequestTimedOut, UNMATCHED_ROUTE};

pub use events::describe_metrics;
pub use health::{CheckResult, Health, default_check_timeout};
pub use ops::{ops_app, starting_app, starting_ops_app};
pub use serve::{HEADER_READ_TIMEOUT, ServeOptions, serve_with};

/// Renders the Prometheus text exposition of all metrics.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Content type of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// How much work the data listener takes on at once, and for how long.
/// The defaults are those of the `[http]` configuration section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest time one request may take, body upload included.
    pub timeout: Duration,
    /// Requests past their body (authenticated work) at once; past it
    /// requests are shed (503).
    pub max_in_flight: usize,
    /// Requests still reading their body (not yet authenticated) at once.
    pub max_unauthenticated_in_flight: usize,
    /// Bytes buffered for unauthenticated bodies in total, per-slot
    /// allowances included.
    pub max_unauthenticated_buffer_bytes: usize,
    /// Bytes of its body each unauthenticated request buffers within its
    /// slot before it draws on the shared buffer.
    pub unauthenticated_allowance_bytes: usize,
    /// How long a body may take to arrive, from the request's arrival.
    pub body_read_timeout: Duration,
    /// Slowest average body rate after `min_rate_grace`; 0 = no check.
    pub min_body_bytes_per_sec: u64,
    /// How long a body may take to start arriving before the rate counts.
    pub min_rate_grace: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            timeout: REQUEST_TIMEOUT,
            max_in_flight: MAX_REQUESTS_IN_FLIGHT,
            max_unauthenticated_in_flight: 256,
            max_unauthenticated_buffer_bytes: 64 * 1024 * 1024,
            unauthenticated_allowance_bytes: 64 * 1024,
            body_read_timeout: Duration::from_secs(10),
            min_body_bytes_per_sec: 16 * 1024,
            min_rate_grace: MIN_RATE_GRACE,
        }
    }
}

impl RequestLimits {
    /// The part of the unauthenticated buffer left after the per-slot allowances.
    pub fn shared_unauthenticated_buffer_bytes(&self) -> usize {
        self.max_unauthenticated_buffer_bytes.saturating_sub(
            self.max_unauthenticated_in_flight
                .saturating_mul(self.unauthenticated_allowance_bytes),
        )
    }
}

/// Longest time one request may take, body upload included. Every inner
/// deadline (attachment downloads, the bus confirmation) is shorter, so a
/// sender normally gets a precise answer first.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);

/// Authenticated requests handled at once by default.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 128;

/// The first seconds of a body during which its rate is not checked (a
/// sender's first bytes may wait for a connection to warm up).
pub const MIN_RATE_GRACE: Duration = Duration::from_secs(2);

/// The data listener: each channel's routes behind the request limits, and
/// JSON 404/405 answers.
pub fn app(
    ctx: ChannelContext,
    channels: Vec<Arc<dyn HttpChannel>>,
    limits: RequestLimits,
) -> Router {
    let mut router = Router::new();
    for channel in channels {
        tracing::info!(channel = channel.name(), "http channel mounted");
        router = router.merge(channel.routes(ctx.clone()));
    }
    let pools = Arc::new(Pools::new(limits));
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(pools, guard))
}

/// Admits the request (or sheds it), runs it within the limits, and records
/// its latency under its route template.
async fn guard(
    State(pools): State<Arc<Pools>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let route = route.as_deref().unwrap_or(UNMATCHED_ROUTE);
    let response = match run_admitted(&pools, route, started, request, next).await {
        Ok(response) => response,
        Err((limit, received_bytes)) => {
            refuse(&pools.limits, route, limit, started, received_bytes)
        }
    };
    RequestAnswered {
        route,
        status: response.status(),
        elapsed: started.elapsed(),
    }
    .emit();
    response
}

/// Runs the handler with an admitted body; `Err` names the limit that
/// refused or cut the request (and the body bytes that had arrived).
async fn run_admitted(
    pools: &Arc<Pools>,
    route: &str,
    started: Instant,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, (Limit, u64)> {
    let (parts, body) = request.into_parts();
    let mut admission = pools
        .admit(declared_length(&body))
        .map_err(|limit| (limit, 0))?;
    let request = axum::extract::Request::from_parts(parts, admission.body(body, started));
    let handler = tokio::time::timeout_at(started + pools.limits.timeout, next.run(request));
    tokio::pin!(handler);
    let outcome = tokio::select! {
        biased;
        Ok(limit) = &mut admission.failure => Err(limit),
        answered = &mut handler => answered.map_err(|_| Limit::RequestTimeout),
    };
    outcome.map_err(|limit| {
        tracing::debug!(route, limit = limit.as_str(), "request stopped by a limit");
        (limit, admission.received_bytes())
    })
}

/// The answer for a request a limit refused (503 `overloaded`) or cut (408
/// `timeout`), counted and logged.
fn refuse(
    limits: &RequestLimits,
    route: &str,
    limit: Limit,
    started: Instant,
    received_bytes: u64,
) -> Response {
    if limit.is_timeout() {
        RequestTimedOut {
            route,
            limit,
            elapsed: started.elapsed(),
            received_bytes,
        }
        .emit();
        let message = match limit {
            Limit::BodyReadTimeout => format!(
                "the request body did not arrive within {} s",
                limits.body_read_timeout.as_secs_f64()
            ),
            Limit::MinBodyRate => format!(
                "the request body arrived slower than {} bytes per second",
                limits.min_body_bytes_per_sec
            ),
            _ => format!(
                "the request took longer than {} s",
                limits.timeout.as_secs_f64()
            ),
        };
        return ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", message).into_response();
    }
    RequestShed { route, limit }.emit();
    let message = match limit {
        Limit::MaxUnauthenticatedBufferBytes => {
            "too many request bodies are being buffered, retry later"
        }
        Limit::MaxUnauthenticatedInFlight => "too many requests are being received, retry later",
        _ => "too many requests are being processed, retry later",
    };
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
        .with_retry_after(Duration::from_secs(1))
        .into_response()
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

pub(crate) async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::method_not_allowed(format!("method not allowed on {}", uri.path()))
}

/// How long in-flight requests may take to finish after shutdown was signalled.
pub fn default_drain_deadline() -> Duration {
    Duration::from_secs(10)
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then stops
/// accepting and lets in-flight requests finish for at most
/// [`default_drain_deadline`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    serve_with(listener, app, shutdown, ServeOptions::default()).await
}

/// [`serve`] with an explicit drain deadline.
pub async fn serve_with_deadline(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    drain_deadline: Duration,
) -> io::Result<()> {
    let options = ServeOptions {
        drain_deadline,
        ..ServeOptions::default()
    };
    serve_with(listener, app, shutdown, options).await
}
