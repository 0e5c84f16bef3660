//! Server-side request forgery through URL attachments: the host name being
//! listed is not enough; its resolved addresses are checked, the connection
//! goes to the checked address, ports are restricted and every redirect
//! hop is checked again. Servers bind 127.0.0.1 only; refused addresses
//! are never contacted (they are refused before connecting).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{Harness, harness, options, send, signed};
use futures::future::BoxFuture;
use intake_channel_chat::{ChatOptions, HostLookup, StaticLookup};

const FILE: &[u8] = b"the invoice";

/// A file server on 127.0.0.1: `/file.txt`, and `/redirect` answering 302
/// to `target`. Counts requests.
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn server(redirect_target: Option<String>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/file.txt",
            get(
                |State((hits, _)): State<(Arc<AtomicUsize>, Option<String>)>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    ([(header::CONTENT_TYPE, "text/plain")], FILE).into_response()
                },
            ),
        )
        .route(
            "/redirect",
            get(
                |State((hits, target)): State<(Arc<AtomicUsize>, Option<String>)>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let target = target.unwrap_or_default();
                    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
                },
            ),
        )
        .with_state((hits.clone(), redirect_target));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, hits }
}

fn hits(server: &Server) -> usize {
    server.hits.load(Ordering::SeqCst)
}

/// Answers from a list, one entry per look-up (the last one repeated): a
/// name whose DNS answer changes between look-ups (rebinding).
#[derive(Debug)]
struct ChangingLookup {
    answers: Vec<IpAddr>,
    calls: AtomicUsize,
}

impl ChangingLookup {
    fn new(answers: &[IpAddr]) -> Arc<Self> {
        Arc::new(Self {
            answers: answers.to_vec(),
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl HostLookup for ChangingLookup {
    fn lookup(&self, _host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers[call.min(self.answers.len() - 1)];
        Box::pin(async move { Ok(vec![answer]) })
    }
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn fetching(ports: &[u16], lookup: Option<Arc<dyn HostLookup>>, allow_private: bool) -> Harness {
    harness(ChatOptions {
        attachment_url_hosts: vec![
            "localhost".into(),
            "files.example".into(),
            "127.0.0.1".into(),
        ],
        allow_http_attachment_urls: true,
        attachment_url_ports: ports.to_vec(),
        attachment_url_allow_private_networks: allow_private,
        attachment_host_lookup: lookup,
        ..options()
    })
}

fn message(url: &str) -> String {
    serde_json::json!({"conversation_id": "c", "author": {"id": "v"}, "text": "file",
        "attachments": [{"filename": "f.txt", "url": url}]})
    .to_string()
}

async fn expect_refusal(h: &Harness, id: &str, url: &str, needle: &str) {
    let (status, _, answer) = send(&h.app, signed(id, &message(url))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{id}: {answer}");
    assert_eq!(answer["error"], "attachment", "{id}: {answer}");
    let text = answer["message"].as_str().unwrap();
    assert!(text.contains(needle), "{id}: {text} lacks {needle:?}");
    assert!(h.publisher.records().is_empty(), "{id}: published");
}

#[tokio::test]
async fn an_allowed_name_that_resolves_to_loopback_is_refused() {
    let target = server(None).await;
    let port = target.addr.port();

    // `localhost` is listed, but the system resolver says 127.0.0.1 (or ::1).
    let system = fetching(&[port], None, false);
    let url = format!("http://localhost:{port}/file.txt");
    expect_refusal(
        &system,
        "localhost",
        &url,
        "attachment_url_allow_private_networks",
    )
    .await;
    // A listed IP literal in a private range is refused the same way.
    let url = format!("http://127.0.0.1:{port}/file.txt");
    expect_refusal(&system, "literal", &url, "loopback or private").await;

    // A listed name whose DNS points inside the network (test host mapping).
    let mapped = StaticLookup::new()
        .with("files.example", &[LOOPBACK])
        .with("localhost", &["169.254.169.254".parse().unwrap()]);
    let h = fetching(&[port], Some(Arc::new(mapped)), false);
    let url = format!("http://files.example:{port}/file.txt");
    expect_refusal(&h, "mapped", &url, "loopback or private").await;
    // Cloud metadata is never fetched, not even with the allowance.
    let mapped = StaticLookup::new().with("localhost", &["169.254.169.254".parse().unwrap()]);
    let allowing = fetching(&[port], Some(Arc::new(mapped)), true);
    let url = format!("http://localhost:{port}/file.txt");
    expect_refusal(&allowing, "metadata", &url, "metadata").await;

    assert_eq!(hits(&target), 0, "a refused address was contacted");
}

#[tokio::test]
async fn with_the_allowance_the_connection_goes_to_the_checked_address() {
    let target = server(None).await;
    let port = target.addr.port();
    // `files.example` exists only in this lookup: the download can only
    // work by connecting to the address the resolver checked.
    let lookup = ChangingLookup::new(&[LOOPBACK]);
    let h = fetching(&[port], Some(lookup.clone()), true);
    let url = format!("http://files.example:{port}/file.txt");
    let (status, _, answer) = send(&h.app, signed("pinned", &message(&url))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let event = &h.events()[0];
    assert_eq!(event.attachments[0].sha256, intake_blob::sha256_hex(FILE));
    assert_eq!(lookup.calls(), 1, "resolved once");
    assert_eq!(hits(&target), 1);
}

#[tokio::test]
async fn ports_are_restricted() {
    let target = server(None).await;
    let port = target.addr.port();
    // Default ports: 443, and 80 with http; the server's port is neither.
    let h = fetching(
        &[],
        Some(Arc::new(
            StaticLookup::new().with("files.example", &[LOOPBACK]),
        )),
        true,
    );
    let url = format!("http://files.example:{port}/file.txt");
    expect_refusal(&h, "port", &url, "port is not allowed").await;
    assert_eq!(hits(&target), 0);
}

#[tokio::test]
async fn a_redirect_to_a_disallowed_address_is_refused() {
    // Same host name, another port: the hop needs a new connection, and by
    // then the name resolves to an address that is never fetched
    // (unspecified, refused before connecting).
    let second = server(None).await;
    let second_url = format!("http://files.example:{}/file.txt", second.addr.port());
    let first = server(Some(second_url)).await;
    let ports = [first.addr.port(), second.addr.port()];
    let lookup = ChangingLookup::new(&[LOOPBACK, IpAddr::V4(Ipv4Addr::UNSPECIFIED)]);
    let h = fetching(&ports, Some(lookup.clone()), true);
    let url = format!("http://files.example:{}/redirect", first.addr.port());
    expect_refusal(&h, "rebinding", &url, "never fetched").await;
    assert_eq!(hits(&first), 1);
    assert_eq!(hits(&second), 0, "the redirect target was contacted");
    assert_eq!(lookup.calls(), 2, "the hop was resolved and checked again");

    // A redirect to a port that is not allowed is refused by the redirect check.
    // (Port 9 on loopback: refused before any connection.)
    let to_port_9 = server(Some("http://files.example:9/file.txt".to_owned())).await;
    let lookup = StaticLookup::new().with("files.example", &[LOOPBACK]);
    let h = fetching(&[to_port_9.addr.port()], Some(Arc::new(lookup)), true);
    let url = format!("http://files.example:{}/redirect", to_port_9.addr.port());
    expect_refusal(&h, "redirect-port", &url, "port is not allowed").await;
}
