//! Ticket endpoints: create (with idempotency), update, show, show_many, list.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::{json, page, parse_json, path_id, ticket_ops, with_location, wrapped};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::{IdempotencyEntry, SimState};

/// How long Zendesk keeps an idempotency key.
pub const IDEMPOTENCY_TTL_SECS: i64 = 2 * 60 * 60;
/// Most ids `show_many` accepts.
pub const SHOW_MANY_MAX: usize = 100;

/// `POST /api/v2/tickets`
pub async fn create(
    State(state): State<SimState>,
    Extension(AuthUser(user_id)): Extension<AuthUser>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_json(&body)?;
    let input = wrapped(&body, "ticket")?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let now = state.now();
    let base = state.render();
    let render = base.get();
    let (status, payload, location) = {
        let mut data = state.data();
        if let Some(key) = &key {
            let ttl = chrono::Duration::seconds(IDEMPOTENCY_TTL_SECS);
            if data
                .idempotency
                .get(key)
                .is_some_and(|e| now - e.created_at >= ttl)
            {
                data.idempotency.remove(key);
            }
            if let Some(entry) = data.idempotency.get(key) {
                if entry.request != body {
                    return Err(ApiError::IdempotencyMismatch);
                }
                let status = StatusCode::from_u16(entry.status).unwrap_or(StatusCode::CREATED);
                let resp = json(status, entry.body.clone());
                return Ok(with_location(resp, &entry.location, Some("hit")));
            }
        }
        let (id, audit) = ticket_ops::create(&mut data, &render, input, user_id, now)?;
        let ticket = data.tickets.get(&id).map(|t| render.ticket(t));
        let payload = json!({"ticket": ticket, "audit": audit});
        let location = format!("{}/api/v2/tickets/{id}.json", render.base);
        if let Some(key) = &key {
            data.idempotency.insert(
                key.clone(),
                IdempotencyEntry {
                    request: body.clone(),
                    status: StatusCode::CREATED.as_u16(),
                    body: payload.clone(),
                    location: location.clone(),
                    created_at: now,
                },
            );
        }
        (StatusCode::CREATED, payload, location)
    };
    state.persist().await;
    let lookup = key.is_some().then_some("miss");
    Ok(with_location(json(status, payload), &location, lookup))
}

/// `PUT /api/v2/tickets/{id}`
pub async fn update(
    State(state): State<SimState>,
    Extension(AuthUser(user_id)): Extension<AuthUser>,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let body = parse_json(&body)?;
    let input = wrapped(&body, "ticket")?;
    let now = state.now();
    let limit = state.config().ticket_updates_per_10_min;
    let lag = state.config().search_lag;
    let base = state.render();
    let render = base.get();
    let payload = {
        let mut data = state.data();
        let before = if lag.is_zero() {
            None
        } else {
            data.tickets.get(&id).cloned()
        };
        let audit = ticket_ops::update(&mut data, &render, id, input, user_id, limit, now)?;
        data.remember_ticket(before, lag);
        let ticket = data.tickets.get(&id).map(|t| render.ticket(t));
        json!({"ticket": ticket, "audit": audit})
    };
    state.persist().await;
    Ok(json(StatusCode::OK, payload))
}

/// `GET /api/v2/tickets/{id}`
pub async fn show(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let base = state.render();
    let data = state.data();
    let ticket = data.tickets.get(&id).ok_or(ApiError::NotFound)?;
    Ok(json(
        StatusCode::OK,
        json!({"ticket": base.get().ticket(ticket)}),
    ))
}

/// `GET /api/v2/tickets/show_many?ids=1,2,3`
pub async fn show_many(
    State(state): State<SimState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let raw = query.get("ids").map(String::as_str).unwrap_or("");
    let ids: Vec<u64> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::Unprocessable {
            error: "InvalidValue",
            description: "ids must be a comma-separated list of integers".to_owned(),
        })?;
    if ids.len() > SHOW_MANY_MAX {
        return Err(ApiError::Unprocessable {
            error: "TooManyValues",
            description: format!("At most {SHOW_MANY_MAX} ids are allowed"),
        });
    }
    let base = state.render();
    let render = base.get();
    let data = state.data();
    let tickets: Vec<Value> = ids
        .iter()
        .filter_map(|id| data.tickets.get(id))
        .map(|t| render.ticket(t))
        .collect();
    Ok(page("tickets", tickets))
}

/// `GET /api/v2/tickets[?external_id=X]`
pub async fn list(
    State(state): State<SimState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let base = state.render();
    let render = base.get();
    let data = state.data();
    let external_id = query.get("external_id");
    let tickets: Vec<Value> = data
        .tickets
        .values()
        .filter(|t| external_id.is_none_or(|x| t.external_id.as_ref() == Some(x)))
        .take(100)
        .map(|t| render.ticket(t))
        .collect();
    page("tickets", tickets)
}
