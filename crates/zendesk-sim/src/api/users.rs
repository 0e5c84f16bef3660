//! User endpoints: create_or_update, show, delete, merge, search, requested
//! tickets (identities: `identities.rs`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use axum::Extension;

use super::{json, opt_id, opt_str, page, parse_json, path_id, with_location, wrapped};
use crate::auth::AuthUser;
use crate::endpoint_limits::Arrived;
use crate::error::ApiError;
use crate::state::SimState;

const ROLES: &[&str] = &["end-user", "agent", "admin"];

/// `POST /api/v2/users/create_or_update`: 201 for a new user, 200 for an
/// existing one; 429 past the user-creation limits when they are on
/// (`endpoint_limits.rs`).
pub async fn create_or_update(
    State(state): State<SimState>,
    arrived: Option<Extension<Arrived>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_json(&body)?;
    let input = wrapped(&body, "user")?;
    let email = opt_str(input, "email")?;
    let external_id = opt_str(input, "external_id")?;
    let name = opt_str(input, "name")?.filter(|n| !n.trim().is_empty());
    let phone = opt_str(input, "phone")?;
    let locale = opt_str(input, "locale")?;
    let role = match opt_str(input, "role")? {
        Some(r) if ROLES.contains(&r.as_str()) => Some(r),
        Some(r) => return Err(ApiError::invalid("role", format!("Role: {r} is not valid"))),
        None => None,
    };
    if let Some(email) = &email
        && !email.contains('@')
    {
        return Err(ApiError::invalid(
            "email",
            format!("Email: {email} is not properly formatted"),
        ));
    }
    let now = state.now();
    if let Some(limits) = state.config().user_create_limits {
        // Counted when it arrived (before the simulated response delay).
        let at = arrived.map_or(now, |Extension(Arrived(at))| at);
        // Counted per end-user profile: the e-mail or external id named.
        let profile = email
            .as_deref()
            .or(external_id.as_deref())
            .map(str::to_lowercase);
        let taken = state
            .runtime()
            .endpoints
            .take_user_create(limits, profile.as_deref(), at);
        taken.map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })?;
    }
    let base = state.render();
    let (status, user_json, id) = {
        let mut data = state.data();
        let existing = email
            .as_deref()
            .and_then(|e| data.user_by_email(e))
            .or_else(|| {
                external_id
                    .as_deref()
                    .and_then(|x| data.user_by_external_id(x))
            })
            .map(|u| u.id);
        let (status, id) = match existing {
            Some(id) => (StatusCode::OK, id),
            None => {
                let Some(name) = name.clone() else {
                    return Err(ApiError::RecordInvalid(json!({"name": [
                        {"description": "Name:  is too short (minimum is 1 character)", "error": "InvalidValue"}
                    ]})));
                };
                let role = role.clone().unwrap_or_else(|| "end-user".to_owned());
                let id = data.add_user(&name, email.clone(), external_id.clone(), &role, now);
                (StatusCode::CREATED, id)
            }
        };
        if status == StatusCode::OK {
            let before = data.users.get(&id).cloned();
            data.remember_user(before, state.config().search_lag);
        }
        let user = data.users.get_mut(&id).ok_or(ApiError::NotFound)?;
        if status == StatusCode::OK {
            if let Some(name) = name {
                user.name = name;
            }
            if email.is_some() && user.email.is_none() {
                user.email = email;
            }
            if external_id.is_some() {
                user.external_id = external_id;
            }
            if let Some(role) = role {
                user.role = role;
            }
            user.updated_at = now;
        }
        if phone.is_some() {
            user.phone = phone;
        }
        if let Some(locale) = locale {
            user.locale = locale;
        }
        (status, base.get().user(user), id)
    };
    state.persist().await;
    let resp = json(status, json!({"user": user_json}));
    let location = format!("{}/api/v2/users/{id}.json", base.get().base);
    Ok(with_location(resp, &location, None))
}

/// `GET /api/v2/users/{id}`
pub async fn show(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let base = state.render();
    let data = state.data();
    let user = data.active_user(id).ok_or(ApiError::NotFound)?;
    Ok(json(StatusCode::OK, json!({"user": base.get().user(user)})))
}

/// `DELETE /api/v2/users/{id}`: soft delete, 200 with the user
/// (`active: false`, `permanently_deleted: false`).
pub async fn delete(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let user = state.delete_user(id)?;
    state.persist().await;
    Ok(json(StatusCode::OK, json!({"user": user})))
}

/// `PUT /api/v2/users/{id}/merge` with `{"user":{"id":TARGET}}`: 200 with the
/// receiving user.
pub async fn merge(
    State(state): State<SimState>,
    Extension(AuthUser(agent)): Extension<AuthUser>,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let source = path_id(&raw_id)?;
    let body = parse_json(&body)?;
    let target = opt_id(wrapped(&body, "user")?, "id")?
        .ok_or_else(|| ApiError::invalid("id", "Id: is required"))?;
    let user = state.merge_users_as(agent, source, target)?;
    state.persist().await;
    Ok(json(StatusCode::OK, json!({"user": user})))
}

/// `GET /api/v2/users/search?query=...` (search index, with lag) or `?external_id=...` (direct).
pub async fn search(
    State(state): State<SimState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let base = state.render();
    let now = state.now();
    let lag = state.config().search_lag;
    let data = state.data();
    let users: Vec<Value> = if let Some(external_id) = query.get("external_id") {
        data.user_by_external_id(external_id)
            .map(|u| base.get().user(u))
            .into_iter()
            .collect()
    } else {
        let q = query
            .get("query")
            .map(|q| q.trim().to_lowercase())
            .unwrap_or_default();
        let q = q.strip_prefix("email:").unwrap_or(&q);
        let q = q.strip_prefix("phone:").unwrap_or(q).to_owned();
        data.searchable_users(now, lag)
            .filter(|u| {
                u.active
                    && !q.is_empty()
                    && (u
                        .email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(&q))
                        || u.name.to_lowercase().contains(&q)
                        || u.external_id
                            .as_deref()
                            .is_some_and(|x| x.eq_ignore_ascii_case(&q))
                        || u.phone.as_deref() == Some(q.as_str())
                        || u.identities
                            .iter()
                            .any(|i| i.value.eq_ignore_ascii_case(&q)))
            })
            .take(100)
            .map(|u| base.get().user(u))
            .collect()
    };
    page("users", users)
}

/// `GET /api/v2/users/{id}/tickets/requested`
pub async fn requested(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let base = state.render();
    let data = state.data();
    if data.active_user(id).is_none() {
        return Err(ApiError::NotFound);
    }
    let tickets: Vec<Value> = data
        .tickets
        .values()
        .filter(|t| t.requester_id == id)
        .take(100)
        .map(|t| base.get().ticket(t))
        .collect();
    Ok(page("tickets", tickets))
}
