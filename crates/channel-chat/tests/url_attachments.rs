//! Attachments by URL, fetched from a local file server on 127.0.0.1:0
//! (allowed host `127.0.0.1`, plain http, the server's port and loopback
//! addresses allowed for the test).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{Harness, harness, options, retry_after, send, signed};
use intake_blob::BlobStore;
use intake_channel_chat::ChatOptions;
use metrics_exporter_prometheus::PrometheusBuilder;

const LIMIT: usize = 64;
const FILE: &[u8] = "Привет, файл!".as_bytes();

#[derive(Clone, Default)]
struct Hits(Arc<Mutex<HashMap<String, usize>>>);

impl Hits {
    fn of(&self, path: &str) -> usize {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

struct FileServer {
    addr: SocketAddr,
    hits: Hits,
}

async fn serve(
    State((hits, addr)): State<(Hits, SocketAddr)>,
    Path(name): Path<String>,
) -> Response {
    *hits.0.lock().unwrap().entry(name.clone()).or_default() += 1;
    match name.as_str() {
        "file.txt" => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], FILE).into_response(),
        "no-type" => FILE.into_response(),
        "big" => vec![b'x'; LIMIT + 1].into_response(),
        // Chunked, no Content-Length: only counting the bytes can catch it.
        "stream-big" => {
            let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 16])));
            Body::from_stream(futures::stream::iter(chunks)).into_response()
        }
        "missing" => StatusCode::NOT_FOUND.into_response(),
        "broken" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            FILE.into_response()
        }
        "to-same-host" => redirect("/files/file.txt".to_owned()),
        "to-other-host" => redirect(format!("http://localhost:{}/files/file.txt", addr.port())),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn redirect(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn file_server() -> FileServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Hits::default();
    let app = Router::new()
        .route("/files/{name}", get(serve))
        .with_state((hits.clone(), addr));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FileServer { addr, hits }
}

fn fetching_options(ports: &[u16]) -> ChatOptions {
    ChatOptions {
        max_attachment_bytes: LIMIT,
        attachment_url_hosts: vec!["127.0.0.1".into(), "localhost".into()],
        allow_http_attachment_urls: true,
        attachment_url_allow_private_networks: true,
        attachment_url_ports: ports.to_vec(),
        attachment_fetch_timeout: Duration::from_secs(1),
        ..options()
    }
}

fn message(urls: &[(&str, Option<&str>)]) -> String {
    let attachments: Vec<serde_json::Value> = urls
        .iter()
        .enumerate()
        .map(|(index, (url, content_type))| {
            let mut item = serde_json::json!({"filename": format!("file-{index}"), "url": url});
            if let Some(content_type) = content_type {
                item["content_type"] = (*content_type).into();
            }
            item
        })
        .collect();
    serde_json::json!({
        "conversation_id": "c",
        "author": {"id": "visitor"},
        "text": "see attachments",
        "attachments": attachments,
    })
    .to_string()
}

async fn refused(
    h: &Harness,
    id: &str,
    body: &str,
    status: StatusCode,
    code: &str,
) -> serde_json::Value {
    let (got, headers, answer) = send(&h.app, signed(id, body)).await;
    assert_eq!(got, status, "{id}: {answer}");
    assert_eq!(answer["error"], code, "{id}: {answer}");
    assert!(
        h.publisher.records().is_empty(),
        "{id}: something was published"
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert!(retry_after(&headers).is_some(), "{id}: no Retry-After");
    }
    answer
}

#[tokio::test]
async fn fetched_file_is_in_the_blob_store_and_the_event() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let server = file_server().await;
    let base = format!("http://127.0.0.1:{}/files", server.addr.port());
    let body = serde_json::json!({
        "conversation_id": "c",
        "author": {"id": "visitor"},
        "attachments": [
            {"filename": "a.txt", "url": format!("{base}/file.txt")},
            {"filename": "inline.txt", "content_type": "text/plain", "data_base64": "QUJD"},
            {"filename": "b.bin", "url": format!("{base}/no-type")},
            {"filename": "c.pdf", "content_type": "application/pdf", "url": format!("{base}/file.txt")},
            {"filename": "d.txt", "url": format!("{base}/to-same-host")},
        ],
    })
    .to_string();
    let h = harness(ChatOptions {
        max_attachments: 5,
        ..fetching_options(&[server.addr.port()])
    });
    let (status, _, answer) = send(&h.app, signed("url-ok", &body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    let events = h.events();
    let event = &events[0];
    let names: Vec<_> = event
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    assert_eq!(
        names,
        ["a.txt", "inline.txt", "b.bin", "c.pdf", "d.txt"],
        "body order"
    );
    let sha = intake_blob::sha256_hex(FILE);
    let fetched = &event.attachments[0];
    assert_eq!(fetched.sha256, sha);
    assert_eq!(fetched.size, FILE.len() as u64);
    assert_eq!(
        fetched.content_type, "text/plain",
        "from the response header"
    );
    assert_eq!(fetched.blob.as_str(), format!("sha256/{sha}"));
    assert_eq!(h.blobs.get(&fetched.blob).await.unwrap(), FILE);
    assert_eq!(
        event.attachments[2].content_type,
        "application/octet-stream"
    );
    assert_eq!(
        event.attachments[3].content_type, "application/pdf",
        "the sender's type wins"
    );
    assert_eq!(
        event.attachments[4].sha256, sha,
        "same-host redirect followed"
    );
    // The URL itself is not kept in the event.
    assert!(!event.to_json().windows(9).any(|w| w == b"127.0.0.1"));
    assert_eq!(server.hits.of("file.txt"), 3);

    let rendered = handle.render();
    assert!(
        rendered.contains(r#"intake_attachment_fetches_total{channel="chat",outcome="fetched"} 4"#),
        "{rendered}"
    );
}

#[tokio::test]
async fn hosts_not_listed_are_refused_without_contact() {
    let server = file_server().await;
    let port = server.addr.port();
    // Fetching is off by default: the answer names the key that enables it.
    let off = harness(options());
    let body = message(&[(&format!("http://127.0.0.1:{port}/files/file.txt"), None)]);
    let answer = refused(
        &off,
        "off",
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "attachment",
    )
    .await;
    let text = answer["message"].as_str().unwrap();
    assert!(text.contains("attachments[0].url"), "{text}");
    assert!(
        text.contains("channels.chat.attachment_url_hosts"),
        "{text}"
    );

    let h = harness(ChatOptions {
        attachment_url_hosts: vec!["127.0.0.1".into()],
        allow_http_attachment_urls: false,
        ..fetching_options(&[port])
    });
    let cases = [
        (
            "other host",
            "https://169.254.169.254/files/file.txt".to_owned(),
            "not allowed",
        ),
        (
            "other loopback",
            format!("http://127.0.0.2:{port}/files/file.txt"),
            "https",
        ),
        (
            "plain http",
            format!("http://127.0.0.1:{port}/files/file.txt"),
            "allow_http_attachment_urls",
        ),
    ];
    for (name, url, needle) in cases {
        let body = message(&[(&url, None)]);
        let answer = refused(
            &h,
            name,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "attachment",
        )
        .await;
        let text = answer["message"].as_str().unwrap();
        assert!(text.contains(needle), "{name}: {text}");
        assert!(text.contains("attachments[0].url"), "{name}: {text}");
    }
    assert_eq!(server.hits.of("file.txt"), 0, "a refused URL was contacted");
}

#[tokio::test]
async fn failed_fetches_are_422_when_permanent_and_503_when_not() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let server = file_server().await;
    let h = harness(fetching_options(&[server.addr.port()]));
    let url = |name: &str| format!("http://127.0.0.1:{}/files/{name}", server.addr.port());
    let cases = [
        (
            "big",
            StatusCode::UNPROCESSABLE_ENTITY,
            "attachment",
            "larger than 64 bytes",
        ),
        (
            "stream-big",
            StatusCode::UNPROCESSABLE_ENTITY,
            "attachment",
            "larger than 64 bytes",
        ),
        (
            "missing",
            StatusCode::UNPROCESSABLE_ENTITY,
            "attachment",
            "HTTP 404",
        ),
        (
            "to-other-host",
            StatusCode::UNPROCESSABLE_ENTITY,
            "attachment",
            "another host",
        ),
        (
            "broken",
            StatusCode::SERVICE_UNAVAILABLE,
            "attachment_unavailable",
            "HTTP 500",
        ),
        (
            "slow",
            StatusCode::SERVICE_UNAVAILABLE,
            "attachment_unavailable",
            "within 1 seconds",
        ),
    ];
    for (name, status, code, needle) in cases {
        let body = message(&[(&url(name), Some("text/plain"))]);
        let answer = refused(&h, name, &body, status, code).await;
        let text = answer["message"].as_str().unwrap();
        assert!(text.contains(needle), "{name}: {text}");
        assert!(
            !text.contains("127.0.0.1"),
            "{name}: the URL is echoed: {text}"
        );
    }
    // The redirect to another host was not followed.
    assert_eq!(server.hits.of("file.txt"), 0);
    // Nothing was stored for the refused messages.
    assert!(!h.blobs.root().join("sha256").exists());

    let rendered = handle.render();
    for line in [
        r#"intake_attachment_fetches_total{channel="chat",outcome="too_large"} 2"#,
        r#"intake_attachment_fetches_total{channel="chat",outcome="client_error"} 1"#,
        r#"intake_attachment_fetches_total{channel="chat",outcome="redirect_refused"} 1"#,
        r#"intake_attachment_fetches_total{channel="chat",outcome="server_error"} 1"#,
        r#"intake_attachment_fetches_total{channel="chat",outcome="timeout"} 1"#,
        r#"intake_messages_rejected_total{channel="chat",reason="attachment"} 4"#,
        r#"intake_messages_rejected_total{channel="chat",reason="attachment_unavailable"} 2"#,
    ] {
        assert!(rendered.contains(line), "missing {line} in\n{rendered}");
    }
}

/// A raw HTTP/1.1 server answering every connection with `head` and then
/// `body_len` bytes, closing the connection to end the body.
async fn raw_server(head: &'static str, body_len: usize) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Bounded: a test sends a handful of requests at most.
        for _ in 0..8 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&vec![b'w'; body_len]).await;
            let _ = socket.shutdown().await;
        }
    });
    addr
}

#[tokio::test]
async fn the_limit_counts_received_bytes_not_the_declared_length() {
    // No Content-Length at all: the body ends when the connection closes.
    let unsized_body = raw_server("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", 10 * LIMIT).await;
    // An understated Content-Length: HTTP framing stops the client at the
    // declared 8 bytes, so the extra bytes never arrive and the limit holds.
    let understated = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-length: 8\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n",
        10 * LIMIT,
    )
    .await;
    let h = harness(fetching_options(&[unsized_body.port(), understated.port()]));
    let url = format!("http://127.0.0.1:{}/f", unsized_body.port());
    let answer = refused(
        &h,
        "eof-delimited",
        &message(&[(&url, None)]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "attachment",
    )
    .await;
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("larger than 64 bytes"),
        "{answer}"
    );

    let url = format!("http://127.0.0.1:{}/f", understated.port());
    let (status, _, answer) = send(&h.app, signed("understated", &message(&[(&url, None)]))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let event = &h.events()[0];
    assert_eq!(event.attachments[0].size, 8);
    assert_eq!(
        h.blobs.get(&event.attachments[0].blob).await.unwrap(),
        b"wwwwwwww"
    );
}
