//! The gateway's two routers through `oneshot`: the data listener's channel
//! routes and limits, the ops listener's endpoints, and JSON errors.

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
use intake_gateway::{Health, PROMETHEUS_CONTENT_TYPE, RequestLimits, app, ops_app};
use metrics_exporter_prometheus::PrometheusBuilder;
use secrecy::SecretString;
use tower::ServiceExt;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The data app with the chat channel, and the ops app.
fn gateway(
    health: Health,
    render: intake_gateway::MetricsRender,
) -> (Router, Router, Arc<RecordingPublisher>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let publisher = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: publisher.clone(),
        topics: Topics::new("intake"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path())),
    };
    let chat: Arc<dyn HttpChannel> =
        Arc::new(ChatChannel::new(ChatOptions::with_secret(SecretString::from(SECRET))).unwrap());
    let data = app(ctx, vec![chat], RequestLimits::default());
    (data, ops_app(health, render), publisher, dir)
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
    let (data, ops, publisher, _dir) = gateway(Health::new(), Arc::new(move || handle.render()));

    let body = r#"{"conversation_id":"c","author":{"id":"v"},"text":"Добрый день"}"#;
    let (status, _, answer) = call(&data, signed("gw_1", body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        json(&answer)["event_id"],
        intake_event::event_id("chat", "gw_1").to_string()
    );
    assert_eq!(publisher.records().len(), 1);

    let mut unsigned = signed("gw_2", body);
    unsigned.headers_mut().remove("webhook-signature");
    let (status, _, answer) = call(&data, unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&answer)["error"], "signature");

    let (status, content_type, metrics) = call(&ops, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some(PROMETHEUS_CONTENT_TYPE));
    let text = String::from_utf8(metrics).unwrap();
    for line in [
        r#"intake_messages_received_total{channel="chat"} 2"#,
        r#"intake_events_published_total{channel="chat"} 1"#,
        r#"intake_messages_rejected_total{channel="chat",reason="signature"} 1"#,
        r#"intake_signature_failures_total{channel="chat"} 1"#,
        // The latency histogram, labelled by route template and status class.
        r#"intake_http_request_duration_seconds_count{route="/v1/chat/messages",status_class="2xx"} 1"#,
        r#"intake_http_request_duration_seconds_count{route="/v1/chat/messages",status_class="4xx"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn the_data_listener_serves_no_ops_routes_and_the_ops_listener_no_channels() {
    let (data, ops, _, _dir) = gateway(Health::new(), Arc::new(|| "m 1\n".to_owned()));
    for path in ["/metrics", "/healthz", "/readyz"] {
        let (status, _, body) = call(&data, get(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} on the data listener");
        assert_eq!(json(&body)["error"], "not_found");
        let (status, _, _) = call(&ops, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path} on the ops listener");
    }
    let body = r#"{"conversation_id":"c","author":{"id":"v"},"text":"x"}"#;
    let (status, _, _) = call(&ops, signed("gw_ops", body)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no webhooks on the ops listener"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let (data, ops, _, _dir) = gateway(Health::new(), Arc::new(String::new));
    for app in [&data, &ops] {
        let (status, content_type, body) = call(app, get("/v1/nope")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        let body = json(&body);
        assert_eq!(body["error"], "not_found");
        assert!(body["message"].as_str().unwrap().contains("/v1/nope"));
    }

    let (status, _, body) = call(&data, get("/v1/chat/messages")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json(&body)["error"], "method_not_allowed");
    let (status, _, body) =
        call(&ops, Request::post("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json(&body)["error"], "method_not_allowed");
}

#[tokio::test]
async fn healthz_is_always_ok_and_readyz_names_only_the_failing_checks() {
    let health = Health::new()
        .with_timeout(Duration::from_millis(200))
        .with_check("bus", || async { Ok::<(), String>(()) });
    let (_, ops, _, _dir) = gateway(health, Arc::new(String::new));
    let (status, _, _) = call(&ops, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(&ops, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["checks"][0]["name"], "bus");

    let failing = Health::new()
        .with_timeout(Duration::from_millis(200))
        .with_check("bus", || async {
            Err::<(), _>("kafka-0.prod.internal:9092: Connection refused (os error 111)")
        })
        .with_check("store", || async {
            Err::<(), _>(
                "error connecting to db.prod.internal:5432: password authentication failed",
            )
        })
        .with_check("blob", || async { Ok::<(), String>(()) })
        .with_check("slow", || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<(), String>(())
        });
    let (_, ops, _, _dir) = gateway(failing, Arc::new(String::new));
    let (status, _, _) = call(&ops, get("/healthz")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness does not depend on readiness"
    );
    let (status, _, raw) = call(&ops, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let text = String::from_utf8_lossy(&raw).to_string();
    for leak in [
        "prod.internal",
        "9092",
        "5432",
        "refused",
        "password",
        "within",
    ] {
        assert!(!text.contains(leak), "the answer leaks {leak:?}: {text}");
    }
    let body = json(&raw);
    assert_eq!(body["error"], "not_ready");
    assert_eq!(
        body["message"], "readiness checks failed: bus, store, slow",
        "{text}"
    );
    let checks = body["checks"].as_array().unwrap();
    let names: Vec<_> = checks.iter().map(|c| c["name"].clone()).collect();
    assert_eq!(names, ["bus", "store", "blob", "slow"]);
    for check in checks {
        let keys: Vec<_> = check.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["name", "ok", "required"], "{check}");
    }
    assert_eq!(checks[2]["ok"], true);
    assert_eq!(
        checks[3]["ok"], false,
        "a hung check is bounded by the timeout"
    );
}

#[tokio::test]
async fn a_failing_advisory_check_is_reported_as_degraded_but_keeps_the_process_ready() {
    let health = Health::new()
        .with_timeout(Duration::from_millis(200))
        .with_check("bus", || async { Ok::<(), String>(()) })
        .with_advisory_check("pull_channels", || async {
            Err::<(), _>("mail: not connected (imap.prod.internal:993: login refused)")
        });
    let (_, ops, _, _dir) = gateway(health, Arc::new(String::new));
    let (status, _, raw) = call(&ops, get("/readyz")).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(!text.contains("prod.internal"), "the answer leaks: {text}");
    let body = json(&raw);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["degraded"], serde_json::json!(["pull_channels"]));
    assert_eq!(body["checks"][1]["ok"], false);
    assert_eq!(body["checks"][1]["required"], false);

    // A required check failing beside it still fails readiness, naming only it.
    let both = Health::new()
        .with_timeout(Duration::from_millis(200))
        .with_check("bus", || async { Err::<(), _>("down") })
        .with_advisory_check("pull_channels", || async { Err::<(), _>("down") });
    let (_, ops, _, _dir) = gateway(both, Arc::new(String::new));
    let (status, _, raw) = call(&ops, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&raw)["message"], "readiness checks failed: bus");

    // All passing: no `degraded` key at all.
    let fine =
        Health::new().with_advisory_check("pull_channels", || async { Ok::<(), String>(()) });
    let (_, ops, _, _dir) = gateway(fine, Arc::new(String::new));
    let (status, _, raw) = call(&ops, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(json(&raw).get("degraded").is_none());
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
    let (_, ops, _, _dir) = gateway(health, Arc::new(String::new));
    let (status, _, body) = call(&ops, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["checks"][0]["name"], "blobs");
}
