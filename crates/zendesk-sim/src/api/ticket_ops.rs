//! Ticket creation and update rules, applied to [`Data`] under its lock.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{opt_id, opt_str};
use crate::error::ApiError;
use crate::model::{Audit, Comment, Render, Ticket, html_from_text, strip_html};
use crate::state::Data;

/// Most comments a ticket may hold.
pub const MAX_COMMENTS: usize = 5000;
/// Window of the per-ticket, per-user update limit.
pub const UPDATE_WINDOW_SECS: i64 = 600;

pub(crate) const STATUSES: &[&str] = &["new", "open", "pending", "hold", "solved", "closed"];
const PRIORITIES: &[&str] = &["urgent", "high", "normal", "low"];
const TYPES: &[&str] = &["problem", "incident", "question", "task"];

fn enum_field(obj: &Value, field: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match opt_str(obj, field)? {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if allowed.contains(&v.to_ascii_lowercase().as_str()) => {
            Ok(Some(v.to_ascii_lowercase()))
        }
        Some(v) => Err(ApiError::invalid(
            field,
            format!("{}: {v} is not valid", capitalise(field)),
        )),
    }
}

fn capitalise(field: &str) -> String {
    let mut chars = field.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Zendesk lower-cases tags and splits them on whitespace.
fn parse_tags(obj: &Value) -> Result<Option<Vec<String>>, ApiError> {
    parse_tag_field(obj, "tags")
}

/// A tag list under `field` (`tags`, or an update's `additional_tags`).
fn parse_tag_field(obj: &Value, field: &str) -> Result<Option<Vec<String>>, ApiError> {
    let raw = match obj.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::invalid("tags", "Tags: is invalid"))?,
        Some(Value::String(s)) => vec![s.clone()],
        Some(_) => return Err(ApiError::invalid("tags", "Tags: is invalid")),
    };
    let mut tags: Vec<String> = Vec::new();
    for tag in raw.iter().flat_map(|t| t.split_whitespace()) {
        let tag = tag.to_lowercase();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(Some(tags))
}

/// A parsed `comment` object.
struct CommentInput {
    body: String,
    html_body: String,
    public: bool,
    author_id: Option<u64>,
    uploads: Vec<String>,
}

fn parse_comment(obj: &Value) -> Result<Option<CommentInput>, ApiError> {
    let Some(comment) = obj.get("comment").filter(|c| !c.is_null()) else {
        return Ok(None);
    };
    let comment = match comment {
        Value::String(s) => &json!({ "body": s }),
        Value::Object(_) => comment,
        _ => return Err(ApiError::invalid("comment", "Comment: is invalid")),
    };
    let body = opt_str(comment, "body")?.filter(|b| !b.trim().is_empty());
    let html = opt_str(comment, "html_body")?.filter(|b| !b.trim().is_empty());
    let (body, html_body) = match (body, html) {
        (_, Some(html)) => (strip_html(&html), html),
        (Some(body), None) => (body.clone(), html_from_text(&body)),
        (None, None) => return Ok(None),
    };
    let public = match comment.get("public") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("comment", "Public: is invalid")),
    };
    let uploads = match comment.get("uploads") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::invalid("uploads", "Uploads: is invalid"))?,
        Some(_) => return Err(ApiError::invalid("uploads", "Uploads: is invalid")),
    };
    Ok(Some(CommentInput {
        body,
        html_body,
        public,
        author_id: opt_id(comment, "author_id")?,
        uploads,
    }))
}

/// Turns upload tokens into attachments, consuming the tokens (unknown or expired: 422).
fn take_uploads(
    data: &mut Data,
    tokens: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<crate::model::Attachment>, ApiError> {
    for token in tokens {
        match data.uploads.get(token) {
            Some(u) if u.expires_at > now => {}
            _ => {
                return Err(ApiError::invalid(
                    "base",
                    format!("Upload token {token} is invalid or has expired"),
                ));
            }
        }
    }
    Ok(tokens
        .iter()
        .filter_map(|t| data.uploads.remove(t))
        .flat_map(|u| u.attachments)
        .collect())
}

/// A comment's `author_id` must name an existing, active user (a deleted or
/// merged-away author is refused like an unknown one; the field name and
/// text are *unconfirmed*).
fn check_author(data: &Data, id: Option<u64>) -> Result<(), ApiError> {
    match id {
        Some(id) if data.active_user(id).is_none() => {
            Err(ApiError::invalid("author_id", "Author: is invalid"))
        }
        _ => Ok(()),
    }
}

fn check_agent(data: &Data, field: &str, id: Option<u64>) -> Result<(), ApiError> {
    match id {
        Some(id) if !data.active_user(id).is_some_and(|u| u.is_agent()) => Err(ApiError::invalid(
            field,
            format!("{}: is invalid", capitalise(field)),
        )),
        _ => Ok(()),
    }
}

fn check_group(data: &Data, id: Option<u64>) -> Result<(), ApiError> {
    match id {
        Some(id) if !data.groups.iter().any(|g| g.id == id) => {
            Err(ApiError::invalid("group", "Group: is invalid"))
        }
        _ => Ok(()),
    }
}

/// The ticket's `metadata` object, which Zendesk keeps as the audit's
/// `metadata.custom` (absent or null: empty; not an object: 422).
fn parse_metadata(obj: &Value) -> Result<Map<String, Value>, ApiError> {
    match obj.get("metadata") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(ApiError::invalid("metadata", "Metadata: is invalid")),
    }
}

fn change_event(id: u64, kind: &str, field: &str, value: Value, previous: Option<Value>) -> Value {
    let mut event = json!({"id": id, "type": kind, "field_name": field, "value": value});
    if let Some(prev) = previous {
        event["previous_value"] = prev;
    }
    event
}

/// Creates a ticket from the `ticket` object; returns the ticket id and the audit.
pub fn create(
    data: &mut Data,
    render: &Render<'_>,
    input: &Value,
    submitter: u64,
    now: DateTime<Utc>,
) -> Result<(u64, Value), ApiError> {
    let comment = parse_comment(input)?.ok_or_else(|| {
        ApiError::RecordInvalid(json!({"description": [
            {"description": "Description: cannot be blank", "error": "BlankValue"}
        ]}))
    })?;
    let custom_metadata = parse_metadata(input)?;
    let status = enum_field(input, "status", STATUSES)?;
    let priority = enum_field(input, "priority", PRIORITIES)?;
    let kind = enum_field(input, "type", TYPES)?;
    let assignee_id = opt_id(input, "assignee_id")?;
    let group_id = opt_id(input, "group_id")?;
    check_agent(data, "assignee", assignee_id)?;
    check_group(data, group_id)?;
    let mut tags = parse_tags(input)?;
    let followup_source_id = opt_id(input, "via_followup_source_id")?;
    if let Some(source_id) = followup_source_id {
        let source = data.tickets.get(&source_id).ok_or_else(|| {
            ApiError::invalid(
                "via_followup_source_id",
                "Follow-up source: ticket not found",
            )
        })?;
        if source.status != "closed" {
            return Err(ApiError::invalid(
                "via_followup_source_id",
                "Follow-up source: only closed tickets can have follow-ups",
            ));
        }
        if tags.is_none() {
            tags = Some(source.tags.clone());
        }
    }
    check_author(data, comment.author_id)?;
    let requester_id = match opt_id(input, "requester_id")? {
        // A deleted or merged-away user is no requester any more.
        Some(id) if data.active_user(id).is_some() => id,
        Some(_) => return Err(ApiError::invalid("requester", "Requester: is invalid")),
        None => match input.get("requester").filter(|r| r.is_object()) {
            Some(req) => requester_from(data, req, now)?,
            None => submitter,
        },
    };
    let uploads = take_uploads(data, &comment.uploads, now)?;
    let id = data.next_ticket_id;
    data.next_ticket_id += 1;
    let audit_id = data.next_id();
    let comment = Comment {
        id: data.next_id(),
        audit_id,
        author_id: comment.author_id.unwrap_or(submitter),
        body: comment.body,
        html_body: comment.html_body,
        public: comment.public,
        attachments: uploads,
        created_at: now,
        custom_metadata: custom_metadata.clone(),
    };
    let status =
        status.unwrap_or_else(|| if assignee_id.is_some() { "open" } else { "new" }.to_owned());
    let collaborator_ids = input
        .get("collaborator_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let mut ticket = Ticket {
        id,
        external_id: opt_str(input, "external_id")?,
        subject: opt_str(input, "subject")?,
        description: comment.body.clone(),
        status,
        priority,
        kind,
        requester_id,
        submitter_id: submitter,
        assignee_id,
        group_id,
        tags: tags.unwrap_or_default(),
        custom_fields: input
            .get("custom_fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        collaborator_ids,
        followup_source_id,
        followup_ids: Vec::new(),
        created_at: now,
        updated_at: now,
        comments: vec![comment],
        audits: Vec::new(),
    };
    if let Some(source_id) = followup_source_id
        && let Some(source) = data.tickets.get_mut(&source_id)
    {
        source.followup_ids.push(id);
    }
    let mut events = Vec::new();
    for (field, value) in [
        ("subject", json!(ticket.subject)),
        ("requester_id", json!(ticket.requester_id.to_string())),
        ("status", json!(ticket.status)),
        ("priority", json!(ticket.priority)),
        ("type", json!(ticket.kind)),
        ("tags", json!(ticket.tags)),
        (
            "assignee_id",
            json!(ticket.assignee_id.map(|v| v.to_string())),
        ),
        ("group_id", json!(ticket.group_id.map(|v| v.to_string()))),
    ] {
        let event_id = data.next_id();
        events.push(change_event(event_id, "Create", field, value, None));
    }
    let comment_id = ticket.comments.first().map(|c| c.id);
    ticket.audits.push(Audit {
        id: audit_id,
        author_id: submitter,
        created_at: now,
        custom_metadata,
        comment_id,
        events,
    });
    let audit = ticket
        .audits
        .last()
        .map(|a| render.audit(&ticket, a))
        .unwrap_or_default();
    data.tickets.insert(id, ticket);
    Ok((id, audit))
}

/// Finds or creates the end user named by a `requester` object, as the
/// Tickets reference describes it ("Creating a ticket with a new
/// requester"): an active user holding the e-mail (any case) is used and
/// nothing on it changes (a differing name is ignored); otherwise a new end
/// user is made, for which name and e-mail are required (the 422 texts are
/// unconfirmed).
fn requester_from(data: &mut Data, req: &Value, now: DateTime<Utc>) -> Result<u64, ApiError> {
    let email = opt_str(req, "email")?;
    let name = opt_str(req, "name")?;
    if let Some(email) = &email
        && let Some(user) = data.user_by_email(email)
    {
        return Ok(user.id);
    }
    let Some(email) = email else {
        return Err(ApiError::invalid(
            "requester",
            "Requester: Email is required",
        ));
    };
    if !email.contains('@') {
        return Err(ApiError::invalid(
            "requester",
            "Requester: Email is invalid",
        ));
    }
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        return Err(ApiError::invalid(
            "requester",
            "Requester: Name is required",
        ));
    };
    Ok(data.add_user(&name, Some(email), None, "end-user", now))
}

/// Enforces 30 (configurable) updates per 10 minutes per user per ticket.
fn check_update_limit(
    data: &mut Data,
    ticket_id: u64,
    user_id: u64,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let window = chrono::Duration::seconds(UPDATE_WINDOW_SECS);
    let times = data
        .ticket_updates
        .entry(format!("{ticket_id}:{user_id}"))
        .or_default();
    times.retain(|t| now - *t < window);
    if times.len() >= limit as usize {
        let oldest = times.first().copied().unwrap_or(now);
        let wait = (oldest + window - now).num_seconds().max(1);
        return Err(ApiError::TooManyRequests {
            retry_after_secs: u64::try_from(wait).unwrap_or(1),
        });
    }
    times.push(now);
    Ok(())
}

/// `safe_update: true` applies the update only while `updated_stamp` is the
/// ticket's `updated_at` as the API shows it (ISO 8601, whole seconds);
/// otherwise 409 `UpdateConflict` and nothing changes. A safe update without
/// a stamp is taken as stale (*unconfirmed*).
fn check_safe_update(input: &Value, updated_at: DateTime<Utc>) -> Result<(), ApiError> {
    if input.get("safe_update").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let stamp = input.get("updated_stamp").and_then(Value::as_str);
    if stamp.map(str::trim) == Some(crate::model::ts(updated_at).as_str()) {
        return Ok(());
    }
    Err(ApiError::StaleUpdate)
}

/// Applies a `ticket` update object; returns the audit.
pub fn update(
    data: &mut Data,
    render: &Render<'_>,
    id: u64,
    input: &Value,
    user_id: u64,
    update_limit: u32,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let ticket = data.tickets.get(&id).ok_or(ApiError::NotFound)?;
    if ticket.status == "closed" {
        return Err(ApiError::closed_ticket());
    }
    check_safe_update(input, ticket.updated_at)?;
    let comment_count = ticket.comments.len();
    let comment = parse_comment(input)?;
    let custom_metadata = parse_metadata(input)?;
    let status = enum_field(input, "status", STATUSES)?;
    let priority = enum_field(input, "priority", PRIORITIES)?;
    let kind = enum_field(input, "type", TYPES)?;
    let tags = parse_tags(input)?;
    // `additional_tags` (Update Ticket): added to the ticket's tags.
    let additional_tags = parse_tag_field(input, "additional_tags")?;
    let assignee = input
        .get("assignee_id")
        .map(|_| opt_id(input, "assignee_id"))
        .transpose()?;
    let group = input
        .get("group_id")
        .map(|_| opt_id(input, "group_id"))
        .transpose()?;
    check_agent(data, "assignee", assignee.flatten())?;
    check_group(data, group.flatten())?;
    check_author(data, comment.as_ref().and_then(|c| c.author_id))?;
    if comment.is_some() && comment_count >= MAX_COMMENTS {
        return Err(ApiError::invalid(
            "base",
            format!("Ticket: has reached the limit of {MAX_COMMENTS} comments"),
        ));
    }
    check_update_limit(data, id, user_id, update_limit, now)?;
    let uploads = match &comment {
        Some(c) => take_uploads(data, &c.uploads, now)?,
        None => Vec::new(),
    };
    let audit_id = data.next_id();
    let comment = match comment {
        Some(c) => Some(Comment {
            id: data.next_id(),
            audit_id,
            author_id: c.author_id.unwrap_or(user_id),
            body: c.body,
            html_body: c.html_body,
            public: c.public,
            attachments: uploads,
            created_at: now,
            custom_metadata: custom_metadata.clone(),
        }),
        None => None,
    };
    let mut changes: Vec<(&str, Value, Value)> = Vec::new();
    let subject = opt_str(input, "subject")?;
    let external_id = opt_str(input, "external_id")?;
    let event_ids: Vec<u64> = (0..8).map(|_| data.next_id()).collect();
    let ticket = data.tickets.get_mut(&id).ok_or(ApiError::NotFound)?;
    if let Some(assignee) = assignee {
        changes.push(("assignee_id", json!(assignee), json!(ticket.assignee_id)));
        ticket.assignee_id = assignee;
        if assignee.is_some() && status.is_none() && ticket.status == "new" {
            changes.push(("status", json!("open"), json!(ticket.status)));
            ticket.status = "open".to_owned();
        }
    }
    if let Some(group) = group {
        changes.push(("group_id", json!(group), json!(ticket.group_id)));
        ticket.group_id = group;
    }
    if let Some(status) = status {
        changes.push(("status", json!(status), json!(ticket.status)));
        ticket.status = status;
    }
    if let Some(priority) = priority {
        changes.push(("priority", json!(priority), json!(ticket.priority)));
        ticket.priority = Some(priority);
    }
    if let Some(kind) = kind {
        changes.push(("type", json!(kind), json!(ticket.kind)));
        ticket.kind = Some(kind);
    }
    if let Some(tags) = tags {
        changes.push(("tags", json!(tags), json!(ticket.tags)));
        ticket.tags = tags;
    }
    if let Some(added) = additional_tags {
        let mut tags = ticket.tags.clone();
        tags.extend(added.into_iter().filter(|t| !ticket.tags.contains(t)));
        if tags != ticket.tags {
            changes.push(("tags", json!(tags), json!(ticket.tags)));
            ticket.tags = tags;
        }
    }
    if let Some(subject) = subject {
        changes.push(("subject", json!(subject), json!(ticket.subject)));
        ticket.subject = Some(subject);
    }
    if let Some(external_id) = external_id {
        ticket.external_id = Some(external_id);
    }
    if let Some(fields) = input.get("custom_fields").and_then(Value::as_array) {
        ticket.custom_fields = fields.clone();
    }
    ticket.updated_at = now;
    let events = changes
        .into_iter()
        .zip(event_ids)
        .map(|((field, value, prev), eid)| change_event(eid, "Change", field, value, Some(prev)))
        .collect();
    let comment_id = comment.as_ref().map(|c| c.id);
    if let Some(comment) = comment {
        ticket.comments.push(comment);
    }
    ticket.audits.push(Audit {
        id: audit_id,
        author_id: user_id,
        created_at: now,
        custom_metadata,
        comment_id,
        events,
    });
    let ticket = &*ticket;
    Ok(ticket
        .audits
        .last()
        .map(|a| render.audit(ticket, a))
        .unwrap_or_default())
}
