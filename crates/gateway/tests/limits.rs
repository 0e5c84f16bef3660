//! The data listener's limits on a real loopback socket, with raw HTTP/1.1
//! clients that stall or trickle their bodies: the read deadline, the
//! minimum rate, the shared buffer for unauthenticated bodies, and slots for
//! unauthenticated bodies apart from authenticated work.
//!
//! Waits are on conditions with generous deadlines, never fixed sleeps; the
//! limits themselves are what makes a request end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::testing::RecordingPublisher;
use intake_channel::{ChannelContext, HttpChannel, read_body_limited};
use intake_gateway::{RequestLimits, app, serve};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// A channel whose route reads the whole body and then, when gated, waits
/// for a permit before answering `200 <body length>`.
struct Echo {
    gate: Option<Arc<Semaphore>>,
    arrived: mpsc::UnboundedSender<usize>,
}

impl HttpChannel for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn routes(self: Arc<Self>, _ctx: ChannelContext) -> Router {
        async fn echo(State(echo): State<Arc<Echo>>, body: Body) -> (StatusCode, String) {
            let bytes = match read_body_limited(body, 1 << 20).await {
                Ok(bytes) => bytes,
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
            };
            let _ = echo.arrived.send(bytes.len());
            if let Some(gate) = &echo.gate {
                let _permit = gate.acquire().await;
            }
            (StatusCode::OK, bytes.len().to_string())
        }
        Router::new()
            .route("/v1/echo/{id}", axum::routing::post(echo))
            .with_state(self)
    }
}

struct Server {
    addr: SocketAddr,
    metrics: PrometheusHandle,
    gate: Arc<Semaphore>,
    arrived: mpsc::UnboundedReceiver<usize>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
    _recorder: metrics::LocalRecorderGuard<'static>,
}

/// Serves the echo channel with `limits` on a loopback port, in this
/// (current-thread) runtime so that the local metrics recorder sees it.
async fn start(limits: RequestLimits, gated: bool) -> Server {
    let recorder = Box::leak(Box::new(PrometheusBuilder::new().build_recorder()));
    let metrics = recorder.handle();
    let guard = metrics::set_default_local_recorder(recorder);
    let dir = tempfile::tempdir().unwrap();
    let ctx = ChannelContext {
        publisher: RecordingPublisher::new(),
        topics: Topics::new("intake"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path())),
    };
    let gate = Arc::new(Semaphore::new(0));
    let (arrived_tx, arrived) = mpsc::unbounded_channel();
    let echo: Arc<dyn HttpChannel> = Arc::new(Echo {
        gate: gated.then(|| Arc::clone(&gate)),
        arrived: arrived_tx,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(
        listener,
        app(ctx, vec![echo], limits),
        shutdown.clone(),
    ));
    Server {
        addr,
        metrics,
        gate,
        arrived,
        shutdown,
        _dir: dir,
        _recorder: guard,
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Limits with nothing in the way except what a test sets.
fn roomy() -> RequestLimits {
    RequestLimits {
        timeout: Duration::from_secs(600),
        max_in_flight: 64,
        max_unauthenticated_in_flight: 64,
        max_unauthenticated_buffer_bytes: 64 * 1024 + (4 << 20),
        unauthenticated_allowance_bytes: 1024,
        body_read_timeout: Duration::from_secs(600),
        min_body_bytes_per_sec: 0,
        min_rate_grace: Duration::from_secs(2),
    }
}

/// Sends a request head (`content-length`, or chunked when `None`) and the
/// first body bytes, and leaves the connection open.
async fn open(addr: SocketAddr, length: Option<usize>, first: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let framing = match length {
        Some(length) => format!("content-length: {length}"),
        None => "transfer-encoding: chunked".to_owned(),
    };
    let head = format!("POST /v1/echo/1 HTTP/1.1\r\nhost: test\r\n{framing}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    stream
}

/// One chunk of a chunked body.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// Reads one response: status and body (bounded in time).
async fn response<R: AsyncRead + Unpin>(stream: &mut R) -> (u16, String) {
    tokio::time::timeout(ANSWER_WITHIN, read_response(stream))
        .await
        .expect("the gateway answers")
}

async fn read_response<R: AsyncRead + Unpin>(stream: &mut R) -> (u16, String) {
    let mut buffer = Vec::new();
    let mut piece = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream.read(&mut piece).await.expect("read the answer");
        assert!(read > 0, "connection closed before an answer");
        buffer.extend_from_slice(&piece[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
    let status: u16 = head[9..12].parse().expect("status code");
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = stream.read(&mut piece).await.expect("read the answer");
        assert!(read > 0, "connection closed inside the answer");
        buffer.extend_from_slice(&piece[..read]);
    }
    let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).to_string();
    (status, body)
}

/// A complete request with a body of `length` bytes.
async fn post(addr: SocketAddr, length: usize) -> (u16, String) {
    let mut stream = open(addr, Some(length), &vec![b'x'; length]).await;
    response(&mut stream).await
}

fn counter(metrics: &PrometheusHandle, name: &str, labels: &str) -> f64 {
    let wanted = format!("{name}{{{labels}}} ");
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&wanted))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_at_the_read_deadline() {
    let server = start(
        RequestLimits {
            body_read_timeout: Duration::from_millis(500),
            ..roomy()
        },
        false,
    )
    .await;
    let mut stalled = open(server.addr, Some(100), b"0123456789").await;
    let (status, body) = response(&mut stalled).await;
    assert_eq!(status, 408, "{body}");
    assert!(body.contains(r#""error":"timeout""#), "{body}");
    assert!(body.contains("did not arrive within"), "{body}");
    // The stalled connection is closed, not kept for the next request.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(ANSWER_WITHIN, stalled.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection stays open");

    let labels = r#"route="/v1/echo/{id}",limit="body_read_timeout_secs""#;
    assert_eq!(
        counter(
            &server.metrics,
            "intake_http_request_timeouts_total",
            labels
        ),
        1.0
    );
    // The handler never answered a half body as a bad request.
    assert_eq!(
        counter(
            &server.metrics,
            "intake_http_request_duration_seconds_count",
            r#"route="/v1/echo/{id}",status_class="4xx""#
        ),
        1.0
    );
}

#[tokio::test]
async fn a_trickling_body_is_cut_by_the_minimum_rate_and_a_prompt_one_passes() {
    let server = start(
        RequestLimits {
            min_body_bytes_per_sec: 1000,
            min_rate_grace: Duration::from_millis(300),
            ..roomy()
        },
        false,
    )
    .await;
    let (status, body) = post(server.addr, 5000).await;
    assert_eq!((status, body.as_str()), (200, "5000"));

    let (mut reader, mut writer) = open(server.addr, Some(5000), b"x").await.into_split();
    let trickle = tokio::spawn(async move {
        // One byte every 100 ms: 10 bytes per second, far under 1000.
        for _ in 0..600 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b"x").await.is_err() {
                return;
            }
        }
    });
    let (status, body) = response(&mut reader).await;
    trickle.abort();
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("slower than 1000 bytes per second"), "{body}");
    let labels = r#"route="/v1/echo/{id}",limit="min_body_bytes_per_sec""#;
    assert_eq!(
        counter(
            &server.metrics,
            "intake_http_request_timeouts_total",
            labels
        ),
        1.0
    );
}

/// Polls with `probe` until it returns `Some` (bounded in time).
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn small_bodies_pass_while_large_uploads_fill_the_shared_buffer() {
    // 4 slots of 1 KiB each, plus 10 KiB shared.
    let server = start(
        RequestLimits {
            max_unauthenticated_in_flight: 4,
            max_unauthenticated_buffer_bytes: 4 * 1024 + 10 * 1024,
            ..roomy()
        },
        false,
    )
    .await;
    let shed = |limit: &str| {
        let labels = format!(r#"route="/v1/echo/{{id}}",limit="{limit}""#);
        counter(&server.metrics, "intake_http_requests_shed_total", &labels)
    };

    // A declared length that cannot fit is refused before a byte is read.
    let (status, body) = post(server.addr, 20_000).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("bodies are being buffered"), "{body}");
    assert_eq!(shed("max_unauthenticated_buffer_bytes"), 1.0);

    // A chunked body (no length) is cut when it outgrows the buffer.
    let mut growing = open(server.addr, None, &chunk(&[b'x'; 12_000])).await;
    let (status, body) = response(&mut growing).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(shed("max_unauthenticated_buffer_bytes"), 2.0);

    // A large upload that stalls holds most of the shared buffer...
    let mut holder = open(server.addr, None, &chunk(&[b'x'; 9_000])).await;
    // ...so a 4 KB body is refused once the holder's bytes are in (until
    // then it may still pass: the probe waits for the refusal)...
    eventually("the stalled upload holds the buffer", || async {
        let (status, _) = post(server.addr, 4_000).await;
        (status == 503).then_some(())
    })
    .await;
    // ...while a small message, within its slot's allowance, still passes.
    assert_eq!(post(server.addr, 900).await, (200, "900".to_owned()));

    // Once the holder gives up, its bytes are free again.
    drop(holder.shutdown().await);
    drop(holder);
    eventually("the buffer is released", || async {
        let (status, body) = post(server.addr, 4_000).await;
        (status == 200).then_some(body)
    })
    .await;
}

#[tokio::test]
async fn unauthenticated_bodies_and_authenticated_work_have_separate_slots() {
    let mut server = start(
        RequestLimits {
            max_in_flight: 1,
            max_unauthenticated_in_flight: 1,
            max_unauthenticated_buffer_bytes: 1024 + (1 << 20),
            ..roomy()
        },
        true,
    )
    .await;
    let addr = server.addr;
    // A: its body is read, it waits at the gate holding the one work slot.
    let mut working = open(addr, Some(10), b"0123456789").await;
    assert_eq!(server.arrived.recv().await, Some(10));

    // B: a complete body finds no work slot: shed after its body was read.
    let (status, body) = post(addr, 10).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("being processed"), "{body}");

    // C: a stalled body still gets the unauthenticated slot (the work slot
    // is not needed to receive a body)...
    let _stalled = open(addr, Some(100), b"x").await;
    // ...and then every other arrival is shed at the door (D probes until C
    // is admitted; before that, D itself is shed at the work slot).
    let message = eventually("the stalled body holds the slot", || async {
        let (status, body) = post(addr, 10).await;
        assert_eq!(status, 503, "{body}");
        body.contains("being received").then_some(body)
    })
    .await;
    assert!(message.contains(r#""error":"overloaded""#), "{message}");
    let in_flight = |phase: &str| {
        let labels = format!(r#"phase="{phase}""#);
        counter(&server.metrics, "intake_http_requests_in_flight", &labels)
    };
    assert_eq!(
        (in_flight("unauthenticated"), in_flight("work")),
        (1.0, 1.0)
    );

    // A's work was never disturbed by the slow body.
    server.gate.add_permits(1);
    let (status, body) = response(&mut working).await;
    assert_eq!((status, body.as_str()), (200, "10"));
    eventually("A left its work slot", || async {
        (in_flight("work") == 0.0).then_some(())
    })
    .await;
    let shed = |limit: &str| {
        let labels = format!(r#"route="/v1/echo/{{id}}",limit="{limit}""#);
        counter(&server.metrics, "intake_http_requests_shed_total", &labels)
    };
    assert!(shed("max_in_flight") >= 1.0);
    assert!(shed("max_unauthenticated_in_flight") >= 1.0);
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_a_json_408() {
    let mut server = start(
        RequestLimits {
            timeout: Duration::from_millis(300),
            ..roomy()
        },
        true,
    )
    .await;
    let (status, body) = post(server.addr, 3).await;
    assert_eq!(status, 408, "{body}");
    assert!(body.contains(r#""error":"timeout""#), "{body}");
    assert!(body.contains("the request took longer than"), "{body}");
    assert_eq!(server.arrived.recv().await, Some(3));
    let labels = r#"route="/v1/echo/{id}",limit="request_timeout_secs""#;
    assert_eq!(
        counter(
            &server.metrics,
            "intake_http_request_timeouts_total",
            labels
        ),
        1.0
    );
}

#[tokio::test]
async fn latency_is_labelled_by_route_template_never_by_raw_path() {
    let server = start(roomy(), false).await;
    for id in ["abc-123", "def-456"] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!("POST /v1/echo/{id} HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\nok");
        stream.write_all(head.as_bytes()).await.unwrap();
        assert_eq!(response(&mut stream).await.0, 200);
    }
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /no/such/path-789 HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(response(&mut stream).await.0, 404);

    let text = server.metrics.render();
    for raw in ["abc-123", "def-456", "path-789"] {
        assert!(!text.contains(raw), "raw path {raw} in a label:\n{text}");
    }
    for (labels, count) in [
        (r#"route="/v1/echo/{id}",status_class="2xx""#, 2.0),
        (r#"route="unmatched",status_class="4xx""#, 1.0),
    ] {
        assert_eq!(
            counter(
                &server.metrics,
                "intake_http_request_duration_seconds_count",
                labels
            ),
            count,
            "{labels}\n{text}"
        );
    }
}
