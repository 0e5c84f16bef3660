//! `GET /api/v2/tickets/{id}/comments`: a ticket's comments, offset-paginated.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{json, path_id};
use crate::error::ApiError;
use crate::state::SimState;

/// Comments per page, by default and at most (Zendesk's offset-pagination limit).
pub const PER_PAGE_MAX: usize = 100;

/// Which end of the conversation comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortOrder {
    /// Oldest first (Zendesk's default).
    Asc,
    /// Newest first.
    Desc,
}

impl SortOrder {
    fn parse(raw: Option<&String>) -> Result<SortOrder, ApiError> {
        match raw.map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("" | "asc") => Ok(SortOrder::Asc),
            Some("desc") => Ok(SortOrder::Desc),
            Some(_) => Err(ApiError::Unprocessable {
                error: "InvalidPaginationParameter",
                description: "sort_order must be asc or desc".to_owned(),
            }),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

/// A positive integer query parameter; absent or unparsable gives `default`.
pub(super) fn positive(params: &HashMap<String, String>, name: &str, default: usize) -> usize {
    params
        .get(name)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// `GET /api/v2/tickets/{id}/comments[?sort_order=asc|desc&per_page=N&page=N]`
pub async fn list(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = path_id(&raw_id)?;
    let order = SortOrder::parse(params.get("sort_order"))?;
    let per_page = positive(&params, "per_page", PER_PAGE_MAX).min(PER_PAGE_MAX);
    let page = positive(&params, "page", 1);
    let base = state.render();
    let render = base.get();
    let data = state.data();
    let ticket = data.tickets.get(&id).ok_or(ApiError::NotFound)?;
    let count = ticket.comments.len();
    let ordered: Box<dyn Iterator<Item = _>> = match order {
        SortOrder::Asc => Box::new(ticket.comments.iter()),
        SortOrder::Desc => Box::new(ticket.comments.iter().rev()),
    };
    let comments: Vec<Value> = ordered
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|c| render.comment(c))
        .collect();
    let link = |p: usize| {
        format!(
            "{}/api/v2/tickets/{id}/comments.json?page={p}&per_page={per_page}&sort_order={}",
            render.base,
            order.as_str()
        )
    };
    let next_page = (page.saturating_mul(per_page) < count).then(|| link(page + 1));
    let previous_page = (page > 1).then(|| link(page - 1));
    Ok(json(
        StatusCode::OK,
        json!({
            "comments": comments,
            "next_page": next_page,
            "previous_page": previous_page,
            "count": count,
        }),
    ))
}
