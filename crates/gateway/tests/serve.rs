//! `serve` on a real loopback socket: requests are answered, and shutdown
//! stops the server.

use std::sync::Arc;
use std::time::Duration;

use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::ChannelContext;
use intake_channel::testing::RecordingPublisher;
use intake_gateway::{Health, RequestLimits, app, ops_app, serve, serve_with_deadline};
use tokio_util::sync::CancellationToken;

fn ctx(dir: &std::path::Path) -> ChannelContext {
    ChannelContext {
        publisher: RecordingPublisher::new(),
        topics: Topics::new("intake"),
        blobs: Arc::new(LocalDirBlobStore::new(dir)),
    }
}

#[tokio::test]
async fn serves_until_shutdown() {
    let router = ops_app(Health::new(), Arc::new(|| "m 1\n".to_owned()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, router, shutdown.clone()));

    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{address}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let metrics = client
        .get(format!("http://{address}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.text().await.unwrap(), "m 1\n");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops after shutdown")
        .unwrap()
        .unwrap();
    assert!(
        client
            .get(format!("http://{address}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn drain_deadline_bounds_a_hanging_request() {
    let dir = tempfile::tempdir().unwrap();
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    );
    let router = app(ctx(dir.path()), Vec::new(), RequestLimits::default()).merge(slow);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve_with_deadline(
        listener,
        router,
        shutdown.clone(),
        Duration::from_millis(300),
    ));
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("http://{address}/slow"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops within the deadline")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    request.abort();
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let router = ops_app(Health::new(), Arc::new(String::new));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let options = intake_gateway::ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        ..intake_gateway::ServeOptions::default()
    };
    let server = tokio::spawn(intake_gateway::serve_with(
        listener,
        router,
        shutdown.clone(),
        options,
    ));
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-slow: ")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the connection is still open");
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "a half head is never answered"
    );
    // The listener itself is unaffected.
    let response = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}
