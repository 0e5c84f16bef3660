//! `GET /api/v2/search?query=`: a subset of Zendesk's search language, with index lag
//! on creation and on every update (see `crate::index`).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::json;
use super::ticket_ops::STATUSES as STATUS_ORDER;
use crate::error::ApiError;
use crate::model::{Ticket, User};
use crate::state::{Data, SimState};

/// Results per page (Zendesk's maximum).
pub const PER_PAGE_MAX: usize = 100;
/// Results one query can page through.
pub const RESULT_LIMIT: usize = 1000;

/// One term of a search query.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `type:ticket`, `type:user`
    Type(String),
    /// `field:value`, `field<value`, `field>value`, `field<=value`, `field>=value`
    Field { name: String, op: Op, value: String },
    /// Anything else: matched as a substring.
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

fn tokens(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for ch in query.chars() {
        match ch {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Parses a query string into terms.
pub fn parse(query: &str) -> Vec<Term> {
    tokens(query)
        .into_iter()
        .map(|token| {
            let Some(pos) = token.find([':', '<', '>']) else {
                return Term::Text(token.to_lowercase());
            };
            let name = token[..pos].to_lowercase();
            let rest = &token[pos..];
            let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
                (Op::Le, v)
            } else if let Some(v) = rest.strip_prefix(">=") {
                (Op::Ge, v)
            } else if let Some(v) = rest.strip_prefix('<') {
                (Op::Lt, v)
            } else if let Some(v) = rest.strip_prefix('>') {
                (Op::Gt, v)
            } else {
                (Op::Eq, &rest[1..])
            };
            if name == "type" && op == Op::Eq {
                return Term::Type(value.to_lowercase());
            }
            Term::Field {
                name,
                op,
                value: value.to_string(),
            }
        })
        .collect()
}

fn status_rank(status: &str) -> Option<usize> {
    STATUS_ORDER
        .iter()
        .position(|s| s.eq_ignore_ascii_case(status))
}

fn compare(op: Op, have: usize, want: usize) -> bool {
    match op {
        Op::Eq => have == want,
        Op::Lt => have < want,
        Op::Le => have <= want,
        Op::Gt => have > want,
        Op::Ge => have >= want,
    }
}

fn user_matches_ref(data: &Data, user_id: Option<u64>, value: &str) -> bool {
    let Some(user) = user_id.and_then(|id| data.users.get(&id)) else {
        return value.eq_ignore_ascii_case("none");
    };
    value.parse::<u64>().ok() == Some(user.id)
        || user
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(value))
        || user.name.eq_ignore_ascii_case(value)
}

fn ticket_matches(data: &Data, t: &Ticket, term: &Term) -> bool {
    match term {
        Term::Type(kind) => kind == "ticket",
        Term::Text(text) => {
            t.subject
                .as_deref()
                .is_some_and(|s| s.to_lowercase().contains(text))
                || t.comments
                    .iter()
                    .any(|c| c.body.to_lowercase().contains(text))
                || t.tags.iter().any(|tag| tag == text)
        }
        Term::Field { name, op, value } => match name.as_str() {
            "status" => match (status_rank(&t.status), status_rank(value)) {
                (Some(have), Some(want)) => compare(*op, have, want),
                _ => false,
            },
            "requester" => user_matches_ref(data, Some(t.requester_id), value),
            "assignee" => user_matches_ref(data, t.assignee_id, value),
            "external_id" => t.external_id.as_deref() == Some(value.as_str()),
            "tags" | "tag" => t.tags.iter().any(|tag| tag.eq_ignore_ascii_case(value)),
            "priority" => t
                .priority
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(value)),
            "group" => t.group_id.is_some_and(|g| g.to_string() == *value),
            "subject" => t
                .subject
                .as_deref()
                .is_some_and(|s| s.to_lowercase().contains(&value.to_lowercase())),
            _ => false,
        },
    }
}

fn user_matches(u: &User, term: &Term) -> bool {
    match term {
        Term::Type(kind) => kind == "user",
        Term::Text(text) => {
            u.name.to_lowercase().contains(text)
                || u.email
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase().contains(text))
        }
        Term::Field {
            name,
            op: Op::Eq,
            value,
        } => match name.as_str() {
            "email" => u
                .email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(value)),
            "external_id" => u.external_id.as_deref() == Some(value.as_str()),
            "name" => u.name.eq_ignore_ascii_case(value),
            "role" => u.role.eq_ignore_ascii_case(value),
            "phone" => u.phone.as_deref() == Some(value.as_str()),
            _ => false,
        },
        Term::Field { .. } => false,
    }
}

/// `GET /api/v2/search?query=...&page=N&per_page=N&sort_by=created_at&sort_order=desc`
pub async fn search(
    State(state): State<SimState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = params.get("query").cloned().unwrap_or_default();
    let page: usize = params
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per_page: usize = params
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(PER_PAGE_MAX)
        .clamp(1, PER_PAGE_MAX);
    if (page - 1) * per_page >= RESULT_LIMIT {
        return Err(ApiError::Unprocessable {
            error: "invalid",
            description: format!(
                "Invalid search: Requested response size was greater than Search Response Limits ({RESULT_LIMIT})"
            ),
        });
    }
    let terms = parse(&query);
    let now = state.now();
    let lag = state.config().search_lag;
    let base = state.render();
    let render = base.get();
    let data = state.data();
    let wants = |kind: &str| {
        let types: Vec<&Term> = terms
            .iter()
            .filter(|t| matches!(t, Term::Type(_)))
            .collect();
        types.is_empty() || types.iter().any(|t| **t == Term::Type(kind.to_owned()))
    };
    let mut results: Vec<(chrono::DateTime<chrono::Utc>, Value)> = Vec::new();
    if wants("ticket") {
        for t in data.searchable_tickets(now, lag) {
            if terms.iter().all(|term| ticket_matches(&data, t, term)) {
                let mut v = render.ticket(t);
                v["result_type"] = json!("ticket");
                results.push((t.created_at, v));
            }
        }
    }
    if wants("user") {
        for u in data.searchable_users(now, lag) {
            if terms.iter().all(|term| user_matches(u, term)) {
                let mut v = render.user(u);
                v["result_type"] = json!("user");
                results.push((u.created_at, v));
            }
        }
    }
    drop(data);
    if params.get("sort_by").map(String::as_str) == Some("created_at") {
        results.sort_by_key(|(at, _)| *at);
        if params.get("sort_order").map(String::as_str) != Some("asc") {
            results.reverse();
        }
    }
    let count = results.len();
    let reachable = count.min(RESULT_LIMIT);
    let page_items: Vec<Value> = results
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(_, v)| v)
        .collect();
    let link = |p: usize| {
        let q = url_encode(&query);
        format!(
            "{}/api/v2/search.json?page={p}&per_page={per_page}&query={q}",
            render.base
        )
    };
    let next_page = (page * per_page < reachable).then(|| link(page + 1));
    let previous_page = (page > 1).then(|| link(page - 1));
    Ok(json(
        StatusCode::OK,
        json!({
            "results": page_items,
            "facets": null,
            "next_page": next_page,
            "previous_page": previous_page,
            "count": count,
        }),
    ))
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types_fields_comparisons_and_text() {
        let terms = parse("type:ticket requester:a@b.c status<solved \"printer jam\" tags:vip");
        assert_eq!(terms[0], Term::Type("ticket".into()));
        assert_eq!(
            terms[1],
            Term::Field {
                name: "requester".into(),
                op: Op::Eq,
                value: "a@b.c".into()
            }
        );
        assert_eq!(
            terms[2],
            Term::Field {
                name: "status".into(),
                op: Op::Lt,
                value: "solved".into()
            }
        );
        assert_eq!(terms[3], Term::Text("printer jam".into()));
        assert_eq!(
            terms[4],
            Term::Field {
                name: "tags".into(),
                op: Op::Eq,
                value: "vip".into()
            }
        );
    }

    #[test]
    fn status_comparison_uses_zendesk_order() {
        assert!(compare(
            Op::Lt,
            status_rank("pending").unwrap(),
            status_rank("solved").unwrap()
        ));
        assert!(!compare(
            Op::Lt,
            status_rank("closed").unwrap(),
            status_rank("solved").unwrap()
        ));
        assert!(compare(
            Op::Ge,
            status_rank("solved").unwrap(),
            status_rank("solved").unwrap()
        ));
    }
}
