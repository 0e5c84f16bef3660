//! The Webhooks and Triggers APIs as far as `intake zendesk setup` uses
//! them, and the one kind of trigger the simulator evaluates (docs/
//! zendesk-simulator.md, "Webhooks and triggers"):
//!
//! - `GET/POST /api/v2/webhooks`, `PATCH /api/v2/webhooks/{id}`,
//!   `GET /api/v2/webhooks/{id}/signing_secret`: Zendesk generates the
//!   signing secret at creation; ids are strings.
//! - `GET/POST /api/v2/triggers`, `PUT /api/v2/triggers/{id}`: conditions
//!   `{"all": [...], "any": [...]}` and actions `[{"field", "value"}]`.
//!
//! When an agent comments (`/admin/tickets/{id}/agent_reply`) or a ticket
//! is created "as Zendesk's own channel would" (`/admin/tickets/native`),
//! every active trigger whose `all` conditions hold for that occasion and
//! that has a `notification_webhook` action renders the action's JSON body
//! (the placeholders of docs/agent-replies.md, values JSON-escaped, the
//! attachment loop expanded) and delivers it to that webhook, signed with
//! its secret, with Zendesk's retries. Conditions evaluated:
//! `comment_is_public is true` and `role is agent` (a comment by the seeded
//! agent), `update_type is Create` / `is Change`, and `via_id is` / `is_not`
//! (the created ticket's via id); any other condition is taken as false.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::SimState;
use crate::webhooks::{CommentFile, Webhook};

/// A webhook created through the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiWebhook {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    pub http_method: String,
    pub request_format: String,
    pub status: String,
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// Never in the webhook's JSON; only `/signing_secret` shows it.
    #[serde(skip_serializing, default)]
    pub secret: String,
}

/// A trigger created through the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trigger {
    pub id: u64,
    pub title: String,
    pub active: bool,
    pub conditions: Value,
    pub actions: Value,
}

/// What the trigger's placeholders stand for.
pub struct CommentFacts<'a> {
    pub ticket_id: u64,
    pub comment_id: u64,
    pub author_id: u64,
    pub requester_id: u64,
    pub public: bool,
    pub body: &'a str,
    pub subject: &'a str,
    pub files: &'a [CommentFile],
}

fn field<'a>(body: &'a Value, wrapper: &'static str) -> Result<&'a Value, ApiError> {
    body.get(wrapper)
        .filter(|v| v.is_object())
        .ok_or(ApiError::ParameterMissing(wrapper))
}

fn text(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `GET /api/v2/webhooks`
pub async fn list_webhooks(State(state): State<SimState>) -> Response {
    let hooks: Vec<ApiWebhook> = state.data().api_webhooks.values().cloned().collect();
    Json(json!({"webhooks": hooks, "meta": {"has_more": false}})).into_response()
}

/// `POST /api/v2/webhooks`
pub async fn create_webhook(
    State(state): State<SimState>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let hook = field(&body, "webhook")?;
    let (Some(name), Some(endpoint)) = (text(hook, "name"), text(hook, "endpoint")) else {
        return Err(ApiError::RecordInvalid(
            json!({"endpoint": [{"description": "name and endpoint are required"}]}),
        ));
    };
    let secret: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let created = ApiWebhook {
        id: format!("01SIM{:020}", state.data().next_id()),
        name,
        endpoint,
        http_method: text(hook, "http_method").unwrap_or_else(|| "POST".into()),
        request_format: text(hook, "request_format").unwrap_or_else(|| "json".into()),
        status: text(hook, "status").unwrap_or_else(|| "active".into()),
        subscriptions: serde_json::from_value(hook["subscriptions"].clone()).unwrap_or_default(),
        secret,
    };
    state
        .data()
        .api_webhooks
        .insert(created.id.clone(), created.clone());
    state.persist().await;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({"webhook": created})),
    )
        .into_response())
}

/// `PATCH /api/v2/webhooks/{id}`: the fields given replace the stored ones.
pub async fn update_webhook(
    State(state): State<SimState>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let patch = field(&body, "webhook")?.clone();
    {
        let mut data = state.data();
        let hook = data.api_webhooks.get_mut(&id).ok_or(ApiError::NotFound)?;
        for (key, slot) in [
            ("name", &mut hook.name),
            ("endpoint", &mut hook.endpoint),
            ("http_method", &mut hook.http_method),
            ("request_format", &mut hook.request_format),
            ("status", &mut hook.status),
        ] {
            if let Some(value) = text(&patch, key) {
                *slot = value;
            }
        }
    }
    state.persist().await;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/webhooks/{id}/signing_secret`
pub async fn signing_secret(
    State(state): State<SimState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let data = state.data();
    let hook = data.api_webhooks.get(&id).ok_or(ApiError::NotFound)?;
    Ok(
        Json(json!({"signing_secret": {"algorithm": "SHA256", "secret": hook.secret}}))
            .into_response(),
    )
}

/// `GET /api/v2/triggers`
pub async fn list_triggers(State(state): State<SimState>) -> Response {
    let triggers: Vec<Trigger> = state.data().triggers.values().cloned().collect();
    let count = triggers.len();
    Json(json!({"triggers": triggers, "next_page": null, "count": count})).into_response()
}

fn trigger_of(id: u64, body: &Value) -> Result<Trigger, ApiError> {
    let trigger = field(body, "trigger")?;
    let title = text(trigger, "title").ok_or_else(|| {
        ApiError::RecordInvalid(json!({"title": [{"description": "Title: cannot be blank"}]}))
    })?;
    Ok(Trigger {
        id,
        title,
        active: trigger["active"].as_bool().unwrap_or(true),
        conditions: trigger["conditions"].clone(),
        actions: trigger["actions"].clone(),
    })
}

/// `POST /api/v2/triggers`
pub async fn create_trigger(
    State(state): State<SimState>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let id = state.data().next_id();
    let trigger = trigger_of(id, &body)?;
    state.data().triggers.insert(id, trigger.clone());
    state.persist().await;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({"trigger": trigger})),
    )
        .into_response())
}

/// `PUT /api/v2/triggers/{id}`
pub async fn update_trigger(
    State(state): State<SimState>,
    Path(raw_id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let id = crate::api::path_id(&raw_id)?;
    let trigger = trigger_of(id, &body)?;
    {
        let mut data = state.data();
        let slot = data.triggers.get_mut(&id).ok_or(ApiError::NotFound)?;
        *slot = trigger.clone();
    }
    state.persist().await;
    Ok(Json(json!({"trigger": trigger})).into_response())
}

/// What a trigger is evaluated on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    /// A comment by the seeded agent on an existing ticket (an update).
    Comment { public: bool },
    /// A ticket created by an end user through a channel with this via id
    /// (Zendesk's via types reference: 0 web form, 4 mail, 5 API).
    Created { via_id: u64 },
}

/// True when every `all` condition holds on `occasion`.
fn conditions_hold(conditions: &Value, occasion: Occasion) -> bool {
    let all = conditions["all"].as_array().cloned().unwrap_or_default();
    all.iter().all(|condition| {
        let value = match &condition["value"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let field = (condition["field"].as_str(), condition["operator"].as_str());
        match (field, value.as_str(), occasion) {
            ((Some("comment_is_public"), Some("is")), "true", Occasion::Comment { public }) => {
                public
            }
            ((Some("role"), Some("is")), "agent", Occasion::Comment { .. }) => true,
            ((Some("update_type"), Some("is")), "Create", Occasion::Created { .. }) => true,
            ((Some("update_type"), Some("is")), "Change", Occasion::Comment { .. }) => true,
            ((Some("via_id"), Some(operator)), id, Occasion::Created { via_id }) => {
                match (operator, id.trim().parse::<u64>()) {
                    ("is", Ok(id)) => via_id == id,
                    ("is_not", Ok(id)) => via_id != id,
                    _ => false,
                }
            }
            _ => false,
        }
    })
}

/// A value as JSON string content (the quotes stripped).
fn escaped(value: &str) -> String {
    let quoted = Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Renders the trigger's body template for `facts`.
pub fn render(template: &str, facts: &CommentFacts<'_>) -> String {
    let mut rendered = template.to_owned();
    if let (Some(start), Some(end)) = (rendered.find("{% for"), rendered.find("{% endfor %}")) {
        let files: Vec<String> = facts
            .files
            .iter()
            .map(|f| {
                format!(
                    r#"{{"file_name": "{}", "url": "{}"}}"#,
                    escaped(&f.file_name),
                    escaped(&f.url)
                )
            })
            .collect();
        rendered.replace_range(start..end + "{% endfor %}".len(), &files.join(","));
    }
    let role = "admin";
    for (placeholder, value) in [
        ("{{ticket.id}}", facts.ticket_id.to_string()),
        ("{{ticket.latest_comment.id}}", facts.comment_id.to_string()),
        (
            "{{ticket.latest_comment.author.id}}",
            facts.author_id.to_string(),
        ),
        ("{{ticket.latest_comment.author.role}}", role.to_owned()),
        ("{{ticket.requester.id}}", facts.requester_id.to_string()),
        (
            "{{ticket.latest_comment.is_public}}",
            facts.public.to_string(),
        ),
        ("{{ticket.latest_comment.value}}", escaped(facts.body)),
        (
            "{{ticket.latest_comment.html_value}}",
            escaped(&format!("<p>{}</p>", facts.body)),
        ),
        ("{{ticket.title}}", escaped(facts.subject)),
    ] {
        rendered = rendered.replace(placeholder, &value);
    }
    rendered
}

/// What the created-ticket placeholders stand for.
pub struct CreatedFacts<'a> {
    pub ticket_id: u64,
    /// `{{ticket.via}}`: the channel's name (`Mail`, `Web Widget`, ...).
    pub via_name: &'a str,
    pub via_id: u64,
    pub requester_id: u64,
    pub requester_name: &'a str,
    pub requester_email: &'a str,
    pub subject: &'a str,
    pub description: &'a str,
}

/// Renders a created-ticket trigger's body template for `facts`.
pub fn render_created(template: &str, facts: &CreatedFacts<'_>) -> String {
    let mut rendered = template.to_owned();
    for (placeholder, value) in [
        ("{{ticket.id}}", facts.ticket_id.to_string()),
        ("{{ticket.via}}", escaped(facts.via_name)),
        ("{{ticket.requester.id}}", facts.requester_id.to_string()),
        ("{{ticket.requester.name}}", escaped(facts.requester_name)),
        ("{{ticket.requester.email}}", escaped(facts.requester_email)),
        ("{{ticket.title}}", escaped(facts.subject)),
        ("{{ticket.description}}", escaped(facts.description)),
    ] {
        rendered = rendered.replace(placeholder, &value);
    }
    rendered
}

impl SimState {
    /// Fires the API triggers for an agent comment; returns how many
    /// deliveries were started.
    pub fn fire_triggers(&self, facts: &CommentFacts<'_>) -> usize {
        self.fire(
            Occasion::Comment {
                public: facts.public,
            },
            |template| render(template, facts),
        )
    }

    /// Fires the API triggers for a ticket created in one of Zendesk's own
    /// channels; returns how many deliveries were started.
    pub fn fire_created_triggers(&self, facts: &CreatedFacts<'_>) -> usize {
        self.fire(
            Occasion::Created {
                via_id: facts.via_id,
            },
            |template| render_created(template, facts),
        )
    }

    fn fire(&self, occasion: Occasion, body: impl Fn(&str) -> String) -> usize {
        let deliveries: Vec<(Webhook, String)> = {
            let data = self.data();
            data.triggers
                .values()
                .filter(|t| t.active && conditions_hold(&t.conditions, occasion))
                .flat_map(|t| t.actions.as_array().cloned().unwrap_or_default())
                .filter(|action| action["field"] == "notification_webhook")
                .filter_map(|action| {
                    let id = action["value"][0].as_str()?;
                    let template = action["value"][1].as_str()?;
                    let hook = data.api_webhooks.get(id).filter(|h| h.status == "active")?;
                    let webhook = Webhook {
                        url: hook.endpoint.clone(),
                        signing_secret: hook.secret.clone(),
                    };
                    Some((webhook, body(template)))
                })
                .collect()
        };
        let count = deliveries.len();
        for (webhook, body) in deliveries {
            let state = self.clone();
            tokio::spawn(async move { state.deliver(webhook, body).await });
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_renders_to_json_with_escaped_values_and_files() {
        let template = r#"{"ticket_id": "{{ticket.id}}", "public": "{{ticket.latest_comment.is_public}}",
  "body": "{{ticket.latest_comment.value}}", "subject": "{{ticket.title}}",
  "attachments": [{% for a in ticket.latest_comment.attachments %}{"file_name": "{{a.filename}}", "url": "{{a.url}}"}{% unless forloop.last %},{% endunless %}{% endfor %}]}"#;
        let files = [
            CommentFile {
                file_name: "a.pdf".into(),
                url: "https://x/a.pdf".into(),
            },
            CommentFile {
                file_name: "b \"q\".png".into(),
                url: "https://x/b.png".into(),
            },
        ];
        let facts = CommentFacts {
            ticket_id: 7,
            comment_id: 9,
            author_id: 5,
            requester_id: 3,
            public: true,
            body: "line \"one\"\nline two",
            subject: "Заказ",
            files: &files,
        };
        let rendered: Value = serde_json::from_str(&render(template, &facts)).unwrap();
        assert_eq!(rendered["ticket_id"], "7");
        assert_eq!(rendered["public"], "true");
        assert_eq!(rendered["body"], "line \"one\"\nline two");
        assert_eq!(rendered["subject"], "Заказ");
        assert_eq!(rendered["attachments"][1]["file_name"], "b \"q\".png");
        assert_eq!(rendered["attachments"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn only_public_comments_by_agents_fire() {
        let conditions = json!({"all": [
            {"field": "comment_is_public", "operator": "is", "value": "true"},
            {"field": "role", "operator": "is", "value": "agent"}], "any": []});
        let public = Occasion::Comment { public: true };
        assert!(conditions_hold(&conditions, public));
        assert!(!conditions_hold(
            &conditions,
            Occasion::Comment { public: false }
        ));
        assert!(
            !conditions_hold(&conditions, Occasion::Created { via_id: 4 }),
            "a new ticket is no agent comment"
        );
        let other = json!({"all": [{"field": "status", "operator": "is", "value": "new"}]});
        assert!(
            !conditions_hold(&other, public),
            "unknown conditions are false"
        );
    }

    #[test]
    fn tickets_created_outside_the_api_fire_the_created_trigger() {
        let conditions = json!({"all": [
            {"field": "update_type", "operator": "is", "value": "Create"},
            {"field": "via_id", "operator": "is_not", "value": "5"}], "any": []});
        assert!(conditions_hold(
            &conditions,
            Occasion::Created { via_id: 4 }
        ));
        assert!(conditions_hold(
            &conditions,
            Occasion::Created { via_id: 0 }
        ));
        assert!(
            !conditions_hold(&conditions, Occasion::Created { via_id: 5 }),
            "the API (intake's own tickets) does not"
        );
        assert!(!conditions_hold(
            &conditions,
            Occasion::Comment { public: true }
        ));
        let mail_only = json!({"all": [{"field": "via_id", "operator": "is", "value": 4}]});
        assert!(conditions_hold(&mail_only, Occasion::Created { via_id: 4 }));
        assert!(!conditions_hold(
            &mail_only,
            Occasion::Created { via_id: 0 }
        ));
        let template = r#"{"event": "ticket_created", "ticket_id": "{{ticket.id}}", "via": "{{ticket.via}}",
  "description": "{{ticket.description}}", "requester_email": "{{ticket.requester.email}}"}"#;
        let facts = CreatedFacts {
            ticket_id: 12,
            via_name: "Mail",
            via_id: 4,
            requester_id: 3,
            requester_name: "Ann",
            requester_email: "ann@example.com",
            subject: "Счёт",
            description: "line \"one\"\nline two",
        };
        let rendered: Value = serde_json::from_str(&render_created(template, &facts)).unwrap();
        assert_eq!(rendered["ticket_id"], "12");
        assert_eq!(rendered["via"], "Mail");
        assert_eq!(rendered["description"], "line \"one\"\nline two");
        assert_eq!(rendered["requester_email"], "ann@example.com");
    }
}
