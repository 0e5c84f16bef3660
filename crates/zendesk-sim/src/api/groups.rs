//! Groups and group memberships.

use axum::extract::{Path, State};
use axum::response::Response;

use super::{page, path_id};
use crate::error::ApiError;
use crate::state::SimState;

/// `GET /api/v2/groups`
pub async fn list(State(state): State<SimState>) -> Response {
    let base = state.render();
    let items = state
        .data()
        .groups
        .iter()
        .map(|g| base.get().group(g))
        .collect();
    page("groups", items)
}

/// `GET /api/v2/groups/{id}/memberships`
pub async fn memberships(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let base = state.render();
    let data = state.data();
    if !data.groups.iter().any(|g| g.id == id) {
        return Err(ApiError::NotFound);
    }
    let items = data
        .memberships
        .iter()
        .filter(|m| m.group_id == id)
        .map(|m| base.get().membership(m))
        .collect();
    Ok(page("group_memberships", items))
}

/// `GET /api/v2/users/{id}/group_memberships`
pub async fn user_memberships(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let base = state.render();
    let data = state.data();
    if !data.users.contains_key(&id) {
        return Err(ApiError::NotFound);
    }
    let items = data
        .memberships
        .iter()
        .filter(|m| m.user_id == id)
        .map(|m| base.get().membership(m))
        .collect();
    Ok(page("group_memberships", items))
}
