//! Pure normalisation: raw webhook bytes to a [`TicketEvent`], no I/O.
//!
//! - channel `chat`; `channel_message_id` = the `webhook-id` header, so a
//!   redelivered webhook gets the same event id;
//! - required fields are strict (`conversation_id`, `author.id`, text or an
//!   attachment, well-formed attachments): 422 naming the field;
//! - optional fields are kept when valid and dropped when not; the event's
//!   `dropped_fields` names them ([`DroppedField`]) and unknown fields are
//!   ignored ([`Normalised::unknown_fields`], names only);
//! - the contact: see [`crate::author`] (verified only with a valid
//!   identity token, else keyed `chat:<author id>`);
//! - `conversation.thread_id` = `conversation_id`; metadata `page_url`;
//! - base64 attachments are decoded here; their blob references are content
//!   addresses (`sha256/<hex>`), so they are known before the bytes are stored;
//! - URL attachments are checked for syntax here and returned as
//!   [`AttachmentLink`]s; the handler fetches them (see [`crate::fetch`]) and
//!   inserts them into `event.attachments` at their `position`.

use chrono::{DateTime, Utc};
use intake_channel::RejectReason;
use intake_event::{MAX_TEXT_CHARS, TicketEvent};

use crate::attachment::{AttachmentLimits, AttachmentLink, Decoded, decode_attachment};
use crate::identity::IdentityVerifier;
use crate::message::{ChatMessage, Lenient, MAX_ID_CHARS, MAX_URL_CHARS, unknown_fields};

/// The channel name of this adapter.
pub const CHANNEL: &str = "chat";

/// An optional field that can be dropped; [`DroppedField::as_str`] is its
/// name in the event's `dropped_fields` and the metric's `field` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DroppedField {
    MessageId,
    SentAt,
    PageUrl,
    Locale,
    AuthorName,
    AuthorEmail,
    AuthorPhone,
    AuthorIdentityToken,
    /// `content_type` of a URL attachment (optional there).
    AttachmentContentType,
}

impl DroppedField {
    pub const ALL: [DroppedField; 9] = [
        DroppedField::MessageId,
        DroppedField::SentAt,
        DroppedField::PageUrl,
        DroppedField::Locale,
        DroppedField::AuthorName,
        DroppedField::AuthorEmail,
        DroppedField::AuthorPhone,
        DroppedField::AuthorIdentityToken,
        DroppedField::AttachmentContentType,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DroppedField::MessageId => "message_id",
            DroppedField::SentAt => "sent_at",
            DroppedField::PageUrl => "page_url",
            DroppedField::Locale => "locale",
            DroppedField::AuthorName => "author.name",
            DroppedField::AuthorEmail => "author.email",
            DroppedField::AuthorPhone => "author.phone",
            DroppedField::AuthorIdentityToken => "author.identity_token",
            DroppedField::AttachmentContentType => "attachments[].content_type",
        }
    }
}

/// What the normaliser needs besides the body.
#[derive(Debug, Clone)]
pub struct MessageRules {
    pub attachments: AttachmentLimits,
    /// Checks `author.identity_token`; `None`: no token is accepted.
    pub identity: Option<IdentityVerifier>,
    /// ISO 3166-1 alpha-2 region for national phone numbers (`RU`), when
    /// the message's locale names none.
    pub phone_region: Option<String>,
}

impl MessageRules {
    /// Rules with no identity secret and no phone region.
    pub fn new(attachments: AttachmentLimits) -> Self {
        Self {
            attachments,
            identity: None,
            phone_region: None,
        }
    }
}

/// A normalised message: the event plus the decoded attachment bytes, in the
/// order of `event.attachments`, still to be stored, and the attachments
/// given by URL, still to be fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    /// The event; `attachments` holds the base64 ones only.
    pub event: TicketEvent,
    pub attachment_bytes: Vec<Vec<u8>>,
    /// URL attachments in body order.
    pub links: Vec<AttachmentLink>,
    /// The optional fields dropped as invalid (also in `event.dropped_fields`).
    pub dropped: Vec<DroppedField>,
    /// Paths of fields this version does not know (ignored); names only.
    pub unknown_fields: Vec<String>,
}

impl Normalised {
    /// `dropped` as metric label values.
    pub fn dropped_labels(&self) -> Vec<&'static str> {
        self.dropped.iter().map(|field| field.as_str()).collect()
    }
}

/// Why a body cannot become an event. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    /// Not well-formed JSON.
    #[error("body is not valid JSON: {0}")]
    BadJson(String),
    /// Valid JSON that breaks the documented schema.
    #[error("{field}: {message}")]
    Schema { field: String, message: String },
    /// An attachment is invalid, too large, or there are too many.
    #[error("{field}: {message}")]
    Attachment { field: String, message: String },
}

impl NormaliseError {
    /// The rejection reason (metric label and error code).
    pub fn reason(&self) -> RejectReason {
        match self {
            NormaliseError::BadJson(_) => RejectReason::BadJson,
            NormaliseError::Schema { .. } => RejectReason::Schema,
            NormaliseError::Attachment { .. } => RejectReason::Attachment,
        }
    }

    /// Never: the same body fails the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// The offending field (JSON path), safe to log: unlike the message it
    /// never quotes the sender's data.
    pub fn field(&self) -> Option<&str> {
        match self {
            NormaliseError::BadJson(_) => None,
            NormaliseError::Schema { field, .. } | NormaliseError::Attachment { field, .. } => {
                Some(field)
            }
        }
    }
}

pub(crate) fn schema(field: impl Into<String>, message: impl Into<String>) -> NormaliseError {
    NormaliseError::Schema {
        field: field.into(),
        message: message.into(),
    }
}

pub(crate) fn attachment(field: impl Into<String>, message: impl Into<String>) -> NormaliseError {
    NormaliseError::Attachment {
        field: field.into(),
        message: message.into(),
    }
}

/// A parsed body: the typed message and the names of unknown fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMessage {
    pub message: ChatMessage,
    pub unknown_fields: Vec<String>,
}

/// Parses the body; syntax errors are `BadJson`, type errors of required
/// fields are `Schema` with the JSON path of the field. Optional fields of
/// the wrong type and unknown fields do not fail.
pub fn parse_message(body: &[u8]) -> Result<ParsedMessage, NormaliseError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| NormaliseError::BadJson(e.to_string()))?;
    if !value.is_object() {
        return Err(schema("body", "must be a JSON object"));
    }
    let unknown_fields = unknown_fields(&value);
    let message: ChatMessage = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        schema(field, e.into_inner().to_string())
    })?;
    Ok(ParsedMessage {
        message,
        unknown_fields,
    })
}

/// Parses and normalises raw body bytes.
pub fn normalise_bytes(
    webhook_id: &str,
    body: &[u8],
    received_at: DateTime<Utc>,
    rules: &MessageRules,
) -> Result<Normalised, NormaliseError> {
    let parsed = parse_message(body)?;
    let mut normalised = normalise(webhook_id, parsed.message, received_at, rules)?;
    normalised.unknown_fields = parsed.unknown_fields;
    Ok(normalised)
}

fn required_id(field: &str, value: &str) -> Result<String, NormaliseError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(schema(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_ID_CHARS {
        return Err(schema(
            field,
            format!("longer than {MAX_ID_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(schema(field, "contains control characters"));
    }
    Ok(trimmed.to_owned())
}

pub(crate) fn non_blank(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An optional text field: `Some` when present, non-blank, at most
/// `max_chars` and free of control characters; anything else present is
/// recorded in `dropped`.
pub(crate) fn lenient_text(
    value: Lenient<String>,
    max_chars: usize,
    field: DroppedField,
    dropped: &mut Vec<DroppedField>,
) -> Option<String> {
    let invalid = value.is_invalid();
    let kept = non_blank(value.valid());
    match kept {
        Some(text) if text.chars().count() <= max_chars && !text.chars().any(char::is_control) => {
            Some(text)
        }
        Some(_) => {
            dropped.push(field);
            None
        }
        None => {
            if invalid {
                dropped.push(field);
            }
            None
        }
    }
}

/// A BCP 47 tag of letters, digits, `-` and `_`, at most 35 characters.
fn locale(value: Lenient<String>, dropped: &mut Vec<DroppedField>) -> Option<String> {
    let tag = lenient_text(
        value,
        crate::message::MAX_LOCALE_CHARS,
        DroppedField::Locale,
        dropped,
    )?;
    if tag
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Some(tag)
    } else {
        dropped.push(DroppedField::Locale);
        None
    }
}

/// Turns a parsed message into an event. `webhook_id` is the authenticated
/// `webhook-id` header.
pub fn normalise(
    webhook_id: &str,
    msg: ChatMessage,
    received_at: DateTime<Utc>,
    rules: &MessageRules,
) -> Result<Normalised, NormaliseError> {
    let limits = &rules.attachments;
    let webhook_id = required_id("webhook-id", webhook_id)?;
    let conversation_id = required_id("conversation_id", &msg.conversation_id)?;
    let author_id = required_id("author.id", &msg.author.id)?;

    let attachments = msg.attachments.unwrap_or_default();
    if attachments.len() > limits.max_attachments {
        return Err(attachment(
            "attachments",
            format!(
                "{} attachments, at most {} are accepted",
                attachments.len(),
                limits.max_attachments
            ),
        ));
    }
    let text = msg.text.unwrap_or_default();
    let text = if text.trim().is_empty() {
        String::new()
    } else {
        text
    };
    if text.is_empty() && attachments.is_empty() {
        return Err(schema(
            "text",
            "a message needs text or at least one attachment",
        ));
    }
    let text_chars = text.chars().count();
    if text_chars > MAX_TEXT_CHARS {
        return Err(schema(
            "text",
            format!(
                "{text_chars} characters, at most {MAX_TEXT_CHARS} are accepted (a Zendesk comment's limit); split the message"
            ),
        ));
    }

    let mut dropped = Vec::new();
    let mut metadata = std::collections::BTreeMap::new();
    let locale = locale(msg.locale, &mut dropped);
    let contact = crate::author::contact(
        msg.author,
        &author_id,
        locale,
        rules,
        &mut dropped,
        &mut metadata,
    )?;

    let mut event = TicketEvent::new(CHANNEL, &webhook_id, contact, text, received_at);
    if msg.sent_at.is_invalid() {
        dropped.push(DroppedField::SentAt);
    }
    event.sent_at = msg.sent_at.valid();
    event.conversation.thread_id = Some(conversation_id);
    let sender_id = lenient_text(
        msg.message_id,
        MAX_ID_CHARS,
        DroppedField::MessageId,
        &mut dropped,
    );
    if let Some(sender_id) = sender_id.filter(|id| *id != webhook_id) {
        metadata.insert("sender_message_id".into(), sender_id);
    }
    if let Some(page_url) = lenient_text(
        msg.page_url,
        MAX_URL_CHARS,
        DroppedField::PageUrl,
        &mut dropped,
    ) {
        metadata.insert("page_url".into(), page_url);
    }
    event.metadata = metadata;

    let mut attachment_bytes = Vec::new();
    let mut links = Vec::new();
    for (index, item) in attachments.into_iter().enumerate() {
        match decode_attachment(index, item, limits, &mut dropped)? {
            Decoded::Bytes(meta, bytes) => {
                event.attachments.push(meta);
                attachment_bytes.push(bytes);
            }
            Decoded::Link(link) => links.push(link),
        }
    }
    event.dropped_fields = dropped.iter().map(|f| f.as_str().to_owned()).collect();
    Ok(Normalised {
        event,
        attachment_bytes,
        links,
        dropped,
        unknown_fields: Vec::new(),
    })
}
