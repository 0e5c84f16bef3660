//! Zendesk's error responses, and the simulator's own startup errors.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The description of a refused `safe_update` (wording *unconfirmed*: not
/// found in the stored copies of Zendesk's pages; the status and error code
/// are the documented ones).
pub const SAFE_UPDATE_CONFLICT_DESCRIPTION: &str = "Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again.";

/// An error the simulated API answers with; each variant renders Zendesk's body.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 401 with Zendesk's plain authentication error.
    Unauthenticated,
    /// 403 for an authenticated user who is not an agent.
    Forbidden,
    /// 404 `RecordNotFound`.
    NotFound,
    /// 400 `ParameterMissing` for a missing wrapper key.
    ParameterMissing(&'static str),
    /// 400 for a malformed JSON body.
    BadJson,
    /// 422 `RecordInvalid` with per-field details.
    RecordInvalid(Value),
    /// 422 with a custom error name and description.
    Unprocessable {
        error: &'static str,
        description: String,
    },
    /// 400 `IdempotentRequestError`.
    IdempotencyMismatch,
    /// 409 for a concurrent update of the same ticket.
    Conflict,
    /// 409 for a `safe_update` whose `updated_stamp` is not the ticket's `updated_at`.
    StaleUpdate,
    /// 413 `AttachmentTooLarge`.
    AttachmentTooLarge,
    /// 429 with `Retry-After` and a non-JSON body.
    TooManyRequests { retry_after_secs: u64 },
}

impl ApiError {
    /// A `RecordInvalid` error for one field.
    pub fn invalid(field: &str, description: impl Into<String>) -> ApiError {
        let description = description.into();
        ApiError::RecordInvalid(json!({ field: [{ "description": description }] }))
    }

    /// The exact error Zendesk gives when a closed ticket is updated.
    pub fn closed_ticket() -> ApiError {
        ApiError::invalid("status", "Status: closed prevents ticket update")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "Couldn't authenticate you"}),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({"error": {"title": "Forbidden", "message": "You do not have access to this page. Please contact the account owner of this help desk for further help."}}),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                json!({"error": "RecordNotFound", "description": "Not found"}),
            ),
            ApiError::ParameterMissing(name) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "ParameterMissing", "description": format!("Parameter {name} is required")}),
            ),
            ApiError::BadJson => (
                StatusCode::BAD_REQUEST,
                json!({"error": "Unprocessable Entity", "description": "Server could not parse JSON"}),
            ),
            ApiError::RecordInvalid(details) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "RecordInvalid", "description": "Record validation errors", "details": details}),
            ),
            ApiError::Unprocessable { error, description } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": error, "description": description}),
            ),
            ApiError::IdempotencyMismatch => (
                StatusCode::BAD_REQUEST,
                json!({"error": "IdempotentRequestError", "description": "Request parameters don't match the given idempotency key"}),
            ),
            ApiError::Conflict => (
                StatusCode::CONFLICT,
                json!({"error": "UpdateConflict", "description": "The ticket was updated by another request at the same time. Please retry."}),
            ),
            ApiError::StaleUpdate => (
                StatusCode::CONFLICT,
                json!({"error": "UpdateConflict", "description": SAFE_UPDATE_CONFLICT_DESCRIPTION}),
            ),
            ApiError::AttachmentTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": "AttachmentTooLarge", "description": "Attachment is too large"}),
            ),
            ApiError::TooManyRequests { retry_after_secs } => {
                let mut resp = (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "Too Many Requests\n",
                )
                    .into_response();
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                return resp;
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The state file exists but could not be read or parsed.
    #[error("cannot load state file: {0}")]
    StateFile(String),
}

impl SimError {
    /// Startup errors are configuration problems: retrying does not help.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
