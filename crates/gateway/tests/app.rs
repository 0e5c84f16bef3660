//! The gateway router through `oneshot`: channel routes, operational
//! endpoints and JSON errors.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::testing::RecordingPublisher;
use intake_channel::{ChannelContext, HttpChannel};
use intake_channel_chat::{ChatChannel, ChatOptions, WebhookSecret, sign};
use intake_gateway::{Health, PROMETHEUS_CONTENT_TYPE, app};
use metrics_exporter_prometheus::PrometheusBuilder;
use secrecy::SecretString;
use tower::ServiceExt;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn gateway(
    health: Health,
    render: intake_gateway::MetricsRender,
) -> (Router, Arc<RecordingPublisher>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let publisher = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: publisher.clone(),
        topics: Topics::new("intake"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path())),
    };
    let chat: Arc<dyn HttpChannel> =
        Arc::new(ChatChannel::new(ChatOptions::with_secret(SecretString::from(SECRET))).unwrap());
    (app(ctx, vec![chat], health, render), publisher, dir)
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap()
        .to_vec();
    (status, content_type, body)
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn signed(id: &str, body: &str) -> Request<Body> {
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let ts = chrono_now();
    Request::post("/v1/chat/messages")
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sign(&secret, id, ts, body.as_bytes()))
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn chat_is_mounted_and_metrics_show_what_happened() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let (app, publisher, _dir) = gateway(Health::new(), Arc::new(move || handle.render()));

    let body = r#"{"conversation_id":"c","author":{"id":"v"},"text":"Добрый день"}"#;
    let (status, _, answer) = call(&app, signed("gw_1", body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        json(&answer)["event_id"],
        intake_event::event_id("chat", "gw_1").to_string()
    );
    assert_eq!(publisher.records().len(), 1);

    let mut unsigned = signed("gw_2", body);
    unsigned.headers_mut().remove("webhook-signature");
    let (status, _, answer) = call(&app, unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&answer)["error"], "signature");

    let (status, content_type, metrics) = call(&app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some(PROMETHEUS_CONTENT_TYPE));
    let text = String::from_utf8(metrics).unwrap();
    for line in [
        r#"intake_messages_received_total{channel="chat"} 2"#,
        r#"intake_events_published_total{channel="chat"} 1"#,
        r#"intake_messages_rejected_total{channel="chat",reason="signature"} 1"#,
        r#"intake_signature_failures_total{channel="chat"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let (app, _, _dir) = gateway(Health::new(), Arc::new(String::new));
    let (status, content_type, body) = call(&app, get("/v1/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body = json(&body);
    assert_eq!(body["error"], "not_found");
    assert!(body["message"].as_str().unwrap().contains("/v1/nope"));

    let (status, _, body) = call(&app, get("/v1/chat/messages")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json(&body)["error"], "method_not_allowed");
}

#[tokio::test]
async fn healthz_is_always_ok_and_readyz_names_the_failing_check() {
    let health = Health::new()
        .with_timeout(Duration::from_millis(200))
        .with_check("bus", || async { Ok::<(), String>(()) });
    let (app, _, _dir) = gateway(health, Arc::new(String::new));
    let (status, _, _) = call(&app, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(&app, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["checks"][0]["name"], "bus");

    let failing = Health::new()
        .with_timeout(Duration::from_millis(200))
        .with_check("bus", || async { Ok::<(), String>(()) })
        .with_check("store", || async { Err::<(), _>("database is locked") })
        .with_check("blobs", || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<(), String>(())
        });
    let (app, _, _dir) = gateway(failing, Arc::new(String::new));
    let (status, _, _) = call(&app, get("/healthz")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness does not depend on readiness"
    );
    let started = std::time::Instant::now();
    let (status, _, body) = call(&app, get("/readyz")).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "hung check is bounded by the timeout"
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body = json(&body);
    assert_eq!(body["error"], "not_ready");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("store") && message.contains("blobs"),
        "{message}"
    );
    assert!(!message.contains("bus"), "{message}");
    let checks = body["checks"].as_array().unwrap();
    assert_eq!(checks[1]["error"], "database is locked");
    assert_eq!(checks[0]["ok"], true);
}

#[tokio::test]
async fn readiness_can_check_the_blob_store() {
    use intake_blob::BlobStore;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let blobs: Arc<dyn BlobStore> = Arc::new(LocalDirBlobStore::new(&file));
    let health = Health::new().with_check("blobs", move || {
        let blobs = Arc::clone(&blobs);
        async move { blobs.check_ready().await }
    });
    let (app, _, _dir) = gateway(health, Arc::new(String::new));
    let (status, _, body) = call(&app, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["checks"][0]["name"], "blobs");
}

/// A channel whose one route waits until told to finish.
struct SlowChannel(Arc<tokio::sync::Notify>);

impl HttpChannel for SlowChannel {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn routes(self: Arc<Self>, _ctx: ChannelContext) -> Router {
        Router::new().route(
            "/v1/slow",
            axum::routing::post(move || {
                let release = Arc::clone(&self.0);
                async move {
                    release.notified().await;
                    StatusCode::ACCEPTED
                }
            }),
        )
    }
}

fn slow_gateway(
    limits: intake_gateway::RequestLimits,
) -> (Router, Arc<tokio::sync::Notify>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ChannelContext {
        publisher: RecordingPublisher::new(),
        topics: Topics::new("intake"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path())),
    };
    let release = Arc::new(tokio::sync::Notify::new());
    let channel: Arc<dyn HttpChannel> = Arc::new(SlowChannel(Arc::clone(&release)));
    let render: intake_gateway::MetricsRender = Arc::new(String::new);
    let app = intake_gateway::app_with_limits(ctx, vec![channel], Health::new(), render, limits);
    (app, release, dir)
}

#[tokio::test]
async fn requests_past_the_in_flight_limit_are_shed_with_json_503() {
    let limits = intake_gateway::RequestLimits {
        timeout: Duration::from_secs(10),
        max_in_flight: 1,
    };
    let (app, release, _dir) = slow_gateway(limits);
    let first = tokio::spawn({
        let app = app.clone();
        async move {
            app.oneshot(Request::post("/v1/slow").body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, body) =
        call(&app, Request::post("/v1/slow").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["error"], "overloaded");
    release.notify_waiters();
    assert_eq!(
        first.await.unwrap(),
        StatusCode::ACCEPTED,
        "the first request was not affected"
    );
    let (status, _, _) = call(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "the slot is free again");
}

#[tokio::test]
async fn a_request_past_the_deadline_gets_a_json_408() {
    let limits = intake_gateway::RequestLimits {
        timeout: Duration::from_millis(200),
        max_in_flight: 8,
    };
    let (app, _release, _dir) = slow_gateway(limits);
    let (status, content_type, body) =
        call(&app, Request::post("/v1/slow").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(
        content_type
            .unwrap_or_default()
            .starts_with("application/json")
    );
    assert_eq!(json(&body)["error"], "timeout");
}
