//! User identities as Zendesk documents them
//! (<https://developer.zendesk.com/api-reference/ticketing/users/user_identities/>):
//! `GET` lists a user's identities, `POST` adds one.
//!
//! - The body is `{"identity": {"type": "...", "value": "..."}}`; `type` must
//!   be one of the documented types, `value` non-empty; 201 with the
//!   identity (its `Location` header names it).
//! - An identity belongs to one user: a value another active user holds (as
//!   its e-mail, phone, or an added identity) is 422 `RecordInvalid` with
//!   the detail "Value: … is already being used by another user"; the same
//!   value on the same user is 422 "… has already been taken".
//! - An added e-mail is an e-mail identity like a merged one: the user is
//!   then found by it (`create_or_update`, search). Added phone numbers and
//!   other ids are found by user search on their value.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;

use super::{json, opt_str, page, parse_json, path_id, with_location, wrapped};
use crate::error::ApiError;
use crate::model::{AddedIdentity, User};
use crate::state::SimState;

/// The identity types the API documents.
pub const IDENTITY_TYPES: &[&str] = &[
    "email",
    "twitter",
    "facebook",
    "google",
    "phone_number",
    "agent_forwarding",
    "any_channel",
    "foreign",
    "sdk",
    "messaging",
];

/// Whether `user` holds the identity `kind`/`value`.
pub fn holds(user: &User, kind: &str, value: &str) -> bool {
    match kind {
        "email" => user.has_email(value),
        "phone_number" => {
            user.phone.as_deref() == Some(value)
                || user
                    .identities
                    .iter()
                    .any(|i| i.kind == kind && i.value == value)
        }
        _ => user
            .identities
            .iter()
            .any(|i| i.kind == kind && i.value == value),
    }
}

/// `GET /api/v2/users/{id}/identities`
pub async fn list(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let base = state.render();
    let data = state.data();
    let user = data.active_user(id).ok_or(ApiError::NotFound)?;
    Ok(page("identities", base.get().identities(user)))
}

/// `POST /api/v2/users/{id}/identities`
pub async fn create(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let body = parse_json(&body)?;
    let input = wrapped(&body, "identity")?;
    let kind = opt_str(input, "type")?
        .ok_or_else(|| ApiError::invalid("type", "Type: cannot be blank"))?;
    if !IDENTITY_TYPES.contains(&kind.as_str()) {
        return Err(ApiError::invalid(
            "type",
            format!("Type: {kind} is not valid"),
        ));
    }
    let value = opt_str(input, "value")?
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid("value", "Value: cannot be blank"))?;
    if kind == "email" && !value.contains('@') {
        return Err(ApiError::invalid(
            "value",
            format!("Value: {value} is not properly formatted"),
        ));
    }
    let now = state.now();
    let base = state.render();
    let identity = {
        let mut data = state.data();
        if data.active_user(id).is_none() {
            return Err(ApiError::NotFound);
        }
        let taken = data
            .users
            .values()
            .any(|u| u.active && u.id != id && holds(u, &kind, &value));
        if taken {
            return Err(ApiError::invalid(
                "value",
                format!("Value: {value} is already being used by another user"),
            ));
        }
        let user = data.users.get_mut(&id).ok_or(ApiError::NotFound)?;
        if holds(user, &kind, &value) {
            return Err(ApiError::invalid(
                "value",
                format!("Value: {value} has already been taken"),
            ));
        }
        if kind == "email" {
            user.extra_emails.push(value.to_lowercase());
        } else {
            user.identities.push(AddedIdentity {
                kind: kind.clone(),
                value: value.clone(),
            });
        }
        user.updated_at = now;
        let rendered = base.get().identities(user);
        rendered
            .into_iter()
            .rev()
            .find(|i| {
                i["type"] == kind.as_str()
                    && i["value"]
                        .as_str()
                        .is_some_and(|v| v.eq_ignore_ascii_case(&value))
            })
            .unwrap_or_default()
    };
    state.persist().await;
    let location = identity["url"].as_str().unwrap_or_default().to_owned();
    Ok(with_location(
        json(StatusCode::CREATED, json!({ "identity": identity })),
        &location,
        None,
    ))
}
