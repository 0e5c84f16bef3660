//! The documented webhook body (`docs/chat-webhook.md`, JSON Schema in
//! `docs/schema/chat_message.v1.json`, generated from these types).
//!
//! Required fields (`conversation_id`, `author.id`, text or an attachment)
//! are strict: a message without them is refused. Optional fields are
//! [`Lenient`]: a value of the wrong type is dropped instead of refusing the
//! message, and the normaliser drops values that break the documented
//! limits. Fields this version does not know are ignored (and counted), so a
//! chat vendor adding a field does not make intake refuse its messages.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use intake_event::MAX_TEXT_CHARS;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Longest ids (`conversation_id`, `author.id`, `message_id`, `webhook-id`), in characters.
pub const MAX_ID_CHARS: usize = 256;
/// Longest `author.name`, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest `author.email`, in characters (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest `author.phone`, in characters.
pub const MAX_PHONE_CHARS: usize = 64;
/// Longest `author.identity_token`, in characters.
pub const MAX_IDENTITY_TOKEN_CHARS: usize = 4096;
/// Longest `page_url` and attachment `url`, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest `locale`, in characters.
pub const MAX_LOCALE_CHARS: usize = 35;
/// Longest attachment `filename`, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;
/// Longest attachment `content_type`, in characters.
pub const MAX_CONTENT_TYPE_CHARS: usize = 255;

/// An optional field: absent (missing or `null`), a value of the right
/// type, or something else, which the normaliser drops (naming the field in
/// the event's `dropped_fields`) instead of refusing the message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Lenient<T> {
    #[default]
    Absent,
    Valid(T),
    /// Present, but not of the documented type.
    Invalid,
}

impl<T> Lenient<T> {
    /// The value when present and of the right type.
    pub fn valid(self) -> Option<T> {
        match self {
            Lenient::Valid(value) => Some(value),
            Lenient::Absent | Lenient::Invalid => None,
        }
    }

    /// True when a value was given but is not of the documented type.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Lenient::Invalid)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.is_null() {
            return Ok(Lenient::Absent);
        }
        Ok(serde_json::from_value(value).map_or(Lenient::Invalid, Lenient::Valid))
    }
}

/// One website chat message, as posted to `POST /v1/chat/messages`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[schemars(
    title = "intake chat message v1",
    description = "One website chat message. Required fields are strict (a message without them is refused with 422); an optional field that is invalid or breaks its limit is dropped and the message kept (the event names it in `dropped_fields`); unknown fields are ignored. The whole body is at most the gateway's `channels.chat.max_body_bytes` (10 MiB by default)."
)]
pub struct ChatMessage {
    /// The sender's own id of the message. Informational only: the
    /// `webhook-id` header is the message id used for de-duplication; when
    /// this differs it is kept in the event metadata as `sender_message_id`.
    #[serde(default)]
    #[schemars(with = "Option<String>", length(max = MAX_ID_CHARS))]
    pub message_id: Lenient<String>,
    /// The chat conversation this message belongs to (becomes the event's thread id).
    #[schemars(length(min = 1, max = MAX_ID_CHARS))]
    pub conversation_id: String,
    /// When the visitor sent the message (RFC 3339).
    #[serde(default)]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub sent_at: Lenient<DateTime<Utc>>,
    /// Who wrote the message.
    pub author: ChatAuthor,
    /// The message text (UTF-8), at most 10,000 characters (it becomes a
    /// Zendesk comment). Required unless there are attachments.
    #[serde(default)]
    #[schemars(length(max = MAX_TEXT_CHARS))]
    pub text: Option<String>,
    /// Files sent with the message (at most the gateway's
    /// `channels.chat.max_attachments`, 20 by default).
    #[serde(default)]
    pub attachments: Option<Vec<ChatAttachment>>,
    /// The page the visitor was on.
    #[serde(default)]
    #[schemars(with = "Option<String>", length(max = MAX_URL_CHARS))]
    pub page_url: Lenient<String>,
    /// The visitor's language (BCP 47 tag such as `ru` or `en-GB`). A
    /// region (`ru-RU`) also tells how to read a national phone number.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        length(max = MAX_LOCALE_CHARS),
        regex(pattern = r"^[A-Za-z0-9_-]+$")
    )]
    pub locale: Lenient<String>,
}

/// The visitor who wrote the message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct ChatAuthor {
    /// The chat's stable visitor id. The contact key is `chat:<id>` unless
    /// `identity_token` proves who the visitor is.
    #[schemars(length(min = 1, max = MAX_ID_CHARS))]
    pub id: String,
    /// Display name.
    #[serde(default)]
    #[schemars(with = "Option<String>", length(max = MAX_NAME_CHARS))]
    pub name: Lenient<String>,
    /// E-mail address the visitor typed: kept on the event as claimed
    /// (unverified), never used as the contact key.
    #[serde(default)]
    #[schemars(with = "Option<String>", length(max = MAX_EMAIL_CHARS))]
    pub email: Lenient<String>,
    /// Phone number the visitor typed, international (`+7 999 123-45-67`) or
    /// national when the locale or the gateway names the region.
    #[serde(default)]
    #[schemars(with = "Option<String>", length(max = MAX_PHONE_CHARS))]
    pub phone: Lenient<String>,
    /// For logged-in users: a JWT (HS256) from the site's backend, signed
    /// with the identity secret shared with the gateway, with claims
    /// `external_id`, `email`, `exp` (and optionally `name`, `phone`). A
    /// valid token makes the contact verified and keyed by its e-mail.
    #[serde(default)]
    #[schemars(with = "Option<String>", length(max = MAX_IDENTITY_TOKEN_CHARS))]
    pub identity_token: Lenient<String>,
}

/// A file sent with the message: exactly one of `data_base64` (the bytes)
/// or `url` (a link the gateway downloads, from allowed hosts only). Either
/// way the file is stored in the blob store and referenced from the event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(extend("oneOf" = [{"required": ["data_base64", "content_type"]}, {"required": ["url"]}]))]
pub struct ChatAttachment {
    /// File name shown to agents.
    #[schemars(length(min = 1, max = MAX_FILENAME_CHARS))]
    pub filename: String,
    /// MIME type (`image/png`, `application/pdf`). Required with
    /// `data_base64`; with `url` the response's `Content-Type` is used when
    /// this is absent (or invalid, then it is dropped).
    #[serde(default)]
    #[schemars(length(max = MAX_CONTENT_TYPE_CHARS))]
    pub content_type: Option<String>,
    /// The file's bytes, standard base64 (padding required, line breaks
    /// allowed); at most the gateway's `channels.chat.max_attachment_bytes`
    /// once decoded.
    #[serde(default)]
    pub data_base64: Option<String>,
    /// An https link to the file (http only where the operator allows it).
    /// The gateway downloads it before accepting the message; only hosts in
    /// the gateway's `channels.chat.attachment_url_hosts` are fetched.
    #[serde(default)]
    #[schemars(length(max = MAX_URL_CHARS))]
    pub url: Option<String>,
}

/// The JSON Schema of [`ChatMessage`], as checked in at `docs/schema/chat_message.v1.json`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(ChatMessage);
    serde_json::to_value(schema).expect("schema serialises")
}

/// The field names this version knows, per object, read from the schema so
/// they cannot drift from the types.
struct KnownFields {
    message: BTreeSet<String>,
    author: BTreeSet<String>,
    attachment: BTreeSet<String>,
}

fn known_fields() -> &'static KnownFields {
    static KNOWN: OnceLock<KnownFields> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let schema = json_schema();
        let names = |properties: &serde_json::Value| -> BTreeSet<String> {
            properties
                .as_object()
                .map(|map| map.keys().cloned().collect())
                .unwrap_or_default()
        };
        KnownFields {
            message: names(&schema["properties"]),
            author: names(&schema["$defs"]["ChatAuthor"]["properties"]),
            attachment: names(&schema["$defs"]["ChatAttachment"]["properties"]),
        }
    })
}

/// The names (JSON paths such as `colour`, `author.avatar`,
/// `attachments[0].width`) of the fields of `body` this version does not
/// know. Only names are returned, never values.
pub fn unknown_fields(body: &serde_json::Value) -> Vec<String> {
    let known = known_fields();
    let mut unknown = Vec::new();
    let Some(message) = body.as_object() else {
        return unknown;
    };
    let mut collect = |prefix: &str, object: &serde_json::Value, names: &BTreeSet<String>| {
        if let Some(object) = object.as_object() {
            unknown.extend(
                object
                    .keys()
                    .filter(|key| !names.contains(*key))
                    .map(|key| format!("{prefix}{key}")),
            );
        }
    };
    collect("", body, &known.message);
    if let Some(author) = message.get("author") {
        collect("author.", author, &known.author);
    }
    if let Some(serde_json::Value::Array(items)) = message.get("attachments") {
        for (index, item) in items.iter().enumerate() {
            collect(&format!("attachments[{index}]."), item, &known.attachment);
        }
    }
    unknown
}
