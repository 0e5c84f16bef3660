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
    let mut router = Router::new();
    for channel in channels {
        tracing::info!(channel = channel.name(), "http channel mounted");
        router = router.merge(channel.routes(ctx.clone()));
    }
    let ops = Router::new()
        .route("/metrics", get(render_metrics).with_state(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(Arc::new(health)));
    router
        .merge(ops)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // A client that trickles its body must not hold a connection (and a
        // slot of the drain) forever: 408 after the deadline.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// Longest time one request may take, body upload included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
