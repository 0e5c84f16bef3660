//! The documented webhook body (`docs/chat-webhook.md`, JSON Schema in
//! `docs/schema/chat_message.v1.json`, generated from these types).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One website chat message, as posted to `POST /v1/chat/messages`.
/// Unknown fields are refused (422) so that a misspelt field is not lost silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "intake chat message v1")]
pub struct ChatMessage {
    /// The sender's own id of the message. Informational only: the
    /// `webhook-id` header is the message id used for de-duplication; when
    /// this differs it is kept in the event metadata as `sender_message_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The chat conversation this message belongs to (becomes the event's thread id).
    pub conversation_id: String,
    /// When the visitor sent the message (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// Who wrote the message.
    pub author: ChatAuthor,
    /// The message text (UTF-8). Required unless there are attachments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Files sent with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<ChatAttachment>>,
    /// The page the visitor was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    /// The visitor's language (BCP 47 tag such as `ru` or `en-GB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// The visitor who wrote the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatAuthor {
    /// The chat's stable visitor id. Used as the contact key (`chat:<id>`)
    /// when no e-mail address is given.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail address; when present the contact key is `email:<address>`, so
    /// the visitor is recognised across channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number in international form (`+7 999 123-45-67`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A file sent with the message: exactly one of `data_base64` (the bytes)
/// or `url` (a link the gateway downloads, from allowed hosts only). Either
/// way the file is stored in the blob store and referenced from the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["data_base64", "content_type"]}, {"required": ["url"]}]))]
pub struct ChatAttachment {
    /// File name shown to agents.
    pub filename: String,
    /// MIME type (`image/png`, `application/pdf`). Required with
    /// `data_base64`; with `url` the response's `Content-Type` is used when
    /// this is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The file's bytes, standard base64 (padding required, line breaks allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
    /// An https link to the file (http only where the operator allows it).
    /// The gateway downloads it before accepting the message; only hosts in
    /// the gateway's `channels.chat.attachment_url_hosts` are fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The JSON Schema of [`ChatMessage`], as checked in at `docs/schema/chat_message.v1.json`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(ChatMessage);
    serde_json::to_value(schema).expect("schema serialises")
}
