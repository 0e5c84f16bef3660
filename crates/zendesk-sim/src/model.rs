//! The records the simulator keeps and how each is rendered as Zendesk JSON.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Zendesk renders timestamps as `2024-01-02T03:04:05Z`.
pub fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A ticket and its comments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    pub id: u64,
    pub external_id: Option<String>,
    pub subject: Option<String>,
    pub description: String,
    pub status: String,
    pub priority: Option<String>,
    pub kind: Option<String>,
    pub requester_id: u64,
    pub submitter_id: u64,
    pub assignee_id: Option<u64>,
    pub group_id: Option<u64>,
    pub tags: Vec<String>,
    pub custom_fields: Vec<Value>,
    pub collaborator_ids: Vec<u64>,
    pub followup_source_id: Option<u64>,
    pub followup_ids: Vec<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub comments: Vec<Comment>,
    /// One audit per create or update, oldest first (older state files have none).
    #[serde(default)]
    pub audits: Vec<Audit>,
    /// `via.channel` when not `api`: a ticket made "as Zendesk's own channel
    /// would" (`/admin/tickets/native`: `email`, `web_form`, `web_widget`, `chat`).
    #[serde(default)]
    pub via: Option<String>,
}

/// The record of one create or update: who, when, its metadata and its events.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Audit {
    pub id: u64,
    pub author_id: u64,
    pub created_at: DateTime<Utc>,
    /// The request's `metadata` object, exactly as sent (`metadata.custom`).
    pub custom_metadata: Map<String, Value>,
    /// The comment the request added; rendered as the first event.
    pub comment_id: Option<u64>,
    /// The `Create`/`Change` events, rendered.
    pub events: Vec<Value>,
}

/// One comment (public reply or internal note).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub audit_id: u64,
    pub author_id: u64,
    pub body: String,
    pub html_body: String,
    pub public: bool,
    pub attachments: Vec<Attachment>,
    pub created_at: DateTime<Utc>,
    /// The `metadata` object of the create or update that added this comment;
    /// rendered as `metadata.custom` of the comment and of its audit.
    #[serde(default)]
    pub custom_metadata: Map<String, Value>,
}

/// A stored file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub id: u64,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
}

/// A pending upload token and the files grouped under it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub attachments: Vec<Attachment>,
}

/// A user (end user, agent or admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub locale: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Agent availability status (`online|away|transfers_only|offline`); agents only.
    pub availability: Option<String>,
    pub availability_updated_at: Option<DateTime<Utc>>,
    /// False once the user was deleted (or merged into another user): it is
    /// then no longer found by e-mail or external id, nor usable as a
    /// requester or author (older state files: every user active).
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// E-mail identities besides the primary `email` (gained in a merge).
    #[serde(default)]
    pub extra_emails: Vec<String>,
    /// Identities other than e-mail added through the identities API
    /// (`api/identities.rs`).
    #[serde(default)]
    pub identities: Vec<AddedIdentity>,
    /// Zendesk's `suspended`: a suspended user cannot sign in (Users API);
    /// set with `PUT /admin/users/{id}/suspended` (older state files: none).
    #[serde(default)]
    pub suspended: bool,
}

/// An identity added with `POST /api/v2/users/{id}/identities` (not an e-mail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedIdentity {
    /// `phone_number`, `foreign`, ...
    pub kind: String,
    pub value: String,
}

fn active_by_default() -> bool {
    true
}

impl User {
    pub fn is_agent(&self) -> bool {
        self.role == "agent" || self.role == "admin"
    }

    /// Whether `email` is one of the user's e-mail identities (case-insensitive).
    pub fn has_email(&self, email: &str) -> bool {
        self.email
            .iter()
            .chain(&self.extra_emails)
            .any(|e| e.eq_ignore_ascii_case(email))
    }
}

/// An agent group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub id: u64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Membership of an agent in a group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    pub id: u64,
    pub user_id: u64,
    pub group_id: u64,
    pub default: bool,
    pub created_at: DateTime<Utc>,
}

/// Escapes text for HTML (also used for comment `html_body`).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// Plain text of an HTML comment: tags removed, common entities decoded.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(ch),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// The `html_body` Zendesk derives from a plain-text body.
pub fn html_from_text(text: &str) -> String {
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|p| {
            format!(
                "<p dir=\"auto\">{}</p>",
                escape_html(p).replace('\n', "<br>")
            )
        })
        .collect();
    format!(
        "<div class=\"zd-comment\" dir=\"auto\">{}</div>",
        paragraphs.join("")
    )
}

/// Renders records as the JSON Zendesk returns.
pub struct Render<'a> {
    pub base: &'a str,
}

impl Render<'_> {
    pub fn ticket(&self, t: &Ticket) -> Value {
        let source = match t.followup_source_id {
            Some(src) => json!({"to": {}, "from": {"ticket_id": src}, "rel": "follow_up"}),
            None => json!({"to": {}, "from": {}, "rel": null}),
        };
        let fields: Vec<Value> = t.custom_fields.clone();
        json!({
            "url": format!("{}/api/v2/tickets/{}.json", self.base, t.id),
            "id": t.id,
            "external_id": t.external_id,
            "via": {"channel": t.via.as_deref().unwrap_or("api"), "source": source},
            "created_at": ts(t.created_at),
            "updated_at": ts(t.updated_at),
            "generated_timestamp": t.updated_at.timestamp(),
            "type": t.kind,
            "subject": t.subject,
            "raw_subject": t.subject,
            "description": t.description,
            "priority": t.priority,
            "status": t.status,
            "recipient": null,
            "requester_id": t.requester_id,
            "submitter_id": t.submitter_id,
            "assignee_id": t.assignee_id,
            "organization_id": null,
            "group_id": t.group_id,
            "collaborator_ids": t.collaborator_ids,
            "follower_ids": [],
            "email_cc_ids": [],
            "forum_topic_id": null,
            "problem_id": null,
            "has_incidents": false,
            "is_public": t.comments.iter().any(|c| c.public),
            "due_at": null,
            "tags": t.tags,
            "custom_fields": fields,
            "fields": t.custom_fields,
            "satisfaction_rating": null,
            "sharing_agreement_ids": [],
            "custom_status_id": status_id(&t.status),
            "followup_ids": t.followup_ids,
            "ticket_form_id": null,
            "brand_id": null,
            "allow_channelback": false,
            "allow_attachments": true,
            "from_messaging_channel": false,
        })
    }

    pub fn comment(&self, c: &Comment) -> Value {
        json!({
            "id": c.id,
            "type": "Comment",
            "author_id": c.author_id,
            "body": c.body,
            "html_body": c.html_body,
            "plain_body": c.body,
            "public": c.public,
            "attachments": c.attachments.iter().map(|a| self.attachment(a)).collect::<Vec<_>>(),
            "audit_id": c.audit_id,
            "via": {"channel": "api", "source": {"to": {}, "from": {}, "rel": null}},
            "created_at": ts(c.created_at),
            "metadata": {"system": {}, "custom": c.custom_metadata},
        })
    }

    /// An audit of ticket `t`, its comment (if any) as the first `Comment` event.
    pub fn audit(&self, t: &Ticket, a: &Audit) -> Value {
        let mut events = Vec::with_capacity(a.events.len() + 1);
        if let Some(c) = a
            .comment_id
            .and_then(|id| t.comments.iter().find(|c| c.id == id))
        {
            let mut event = self.comment(c);
            if let Some(obj) = event.as_object_mut() {
                obj.remove("via");
                obj.remove("created_at");
                obj.remove("metadata");
            }
            events.push(event);
        }
        events.extend(a.events.iter().cloned());
        json!({
            "id": a.id,
            "ticket_id": t.id,
            "created_at": ts(a.created_at),
            "author_id": a.author_id,
            "metadata": {"system": {"client": "intake-zendesk-sim"}, "custom": a.custom_metadata},
            "events": events,
            "via": {"channel": "api", "source": {"to": {}, "from": {}, "rel": null}},
        })
    }

    pub fn attachment(&self, a: &Attachment) -> Value {
        let content_url = format!(
            "https://{}/attachments/token/{}/?name={}",
            self.base.trim_start_matches("https://"),
            a.id,
            a.file_name
        );
        json!({
            "url": format!("{}/api/v2/attachments/{}.json", self.base, a.id),
            "id": a.id,
            "file_name": a.file_name,
            "content_url": content_url,
            "mapped_content_url": content_url,
            "content_type": a.content_type,
            "size": a.size,
            "width": null,
            "height": null,
            "inline": false,
            "deleted": false,
            "malware_access_override": false,
            "malware_scan_result": "malware_not_found",
            "thumbnails": [],
        })
    }

    pub fn upload(&self, u: &Upload) -> Value {
        let attachments: Vec<Value> = u.attachments.iter().map(|a| self.attachment(a)).collect();
        json!({
            "token": u.token,
            "expires_at": ts(u.expires_at),
            "attachments": attachments,
            "attachment": attachments.last().cloned().unwrap_or(Value::Null),
        })
    }

    pub fn user(&self, u: &User) -> Value {
        json!({
            "id": u.id,
            "url": format!("{}/api/v2/users/{}.json", self.base, u.id),
            "name": u.name,
            "email": u.email,
            "created_at": ts(u.created_at),
            "updated_at": ts(u.updated_at),
            "time_zone": "UTC",
            "iana_time_zone": "Etc/UTC",
            "phone": u.phone,
            "shared_phone_number": null,
            "photo": null,
            "locale_id": 1,
            "locale": u.locale,
            "organization_id": null,
            "role": u.role,
            "verified": false,
            "external_id": u.external_id,
            "tags": [],
            "alias": null,
            "active": u.active,
            "shared": false,
            "shared_agent": false,
            "last_login_at": null,
            "two_factor_auth_enabled": null,
            "signature": null,
            "details": null,
            "notes": null,
            "role_type": null,
            "custom_role_id": null,
            "moderator": u.is_agent(),
            "ticket_restriction": if u.is_agent() { Value::Null } else { json!("requested") },
            "only_private_comments": false,
            "restricted_agent": false,
            "suspended": u.suspended,
            "default_group_id": null,
            "report_csv": false,
            "user_fields": {},
        })
    }

    pub fn identities(&self, u: &User) -> Vec<Value> {
        let mut out = Vec::new();
        let mut push = |kind: &str, value: &str, primary: bool, n: u64| {
            out.push(json!({
                "url": format!("{}/api/v2/users/{}/identities/{}.json", self.base, u.id, u.id * 1000 + n),
                "id": u.id * 1000 + n,
                "user_id": u.id,
                "type": kind,
                "value": value,
                "verified": false,
                "primary": primary,
                "created_at": ts(u.created_at),
                "updated_at": ts(u.updated_at),
                "undeliverable_count": 0,
                "deliverable_state": "deliverable",
            }));
        };
        if let Some(email) = &u.email {
            push("email", email, true, 1);
        }
        if let Some(phone) = &u.phone {
            push("phone_number", phone, u.email.is_none(), 2);
        }
        for (n, email) in (3..).zip(&u.extra_emails) {
            push("email", email, false, n);
        }
        // Numbered after room for the e-mails, so ids stay stable (ids are
        // the user id times 1000 plus the number: unique across users).
        for (n, added) in (100..).zip(&u.identities) {
            push(&added.kind, &added.value, false, n);
        }
        out
    }

    pub fn group(&self, g: &Group) -> Value {
        json!({
            "url": format!("{}/api/v2/groups/{}.json", self.base, g.id),
            "id": g.id,
            "is_public": true,
            "name": g.name,
            "description": "",
            "default": true,
            "deleted": false,
            "created_at": ts(g.created_at),
            "updated_at": ts(g.created_at),
        })
    }

    pub fn membership(&self, m: &Membership) -> Value {
        json!({
            "url": format!("{}/api/v2/group_memberships/{}.json", self.base, m.id),
            "id": m.id,
            "user_id": m.user_id,
            "group_id": m.group_id,
            "default": m.default,
            "created_at": ts(m.created_at),
            "updated_at": ts(m.created_at),
        })
    }
}

/// The ids of Zendesk's default custom statuses, one per status category (unconfirmed values).
fn status_id(status: &str) -> u64 {
    match status {
        "new" => 1,
        "open" => 2,
        "pending" => 3,
        "hold" => 4,
        "solved" => 5,
        _ => 6,
    }
}
