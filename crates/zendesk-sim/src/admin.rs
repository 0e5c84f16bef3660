//! The admin API (no auth, for tests and the demo): reset, inspection, clock, faults, agents.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::api::availability::STATUSES as AGENT_STATUSES;
use crate::api::ticket_ops::STATUSES;
use crate::faults::FaultSpec;
use crate::model::ts;
use crate::state::SimState;

pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/admin/reset", post(reset))
        .route("/admin/tickets", get(tickets))
        .route("/admin/users", get(users))
        .route("/admin/tickets/{id}/close", post(close))
        .route("/admin/tickets/{id}/status", post(set_status))
        .route("/admin/agents", post(create_agent))
        .route("/admin/agents/{id}/availability", put(set_availability))
        .route("/admin/clock", get(clock))
        .route("/admin/clock/advance", post(advance))
        .route(
            "/admin/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/admin/requests", get(requests))
        .route("/admin/stats", get(stats))
        .route("/admin/webhooks", post(set_webhook))
        .route("/admin/webhooks/deliveries", get(webhook_deliveries))
        .route("/admin/tickets/{id}/agent_reply", post(agent_reply))
        .route("/admin/tickets/native", post(native_ticket))
}

/// "A customer writes to Zendesk's own e-mail address (web widget, ...)":
/// the ticket Zendesk would create, then the created triggers' signed
/// webhooks.
async fn native_ticket(
    State(state): State<SimState>,
    Json(body): Json<crate::webhooks::NativeTicketInput>,
) -> Result<Response, crate::ApiError> {
    let (id, requester_id, triggered) = state.native_ticket(&body)?;
    state.persist().await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"ticket_id": id, "requester_id": requester_id, "triggered": triggered})),
    )
        .into_response())
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

async fn reset(State(state): State<SimState>) -> Response {
    state.reset();
    state.persist().await;
    Json(json!({"ok": true})).into_response()
}

async fn tickets(State(state): State<SimState>) -> Response {
    Json(json!({"tickets": state.tickets()})).into_response()
}

async fn users(State(state): State<SimState>) -> Response {
    Json(json!({"users": state.users()})).into_response()
}

async fn close(State(state): State<SimState>, Path(id): Path<u64>) -> Response {
    if !state.set_ticket_status(id, "closed") {
        return StatusCode::NOT_FOUND.into_response();
    }
    state.persist().await;
    Json(json!({"id": id, "status": "closed"})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
}

async fn set_status(
    State(state): State<SimState>,
    Path(id): Path<u64>,
    Json(body): Json<StatusBody>,
) -> Response {
    if !STATUSES.contains(&body.status.as_str()) {
        return bad_request("unknown status");
    }
    if !state.set_ticket_status(id, &body.status) {
        return StatusCode::NOT_FOUND.into_response();
    }
    state.persist().await;
    Json(json!({"id": id, "status": body.status})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentBody {
    name: String,
    email: String,
    #[serde(default)]
    role: Option<String>,
}

async fn create_agent(State(state): State<SimState>, Json(body): Json<AgentBody>) -> Response {
    let role = body.role.unwrap_or_else(|| "agent".to_owned());
    if role != "agent" && role != "admin" {
        return bad_request("role must be agent or admin");
    }
    let id = state.create_user(&body.name, &body.email, &role);
    if let Some(group_id) = Some(state.default_group_id()).filter(|g| *g != 0) {
        state.add_membership(id, group_id);
    }
    state.persist().await;
    let user = state.users().into_iter().find(|u| u["id"] == json!(id));
    (StatusCode::CREATED, Json(json!({"user": user}))).into_response()
}

async fn set_availability(
    State(state): State<SimState>,
    Path(id): Path<u64>,
    Json(body): Json<StatusBody>,
) -> Response {
    if !AGENT_STATUSES.contains(&body.status.as_str()) {
        return bad_request("status must be online, away, transfers_only or offline");
    }
    if !state.set_availability(id, &body.status) {
        return StatusCode::NOT_FOUND.into_response();
    }
    state.persist().await;
    Json(json!({"agent_id": id, "status": body.status})).into_response()
}

async fn clock(State(state): State<SimState>) -> Response {
    Json(json!({"now": ts(state.now())})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    seconds: u64,
}

async fn advance(State(state): State<SimState>, Json(body): Json<AdvanceBody>) -> Response {
    state.advance_clock(Duration::from_secs(body.seconds));
    state.persist().await;
    Json(json!({"now": ts(state.now())})).into_response()
}

async fn add_fault(State(state): State<SimState>, Json(spec): Json<FaultSpec>) -> Response {
    if spec.rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        return bad_request("rate must be between 0.0 and 1.0");
    }
    if spec.status.is_some_and(|s| !(100..=599).contains(&s)) {
        return bad_request("status must be an HTTP status code");
    }
    state.add_fault(spec);
    (StatusCode::CREATED, Json(json!({"ok": true}))).into_response()
}

async fn list_faults(State(state): State<SimState>) -> Response {
    Json(json!({"faults": state.runtime().active_faults()})).into_response()
}

async fn clear_faults(State(state): State<SimState>) -> Response {
    state.clear_faults();
    Json(json!({"ok": true})).into_response()
}

async fn requests(State(state): State<SimState>) -> Response {
    Json(json!({"requests": state.requests()})).into_response()
}

async fn stats(State(state): State<SimState>) -> Response {
    Json(state.stats()).into_response()
}

async fn set_webhook(
    State(state): State<SimState>,
    Json(webhook): Json<crate::webhooks::Webhook>,
) -> Response {
    state.set_webhook(Some(webhook));
    state.persist().await;
    Json(json!({"registered": true})).into_response()
}

async fn webhook_deliveries(State(state): State<SimState>) -> Response {
    Json(state.webhook_deliveries()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentReplyBody {
    body: String,
    #[serde(default = "public_by_default")]
    public: bool,
    /// Files of the comment, as the trigger's attachment loop renders them.
    #[serde(default)]
    attachments: Vec<crate::webhooks::CommentFile>,
}

fn public_by_default() -> bool {
    true
}

/// "Agent replies on ticket N": the seeded agent's comment, then the
/// trigger's signed webhook to the registered endpoint.
async fn agent_reply(
    State(state): State<SimState>,
    Path(id): Path<u64>,
    Json(body): Json<AgentReplyBody>,
) -> Response {
    let Some((comment_id, payload)) =
        state.agent_comment(id, &body.body, body.public, &body.attachments)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    state.persist().await;
    let webhook = state.deliver_webhook(&payload);
    let id_of = |key: &str| {
        payload[key]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let facts = crate::triggers::CommentFacts {
        ticket_id: id,
        comment_id,
        author_id: id_of("author_id"),
        requester_id: id_of("requester_id"),
        public: body.public,
        body: &body.body,
        subject: payload["subject"].as_str().unwrap_or_default(),
        files: &body.attachments,
    };
    let triggered = state.fire_triggers(&facts);
    Json(json!({"comment_id": comment_id, "webhook": webhook, "triggered": triggered, "payload": payload}))
        .into_response()
}
