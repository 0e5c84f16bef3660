//! The webhook body the documented trigger sends (docs/agent-replies.md)
//! and which comments of it go out.
//!
//! Zendesk renders placeholders as text, so ids and `public` arrive as
//! strings (`"123"`, `"true"`); numbers and booleans are accepted too.

use serde::{Deserialize, Deserializer};

/// The JSON body of the trigger's "notify webhook" action
/// (docs/agent-replies.md): `intake zendesk setup` installs exactly this.
pub const TRIGGER_BODY_TEMPLATE: &str = r#"{
  "ticket_id": "{{ticket.id}}",
  "comment_id": "{{ticket.latest_comment.id}}",
  "author_id": "{{ticket.latest_comment.author.id}}",
  "author_role": "{{ticket.latest_comment.author.role}}",
  "requester_id": "{{ticket.requester.id}}",
  "public": "{{ticket.latest_comment.is_public}}",
  "body": "{{ticket.latest_comment.value}}",
  "html_body": "{{ticket.latest_comment.html_value}}",
  "subject": "{{ticket.title}}",
  "attachments": [{% for a in ticket.latest_comment.attachments %}{"file_name": "{{a.filename}}", "url": "{{a.url}}"}{% unless forloop.last %},{% endunless %}{% endfor %}]
}"#;

/// One comment, as the trigger's body template sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentEvent {
    #[serde(deserialize_with = "id")]
    pub ticket_id: u64,
    #[serde(deserialize_with = "id")]
    pub comment_id: u64,
    #[serde(deserialize_with = "id")]
    pub author_id: u64,
    /// `agent`, `admin` or `end-user`.
    pub author_role: String,
    /// The ticket's requester: a comment written as the requester is the
    /// customer's own message, which intake itself adds (no loops).
    #[serde(deserialize_with = "id")]
    pub requester_id: u64,
    #[serde(deserialize_with = "flag")]
    pub public: bool,
    /// The comment as plain text.
    #[serde(default)]
    pub body: String,
    /// The comment as HTML (kept for channels that render it; not used yet).
    #[serde(default)]
    pub html_body: String,
    /// The ticket's subject (`{{ticket.title}}`), for mail.
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A file of the comment: a file where the messenger takes files by URL,
/// a link otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub file_name: String,
    pub url: String,
}

/// Why a comment is not delivered: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// An internal note.
    Internal,
    /// Not written by an agent or admin.
    NotAgent,
    /// Written as the requester: intake's own comment (the customer's message).
    OwnComment,
    /// No text and no attachment.
    Empty,
    /// A ticket intake neither created nor commented.
    UnknownTicket,
    /// A mail conversation while Zendesk's own notifications answer mail
    /// (`zendesk_webhook.mail_replies = "zendesk"`).
    LeftToZendesk,
    /// Claimed before (Zendesk's retry, a redelivery).
    Duplicate,
    /// A ticket Zendesk created in its own channel (decision 54): Zendesk
    /// notifies its own channels of agent comments itself.
    ZendeskChannel,
}

impl Skip {
    pub const ALL: [Skip; 8] = [
        Skip::Internal,
        Skip::NotAgent,
        Skip::OwnComment,
        Skip::Empty,
        Skip::UnknownTicket,
        Skip::LeftToZendesk,
        Skip::Duplicate,
        Skip::ZendeskChannel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Internal => "internal_note",
            Skip::NotAgent => "not_agent",
            Skip::OwnComment => "own_comment",
            Skip::Empty => "empty",
            Skip::UnknownTicket => "unknown_ticket",
            Skip::LeftToZendesk => "left_to_zendesk",
            Skip::Duplicate => "duplicate",
            Skip::ZendeskChannel => "zendesk_channel",
        }
    }
}

impl CommentEvent {
    /// The rules that need no state: public, by an agent, not intake's own.
    pub fn check(&self) -> Result<(), Skip> {
        if !self.public {
            return Err(Skip::Internal);
        }
        if !matches!(self.author_role.trim(), "agent" | "admin") {
            return Err(Skip::NotAgent);
        }
        if self.author_id == self.requester_id {
            return Err(Skip::OwnComment);
        }
        if self.text().is_empty() && self.attachments.is_empty() {
            return Err(Skip::Empty);
        }
        Ok(())
    }

    /// The text to send (the files go apart, see [`CommentEvent::attachments`]).
    pub fn text(&self) -> String {
        self.body.trim().to_owned()
    }

    /// The subject, when the template sent a non-empty one.
    pub fn subject(&self) -> Option<String> {
        self.subject
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdOrText {
    Id(u64),
    Text(String),
}

pub(crate) fn id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    match IdOrText::deserialize(deserializer)? {
        IdOrText::Id(id) => Ok(id),
        IdOrText::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an id"))),
    }
}

/// A text placeholder that may render empty: trimmed, empty is absent.
pub(crate) fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
}

/// A webhook body: an agent comment (no `event` key, the original
/// template) or a ticket Zendesk created (`"event": "ticket_created"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookBody {
    Comment(CommentEvent),
    Created(crate::native::CreatedEvent),
}

impl WebhookBody {
    /// Parses either template; anything else (another `event`, a missing
    /// or unknown key) is an error naming the problem.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        match value.get("event") {
            None => serde_json::from_value(value)
                .map(WebhookBody::Comment)
                .map_err(|e| e.to_string()),
            Some(serde_json::Value::String(kind)) if kind == crate::native::TICKET_CREATED => {
                serde_json::from_value(value)
                    .map(WebhookBody::Created)
                    .map_err(|e| e.to_string())
            }
            Some(other) => Err(format!(
                "unknown event {other}: expected \"{}\" or none (a comment)",
                crate::native::TICKET_CREATED
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FlagOrText {
    Flag(bool),
    Text(String),
}

fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match FlagOrText::deserialize(deserializer)? {
        FlagOrText::Flag(flag) => Ok(flag),
        FlagOrText::Text(text) => match text.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(serde::de::Error::custom(format!(
                "{other:?} is not true or false"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> CommentEvent {
        serde_json::from_str(json).unwrap()
    }

    const AGENT: &str = r#"{"ticket_id":"7","comment_id":"90","author_id":"5","author_role":"agent",
        "requester_id":"3","public":"true","body":" Hello! ","html_body":"<p>Hello!</p>",
        "attachments":[{"file_name":"a.pdf","url":"https://x.zendesk.com/a.pdf"}]}"#;

    #[test]
    fn the_documented_template_is_the_one_setup_installs() {
        let doc = include_str!("../../../docs/agent-replies.md");
        assert!(
            doc.contains(TRIGGER_BODY_TEMPLATE),
            "docs/agent-replies.md drifted"
        );
    }

    #[test]
    fn placeholders_as_text_are_read() {
        let e = event(AGENT);
        assert_eq!(
            (e.ticket_id, e.comment_id, e.author_id, e.public),
            (7, 90, 5, true)
        );
        assert_eq!(e.check(), Ok(()));
        assert_eq!(e.text(), "Hello!");
        assert_eq!(e.attachments[0].url, "https://x.zendesk.com/a.pdf");
        let only_a_file = event(&AGENT.replace(r#"" Hello! ""#, r#""""#));
        assert_eq!(only_a_file.check(), Ok(()), "a file alone is a reply");
        let nothing = event(&AGENT.replace(r#"" Hello! ""#, r#""  ""#).replace(
            r#"[{"file_name":"a.pdf","url":"https://x.zendesk.com/a.pdf"}]"#,
            "[]",
        ));
        assert_eq!(nothing.check(), Err(Skip::Empty));
    }

    #[test]
    fn notes_end_users_and_own_comments_are_skipped() {
        let with = |from: &str, to: &str| event(&AGENT.replace(from, to)).check();
        assert_eq!(
            with(r#""public":"true""#, r#""public":false"#),
            Err(Skip::Internal)
        );
        assert_eq!(with(r#""agent""#, r#""end-user""#), Err(Skip::NotAgent));
        assert_eq!(
            with(r#""author_id":"5""#, r#""author_id":3"#),
            Err(Skip::OwnComment)
        );
    }

    #[test]
    fn both_bodies_are_told_apart_by_event() {
        assert!(matches!(
            WebhookBody::parse(AGENT.as_bytes()),
            Ok(WebhookBody::Comment(_))
        ));
        let created =
            r#"{"event":"ticket_created","ticket_id":"8","via":"Mail","requester_id":"4"}"#;
        assert!(matches!(
            WebhookBody::parse(created.as_bytes()),
            Ok(WebhookBody::Created(c)) if c.ticket_id == 8
        ));
        let other = created.replace("ticket_created", "ticket_solved");
        assert!(
            WebhookBody::parse(other.as_bytes())
                .unwrap_err()
                .contains("unknown event")
        );
        let comment_as_created = AGENT.replacen('{', r#"{"event":"ticket_created","#, 1);
        assert!(WebhookBody::parse(comment_as_created.as_bytes()).is_err());
        assert!(WebhookBody::parse(b"not json").is_err());
    }

    #[test]
    fn bad_ids_and_unknown_fields_are_errors() {
        assert!(
            serde_json::from_str::<CommentEvent>(&AGENT.replace(r#""7""#, r#""seven""#)).is_err()
        );
        assert!(
            serde_json::from_str::<CommentEvent>(&AGENT.replace(r#""body""#, r#""bodie""#))
                .is_err()
        );
    }
}
