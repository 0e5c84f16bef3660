//! Agent Availability API (JSON:API shape).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{json, path_id};
use crate::error::ApiError;
use crate::model::{User, ts};
use crate::state::{Data, SimState};

/// Channels every simulated agent has.
pub const CHANNELS: &[&str] = &["messaging", "support", "talk"];
/// Agent statuses the simulator accepts.
pub const STATUSES: &[&str] = &["online", "away", "transfers_only", "offline"];

/// Ids of Zendesk's default unified statuses.
fn status_id(name: &str) -> u64 {
    match name {
        "offline" => 2,
        "online" => 3,
        "away" => 4,
        _ => 5,
    }
}

/// A channel's status follows the unified status (away means every channel offline).
fn channel_status(agent_status: &str) -> &'static str {
    match agent_status {
        "online" => "online",
        "transfers_only" => "transfers_only",
        _ => "offline",
    }
}

fn resource(data: &Data, agent: &User) -> (Value, Vec<Value>) {
    let status = agent.availability.as_deref().unwrap_or("offline");
    let updated = ts(agent.availability_updated_at.unwrap_or(agent.updated_at));
    let group_ids: Vec<u64> = data
        .memberships
        .iter()
        .filter(|m| m.user_id == agent.id)
        .map(|m| m.group_id)
        .collect();
    let channels: Vec<Value> = CHANNELS
        .iter()
        .map(|name| {
            json!({
                "id": format!("agent_availabilities|{}|channels|{name}", agent.id),
                "type": "channels",
                "attributes": {
                    "name": name,
                    "status": channel_status(status),
                    "updated_at": updated,
                    "work_item_count": 0,
                    "max_capacity": 1,
                },
                "relationships": {"work_items": {"data": [], "links": {"next": null}, "meta": {"has_more": false}}},
            })
        })
        .collect();
    let data_item = json!({
        "id": format!("agent_availabilities|{}", agent.id),
        "type": "agent_availabilities",
        "attributes": {
            "agent_id": agent.id,
            "agent_status": {"id": status_id(status), "name": status, "reason": "UNKNOWN", "updated_at": updated},
            "group_ids": group_ids,
            "skills": [],
            "version": 1,
        },
        "relationships": {"channels": {"data": channels.iter().map(|c| json!({"id": c["id"], "type": "channels"})).collect::<Vec<_>>()}},
    });
    (data_item, channels)
}

/// `GET /api/v2/agent_availabilities/{agent_id}`
pub async fn show(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let data = state.data();
    let agent = data
        .users
        .get(&id)
        .filter(|u| u.is_agent())
        .ok_or(ApiError::NotFound)?;
    let (item, included) = resource(&data, agent);
    Ok(json(
        StatusCode::OK,
        json!({"data": item, "included": included}),
    ))
}

/// `GET /api/v2/agent_availabilities?filter[channel_status]=messaging:online&filter[agent_status_id]=3`
pub async fn list(
    State(state): State<SimState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let channel_filter = match query.get("filter[channel_status]") {
        Some(raw) => {
            let (channel, status) = raw.split_once(':').ok_or_else(|| ApiError::Unprocessable {
                error: "InvalidFilter",
                description: "filter[channel_status] must be channel:status".to_owned(),
            })?;
            Some((channel.to_owned(), status.to_owned()))
        }
        None => None,
    };
    let status_filter: Option<u64> = query
        .get("filter[agent_status_id]")
        .and_then(|v| v.parse().ok());
    let data = state.data();
    let mut items = Vec::new();
    let mut included = Vec::new();
    for agent in data.users.values().filter(|u| u.is_agent()) {
        let status = agent.availability.as_deref().unwrap_or("offline");
        if let Some((channel, wanted)) = &channel_filter
            && (!CHANNELS.contains(&channel.as_str()) || channel_status(status) != wanted)
        {
            continue;
        }
        if status_filter.is_some_and(|id| id != status_id(status)) {
            continue;
        }
        let (item, channels) = resource(&data, agent);
        items.push(item);
        included.extend(channels);
    }
    Ok(json(
        StatusCode::OK,
        json!({
            "data": items,
            "included": included,
            "links": {"first": null, "last": null, "next": null, "prev": null},
            "meta": {"has_more": false, "after_cursor": null, "before_cursor": null},
        }),
    ))
}
