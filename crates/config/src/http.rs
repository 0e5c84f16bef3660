//! `[http]` (the data listener: channel webhooks and the limits that keep an
//! unauthenticated client from exhausting it) and `[ops]` (the operational
//! listener: `/metrics`, `/healthz`, `/readyz`).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::general::positive_usize;
use crate::secret::Ctx;

/// Bytes of its body every unauthenticated request may buffer within its
/// slot (`http.max_unauthenticated_in_flight`); bytes past it are drawn from
/// the shared part of `http.max_unauthenticated_buffer_bytes`. A chat message
/// without inline attachments fits, so a flood of large forged uploads that
/// exhausts the shared part never stops an ordinary message.
pub const UNAUTHENTICATED_BODY_ALLOWANCE_BYTES: usize = 64 * 1024;

// ---------------------------------------------------------------- [http]

/// `[http]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    /// IP address and port of the data listener (the channel webhooks only).
    #[serde(default = "default_listen")]
    listen: String,
    /// Largest request body accepted on any route, in bytes.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: u64,
    /// Longest time one request may take, body upload included, in seconds.
    #[serde(default = "default_request_timeout_secs")]
    request_timeout_secs: u64,
    /// Requests whose body has been read (authenticated work) handled at once.
    #[serde(default = "default_max_in_flight")]
    max_in_flight: u64,
    /// Requests whose body is still being read (not yet authenticated) at once.
    #[serde(default = "default_max_unauthenticated_in_flight")]
    max_unauthenticated_in_flight: u64,
    /// Bytes of request bodies buffered before their signature could be
    /// checked, over all requests together.
    #[serde(default = "default_max_unauthenticated_buffer_bytes")]
    max_unauthenticated_buffer_bytes: u64,
    /// Seconds from the request's arrival until its body must be complete.
    #[serde(default = "default_body_read_timeout_secs")]
    body_read_timeout_secs: u64,
    /// Slowest average body rate accepted after the first 2 seconds, in bytes
    /// per second; 0 turns the check off.
    #[serde(default = "default_min_body_bytes_per_sec")]
    min_body_bytes_per_sec: u64,
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}
fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}
/// Longer than every inner deadline (attachment downloads 20 s, the bus 10 s).
fn default_request_timeout_secs() -> u64 {
    45
}
fn default_max_in_flight() -> u64 {
    128
}
/// Twice the 128 slow connections that used to exhaust the gateway.
fn default_max_unauthenticated_in_flight() -> u64 {
    256
}
/// 64 MiB: 16 MiB of per-slot allowances (256 × 64 KiB) plus 48 MiB shared,
/// well under a 512 MiB pod.
fn default_max_unauthenticated_buffer_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_body_read_timeout_secs() -> u64 {
    10
}
fn default_min_body_bytes_per_sec() -> u64 {
    16 * 1024
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_body_bytes: default_max_body_bytes(),
            request_timeout_secs: default_request_timeout_secs(),
            max_in_flight: default_max_in_flight(),
            max_unauthenticated_in_flight: default_max_unauthenticated_in_flight(),
            max_unauthenticated_buffer_bytes: default_max_unauthenticated_buffer_bytes(),
            body_read_timeout_secs: default_body_read_timeout_secs(),
            min_body_bytes_per_sec: default_min_body_bytes_per_sec(),
        }
    }
}

/// The data listener and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// Longest time one request may take.
    pub request_timeout: Duration,
    /// Requests past their body (authenticated work) at once.
    pub max_in_flight: usize,
    /// Requests still reading their body at once.
    pub max_unauthenticated_in_flight: usize,
    /// Bytes buffered for unauthenticated bodies in total; of it,
    /// [`UNAUTHENTICATED_BODY_ALLOWANCE_BYTES`] per slot is kept for the
    /// first bytes of each body, the rest is shared.
    pub max_unauthenticated_buffer_bytes: usize,
    /// How long a body may take to arrive.
    pub body_read_timeout: Duration,
    /// Slowest average body rate after the first 2 seconds; 0 = no check.
    pub min_body_bytes_per_sec: u64,
}

impl HttpConfig {
    /// The part of `max_unauthenticated_buffer_bytes` shared by every
    /// request: what is left after the per-slot allowances.
    pub fn shared_unauthenticated_buffer_bytes(&self) -> usize {
        self.max_unauthenticated_buffer_bytes
            .saturating_sub(self.allowances_bytes())
    }

    fn allowances_bytes(&self) -> usize {
        self.max_unauthenticated_in_flight
            .saturating_mul(UNAUTHENTICATED_BODY_ALLOWANCE_BYTES)
    }
}

impl RawHttp {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> HttpConfig {
        let listen = socket_address(ctx, "http.listen", &self.listen, default_listen());
        let max_body_bytes = positive_usize(ctx, "http.max_body_bytes", self.max_body_bytes);
        let request_timeout =
            positive_secs(ctx, "http.request_timeout_secs", self.request_timeout_secs);
        let body_read_timeout = positive_secs(
            ctx,
            "http.body_read_timeout_secs",
            self.body_read_timeout_secs,
        );
        if body_read_timeout > request_timeout {
            ctx.problem(
                "http.body_read_timeout_secs",
                format!(
                    "must not be longer than http.request_timeout_secs ({} s)",
                    request_timeout.as_secs()
                ),
            );
        }
        let config = HttpConfig {
            listen,
            max_body_bytes,
            request_timeout,
            max_in_flight: positive_usize(ctx, "http.max_in_flight", self.max_in_flight),
            max_unauthenticated_in_flight: positive_usize(
                ctx,
                "http.max_unauthenticated_in_flight",
                self.max_unauthenticated_in_flight,
            ),
            max_unauthenticated_buffer_bytes: positive_usize(
                ctx,
                "http.max_unauthenticated_buffer_bytes",
                self.max_unauthenticated_buffer_bytes,
            ),
            body_read_timeout,
            min_body_bytes_per_sec: self.min_body_bytes_per_sec,
        };
        let needed = config
            .allowances_bytes()
            .saturating_add(config.max_body_bytes);
        if config.max_unauthenticated_buffer_bytes < needed {
            ctx.problem(
                "http.max_unauthenticated_buffer_bytes",
                format!(
                    "must be at least {needed}: {} bytes for each of the \
                     http.max_unauthenticated_in_flight requests plus one body of \
                     http.max_body_bytes",
                    UNAUTHENTICATED_BODY_ALLOWANCE_BYTES
                ),
            );
        }
        config
    }
}

// ---------------------------------------------------------------- [ops]

/// `[ops]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOps {
    /// IP address and port of the operational listener (`/metrics`,
    /// `/healthz`, `/readyz`), opened by every role.
    #[serde(default = "default_ops_listen")]
    listen: String,
}

fn default_ops_listen() -> String {
    "127.0.0.1:9090".to_owned()
}

impl Default for RawOps {
    fn default() -> Self {
        Self {
            listen: default_ops_listen(),
        }
    }
}

/// The operational listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsConfig {
    pub listen: SocketAddr,
}

impl RawOps {
    /// `http` is the validated `[http]`, so that both listeners cannot be
    /// given the same address.
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>, http: &HttpConfig) -> OpsConfig {
        let listen = socket_address(ctx, "ops.listen", &self.listen, default_ops_listen());
        if listen == http.listen && listen.port() != 0 {
            ctx.problem(
                "ops.listen",
                format!("{listen} is also http.listen; the two listeners need their own ports"),
            );
        }
        OpsConfig { listen }
    }
}

// ---------------------------------------------------------------- helpers

fn socket_address(ctx: &mut Ctx<'_>, key: &str, value: &str, default: String) -> SocketAddr {
    match value.trim().parse::<SocketAddr>() {
        Ok(address) => address,
        Err(_) => {
            ctx.problem(
                key,
                format!("{value:?} is not an IP address and port (e.g. 0.0.0.0:8080)"),
            );
            default
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
        }
    }
}

fn positive_secs(ctx: &mut Ctx<'_>, key: &str, secs: u64) -> Duration {
    if secs == 0 {
        ctx.problem(key, "must be at least 1");
        return Duration::from_secs(1);
    }
    Duration::from_secs(secs)
}
