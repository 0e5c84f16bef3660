//! The agent directory as the rulebook reads it (issue 14, rule 4):
//! suspended agents, agents leaving a group, and custom agent statuses.
//!
//! Faithful to Zendesk where it shows: the Users API's `suspended` flag
//! ("if the agent is suspended"; shown on every user), group memberships
//! (`GET /api/v2/users/{id}/group_memberships` no longer lists a group the
//! agent left), and custom unified statuses (an `agent_status` whose `name`
//! is the custom one, e.g. "Lunch", and whose channels are offline). The
//! admin routes that change them are the simulator's own (no auth).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::api::availability::STATUSES;
use crate::state::SimState;

pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/admin/users/{id}/suspended", put(set_suspended))
        .route(
            "/admin/agents/{id}/groups/{group_id}",
            delete(leave_group).put(join_group),
        )
        .route("/admin/agents/{id}/custom_status", put(set_custom_status))
}

impl SimState {
    /// Suspends (or reinstates) a user; false when there is no such user.
    pub fn set_suspended(&self, user_id: u64, suspended: bool) -> bool {
        let now = self.now();
        let mut data = self.data();
        match data.users.get_mut(&user_id) {
            Some(user) => {
                user.suspended = suspended;
                user.updated_at = now;
                true
            }
            None => false,
        }
    }

    /// Removes an agent from a group; false when it was not a member.
    pub fn remove_membership(&self, user_id: u64, group_id: u64) -> bool {
        let mut data = self.data();
        let before = data.memberships.len();
        data.memberships
            .retain(|m| !(m.user_id == user_id && m.group_id == group_id));
        data.memberships.len() != before
    }

    /// Sets a custom unified status (any name but the built-in ones, which
    /// [`SimState::set_availability`] sets); false when not an agent.
    pub fn set_custom_status(&self, agent_id: u64, name: &str) -> bool {
        if name.trim().is_empty() || STATUSES.contains(&name) {
            return false;
        }
        self.set_availability(agent_id, name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspendedBody {
    suspended: bool,
}

async fn set_suspended(
    State(state): State<SimState>,
    Path(id): Path<u64>,
    Json(body): Json<SuspendedBody>,
) -> Response {
    if !state.set_suspended(id, body.suspended) {
        return StatusCode::NOT_FOUND.into_response();
    }
    state.persist().await;
    Json(json!({"user_id": id, "suspended": body.suspended})).into_response()
}

async fn leave_group(
    State(state): State<SimState>,
    Path((id, group_id)): Path<(u64, u64)>,
) -> Response {
    if !state.remove_membership(id, group_id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    state.persist().await;
    StatusCode::NO_CONTENT.into_response()
}

async fn join_group(
    State(state): State<SimState>,
    Path((id, group_id)): Path<(u64, u64)>,
) -> Response {
    state.add_membership(id, group_id);
    state.persist().await;
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomStatusBody {
    name: String,
}

async fn set_custom_status(
    State(state): State<SimState>,
    Path(id): Path<u64>,
    Json(body): Json<CustomStatusBody>,
) -> Response {
    if !state.set_custom_status(id, &body.name) {
        let message = "name must be a custom status (not a built-in one) of an agent";
        return (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response();
    }
    state.persist().await;
    Json(json!({"agent_id": id, "status": body.name})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;

    #[test]
    fn suspension_membership_and_custom_status_show_in_the_api_values() {
        let state = SimState::fresh(SimConfig::default());
        let agent = state.create_user("Ann", "ann@sim.test", "agent");
        let group = state.default_group_id();
        state.add_membership(agent, group);
        assert!(state.set_suspended(agent, true));
        let user = state
            .users()
            .into_iter()
            .find(|u| u["id"] == agent)
            .unwrap();
        assert_eq!(user["suspended"], true);
        assert!(state.remove_membership(agent, group));
        assert!(!state.remove_membership(agent, group), "already gone");
        assert!(state.set_custom_status(agent, "Lunch"));
        assert!(!state.set_custom_status(agent, "online"), "built-in");
        assert!(!state.set_suspended(999_999, true));
    }
}
