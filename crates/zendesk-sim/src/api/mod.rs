//! Handlers of the simulated Zendesk Support API.

pub mod audits;
pub mod availability;
pub mod comments;
pub mod groups;
pub mod identities;
pub mod search;
pub mod ticket_ops;
pub mod tickets;
pub mod uploads;
pub mod user_ops;
pub mod users;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;

/// Parses a JSON request body the way Zendesk's API does (400 on bad JSON).
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::BadJson)
}

/// Takes the object under `key` (e.g. `ticket`, `user`) or a 400 `ParameterMissing`.
pub fn wrapped<'a>(body: &'a Value, key: &'static str) -> Result<&'a Value, ApiError> {
    match body.get(key) {
        Some(v) if v.is_object() => Ok(v),
        _ => Err(ApiError::ParameterMissing(key)),
    }
}

/// A JSON response with a status.
pub fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A 200 single-page list response: `{key: items, next_page, previous_page, count}`.
pub(crate) fn page(key: &str, items: Vec<Value>) -> Response {
    let count = items.len();
    json(
        StatusCode::OK,
        serde_json::json!({key: items, "next_page": null, "previous_page": null, "count": count}),
    )
}

/// Sets `Location` (when it is a valid header value) and, if given, `x-idempotency-lookup`.
pub(crate) fn with_location(
    mut resp: Response,
    location: &str,
    lookup: Option<&'static str>,
) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, value);
    }
    if let Some(lookup) = lookup {
        resp.headers_mut()
            .insert("x-idempotency-lookup", HeaderValue::from_static(lookup));
    }
    resp
}

/// Parses an id path segment; a non-numeric id is a 404, as in Zendesk.
pub fn path_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// Optional string field; a non-string, non-null value is a `RecordInvalid` for that field.
pub fn opt_str(obj: &Value, field: &str) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::invalid(field, format!("{field}: is invalid"))),
    }
}

/// Optional id field (number, or a string of digits).
pub fn opt_id(obj: &Value, field: &str) -> Result<Option<u64>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(field, format!("{field}: is invalid"))),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(field, format!("{field}: is invalid"))),
        Some(_) => Err(ApiError::invalid(field, format!("{field}: is invalid"))),
    }
}
