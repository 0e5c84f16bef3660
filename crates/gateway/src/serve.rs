//! Serving a router on a listener: hyper's connection builder (HTTP/1.1 and
//! HTTP/2) with a deadline for request heads, graceful shutdown with a drain
//! deadline. `axum::serve` would do the same but gives no way to set the
//! head deadline, so a client that sends its headers a byte at a time would
//! hold its connection (and the buffer behind it) forever.

use std::io;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// How a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long in-flight requests may take to finish after shutdown.
    pub drain_deadline: Duration,
    /// How long a client may take to send a request head (also how long an
    /// idle keep-alive connection is kept); then the connection is closed.
    pub header_read_timeout: Duration,
}

/// Default [`ServeOptions::header_read_timeout`]: webhook senders send their
/// headers at once, and an idle connection is cheap to open again.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            drain_deadline: crate::default_drain_deadline(),
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// Pause after a failed `accept` (e.g. out of file descriptors), so the
/// loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(500);

/// Serves `app` on `listener` until `shutdown` is cancelled, then stops
/// accepting and lets open connections finish their requests for at most
/// `options.drain_deadline`.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    options: ServeOptions,
) -> io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                tracing::warn!(%address, error = %error, "accepting a connection failed");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|request: axum::http::Request<Incoming>| request.map(Body::new)),
        );
        let connection = graceful.watch(
            builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned(),
        );
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    match tokio::time::timeout(options.drain_deadline, graceful.shutdown()).await {
        Ok(()) => tracing::info!(%address, "listener stopped"),
        Err(_) => tracing::warn!(
            %address,
            deadline_ms = u64::try_from(options.drain_deadline.as_millis()).unwrap_or(u64::MAX),
            "listener drain deadline passed, dropping in-flight requests"
        ),
    }
    Ok(())
}
