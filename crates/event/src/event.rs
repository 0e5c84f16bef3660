use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::raw::InlineRaw;

/// The schema identifier carried in every event (`schema` field). On the bus
/// the CloudEvents `ce_type` header says `intake.ticket_event.v1` (CloudEvents
/// types are reverse-DNS-like names without slashes).
pub const SCHEMA_ID: &str = "intake.ticket_event/v1";

/// Namespace of the UUID v5 event ids: `uuid5(NAMESPACE_URL, "urn:intake:ticket-event")`.
/// Fixed forever: changing it would make every replayed message look new.
pub const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c1b_3b4e_2a0e_5d8f_9f3c_6a1e_0b7d_4c21);

/// The deterministic id of a message: UUID v5 of `channel:channel_message_id`,
/// so a message delivered twice has the same id everywhere.
pub fn event_id(channel: &str, channel_message_id: &str) -> Uuid {
    let name = format!("{channel}:{channel_message_id}");
    Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes())
}

/// A reference to an object in the blob store (attachments, large raw
/// payloads); events carry references, never those bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct BlobRef(pub String);

impl BlobRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Most characters (Unicode scalar values) of [`TicketEvent::text`]. Every
/// adapter refuses (or cuts, where its channel allows) longer texts: the text
/// becomes a Zendesk comment body, which Zendesk limits to about 64 KB, and
/// 10,000 characters are at most 40,000 bytes of UTF-8 (60,000 once escaped
/// as JSON on the bus), well inside both that limit and the bus's record limit.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// The largest bus record the adapters may count on, in bytes: Kafka's
/// default `message.max.bytes` (1,000,000), which the embedded bus applies too.
pub const MAX_RECORD_BYTES: usize = 1_000_000;

/// One customer message, normalised from any channel.
///
/// Readers ignore fields they do not know (no `deny_unknown_fields`): a
/// newer adapter may add an optional field during a rolling upgrade, and an
/// older router must still handle the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    description = "One customer message, normalised from any channel. Readers ignore unknown fields. The whole JSON document is at most 1,000,000 bytes (the bus's record limit)."
)]
pub struct TicketEvent {
    /// Always `intake.ticket_event/v1`.
    pub schema: String,
    /// UUID v5 of `channel:channel_message_id` (see [`event_id`]).
    pub event_id: Uuid,
    /// The channel name (`chat`, `email`, `telegram`, ...).
    pub channel: String,
    /// The message's id on its channel (webhook id, Message-ID, update id, ...).
    pub channel_message_id: String,
    /// When the adapter received the message.
    pub received_at: DateTime<Utc>,
    /// When the customer sent it, if the channel says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    pub contact: Contact,
    #[serde(default)]
    pub conversation: Conversation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Decoded text with quoted history stripped; at most
    /// [`MAX_TEXT_CHARS`] characters.
    #[schemars(length(max = MAX_TEXT_CHARS))]
    pub text: String,
    /// Decoded text including quoted history, when it differs from `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_full: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Files that came with the message but were left out (over a size or
    /// count limit), so the ticket and the acknowledgement can name them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted_attachments: Vec<OmittedAttachment>,
    /// Which of the channel's accounts received the message (the mail
    /// account's name, a bot): replies go out from the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_account: Option<String>,
    /// True for auto-replies, bounces and other machine-sent messages (RFC 3834).
    #[serde(default)]
    pub auto_submitted: bool,
    /// Blob reference of the original payload, byte for byte, when it was
    /// too large to travel inside the event (see `raw_inline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<BlobRef>,
    /// The original payload itself, byte for byte, when it is small (at most
    /// [`MAX_INLINE_RAW_BYTES`](crate::MAX_INLINE_RAW_BYTES)). An adapter
    /// sets either this or `raw`; readers use [`TicketEvent::raw_payload`].
    /// A reader that does not know the field ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_inline: Option<InlineRaw>,
    /// Channel-specific extras with bounded size (page URL, bot name, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Names of optional fields the adapter received but dropped as invalid
    /// (`author.phone`, `sent_at`, ...), so the message itself was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_fields: Vec<String>,
    /// The ticket Zendesk already created itself, in one of its own
    /// channels (its e-mail address, web widget or messaging; decision 54):
    /// the router applies the rulebook to that ticket and creates none.
    /// Only the gateway's Zendesk webhook sets it, on
    /// `<prefix>.events.zendesk`, a topic older routers do not consume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zendesk_ticket: Option<ZendeskTicket>,
}

/// A ticket Zendesk created in one of its own channels
/// ([`TicketEvent::zendesk_ticket`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ZendeskTicket {
    /// The ticket's id in Zendesk.
    pub ticket_id: u64,
    /// Zendesk's `via` channel of the ticket as the trigger rendered it
    /// (`email`, `web_form`, `web_widget`, `messaging`, ...).
    pub via: String,
    /// The ticket's requester in Zendesk.
    pub requester_id: u64,
}

/// Who wrote the message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    /// Normalised contact key (`email:alice@example.com`, `telegram:123`, ...);
    /// the bus partition key, so one customer's messages stay in order.
    /// Derived from the e-mail or phone only when `verified`; otherwise from
    /// the channel's own user id (`chat:<visitor id>`).
    pub key: String,
    /// True only when the channel vouches for `email`/`phone` (a signed
    /// identity from the site's backend, a verified mailbox, a shared
    /// contact). False: `email` and `phone` are what the customer claimed,
    /// and must not be used to merge this contact with an existing one.
    #[serde(default)]
    pub verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164 (`+79991234567`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_user_id: Option<String>,
    /// BCP 47 language tag, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// Where the message sits in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Conversation {
    /// The channel's own thread/conversation/chat id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// The ticket number the message names itself (a `[#1234]` token in a
    /// mail subject). A claim anyone can type: the router attaches the
    /// message to that ticket only when the sender is its requester or CC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_token: Option<u64>,
}

/// A file that came with the message; its bytes are in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    pub blob: BlobRef,
}

/// Why an attachment was left out: `too_large` or `too_many`.
pub const OMITTED_TOO_LARGE: &str = "too_large";
/// See [`OMITTED_TOO_LARGE`].
pub const OMITTED_TOO_MANY: &str = "too_many";

/// A file that came with the message but is not in the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OmittedAttachment {
    pub filename: String,
    /// Size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Why: [`OMITTED_TOO_LARGE`] or [`OMITTED_TOO_MANY`] (readers treat
    /// other values as a reason they cannot word).
    pub reason: String,
    /// The limit it broke (bytes for `too_large`, a count for `too_many`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl TicketEvent {
    /// A minimal event with the deterministic id filled in; adapters set the rest.
    pub fn new(
        channel: &str,
        channel_message_id: &str,
        contact: Contact,
        text: impl Into<String>,
        received_at: DateTime<Utc>,
    ) -> Self {
        Self {
            schema: SCHEMA_ID.to_owned(),
            event_id: event_id(channel, channel_message_id),
            channel: channel.to_owned(),
            channel_message_id: channel_message_id.to_owned(),
            received_at,
            sent_at: None,
            contact,
            conversation: Conversation::default(),
            subject: None,
            text: text.into(),
            text_full: None,
            html: None,
            attachments: Vec::new(),
            omitted_attachments: Vec::new(),
            channel_account: None,
            auto_submitted: false,
            raw: None,
            raw_inline: None,
            metadata: BTreeMap::new(),
            dropped_fields: Vec::new(),
            zendesk_ticket: None,
        }
    }

    /// Serialises to the JSON carried on the bus.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("TicketEvent always serialises")
    }

    /// Parses bus JSON, checking the schema id and that the event id matches
    /// `channel:channel_message_id`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, EventDecodeError> {
        let event: TicketEvent = serde_json::from_slice(bytes)?;
        if event.schema != SCHEMA_ID {
            return Err(EventDecodeError::Schema(event.schema));
        }
        let expected = event_id(&event.channel, &event.channel_message_id);
        if event.event_id != expected {
            return Err(EventDecodeError::EventId {
                found: event.event_id,
                expected,
            });
        }
        Ok(event)
    }
}

/// Why bytes from the bus are not a valid event.
#[derive(Debug, thiserror::Error)]
pub enum EventDecodeError {
    #[error("not a ticket event: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported schema {0:?}, expected {SCHEMA_ID}")]
    Schema(String),
    #[error("event id {found} does not match channel and message id (expected {expected})")]
    EventId { found: Uuid, expected: Uuid },
}

/// The JSON Schema of [`TicketEvent`], as checked in at `docs/schema/ticket_event.v1.json`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(TicketEvent);
    serde_json::to_value(schema).expect("schema serialises")
}
