#![forbid(unsafe_code)]
//! What every channel adapter shares.
//!
//! - [`ChannelContext`]: the bus publisher, topic names and blob store an
//!   adapter writes to.
//! - [`publish_event`]: the one way an adapter puts a [`TicketEvent`] on the
//!   bus (topic, key, CloudEvents headers, telemetry).
//! - The adapter traits, one per role: [`WebhookChannel`] for webhook
//!   channels (the shared pipeline in [`webhook`] does everything but
//!   verifying and normalising), [`HttpChannel`] for any set of routes
//!   mounted on the gateway, [`PullChannel`] for channels that fetch
//!   (IMAP, Telegram polling), supervised by the [`PullRunner`]; a channel
//!   that can answer customers provides a [`ReplySender`]. Registration is
//!   explicit: the binary lists the channels it runs.
//! - Typed telemetry events ([`events`]) that log and count, shared by all
//!   channels, and the JSON error response ([`ApiError`]).
//! - `testing` (feature `test-util`): test doubles and the pull conformance checks.

mod body;
pub mod cursor;
mod error;
pub mod events;
mod publish;
pub mod pull_runner;
mod ratelimit;
mod raw;
mod registration;
mod reply;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod webhook;

use std::sync::Arc;

use async_trait::async_trait;
use intake_blob::BlobStore;
use tokio_util::sync::CancellationToken;

pub use body::{BodyError, read_body_limited};
pub use error::ApiError;
pub use events::{FetchOutcome, RejectReason};
pub use intake_event::TicketEvent;
pub use publish::{
    BUS_RETRY_AFTER, CE_TYPE, PUBLISH_DEADLINE, PublishRefusal, ce_source, new_traceparent,
    partition_key, publish_event,
};
pub use pull_runner::{
    Backoff, PullReadiness, PullRunner, PullRunnerError, PullRunnerOptions, PullStatus,
};
pub use ratelimit::{CLEANUP_INTERVAL, RateLimited, SenderLimiter, retry_after_secs};
pub use raw::{
    DEFAULT_RAW_INLINE_MAX_BYTES, INLINE_EVENT_BUDGET_BYTES, RawPlacement, attach_raw, read_raw,
};
pub use registration::{
    Adapter, BuildContext, BuildError, Channel, ChannelSection, Registration, SectionContext,
    sections,
};
pub use reply::{
    Delivery, DuplicateSender, Reply, ReplyAttachment, ReplyError, ReplyFailure, ReplyKind,
    ReplySender, ReplySenders, UNREGISTERED_CHANNEL_LABEL,
};
pub use webhook::{Authenticated, Normalised, Rejection, WebhookChannel, WebhookSettings};

/// Everything an adapter needs to hand messages on.
#[derive(Clone)]
pub struct ChannelContext {
    /// Durable writer to the bus.
    pub publisher: Arc<dyn intake_bus::Publisher>,
    /// Topic names (`<prefix>.events.<channel>`).
    pub topics: intake_bus::Topics,
    /// Where attachments and raw payloads go.
    pub blobs: Arc<dyn BlobStore>,
}

impl std::fmt::Debug for ChannelContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelContext")
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

/// A channel that receives webhooks: it contributes routes to the gateway's
/// HTTP server.
pub trait HttpChannel: Send + Sync {
    /// The channel name (`chat`, `telegram`, ...), as used in topics and metrics.
    fn name(&self) -> &'static str;
    /// The channel's routes (absolute paths such as `/v1/chat/messages`).
    fn routes(self: Arc<Self>, ctx: ChannelContext) -> axum::Router;
}

/// A channel that fetches messages itself (IMAP IDLE, Telegram long polling),
/// run by the [`PullRunner`].
#[async_trait]
pub trait PullChannel: Send {
    /// The channel name, as used in topics and metrics.
    fn name(&self) -> &'static str;
    /// Connects, then fetches until `shutdown` is cancelled (then returns
    /// `Ok`) or an error. The source is acknowledged only after
    /// [`publish_event`] succeeded. After a retryable error the runner calls
    /// `run` again on the same value (so a run starts by connecting); a
    /// non-retryable one ([`ChannelError::Config`]) stops the process, so a
    /// problem of one message (the bus refuses it for its size) is the
    /// channel's to handle (reject or set aside that message), not returned.
    /// The channel reports on `status`: [`PullStatus::set_connected`] once
    /// its session is open, [`PullStatus::fetched`] after each good round.
    async fn run(
        &mut self,
        ctx: ChannelContext,
        status: PullStatus,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError>;
}

/// Why a pull channel stopped.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The bus failed; the message was not acknowledged upstream.
    #[error(transparent)]
    Bus(#[from] intake_bus::BusError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] intake_blob::BlobError),
    /// The upstream source (mail server, bot API) failed or is unreachable.
    #[error("{channel} source failed: {message}")]
    Source {
        channel: &'static str,
        message: String,
        retryable: bool,
    },
    /// The channel's configuration cannot work (bad credentials, bad address).
    #[error("{channel} is misconfigured: {message}")]
    Config {
        channel: &'static str,
        message: String,
    },
}

impl ChannelError {
    /// True when restarting the channel may work.
    pub fn is_retryable(&self) -> bool {
        match self {
            ChannelError::Bus(e) => e.is_retryable(),
            ChannelError::Blob(e) => e.is_retryable(),
            ChannelError::Source { retryable, .. } => *retryable,
            ChannelError::Config { .. } => false,
        }
    }
}
