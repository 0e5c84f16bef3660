//! Request and response bodies of the slice of the Zendesk Support API the gateway uses.
//!
//! Request structs skip `None` and empty fields when serialised, so a ticket
//! update sends only what it changes. Response structs tolerate missing
//! optional fields and ignore fields they do not know.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Ticket priority; the SLA policy picks its targets by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Urgent,
    High,
    Normal,
    Low,
}

/// Ticket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketType {
    Problem,
    Incident,
    Question,
    Task,
}

/// Ticket status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    New,
    Open,
    Pending,
    Hold,
    Solved,
    Closed,
}

/// A comment on a new or an existing ticket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// `false` makes an internal note.
    pub public: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<u64>,
    /// Upload tokens whose files are attached to this comment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<String>,
}

/// The requester of a new ticket, created as an end user when unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Requester {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale_id: Option<u64>,
}

/// A custom ticket field value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomField {
    pub id: u64,
    pub value: serde_json::Value,
}

/// Body of `POST /api/v2/tickets` (inside the `ticket` wrapper).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewTicket {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub comment: Comment,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<Requester>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<TicketType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
    /// Makes this ticket a follow-up of a closed ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_followup_source_id: Option<u64>,
    /// Custom audit metadata: Zendesk keeps this object (up to 1 KB) as the
    /// creation audit's `metadata.custom`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// Body of `PUT /api/v2/tickets/{id}` (inside the `ticket` wrapper).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TicketUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<Comment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Replaces the ticket's tags when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Tags added to the ticket's tags (Update Ticket's `additional_tags`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u64>,
    /// Custom audit metadata: Zendesk keeps this object (up to 1 KB) as the
    /// update's audit `metadata.custom`, and so on the comment it adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// With `updated_stamp`: Zendesk applies the update only while the
    /// ticket's `updated_at` is still that stamp, else answers 409
    /// `UpdateConflict` ([`crate::Error::is_update_conflict`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_update: Option<bool>,
    /// The ticket's `updated_at` as last read (see `safe_update`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_stamp: Option<String>,
}

/// A comment of an existing ticket, as `GET /api/v2/tickets/{id}/comments` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketComment {
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub body: String,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub author_id: Option<u64>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// `{"system": {...}, "custom": {...}}`; `custom` holds the metadata sent
    /// with the update that added the comment.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

impl TicketComment {
    /// The value under `key` in the comment's `metadata.custom`, if any.
    pub fn custom_metadata(&self, key: &str) -> Option<&serde_json::Value> {
        self.metadata.as_ref()?.get("custom")?.get(key)
    }
}

/// One audit of a ticket (a create or an update), as
/// `GET /api/v2/tickets/{id}/audits` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketAudit {
    pub id: u64,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub author_id: Option<u64>,
    /// `{"system": {...}, "custom": {...}}`; `custom` is the `metadata`
    /// object sent with the create or update.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// The audit's events (`Comment`, `Create`, `Change`, ...), as sent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<serde_json::Value>,
}

impl TicketAudit {
    /// The value under `key` in the audit's `metadata.custom`, if any.
    pub fn custom_metadata(&self, key: &str) -> Option<&serde_json::Value> {
        self.metadata.as_ref()?.get("custom")?.get(key)
    }

    /// The audit's `Comment` event (the comment the update added), if any.
    pub fn comment_event(&self) -> Option<&serde_json::Value> {
        self.events
            .iter()
            .find(|event| event.get("type").and_then(serde_json::Value::as_str) == Some("Comment"))
    }
}

/// How a ticket was created (`api`, `email`, `web`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Via {
    pub channel: String,
}

/// A ticket as Zendesk returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: u64,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub status: Status,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub r#type: Option<TicketType>,
    #[serde(default)]
    pub requester_id: Option<u64>,
    #[serde(default)]
    pub assignee_id: Option<u64>,
    #[serde(default)]
    pub group_id: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub via: Option<Via>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_fields: Vec<CustomField>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub followup_ids: Vec<u64>,
    /// Users copied on the ticket (CCs and followers).
    #[serde(default, deserialize_with = "null_as_default")]
    pub collaborator_ids: Vec<u64>,
    /// Users on the ticket's e-mail CC line.
    #[serde(default, deserialize_with = "null_as_default")]
    pub email_cc_ids: Vec<u64>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The result of a ticket creation.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedTicket {
    pub ticket: Ticket,
    /// `true` when Zendesk answered from its idempotency store (`x-idempotency-lookup: hit`):
    /// no new ticket was made.
    pub idempotency_hit: bool,
}

/// Body of `POST /api/v2/users/create_or_update` (inside the `user` wrapper).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UserInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// A Zendesk user (end user or agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    /// Whether the agent is suspended (cannot sign in or work tickets).
    #[serde(default)]
    pub suspended: bool,
}

/// An upload; its token goes into `Comment::uploads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub token: String,
    #[serde(default)]
    pub attachment: Option<serde_json::Value>,
}

/// An agent group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: u64,
    pub name: String,
}

/// A user's membership in a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMembership {
    pub user_id: u64,
    pub group_id: u64,
    #[serde(default)]
    pub default: bool,
}

/// An agent's omnichannel availability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentAvailability {
    pub agent_id: u64,
    /// `online`, `away`, `transfers_only`, `offline` or a custom status name.
    pub status: String,
    /// When the status was set, if Zendesk says.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_ticket_skips_unset_fields() {
        let ticket = NewTicket {
            subject: Some("Printer".into()),
            comment: Comment {
                body: Some("It is on fire".into()),
                public: true,
                ..Comment::default()
            },
            priority: Some(Priority::High),
            r#type: Some(TicketType::Incident),
            ..NewTicket::default()
        };
        let value = serde_json::to_value(&ticket).unwrap();
        assert_eq!(
            value,
            json!({
                "subject": "Printer",
                "comment": {"body": "It is on fire", "public": true},
                "priority": "high",
                "type": "incident"
            })
        );
    }

    #[test]
    fn update_sends_only_changes() {
        let update = TicketUpdate {
            status: Some(Status::Solved),
            tags: Some(vec![]),
            ..TicketUpdate::default()
        };
        let value = serde_json::to_value(&update).unwrap();
        assert_eq!(value, json!({"status": "solved", "tags": []}));
    }

    #[test]
    fn metadata_is_sent_as_the_tickets_metadata_object() {
        let update = TicketUpdate {
            comment: Some(Comment {
                body: Some("hi".into()),
                public: true,
                ..Comment::default()
            }),
            metadata: Some(json!({"intake_event_id": "ev-1"})),
            ..TicketUpdate::default()
        };
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({"comment": {"body": "hi", "public": true},
                   "metadata": {"intake_event_id": "ev-1"}})
        );
        let ticket = NewTicket {
            metadata: Some(json!({"k": 1})),
            ..NewTicket::default()
        };
        assert_eq!(
            serde_json::to_value(&ticket).unwrap()["metadata"],
            json!({"k": 1})
        );
    }

    #[test]
    fn comment_parses_real_shape_and_reads_custom_metadata() {
        let comment: TicketComment = serde_json::from_value(json!({
            "id": 1274, "type": "Comment", "body": "Thanks!", "html_body": "<p>Thanks!</p>",
            "plain_body": "Thanks!", "public": true, "author_id": 123123, "attachments": [],
            "audit_id": 4, "via": {"channel": "api"}, "created_at": "2009-07-20T22:55:29Z",
            "metadata": {"system": {"client": "x"}, "custom": {"intake_event_id": "ev-9"}}
        }))
        .unwrap();
        assert_eq!(comment.body, "Thanks!");
        assert_eq!(comment.author_id, Some(123123));
        assert_eq!(
            comment.custom_metadata("intake_event_id"),
            Some(&json!("ev-9"))
        );
        assert_eq!(comment.custom_metadata("other"), None);
        let bare: TicketComment = serde_json::from_value(json!({"id": 2, "body": null})).unwrap();
        assert_eq!(bare.custom_metadata("intake_event_id"), None);
        assert!(bare.body.is_empty());
    }

    #[test]
    fn ticket_parses_real_shape_with_nulls_and_unknown_fields() {
        let ticket: Ticket = serde_json::from_value(json!({
            "id": 35436,
            "url": "https://acme.zendesk.com/api/v2/tickets/35436.json",
            "subject": "Help",
            "description": "first comment",
            "status": "open",
            "priority": null,
            "type": "question",
            "requester_id": 20978392,
            "assignee_id": null,
            "group_id": 98738,
            "tags": null,
            "external_id": "ev-1",
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": null}},
            "custom_fields": [{"id": 27642, "value": "745"}],
            "satisfaction_rating": null,
            "created_at": "2009-07-20T22:55:29Z",
            "updated_at": "2011-05-05T10:38:52Z"
        }))
        .unwrap();
        assert_eq!(ticket.status, Status::Open);
        assert_eq!(ticket.priority, None);
        assert!(ticket.tags.is_empty());
        assert_eq!(ticket.via.unwrap().channel, "api");
        assert_eq!(ticket.custom_fields[0].id, 27642);
        assert_eq!(
            ticket.created_at.unwrap().to_rfc3339(),
            "2009-07-20T22:55:29+00:00"
        );
    }
}
