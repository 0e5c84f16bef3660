//! `GET /api/v2/tickets/{id}/audits`: a ticket's audits, oldest first, with
//! offset pagination (`page`, `per_page`) or cursor pagination (`page[size]`,
//! `page[after]`, `page[before]`), at most 100 per page.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::comments::positive;
use super::{json, path_id};
use crate::error::ApiError;
use crate::model::Audit;
use crate::state::SimState;

/// Audits per page, by default and at most (Zendesk's limit for this endpoint).
pub const PER_PAGE_MAX: usize = 100;

/// Prefix that makes a cursor opaque-looking; the rest is the audit id.
const CURSOR_PREFIX: &str = "aud";

fn bad_pagination(description: &str) -> ApiError {
    ApiError::Unprocessable {
        error: "InvalidPaginationParameter",
        description: description.to_owned(),
    }
}

fn cursor_of(audit: &Audit) -> String {
    format!("{CURSOR_PREFIX}{}", audit.id)
}

/// The position of the audit a cursor names.
fn position_of(audits: &[Audit], cursor: &str) -> Result<usize, ApiError> {
    let id = cursor
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|rest| rest.parse::<u64>().ok())
        .ok_or_else(|| bad_pagination("invalid cursor"))?;
    audits
        .iter()
        .position(|a| a.id == id)
        .ok_or_else(|| bad_pagination("invalid cursor"))
}

/// `GET /api/v2/tickets/{id}/audits[?page=N&per_page=N | ?page[size]=N&page[after|before]=C]`
pub async fn list(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let base = state.render();
    let render = base.get();
    let data = state.data();
    let ticket = data.tickets.get(&id).ok_or(ApiError::NotFound)?;
    let audits = &ticket.audits;
    let url = format!("{}/api/v2/tickets/{id}/audits.json", render.base);
    if params.contains_key("page[size]") {
        let size = positive(&params, "page[size]", PER_PAGE_MAX).min(PER_PAGE_MAX);
        let (start, end, has_more) = match (params.get("page[after]"), params.get("page[before]")) {
            (Some(_), Some(_)) => {
                return Err(bad_pagination(
                    "page[before] and page[after] cannot be used together",
                ));
            }
            (Some(after), None) => {
                let start = position_of(audits, after)? + 1;
                let end = (start + size).min(audits.len());
                (start, end, end < audits.len())
            }
            (None, Some(before)) => {
                let end = position_of(audits, before)?;
                let start = end.saturating_sub(size);
                (start, end, start > 0)
            }
            (None, None) => {
                let end = size.min(audits.len());
                (0, end, end < audits.len())
            }
        };
        let page = &audits[start..end];
        let after_cursor = page.last().map(cursor_of);
        let before_cursor = page.first().map(cursor_of);
        let next = after_cursor
            .as_ref()
            .map(|c| format!("{url}?page%5Bafter%5D={c}&page%5Bsize%5D={size}"));
        let prev = before_cursor
            .as_ref()
            .map(|c| format!("{url}?page%5Bbefore%5D={c}&page%5Bsize%5D={size}"));
        return Ok(json(
            StatusCode::OK,
            json!({
                "audits": page.iter().map(|a| render.audit(ticket, a)).collect::<Vec<Value>>(),
                "meta": {
                    "has_more": has_more,
                    "after_cursor": after_cursor,
                    "before_cursor": before_cursor,
                },
                "links": {"next": next, "prev": prev},
            }),
        ));
    }
    let per_page = positive(&params, "per_page", PER_PAGE_MAX).min(PER_PAGE_MAX);
    let page = positive(&params, "page", 1);
    let count = audits.len();
    let listed: Vec<Value> = audits
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|a| render.audit(ticket, a))
        .collect();
    let link = |p: usize| format!("{url}?page={p}&per_page={per_page}");
    let next_page = (page.saturating_mul(per_page) < count).then(|| link(page + 1));
    let previous_page = (page > 1).then(|| link(page - 1));
    Ok(json(
        StatusCode::OK,
        json!({
            "audits": listed,
            "next_page": next_page,
            "previous_page": previous_page,
            "count": count,
        }),
    ))
}
