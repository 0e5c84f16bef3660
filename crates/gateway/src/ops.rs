//! The operational listener: `GET /metrics`, `GET /healthz`, `GET /readyz`,
//! on its own address and outside the data listener's limits, so a flood of
//! webhooks can never make a probe fail. Also the answers both listeners give
//! while the process is still starting.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use intake_channel::ApiError;
use serde_json::json;
use tokio::time::Instant;

use crate::events::{RequestAnswered, UNMATCHED_ROUTE};
use crate::{Health, MetricsRender, PROMETHEUS_CONTENT_TYPE, method_not_allowed, not_found};

/// The operational routes: metrics, liveness and readiness.
pub fn ops_app(health: Health, metrics: MetricsRender) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics).with_state(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(Arc::new(health)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(observe))
}

/// The operational routes until the process has reached its bus and stores:
/// `/healthz` says `starting` (alive: a liveness probe must not kill a
/// process that waits for Kafka), `/metrics` renders, `/readyz` answers 503.
pub fn starting_ops_app(metrics: MetricsRender) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics).with_state(metrics))
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "starting"})) }),
        )
        .route("/readyz", get(starting))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(observe))
}

/// The data listener until the channels are mounted: 503 `starting` with
/// `Retry-After` for every request.
pub fn starting_app() -> Router {
    Router::new().fallback(starting)
}

async fn starting() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "starting",
        "intake is starting (connecting to the bus and the stores), retry shortly",
    )
    .with_retry_after(Duration::from_secs(2))
}

/// Records every answer in the latency histogram.
async fn observe(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    RequestAnswered {
        route: route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        status: response.status(),
        elapsed: started.elapsed(),
    }
    .emit();
    response
}

async fn render_metrics(State(render): State<MetricsRender>) -> Response {
    ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], render()).into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// 200 with every check's name when all required checks pass (an advisory
/// check that fails is named under `degraded`); 503 naming the failing
/// required checks otherwise. What failed and why (a broker or database
/// address, a driver's error text) goes to the log only, never to the answer.
async fn readyz(State(health): State<Arc<Health>>) -> Response {
    let results = health.check_all().await;
    for result in results.iter().filter(|r| !r.ok) {
        tracing::warn!(
            check = result.name,
            required = result.required,
            error = result.error.as_deref().unwrap_or_default(),
            "readiness check failed"
        );
    }
    let names = |required: bool| -> Vec<&str> {
        results
            .iter()
            .filter(|r| !r.ok && r.required == required)
            .map(|r| r.name)
            .collect()
    };
    let (failing, degraded) = (names(true), names(false));
    if failing.is_empty() {
        let mut body = json!({"status": "ready", "checks": results});
        if !degraded.is_empty() {
            body["degraded"] = json!(degraded);
        }
        return axum::Json(body).into_response();
    }
    let body = json!({
        "error": "not_ready",
        "message": format!("readiness checks failed: {}", failing.join(", ")),
        "checks": results,
    });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}
