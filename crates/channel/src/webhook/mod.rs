//! The webhook pipeline: the steps every webhook channel shares, so that a
//! channel supplies only what is its own (a verifier, a pure normaliser, and
//! any extra routes) by implementing [`WebhookChannel`].
//!
//! For each request on [`WebhookChannel::path`] the kit, in this order:
//! 1. counts the delivery, takes one of the channel's in-flight slots
//!    (503 `overloaded` past [`WebhookSettings::max_in_flight`]);
//! 2. runs the channel's header check ([`WebhookChannel::check_headers`],
//!    401) before any byte of the body is read;
//! 3. refuses a declared or received body over
//!    [`WebhookSettings::max_body_bytes`] (413);
//! 4. authenticates the raw bytes ([`WebhookChannel::verify`], 401) before
//!    anything is parsed;
//! 5. checks the content type ([`WebhookChannel::CONTENT_TYPE`], 415);
//! 6. answers a handshake itself ([`WebhookChannel::handshake`]), else
//!    normalises ([`WebhookChannel::normalise`]: pure, no I/O; 400/422);
//! 7. applies the per-sender limit on the event's contact key (429) and the
//!    channel's own admission check ([`WebhookChannel::admit`]);
//! 8. stores the attachment bytes in the blob store (503), runs the
//!    channel's asynchronous completion ([`WebhookChannel::complete`], e.g.
//!    downloading attachments given by URL), attaches the raw body (inline
//!    or as a blob, 503);
//! 9. publishes the event with the bus deadline (503 + `Retry-After`, or 413
//!    when the bus refuses it for its size);
//! 10. answers [`WebhookChannel::ACCEPTED`] with `{"event_id","status":"accepted"}`
//!     only then, and records the dropped and unknown fields.
//!
//! A delivery of several messages ([`WebhookChannel::normalise_batch`])
//! takes steps 7 to 9 for each of them and is answered
//! `{"event_ids":[…],"status":"accepted"}` once every event is published.
//!
//! Every refusal is a [`Rejection`]: logged and counted
//! ([`crate::events::MessageRejected`], plus
//! [`crate::events::SignatureFailure`] for authentication) and answered with
//! the JSON error body. The body limit applies to every route of the channel,
//! its extra routes included.

mod content_type;
mod pipeline;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use intake_event::TicketEvent;
use uuid::Uuid;

use crate::{ChannelContext, HttpChannel, RejectReason, SenderLimiter};

pub use content_type::content_type_matches;
pub use pipeline::{Accepted, AcceptedBatch, body_limit_layer, reject};

/// What a webhook channel supplies. Implementing it makes the type an
/// [`HttpChannel`] the gateway can mount.
#[async_trait]
pub trait WebhookChannel: Send + Sync + 'static {
    /// What [`WebhookChannel::normalise`] hands on to
    /// [`WebhookChannel::complete`] besides the event (`()` for most channels).
    type Extra: Send + Sync + 'static;

    /// Content type the body must have (essence; a `charset` parameter must
    /// be `utf-8` when given).
    const CONTENT_TYPE: &'static str = "application/json";
    /// Status of the answer once the bus confirmed the event.
    const ACCEPTED: StatusCode = StatusCode::ACCEPTED;

    /// The channel name (`chat`, `telegram`, ...), as used in topics and metrics.
    fn name(&self) -> &'static str;
    /// The route of the webhook (`/v1/chat/messages`); it accepts `POST`.
    fn path(&self) -> &'static str;
    /// Limits of the pipeline.
    fn settings(&self) -> &WebhookSettings;

    /// Authentication that needs no body (signature headers present, the
    /// timestamp within its window), run before the body is read. The
    /// default accepts; the body is checked by [`WebhookChannel::verify`].
    fn check_headers(&self, _headers: &HeaderMap) -> Result<(), Rejection> {
        Ok(())
    }

    /// Authenticates the raw body (constant-time), before it is parsed.
    /// A refusal should use [`RejectReason::Signature`] or
    /// [`RejectReason::StaleTimestamp`] (401).
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Authenticated, Rejection>;

    /// Pure: the authenticated bytes to an event (no I/O). Invalid optional
    /// fields are dropped and named in [`Normalised::dropped`], not refused.
    fn normalise(
        &self,
        authenticated: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Normalised<Self::Extra>, Rejection>;

    /// An authenticated delivery the channel answers itself, publishing
    /// nothing (a handshake such as Slack's `url_verification`): checked
    /// after authentication and the content type, before normalising. The
    /// default answers none this way.
    fn handshake(&self, _body: &[u8]) -> Option<axum::response::Response> {
        None
    }

    /// The messages of one delivery, each to become one event (a WhatsApp
    /// payload carries several). The pipeline calls this; the default is the
    /// one message of [`WebhookChannel::normalise`]. Every message passes the
    /// same steps (per-sender limit, admission, blobs, completion, raw body)
    /// and every event is published before the 2xx; any refusal refuses the
    /// whole delivery (the source redelivers it, and the events already
    /// published are suppressed by their ids). No message (a delivery of
    /// status notices only) is answered with an empty `event_ids`.
    fn normalise_batch(
        &self,
        authenticated: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<Normalised<Self::Extra>>, Rejection> {
        self.normalise(authenticated, body, received_at)
            .map(|message| vec![message])
    }

    /// A synchronous check of the normalised message after the per-sender
    /// limit and before anything is stored (e.g. attachment URLs allowed).
    fn admit(&self, _event_id: Uuid, _message: &Normalised<Self::Extra>) -> Result<(), Rejection> {
        Ok(())
    }

    /// Asynchronous completion after the attachment bytes are stored and
    /// before the raw body is attached (e.g. fetching attachments given by
    /// URL into the blob store and the event). The default does nothing.
    async fn complete(
        &self,
        _ctx: &ChannelContext,
        _event_id: Uuid,
        _message: &mut Normalised<Self::Extra>,
    ) -> Result<(), Rejection> {
        Ok(())
    }

    /// Further routes of the channel (a `GET` verification challenge, ...).
    /// The body limit applies to them too.
    fn extra_routes(self: Arc<Self>, _ctx: ChannelContext) -> axum::Router {
        axum::Router::new()
    }
}

impl<C: WebhookChannel> HttpChannel for C {
    fn name(&self) -> &'static str {
        WebhookChannel::name(self)
    }

    fn routes(self: Arc<Self>, ctx: ChannelContext) -> axum::Router {
        pipeline::routes(self, ctx)
    }
}

/// The limits of one channel's pipeline.
#[derive(Debug)]
pub struct WebhookSettings {
    /// Largest request body, in bytes, on every route of the channel (the
    /// application caps it at `http.max_body_bytes`).
    pub max_body_bytes: usize,
    /// Largest raw body carried inside the event (see [`crate::attach_raw`]).
    pub raw_inline_max_bytes: usize,
    /// Per-sender limit on the contact key; `None`: no limit.
    pub sender_limiter: Option<SenderLimiter>,
    /// Deliveries of this channel handled at once; `None`: only the
    /// gateway's own limits apply.
    pub max_in_flight: Option<usize>,
}

impl WebhookSettings {
    /// Settings with the given body limit, the default inline raw size, no
    /// per-sender limit and no in-flight limit of the channel's own.
    pub fn new(max_body_bytes: usize) -> Self {
        Self {
            max_body_bytes,
            raw_inline_max_bytes: crate::DEFAULT_RAW_INLINE_MAX_BYTES,
            sender_limiter: None,
            max_in_flight: None,
        }
    }
}

/// What [`WebhookChannel::verify`] established about a delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authenticated {
    /// The source's message id when it is known before parsing (the
    /// `webhook-id` header); logged with every later refusal as the event id.
    pub message_id: Option<String>,
}

impl Authenticated {
    /// A delivery whose id is `message_id`.
    pub fn with_message_id(message_id: impl Into<String>) -> Self {
        Self {
            message_id: Some(message_id.into()),
        }
    }
}

/// A normalised message: the event, the attachment bytes still to be
/// stored, and what was left out of the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised<X> {
    /// The event; each attachment's `blob` is its content address
    /// (`intake_blob::content_address`), known before the bytes are stored.
    pub event: TicketEvent,
    /// The bytes of `event.attachments`, in the same order, stored by the
    /// kit before the event is published.
    pub attachment_bytes: Vec<Vec<u8>>,
    /// Optional fields dropped as invalid (names from the channel's fixed
    /// list; metric labels), also named in `event.dropped_fields`.
    pub dropped: Vec<&'static str>,
    /// Names of fields the channel does not know (logged at debug, counted
    /// as `unknown`).
    pub unknown_fields: Vec<String>,
    /// The channel's own data for [`WebhookChannel::complete`].
    pub extra: X,
}

impl<X> Normalised<X> {
    /// A message with nothing dropped and no attachments to store.
    pub fn new(event: TicketEvent, extra: X) -> Self {
        Self {
            event,
            attachment_bytes: Vec::new(),
            dropped: Vec::new(),
            unknown_fields: Vec::new(),
            extra,
        }
    }
}

/// Why a delivery is refused: the reason (status, error code, metric label),
/// the answer's message, and what is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    /// The answer's message (names the field or limit; never secrets).
    pub message: String,
    /// Logged instead of `message` when the message may quote the sender's
    /// data (an invalid e-mail address); never message content.
    pub log_detail: Option<String>,
    /// Sent as `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl Rejection {
    pub fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            log_detail: None,
            retry_after: None,
        }
    }

    /// Logs `detail` instead of the answer's message.
    pub fn logging(mut self, detail: impl Into<String>) -> Self {
        self.log_detail = Some(detail.into());
        self
    }

    /// Adds a `Retry-After` to the answer.
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }
}
