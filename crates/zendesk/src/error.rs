//! Typed errors of the Zendesk client, each able to say whether it is retryable.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// The error body Zendesk sends with a failed call.
///
/// Zendesk uses two shapes: `{"error":"RecordNotFound","description":"Not found"}`
/// and `{"error":{"title":"Forbidden","message":"..."}}`; both land here as
/// `error` (code or title) and `description` (description or message).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiErrorBody {
    /// Zendesk's error code (`RecordInvalid`, `IdempotentRequestError`, ...) or title.
    pub error: Option<String>,
    /// Human-readable description or message.
    pub description: Option<String>,
    /// Field-level details, e.g. `{"status":[{"description":"Status: closed prevents ticket update"}]}`.
    pub details: Option<Value>,
}

/// Longest non-JSON error text kept in an error (a 429 page, a proxy's 502 page).
const MAX_TEXT_ERROR_CHARS: usize = 200;

impl ApiErrorBody {
    /// Parses an error body; never fails (an unreadable body yields what it can).
    pub fn parse(body: &[u8]) -> ApiErrorBody {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => Self::from_json(&value),
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                let description = (!text.is_empty())
                    .then(|| text.chars().take(MAX_TEXT_ERROR_CHARS).collect::<String>());
                ApiErrorBody {
                    description,
                    ..ApiErrorBody::default()
                }
            }
        }
    }

    fn from_json(value: &Value) -> ApiErrorBody {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let mut body = ApiErrorBody {
            description: text(value.get("description")),
            details: value.get("details").filter(|d| !d.is_null()).cloned(),
            ..ApiErrorBody::default()
        };
        match value.get("error") {
            Some(Value::String(code)) => body.error = Some(code.clone()),
            Some(Value::Object(object)) => {
                body.error = text(object.get("title"));
                if body.description.is_none() {
                    body.description = text(object.get("message"));
                }
            }
            _ => {}
        }
        body
    }

    /// Every human-readable text in the body: the description and each detail description.
    pub(crate) fn texts(&self) -> impl Iterator<Item = &str> {
        let details = self
            .details
            .as_ref()
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|fields| fields.values())
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|item| item.get("description").and_then(Value::as_str));
        self.description.as_deref().into_iter().chain(details)
    }
}

impl fmt::Display for ApiErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.error, &self.description) {
            (Some(error), Some(description)) => write!(f, "{error}: {description}")?,
            (Some(error), None) => write!(f, "{error}")?,
            (None, Some(description)) => write!(f, "{description}")?,
            (None, None) => write!(f, "no error body")?,
        }
        if let Some(details) = &self.details {
            write!(f, " ({details})")?;
        }
        Ok(())
    }
}

/// A failed Zendesk call or a client that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client options are unusable (bad base URL, zero rate limit, ...).
    #[error("invalid zendesk client options: {0}")]
    Config(String),
    /// The caller passed something the API cannot take (too many ids, empty file name, ...).
    #[error("invalid zendesk request: {0}")]
    InvalidInput(String),
    /// Zendesk answered with a non-success status.
    #[error("zendesk {endpoint} returned {status}{}: {body}", RequestIdSuffix(request_id.as_deref()))]
    Api {
        /// Fixed name of the call, e.g. `create_ticket`.
        endpoint: &'static str,
        status: u16,
        body: Box<ApiErrorBody>,
        /// `X-Zendesk-Request-Id` of the failed response.
        request_id: Option<String>,
        /// The `Retry-After` the response carried.
        retry_after: Option<Duration>,
    },
    /// No answer within the request timeout.
    #[error("zendesk {endpoint} timed out")]
    Timeout { endpoint: &'static str },
    /// The request could not be sent or the connection broke before an answer.
    #[error("zendesk {endpoint} connection failed: {source}")]
    Connection {
        endpoint: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// The ticket's update slot is not free for longer than the caller's
    /// per-ticket wait limit ([`crate::with_ticket_wait_limit`]): its
    /// updates are over Zendesk's per-ticket limit or held by a per-ticket
    /// 429. Nothing was sent; retryable after `retry_in`.
    #[error("zendesk {endpoint} on ticket {ticket} is held for {}s by the per-ticket update limit", retry_in.as_secs())]
    TicketHeld {
        endpoint: &'static str,
        ticket: u64,
        retry_in: Duration,
    },
    /// The endpoint's own limit (Update Ticket's per-account minute, user
    /// creation; `endpoint_limits.rs`) frees the call's slot later than the
    /// caller's wait limit ([`crate::with_ticket_wait_limit`]). Nothing was
    /// sent; retryable after `retry_in`, when the call's turn is due (kept
    /// for it, `endpoint_limits.rs`).
    #[error("zendesk {endpoint} is held for {}s by the {limit}", retry_in.as_secs())]
    EndpointHeld {
        endpoint: &'static str,
        /// [`crate::endpoint_limits::Endpoint::as_str`].
        limit: &'static str,
        retry_in: Duration,
    },
    /// A success answer whose body is not what the API documents.
    #[error("zendesk {endpoint} returned an unreadable {status} response{}: {detail}", RequestIdSuffix(request_id.as_deref()))]
    Decode {
        endpoint: &'static str,
        status: u16,
        request_id: Option<String>,
        detail: String,
    },
}

struct RequestIdSuffix<'a>(Option<&'a str>);

impl fmt::Display for RequestIdSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, " (request id {id})"),
            None => Ok(()),
        }
    }
}

/// Longest Zendesk description quoted in logs, in characters.
pub const MAX_LOGGED_DESCRIPTION_CHARS: usize = 200;

/// The form of an [`Error`] fit for logs: for an API error the endpoint,
/// status, request id, Zendesk's error code and its description (cut to
/// [`MAX_LOGGED_DESCRIPTION_CHARS`]), never the field-level `details`, which
/// can echo customer e-mails or field values. Other errors print as usual
/// (they carry no response data).
pub struct LogSummary<'a>(&'a Error);

impl fmt::Display for LogSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Error::Api {
            endpoint,
            status,
            body,
            request_id,
            ..
        } = self.0
        else {
            return write!(f, "{}", self.0);
        };
        write!(
            f,
            "zendesk {endpoint} returned {status}{}",
            RequestIdSuffix(request_id.as_deref())
        )?;
        if let Some(code) = &body.error {
            write!(f, ": {code}")?;
        }
        if let Some(description) = &body.description {
            let mut chars = description.chars();
            let head: String = chars.by_ref().take(MAX_LOGGED_DESCRIPTION_CHARS).collect();
            let cut = if chars.next().is_some() { "..." } else { "" };
            write!(f, ": {head}{cut}")?;
        }
        Ok(())
    }
}

/// Error code of an idempotency key reused with another body.
const IDEMPOTENCY_MISMATCH: &str = "IdempotentRequestError";
/// The error code of a refused `safe_update` (409).
const UPDATE_CONFLICT: &str = "UpdateConflict";
/// Text of the 422 that refuses an update of a closed ticket.
const CLOSED_TICKET_TEXT: &str = "closed prevents ticket update";
/// Field names of a 422's `details` that mean a named user is not usable
/// (Zendesk answers `"requester": [{"description": "Requester: is invalid"}]`
/// for a requester id it does not know; the author and submitter forms are
/// the same rule applied to the comment author and the submitter).
const USER_FIELDS: &[&str] = &[
    "requester",
    "requester_id",
    "submitter",
    "submitter_id",
    "author",
    "author_id",
];

impl Error {
    /// Whether trying the same call later may succeed: 429, 5xx, 409, timeouts
    /// and connection errors. Everything else is permanent.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Config(_) | Error::InvalidInput(_) | Error::Decode { .. } => false,
            Error::Timeout { .. }
            | Error::Connection { .. }
            | Error::TicketHeld { .. }
            | Error::EndpointHeld { .. } => true,
            Error::Api { status, .. } => {
                !self.is_idempotency_mismatch() && matches!(status, 409 | 429 | 500..=599)
            }
        }
    }

    /// The error as it may be logged: without Zendesk's `details` (see
    /// [`LogSummary`]). `Display` keeps the details for callers that store
    /// them (a dead-letter record); never log it.
    pub fn log_summary(&self) -> LogSummary<'_> {
        LogSummary(self)
    }

    /// How long the ticket is held, for [`Error::TicketHeld`].
    pub fn ticket_held(&self) -> Option<Duration> {
        match self {
            Error::TicketHeld { retry_in, .. } => Some(*retry_in),
            _ => None,
        }
    }

    /// How long the endpoint's own limit holds the call, for [`Error::EndpointHeld`].
    pub fn endpoint_held(&self) -> Option<Duration> {
        match self {
            Error::EndpointHeld { retry_in, .. } => Some(*retry_in),
            _ => None,
        }
    }

    /// The HTTP status Zendesk answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The Zendesk error body, if there was one.
    pub fn api_body(&self) -> Option<&ApiErrorBody> {
        match self {
            Error::Api { body, .. } => Some(body),
            _ => None,
        }
    }

    /// 422 "Status: closed prevents ticket update": make a follow-up instead.
    pub fn is_closed_ticket(&self) -> bool {
        match self {
            Error::Api {
                status: 422, body, ..
            } => body
                .texts()
                .any(|text| text.to_ascii_lowercase().contains(CLOSED_TICKET_TEXT)),
            _ => false,
        }
    }

    /// 404: the ticket or user does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Zendesk says a user the request named is gone (deleted, or merged
    /// into another user): a 404 from a call on a user, or a 422 whose
    /// field errors name the requester, submitter or comment author. The
    /// caller should forget that user id and resolve the contact again.
    pub fn is_user_gone(&self) -> bool {
        let Error::Api {
            endpoint,
            status,
            body,
            ..
        } = self
        else {
            return false;
        };
        match status {
            404 => endpoint.contains("user"),
            422 => body
                .details
                .as_ref()
                .and_then(Value::as_object)
                .is_some_and(|fields| {
                    fields
                        .keys()
                        .any(|field| USER_FIELDS.contains(&field.as_str()))
                }),
            _ => false,
        }
    }

    /// A success status whose body could not be read: Zendesk may well have
    /// done what was asked (a ticket created, a comment added), so the
    /// caller must verify before trying again.
    pub fn is_unreadable_success(&self) -> bool {
        matches!(
            self,
            Error::Decode {
                status: 200..=299,
                ..
            }
        )
    }

    /// The idempotency key was used before with a different request body.
    pub fn is_idempotency_mismatch(&self) -> bool {
        match self {
            Error::Api { body, .. } => body.error.as_deref() == Some(IDEMPOTENCY_MISMATCH),
            _ => false,
        }
    }

    /// 409 `UpdateConflict`: Zendesk refused the update because the ticket
    /// changed (a `safe_update` whose `updated_stamp` is stale) or is being
    /// changed by another request right now. The same code covers both, so
    /// a caller that must know reads the ticket's `updated_at`.
    pub fn is_update_conflict(&self) -> bool {
        match self {
            Error::Api {
                status: 409, body, ..
            } => body.error.as_deref().is_none_or(|e| e == UPDATE_CONFLICT),
            _ => false,
        }
    }

    /// 429: the account's rate limit was hit.
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// `X-Zendesk-Request-Id` of the failed response, to quote to Zendesk support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } | Error::Decode { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    /// The `Retry-After` the failed response carried.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Bounded label describing the failure, for metrics.
    pub(crate) fn status_class(&self) -> &'static str {
        match self {
            Error::Config(_) | Error::InvalidInput(_) => "invalid",
            Error::Timeout { .. } => "timeout",
            Error::Connection { .. } => "connection_error",
            Error::TicketHeld { .. } => "ticket_held",
            Error::EndpointHeld { .. } => "endpoint_held",
            Error::Api { status, .. } | Error::Decode { status, .. } => status_class(*status),
        }
    }
}

/// Bounded label for an HTTP status: `2xx`, `429`, `4xx`, `5xx`, ...
pub(crate) fn status_class(status: u16) -> &'static str {
    match status {
        429 => "429",
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, body: &str) -> Error {
        Error::Api {
            endpoint: "update_ticket",
            status,
            body: Box::new(ApiErrorBody::parse(body.as_bytes())),
            request_id: Some("req-1".into()),
            retry_after: None,
        }
    }

    #[test]
    fn parses_string_form() {
        let body = ApiErrorBody::parse(br#"{"error":"RecordNotFound","description":"Not found"}"#);
        assert_eq!(body.error.as_deref(), Some("RecordNotFound"));
        assert_eq!(body.description.as_deref(), Some("Not found"));
        assert_eq!(body.details, None);
    }

    #[test]
    fn parses_object_form() {
        let body = ApiErrorBody::parse(
            br#"{"error":{"title":"Forbidden","message":"You do not have access to this page."}}"#,
        );
        assert_eq!(body.error.as_deref(), Some("Forbidden"));
        assert_eq!(
            body.description.as_deref(),
            Some("You do not have access to this page.")
        );
    }

    #[test]
    fn keeps_short_text_bodies() {
        let body = ApiErrorBody::parse(b"Too Many Requests\n");
        assert_eq!(body.error, None);
        assert_eq!(body.description.as_deref(), Some("Too Many Requests"));
        let long = "x".repeat(1000);
        let body = ApiErrorBody::parse(long.as_bytes());
        assert_eq!(body.description.unwrap().len(), MAX_TEXT_ERROR_CHARS);
        assert_eq!(ApiErrorBody::parse(b""), ApiErrorBody::default());
    }

    #[test]
    fn classifies_statuses() {
        for status in [409, 429, 500, 502, 503, 504] {
            assert!(api(status, "{}").is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(!api(status, "{}").is_retryable(), "{status}");
        }
        assert!(api(404, "{}").is_not_found());
        assert!(!api(422, "{}").is_not_found());
        assert_eq!(api(404, "{}").request_id(), Some("req-1"));
        assert_eq!(api(503, "{}").status(), Some(503));
    }

    #[test]
    fn recognises_closed_ticket() {
        let closed = api(
            422,
            r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"status":[{"description":"Status: closed prevents ticket update"}]}}"#,
        );
        assert!(closed.is_closed_ticket());
        assert!(!closed.is_retryable());
        let other = api(
            422,
            r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"base":[{"description":"Comment limit reached"}]}}"#,
        );
        assert!(!other.is_closed_ticket());
    }

    #[test]
    fn recognises_a_user_that_is_gone() {
        let requester = api(
            422,
            r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"requester":[{"description":"Requester: is invalid","error":"InvalidValue"}]}}"#,
        );
        assert!(requester.is_user_gone());
        assert!(!requester.is_retryable());
        let author = api(
            422,
            r#"{"error":"RecordInvalid","details":{"author_id":[{"description":"Author: is invalid"}]}}"#,
        );
        assert!(author.is_user_gone());
        let other_field = api(
            422,
            r#"{"error":"RecordInvalid","details":{"status":[{"description":"Status: closed prevents ticket update"}]}}"#,
        );
        assert!(!other_field.is_user_gone());
        assert!(!api(422, "{}").is_user_gone());
        // A 404 means "user gone" only from a call on a user, not on a ticket.
        assert!(!api(404, r#"{"error":"RecordNotFound"}"#).is_user_gone());
        let user_404 = Error::Api {
            endpoint: "show_user",
            status: 404,
            body: Box::default(),
            request_id: None,
            retry_after: None,
        };
        assert!(user_404.is_user_gone());
        assert!(
            !Error::Timeout {
                endpoint: "show_user"
            }
            .is_user_gone()
        );
    }

    #[test]
    fn an_unreadable_success_is_told_apart() {
        let decode = |status| Error::Decode {
            endpoint: "create_ticket",
            status,
            request_id: None,
            detail: "Syntax error at line 1 column 1".into(),
        };
        assert!(decode(201).is_unreadable_success());
        assert!(!decode(201).is_retryable());
        assert!(!decode(404).is_unreadable_success());
        assert!(!api(201, "{}").is_unreadable_success());
    }

    #[test]
    fn idempotency_mismatch_is_permanent() {
        let error = api(
            400,
            r#"{"error":"IdempotentRequestError","description":"Request parameters don't match the given idempotency key"}"#,
        );
        assert!(error.is_idempotency_mismatch());
        assert!(!error.is_retryable());
        // Even if a server sent it with a status that is otherwise retryable.
        let odd = api(409, r#"{"error":"IdempotentRequestError"}"#);
        assert!(!odd.is_retryable());
    }

    #[test]
    fn the_log_summary_leaves_out_details_and_cuts_the_description() {
        let error = api(
            422,
            r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"email":[{"description":"Email: jane@customer.test is taken"}]}}"#,
        );
        assert!(error.to_string().contains("jane@customer.test"), "{error}");
        let logged = error.log_summary().to_string();
        assert_eq!(
            logged,
            "zendesk update_ticket returned 422 (request id req-1): RecordInvalid: Record validation errors"
        );
        let long = format!(r#"{{"error":"Oops","description":"{}"}}"#, "é".repeat(500));
        let logged = api(400, &long).log_summary().to_string();
        assert_eq!(
            logged.matches('é').count(),
            MAX_LOGGED_DESCRIPTION_CHARS,
            "{logged}"
        );
        assert!(logged.ends_with("..."), "{logged}");
        let plain = Error::Timeout { endpoint: "groups" };
        assert_eq!(plain.log_summary().to_string(), plain.to_string());
    }

    #[test]
    fn display_names_endpoint_status_and_request_id() {
        let text = api(
            404,
            r#"{"error":"RecordNotFound","description":"Not found"}"#,
        )
        .to_string();
        assert_eq!(
            text,
            "zendesk update_ticket returned 404 (request id req-1): RecordNotFound: Not found"
        );
    }
}
