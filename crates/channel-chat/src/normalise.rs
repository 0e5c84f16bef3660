//! Pure normalisation: raw webhook bytes to a [`TicketEvent`], no I/O.
//!
//! - channel `chat`; `channel_message_id` = the `webhook-id` header, so a
//!   redelivered webhook gets the same event id;
//! - contact key `email:<address>` when the author gives an e-mail (the same
//!   person writing by mail is the same contact), else `chat:<author id>`;
//! - `conversation.thread_id` = `conversation_id`; metadata `page_url`;
//! - base64 attachments are decoded here; their blob references are content
//!   addresses (`sha256/<hex>`), so they are known before the bytes are stored;
//! - URL attachments are checked for syntax here and returned as
//!   [`AttachmentLink`]s; the handler fetches them (see [`crate::fetch`]) and
//!   inserts them into `event.attachments` at their `position`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use intake_channel::RejectReason;
use intake_event::{
    Attachment, Contact, ContactKey, TicketEvent, normalise_email, normalise_phone,
};

use crate::message::{ChatAttachment, ChatMessage};

/// The channel name of this adapter.
pub const CHANNEL: &str = "chat";

const MAX_ID_CHARS: usize = 256;
const MAX_FILENAME_CHARS: usize = 255;
const MAX_CONTENT_TYPE_CHARS: usize = 255;
const MAX_URL_CHARS: usize = 2048;
const MAX_LOCALE_CHARS: usize = 35;

/// Attachment policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentLimits {
    /// Largest decoded attachment, in bytes.
    pub max_attachment_bytes: usize,
    /// Most attachments (base64 and URL together) per message.
    pub max_attachments: usize,
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
}

/// An attachment given by URL, syntax-checked (`http`/`https`, length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentLink {
    /// Index in the body's `attachments` array, which is also its index in
    /// the final `event.attachments` (insert in ascending order).
    pub position: usize,
    /// `attachments[<n>].url`, for error messages and logs.
    pub field: String,
    pub filename: String,
    /// The sender's `content_type`, when given (else the response's is used).
    pub content_type: Option<String>,
    pub url: url::Url,
}

impl AttachmentLink {
    /// The event's attachment for the fetched `bytes`: the sender's content
    /// type, else `fetched_type` (the response header), else
    /// `application/octet-stream`.
    pub fn to_attachment(&self, bytes: &[u8], fetched_type: Option<String>) -> Attachment {
        let content_type = self
            .content_type
            .clone()
            .or(fetched_type)
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Attachment {
            filename: self.filename.clone(),
            content_type,
            size: bytes.len() as u64,
            sha256: intake_blob::sha256_hex(bytes),
            blob: intake_blob::content_ref(bytes),
        }
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

fn schema(field: impl Into<String>, message: impl Into<String>) -> NormaliseError {
    NormaliseError::Schema {
        field: field.into(),
        message: message.into(),
    }
}

fn attachment(field: impl Into<String>, message: impl Into<String>) -> NormaliseError {
    NormaliseError::Attachment {
        field: field.into(),
        message: message.into(),
    }
}

/// Parses the body; syntax errors are `BadJson`, type and field errors are
/// `Schema` with the JSON path of the field.
pub fn parse_message(body: &[u8]) -> Result<ChatMessage, NormaliseError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let message: ChatMessage =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let field = if path == "." { "body".to_owned() } else { path };
                    schema(field, inner.to_string())
                }
                _ => NormaliseError::BadJson(inner.to_string()),
            }
        })?;
    deserializer
        .end()
        .map_err(|e| NormaliseError::BadJson(e.to_string()))?;
    Ok(message)
}

/// Parses and normalises raw body bytes.
pub fn normalise_bytes(
    webhook_id: &str,
    body: &[u8],
    received_at: DateTime<Utc>,
    limits: &AttachmentLimits,
) -> Result<Normalised, NormaliseError> {
    normalise(webhook_id, parse_message(body)?, received_at, limits)
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

fn non_blank(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Turns a parsed message into an event. `webhook_id` is the authenticated
/// `webhook-id` header.
pub fn normalise(
    webhook_id: &str,
    msg: ChatMessage,
    received_at: DateTime<Utc>,
    limits: &AttachmentLimits,
) -> Result<Normalised, NormaliseError> {
    let webhook_id = required_id("webhook-id", webhook_id)?;
    let conversation_id = required_id("conversation_id", &msg.conversation_id)?;
    let author_id = required_id("author.id", &msg.author.id)?;
    let contact = contact(&author_id, &msg)?;

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

    let mut event = TicketEvent::new(CHANNEL, &webhook_id, contact, text, received_at);
    event.sent_at = msg.sent_at;
    event.conversation.thread_id = Some(conversation_id);
    if let Some(sender_id) = non_blank(msg.message_id).filter(|id| *id != webhook_id) {
        event.metadata.insert("sender_message_id".into(), sender_id);
    }
    if let Some(page_url) = non_blank(msg.page_url) {
        if page_url.chars().count() > MAX_URL_CHARS {
            return Err(schema(
                "page_url",
                format!("longer than {MAX_URL_CHARS} characters"),
            ));
        }
        event.metadata.insert("page_url".into(), page_url);
    }

    let mut attachment_bytes = Vec::new();
    let mut links = Vec::new();
    for (index, item) in attachments.into_iter().enumerate() {
        match decode_attachment(index, item, limits)? {
            Decoded::Bytes(meta, bytes) => {
                event.attachments.push(meta);
                attachment_bytes.push(bytes);
            }
            Decoded::Link(link) => links.push(link),
        }
    }
    Ok(Normalised {
        event,
        attachment_bytes,
        links,
    })
}

fn contact(author_id: &str, msg: &ChatMessage) -> Result<Contact, NormaliseError> {
    let email = match non_blank(msg.author.email.clone()) {
        Some(address) => {
            Some(normalise_email(&address).map_err(|e| schema("author.email", e.to_string()))?)
        }
        None => None,
    };
    let phone = match non_blank(msg.author.phone.clone()) {
        Some(number) => {
            Some(normalise_phone(&number).map_err(|e| schema("author.phone", e.to_string()))?)
        }
        None => None,
    };
    let key = match &email {
        Some(address) => ContactKey::email(address),
        None => ContactKey::channel_user(CHANNEL, author_id),
    }
    .map_err(|e| schema("author", e.to_string()))?;
    let locale = non_blank(msg.locale.clone());
    if let Some(tag) = &locale {
        let valid = tag.len() <= MAX_LOCALE_CHARS
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(schema(
                "locale",
                "not a language tag such as `ru` or `en-GB`",
            ));
        }
    }
    Ok(Contact {
        key: key.into_string(),
        verified: false,
        name: non_blank(msg.author.name.clone()),
        email,
        phone,
        channel_user_id: Some(author_id.to_owned()),
        locale,
    })
}

enum Decoded {
    Bytes(Attachment, Vec<u8>),
    Link(AttachmentLink),
}

fn decode_attachment(
    index: usize,
    item: ChatAttachment,
    limits: &AttachmentLimits,
) -> Result<Decoded, NormaliseError> {
    let field = |name: &str| format!("attachments[{index}].{name}");
    let filename = item.filename.trim().to_owned();
    if filename.is_empty() || filename.chars().count() > MAX_FILENAME_CHARS {
        return Err(attachment(
            field("filename"),
            format!("must be 1 to {MAX_FILENAME_CHARS} characters"),
        ));
    }
    if filename.chars().any(char::is_control) {
        return Err(attachment(field("filename"), "contains control characters"));
    }
    let content_type = match non_blank(item.content_type) {
        Some(value) => {
            let value = value.to_ascii_lowercase();
            let valid_type = value.len() <= MAX_CONTENT_TYPE_CHARS
                && matches!(value.split_once('/'), Some((t, s)) if !t.is_empty() && !s.is_empty())
                && !value.chars().any(|c| c.is_whitespace() || c.is_control());
            if !valid_type {
                return Err(attachment(
                    field("content_type"),
                    "not a MIME type such as `image/png`",
                ));
            }
            Some(value)
        }
        None => None,
    };
    match (item.data_base64, item.url) {
        (Some(data), None) => {
            let Some(content_type) = content_type else {
                return Err(attachment(
                    field("content_type"),
                    "required with data_base64 (a MIME type such as `image/png`)",
                ));
            };
            let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            // Reject before decoding: base64 carries 3 bytes per 4 characters.
            if compact.len() / 4 * 3 > limits.max_attachment_bytes + 2 {
                return Err(too_big(field("data_base64"), limits));
            }
            let bytes = STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| attachment(field("data_base64"), format!("not valid base64: {e}")))?;
            if bytes.len() > limits.max_attachment_bytes {
                return Err(too_big(field("data_base64"), limits));
            }
            let meta = Attachment {
                filename,
                content_type,
                size: bytes.len() as u64,
                sha256: intake_blob::sha256_hex(&bytes),
                blob: intake_blob::content_ref(&bytes),
            };
            Ok(Decoded::Bytes(meta, bytes))
        }
        (None, Some(url)) => {
            let url = url.trim().to_owned();
            let parsed = url::Url::parse(&url)
                .map_err(|e| attachment(field("url"), format!("not a valid URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https")
                || parsed.host().is_none()
                || url.chars().count() > MAX_URL_CHARS
            {
                return Err(attachment(
                    field("url"),
                    format!("must be an http(s) URL of at most {MAX_URL_CHARS} characters"),
                ));
            }
            Ok(Decoded::Link(AttachmentLink {
                position: index,
                field: field("url"),
                filename,
                content_type,
                url: parsed,
            }))
        }
        (Some(_), Some(_)) => Err(attachment(
            field("url"),
            "give either data_base64 or url, not both",
        )),
        (None, None) => Err(attachment(
            field("data_base64"),
            "give either data_base64 or url",
        )),
    }
}

fn too_big(field: String, limits: &AttachmentLimits) -> NormaliseError {
    attachment(
        field,
        format!("larger than {} bytes", limits.max_attachment_bytes),
    )
}
