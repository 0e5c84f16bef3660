//! Typed telemetry events shared by every channel: each struct is one thing
//! that happens, and `emit` both logs it and counts it. Label values are
//! bounded: the channel name (a `&'static str` chosen by code) and
//! [`RejectReason`] (a fixed enum). Ids go to logs only, never to labels.

use axum::http::StatusCode;
use metrics::counter;
use uuid::Uuid;

/// Metric names, for dashboards and tests.
pub mod names {
    pub const MESSAGES_RECEIVED: &str = "intake_messages_received_total";
    pub const MESSAGES_REJECTED: &str = "intake_messages_rejected_total";
    pub const SIGNATURE_FAILURES: &str = "intake_signature_failures_total";
    pub const EVENTS_PUBLISHED: &str = "intake_events_published_total";
    pub const EVENT_PUBLISH_FAILURES: &str = "intake_event_publish_failures_total";
    pub const ATTACHMENT_FETCHES: &str = "intake_attachment_fetches_total";
    pub const FIELDS_DROPPED: &str = "intake_fields_dropped_total";
    pub const NOTICES_IGNORED: &str = "intake_notices_ignored_total";
    pub const REPLIES_SENT: &str = "intake_replies_sent_total";
    pub const REPLY_FAILURES: &str = "intake_reply_failures_total";
    pub const PULL_CONNECTED: &str = "intake_pull_channel_connected";
    pub const PULL_LAST_FETCH: &str = "intake_pull_channel_last_fetch_timestamp_seconds";
    pub const PULL_RESTARTS: &str = "intake_pull_channel_restarts_total";
    pub const PULL_FATAL_ERRORS: &str = "intake_pull_channel_fatal_errors_total";
}

/// Registers help texts for the channel metrics with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        names::MESSAGES_RECEIVED,
        "Messages (webhook deliveries, fetched mails, updates) that reached a channel adapter"
    );
    metrics::describe_counter!(
        names::MESSAGES_REJECTED,
        "Messages refused at the edge, by reason; nothing was published for them"
    );
    metrics::describe_counter!(
        names::SIGNATURE_FAILURES,
        "Webhook deliveries that failed authentication (missing, malformed or wrong signature, timestamp outside the window)"
    );
    metrics::describe_counter!(
        names::EVENTS_PUBLISHED,
        "Ticket events confirmed durable by the bus"
    );
    metrics::describe_counter!(
        names::EVENT_PUBLISH_FAILURES,
        "Ticket events the bus did not confirm; the source was not acknowledged"
    );
    metrics::describe_counter!(
        names::ATTACHMENT_FETCHES,
        "Attachments downloaded from a URL given in a message, by outcome"
    );
    metrics::describe_counter!(
        names::FIELDS_DROPPED,
        "Fields of accepted messages not carried into the event: invalid optional fields by name, unknown fields as `unknown`"
    );
    metrics::describe_counter!(
        names::NOTICES_IGNORED,
        "Authenticated deliveries or parts of them that carry no customer message (delivery statuses, bot messages), by kind; answered 2xx, nothing published"
    );
    metrics::describe_counter!(
        names::REPLIES_SENT,
        "Replies a channel's upstream accepted (mail, bot API, chat callback)"
    );
    metrics::describe_counter!(
        names::REPLY_FAILURES,
        "Replies not delivered, by reason (retryable or not, see the catalogue)"
    );
    crate::pull_runner::describe_metrics();
}

/// Why a message was refused. The label value and the JSON error code are
/// [`RejectReason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Missing, malformed or non-matching signature headers.
    Signature,
    /// Timestamp outside the accepted window (too old or in the future).
    StaleTimestamp,
    /// Body larger than the configured limit.
    TooLarge,
    /// Content type not accepted.
    ContentType,
    /// Body is not well-formed JSON.
    BadJson,
    /// The request could not be read (connection broken mid-body, bad header encoding).
    BadRequest,
    /// Well-formed but violates the documented schema (names the field).
    Schema,
    /// An attachment is invalid, too large, or there are too many.
    Attachment,
    /// The bus did not confirm the event; the sender should retry.
    BusUnavailable,
    /// The bus refused the event for its size; the same message never fits.
    EventTooLarge,
    /// The blob store could not store an attachment or the raw payload.
    BlobUnavailable,
    /// An attachment URL could not be fetched for now (timeout, 5xx); the sender should retry.
    AttachmentUnavailable,
    /// The sender sent more messages than its allowance; it should retry later.
    RateLimited,
    /// The channel's in-flight deliveries are at their limit; retry later.
    Overloaded,
}

impl RejectReason {
    pub const ALL: [RejectReason; 14] = [
        RejectReason::Signature,
        RejectReason::StaleTimestamp,
        RejectReason::TooLarge,
        RejectReason::ContentType,
        RejectReason::BadJson,
        RejectReason::BadRequest,
        RejectReason::Schema,
        RejectReason::Attachment,
        RejectReason::BusUnavailable,
        RejectReason::EventTooLarge,
        RejectReason::BlobUnavailable,
        RejectReason::AttachmentUnavailable,
        RejectReason::RateLimited,
        RejectReason::Overloaded,
    ];

    /// The metric label value and JSON error code.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Signature => "signature",
            RejectReason::StaleTimestamp => "stale_timestamp",
            RejectReason::TooLarge => "too_large",
            RejectReason::ContentType => "content_type",
            RejectReason::BadJson => "bad_json",
            RejectReason::BadRequest => "bad_request",
            RejectReason::Schema => "schema",
            RejectReason::Attachment => "attachment",
            RejectReason::BusUnavailable => "bus_unavailable",
            RejectReason::EventTooLarge => "event_too_large",
            RejectReason::BlobUnavailable => "blob_unavailable",
            RejectReason::AttachmentUnavailable => "attachment_unavailable",
            RejectReason::RateLimited => "rate_limited",
            RejectReason::Overloaded => "overloaded",
        }
    }

    /// The HTTP status a webhook sender gets for this reason.
    pub fn status(self) -> StatusCode {
        match self {
            RejectReason::Signature | RejectReason::StaleTimestamp => StatusCode::UNAUTHORIZED,
            RejectReason::TooLarge | RejectReason::EventTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RejectReason::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectReason::BadJson | RejectReason::BadRequest => StatusCode::BAD_REQUEST,
            RejectReason::Schema | RejectReason::Attachment => StatusCode::UNPROCESSABLE_ENTITY,
            RejectReason::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            RejectReason::BusUnavailable
            | RejectReason::BlobUnavailable
            | RejectReason::AttachmentUnavailable
            | RejectReason::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// True when the sender may succeed by sending the same message again.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            RejectReason::BusUnavailable
                | RejectReason::BlobUnavailable
                | RejectReason::AttachmentUnavailable
                | RejectReason::RateLimited
                | RejectReason::Overloaded
        )
    }

    /// True when the reason is an authentication failure.
    pub fn is_authentication(self) -> bool {
        matches!(self, RejectReason::Signature | RejectReason::StaleTimestamp)
    }
}

/// A message reached an adapter (before any check).
#[derive(Debug, Clone, Copy)]
pub struct MessageReceived {
    pub channel: &'static str,
}

impl MessageReceived {
    pub fn emit(&self) {
        tracing::debug!(channel = self.channel, "message received");
        counter!(names::MESSAGES_RECEIVED, "channel" => self.channel).increment(1);
    }
}

/// A message was refused; nothing was published for it.
#[derive(Debug, Clone, Copy)]
pub struct MessageRejected<'a> {
    pub channel: &'static str,
    pub reason: RejectReason,
    /// Known once the message id was authenticated.
    pub event_id: Option<Uuid>,
    /// What was wrong (a field name, a limit); never message content.
    pub detail: &'a str,
}

impl MessageRejected<'_> {
    pub fn emit(&self) {
        let event_id = self.event_id.map(|id| id.to_string());
        tracing::warn!(
            channel = self.channel,
            reason = self.reason.as_str(),
            event_id = event_id.as_deref().unwrap_or("-"),
            detail = self.detail,
            "message rejected"
        );
        counter!(
            names::MESSAGES_REJECTED,
            "channel" => self.channel,
            "reason" => self.reason.as_str()
        )
        .increment(1);
    }
}

/// A webhook delivery failed authentication.
#[derive(Debug, Clone, Copy)]
pub struct SignatureFailure<'a> {
    pub channel: &'static str,
    /// Which check failed (`missing webhook-signature header`, ...).
    pub detail: &'a str,
}

impl SignatureFailure<'_> {
    pub fn emit(&self) {
        tracing::warn!(
            channel = self.channel,
            detail = self.detail,
            "webhook authentication failed"
        );
        counter!(names::SIGNATURE_FAILURES, "channel" => self.channel).increment(1);
    }
}

/// The bus confirmed an event.
#[derive(Debug, Clone, Copy)]
pub struct EventPublished<'a> {
    pub channel: &'a str,
    pub event_id: Uuid,
    pub partition: i32,
    pub offset: i64,
}

impl EventPublished<'_> {
    pub fn emit(&self) {
        tracing::info!(
            channel = self.channel,
            event_id = %self.event_id,
            partition = self.partition,
            offset = self.offset,
            "event published"
        );
        counter!(names::EVENTS_PUBLISHED, "channel" => self.channel.to_owned()).increment(1);
    }
}

/// The bus did not confirm an event.
#[derive(Debug, Clone, Copy)]
pub struct EventPublishFailed<'a> {
    pub channel: &'a str,
    pub event_id: Uuid,
    pub error: &'a intake_bus::BusError,
}

impl EventPublishFailed<'_> {
    pub fn emit(&self) {
        tracing::warn!(
            channel = self.channel,
            event_id = %self.event_id,
            error = %self.error,
            retryable = self.error.is_retryable(),
            "event publish failed"
        );
        counter!(names::EVENT_PUBLISH_FAILURES, "channel" => self.channel.to_owned()).increment(1);
    }
}

/// A channel's upstream accepted a reply.
#[derive(Debug, Clone, Copy)]
pub struct ReplySent {
    pub channel: &'static str,
    pub outcome_id: Uuid,
    pub ticket_id: Option<u64>,
}

impl ReplySent {
    pub fn emit(&self) {
        tracing::info!(
            channel = self.channel,
            outcome_id = %self.outcome_id,
            ticket_id = self.ticket_id,
            "reply sent"
        );
        counter!(names::REPLIES_SENT, "channel" => self.channel).increment(1);
    }
}

/// A reply was not delivered.
#[derive(Debug, Clone, Copy)]
pub struct ReplyFailed<'a> {
    /// The sender's channel, or `unregistered` when there is none.
    pub channel: &'static str,
    pub outcome_id: Uuid,
    pub ticket_id: Option<u64>,
    pub error: &'a crate::ReplyError,
}

impl ReplyFailed<'_> {
    pub fn emit(&self) {
        tracing::warn!(
            channel = self.channel,
            outcome_id = %self.outcome_id,
            ticket_id = self.ticket_id,
            reason = self.error.reason().as_str(),
            retryable = self.error.is_retryable(),
            error = %self.error,
            "reply failed"
        );
        counter!(
            names::REPLY_FAILURES,
            "channel" => self.channel,
            "reason" => self.error.reason().as_str()
        )
        .increment(1);
    }
}

/// The `field` label of [`FieldsDropped`] for fields the adapter does not know.
pub const UNKNOWN_FIELD_LABEL: &str = "unknown";
/// Most unknown field names one debug line lists (each cut to 64 characters).
const UNKNOWN_NAMES_LOGGED: usize = 16;

/// An accepted message carried fields that are not in its event: optional
/// fields dropped as invalid (named in the event's `dropped_fields`), and
/// fields the adapter does not know (ignored).
#[derive(Debug, Clone, Copy)]
pub struct FieldsDropped<'a> {
    pub channel: &'static str,
    pub event_id: Uuid,
    /// Known optional fields dropped as invalid: names chosen by code (the
    /// adapter's fixed list), so they are bounded label values.
    pub invalid: &'a [&'static str],
    /// Names of unknown fields, as the sender wrote them: logged at debug
    /// level only (never values, never labels); counted as `unknown`.
    pub unknown: &'a [String],
}

impl FieldsDropped<'_> {
    pub fn emit(&self) {
        if !self.invalid.is_empty() {
            tracing::info!(
                channel = self.channel,
                event_id = %self.event_id,
                fields = ?self.invalid,
                "invalid optional fields dropped"
            );
        }
        for field in self.invalid {
            counter!(names::FIELDS_DROPPED, "channel" => self.channel, "field" => *field)
                .increment(1);
        }
        if !self.unknown.is_empty() {
            let shown: Vec<String> = self
                .unknown
                .iter()
                .take(UNKNOWN_NAMES_LOGGED)
                .map(|name| name.chars().take(64).collect())
                .collect();
            tracing::debug!(
                channel = self.channel,
                event_id = %self.event_id,
                count = self.unknown.len(),
                names = ?shown,
                "unknown fields ignored"
            );
            counter!(
                names::FIELDS_DROPPED,
                "channel" => self.channel,
                "field" => UNKNOWN_FIELD_LABEL
            )
            .increment(self.unknown.len() as u64);
        }
    }
}

/// How fetching one attachment from a URL ended (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchOutcome {
    /// Downloaded within the limits.
    Fetched,
    /// The URL is not allowed (host not listed, scheme, fetching disabled).
    Refused,
    /// Larger than the attachment limit (declared or streamed).
    TooLarge,
    /// A redirect to another host (or too many redirects).
    RedirectRefused,
    /// The host answered 4xx (other than 408/429) or an unusable status.
    ClientError,
    /// The host answered 5xx, 408 or 429.
    ServerError,
    /// No complete answer within the fetch timeout.
    Timeout,
    /// The host could not be reached or the connection broke.
    Unreachable,
}

impl FetchOutcome {
    pub const ALL: [FetchOutcome; 8] = [
        FetchOutcome::Fetched,
        FetchOutcome::Refused,
        FetchOutcome::TooLarge,
        FetchOutcome::RedirectRefused,
        FetchOutcome::ClientError,
        FetchOutcome::ServerError,
        FetchOutcome::Timeout,
        FetchOutcome::Unreachable,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchOutcome::Fetched => "fetched",
            FetchOutcome::Refused => "refused",
            FetchOutcome::TooLarge => "too_large",
            FetchOutcome::RedirectRefused => "redirect_refused",
            FetchOutcome::ClientError => "client_error",
            FetchOutcome::ServerError => "server_error",
            FetchOutcome::Timeout => "timeout",
            FetchOutcome::Unreachable => "unreachable",
        }
    }

    /// True when fetching the same URL later may work.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            FetchOutcome::ServerError | FetchOutcome::Timeout | FetchOutcome::Unreachable
        )
    }
}

/// An authenticated notice that is not a customer message (a WhatsApp
/// delivery status, a Slack bot message) was left out on purpose.
#[derive(Debug, Clone, Copy)]
pub struct NoticeIgnored {
    pub channel: &'static str,
    /// What was left out (`status`, `bot_message`, ...): chosen by code, a bounded label.
    pub kind: &'static str,
}

impl NoticeIgnored {
    pub fn emit(&self) {
        tracing::debug!(channel = self.channel, kind = self.kind, "notice ignored");
        counter!(names::NOTICES_IGNORED, "channel" => self.channel, "kind" => self.kind)
            .increment(1);
    }
}

/// One attachment URL was fetched, or fetching it failed.
#[derive(Debug, Clone, Copy)]
pub struct AttachmentFetch<'a> {
    pub channel: &'static str,
    pub outcome: FetchOutcome,
    pub event_id: Uuid,
    /// Which attachment (`attachments[0].url`) and what happened; never the URL.
    pub detail: &'a str,
    /// Bytes downloaded (0 unless fetched).
    pub bytes: u64,
}

impl AttachmentFetch<'_> {
    pub fn emit(&self) {
        if self.outcome == FetchOutcome::Fetched {
            tracing::info!(
                channel = self.channel,
                event_id = %self.event_id,
                detail = self.detail,
                bytes = self.bytes,
                "attachment fetched"
            );
        } else {
            tracing::warn!(
                channel = self.channel,
                event_id = %self.event_id,
                outcome = self.outcome.as_str(),
                retryable = self.outcome.is_retryable(),
                detail = self.detail,
                "attachment fetch failed"
            );
        }
        counter!(
            names::ATTACHMENT_FETCHES,
            "channel" => self.channel,
            "outcome" => self.outcome.as_str()
        )
        .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_have_distinct_labels_and_error_statuses() {
        let mut labels: Vec<_> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), RejectReason::ALL.len());
        for reason in RejectReason::ALL {
            let status = reason.status();
            assert!(status.is_client_error() || status.is_server_error());
            assert_eq!(
                reason.is_retryable(),
                status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS,
                "{reason:?}"
            );
        }
        assert_eq!(
            RejectReason::RateLimited.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(RejectReason::RateLimited.as_str(), "rate_limited");
        assert_eq!(
            RejectReason::EventTooLarge.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert!(!RejectReason::EventTooLarge.is_retryable());
    }

    #[test]
    fn fetch_outcomes_have_distinct_labels() {
        let mut labels: Vec<_> = FetchOutcome::ALL.iter().map(|o| o.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), FetchOutcome::ALL.len());
        assert!(!FetchOutcome::Fetched.is_retryable());
        assert!(!FetchOutcome::TooLarge.is_retryable());
        assert!(FetchOutcome::Timeout.is_retryable());
    }
}
