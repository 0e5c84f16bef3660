#![forbid(unsafe_code)]
//! The gateway HTTP server: every registered [`HttpChannel`]'s routes plus
//! `GET /metrics`, `GET /healthz` and `GET /readyz`; unknown routes answer
//! with the JSON error body.

mod health;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use intake_channel::{ApiError, ChannelContext, HttpChannel};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use health::{CheckResult, Health, default_check_timeout};

/// Renders the Prometheus text exposition of all metrics.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Content type of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The whole gateway router: each channel's routes, the operational
/// endpoints, and JSON 404/405 answers.
pub fn app(
    ctx: ChannelContext,
    channels: Vec<Arc<dyn HttpChannel>>,
    health: Health,
    metrics: MetricsRender,
) -> Router {
    app_with_limits(ctx, channels, health, metrics, RequestLimits::default())
}

/// How much work the gateway takes on at once, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest time one request may take, body upload included.
    pub timeout: Duration,
    /// Most requests handled at once; past it requests are shed (503).
    pub max_in_flight: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            timeout: REQUEST_TIMEOUT,
            max_in_flight: MAX_REQUESTS_IN_FLIGHT,
        }
    }
}

/// [`app`] with explicit [`RequestLimits`].
pub fn app_with_limits(
    ctx: ChannelContext,
    channels: Vec<Arc<dyn HttpChannel>>,
    health: Health,
    metrics: MetricsRender,
    limits: RequestLimits,
) -> Router {
    let mut router = Router::new();
    for channel in channels {
        tracing::info!(channel = channel.name(), "http channel mounted");
        router = router.merge(channel.routes(ctx.clone()));
    }
    let ops = Router::new()
        .route("/metrics", get(render_metrics).with_state(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(Arc::new(health)));
    let limits = Arc::new(Limits {
        in_flight: tokio::sync::Semaphore::new(limits.max_in_flight),
        limits,
    });
    router
        .merge(ops)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(limits, guard))
}

/// Longest time one request may take, body upload included: a client that
/// trickles its body must not hold a connection (and a slot) forever. Every
/// inner deadline (attachment downloads, the bus confirmation) is shorter, so
/// a sender normally gets a precise answer first.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);

/// Most requests handled at once. Each may buffer a body of up to the
/// channel's limit before its signature can be checked, so this bounds the
/// gateway's memory; past it requests are shed with 503 + `Retry-After`.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 128;

struct Limits {
    in_flight: tokio::sync::Semaphore,
    limits: RequestLimits,
}

/// Sheds load past the in-flight limit and answers a request that outlives
/// the timeout with the JSON error body (408).
async fn guard(
    State(limits): State<Arc<Limits>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Ok(_permit) = limits.in_flight.try_acquire() else {
        tracing::warn!(limit = limits.limits.max_in_flight, path = %request.uri().path(), "request shed: too many in flight");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in flight, retry later",
        )
        .with_retry_after(Duration::from_secs(1))
        .into_response();
    };
    let timeout = limits.limits.timeout;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the request took longer than {timeout:?}"),
        )
        .into_response(),
    }
}

async fn render_metrics(State(render): State<MetricsRender>) -> Response {
    ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], render()).into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn readyz(State(health): State<Arc<Health>>) -> Response {
    let results = health.check_all().await;
    let failing: Vec<&str> = results.iter().filter(|r| !r.ok).map(|r| r.name).collect();
    if failing.is_empty() {
        return axum::Json(json!({"status": "ready", "checks": results})).into_response();
    }
    for result in results.iter().filter(|r| !r.ok) {
        tracing::warn!(
            check = result.name,
            error = result.error.as_deref().unwrap_or_default(),
            "readiness check failed"
        );
    }
    let body = json!({
        "error": "not_ready",
        "message": format!("readiness checks failed: {}", failing.join(", ")),
        "checks": results,
    });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

async fn method_not_allowed(uri: Uri) -> ApiError {
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
    serve_with_deadline(listener, app, shutdown, default_drain_deadline()).await
}

/// [`serve`] with an explicit drain deadline.
pub async fn serve_with_deadline(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    drain_deadline: Duration,
) -> io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "gateway listening");
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = shutdown.cancelled() => {}
    }
    match tokio::time::timeout(drain_deadline, server).await {
        Ok(result) => {
            tracing::info!(%address, "gateway stopped");
            result
        }
        Err(_) => {
            tracing::warn!(
                %address,
                deadline_ms = drain_deadline.as_millis() as u64,
                "gateway drain deadline passed, dropping in-flight requests"
            );
            Ok(())
        }
    }
}
