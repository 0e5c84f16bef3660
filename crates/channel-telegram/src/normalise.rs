//! Pure: a Bot API `Update` to a ticket event, or the reason it makes none.
//! No I/O: files are listed as [`FileRef`]s and fetched by the channel's
//! completion step (`getFile`).
//!
//! - `message` and `edited_message` are read; every other update kind is
//!   ignored (counted, answered 200 so Telegram does not redeliver it).
//! - The event id comes from the bot, the chat and the message id (plus the
//!   edit date for an edit), so a redelivered update, or the same message
//!   seen by long polling, is the same event.
//! - The conversation is the chat (a private chat or the group); the
//!   contact is the person who wrote, `telegram:<user id>`.
//! - The contact is `verified`: its key is the user id Telegram
//!   authenticated (the secret header proves the update is Telegram's), and
//!   it carries no typed e-mail or phone. So in a group every writer follows
//!   the group's ticket (decision 21 keeps unverified writers apart).
//! - A contact card the writer shared of themselves (`contact.user_id` is
//!   the sender: Telegram's "share my phone number" button) puts the phone
//!   on the requester (Telegram vouches for it); anyone else's card stays in
//!   the text only, never on the requester.

use chrono::{DateTime, TimeZone, Utc};
use intake_channel::webhook::{Normalised, Rejection};
use intake_channel::{RejectReason, TicketEvent};
use intake_event::{Contact, ContactKey, MAX_TEXT_CHARS};
use serde_json::Value;

use crate::config::GroupMessages;

/// The channel name (topics `<prefix>.events.telegram`, metric label).
pub const CHANNEL: &str = "telegram";

/// What the normaliser needs from the configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The bot's name in the path and in event ids.
    pub bot: String,
    /// The bot's username, lower-cased, without `@`.
    pub bot_username: Option<String>,
    pub group_messages: GroupMessages,
}

/// A file of the message, to be fetched with `getFile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub file_id: String,
    /// `photo`, `document`, `voice`, `video`.
    pub kind: &'static str,
    pub filename: String,
    pub content_type: String,
    /// The size Telegram declares, when it does.
    pub size: Option<u64>,
}

/// Why an update makes no event (the `reason` label of
/// `intake_telegram_updates_ignored_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// `/start`: the user opened the bot.
    Start,
    /// A group message neither mentioning nor answering the bot.
    NotAddressed,
    /// An update kind the channel does not take (channel posts, polls, ...).
    Unsupported,
    /// A message with no text, caption, file or contact (a sticker, a
    /// member joining).
    Empty,
}

impl Ignored {
    pub const ALL: [Ignored; 4] = [
        Ignored::Start,
        Ignored::NotAddressed,
        Ignored::Unsupported,
        Ignored::Empty,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::Start => "start",
            Ignored::NotAddressed => "not_addressed",
            Ignored::Unsupported => "unsupported",
            Ignored::Empty => "empty",
        }
    }
}

/// The outcome of reading an update.
#[derive(Debug)]
pub enum Update {
    /// A message for a ticket.
    Message(Box<Normalised<Vec<FileRef>>>),
    /// No ticket.
    Ignored(Ignored),
}

fn schema(message: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::Schema, message)
}

/// Reads `body`, an `Update`, received at `received_at`.
pub fn normalise(
    rules: &Rules,
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<Update, Rejection> {
    let update: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::new(RejectReason::BadJson, format!("body is not JSON: {e}")))?;
    if !update["update_id"].is_i64() {
        return Err(schema("update_id: an integer"));
    }
    let (message, edited) = match (&update["message"], &update["edited_message"]) {
        (Value::Object(_), _) => (&update["message"], false),
        (_, Value::Object(_)) => (&update["edited_message"], true),
        _ => return Ok(Update::Ignored(Ignored::Unsupported)),
    };
    let chat_id = message["chat"]["id"]
        .as_i64()
        .ok_or_else(|| schema("message.chat.id: an integer"))?;
    let message_id = message["message_id"]
        .as_i64()
        .ok_or_else(|| schema("message.message_id: an integer"))?;
    let from = &message["from"];
    let Some(user_id) = from["id"].as_i64() else {
        // Channel posts and anonymous group admins have no person to answer.
        return Ok(Update::Ignored(Ignored::Unsupported));
    };
    let chat_type = message["chat"]["type"].as_str().unwrap_or("private");
    let in_group = matches!(chat_type, "group" | "supergroup");
    let text = message["text"]
        .as_str()
        .or_else(|| message["caption"].as_str())
        .unwrap_or_default();
    if is_start(text) && !edited {
        return Ok(Update::Ignored(Ignored::Start));
    }
    if in_group
        && rules.group_messages == GroupMessages::Mentions
        && !addressed(rules, message, text)
    {
        return Ok(Update::Ignored(Ignored::NotAddressed));
    }

    let mut dropped = Vec::new();
    let files = files(message, &mut dropped);
    let mut contact = Contact {
        key: ContactKey::channel_user(CHANNEL, &user_id.to_string())
            .map_err(|e| schema(format!("message.from.id: {e}")))?
            .into_string(),
        channel_user_id: Some(user_id.to_string()),
        name: full_name(from),
        locale: from["language_code"].as_str().map(str::to_owned),
        verified: true,
        ..Contact::default()
    };
    let mut lines = Vec::new();
    if !text.trim().is_empty() {
        lines.push(text.to_owned());
    }
    if let Value::Object(card) = &message["contact"] {
        let number = card
            .get("phone_number")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let own = card.get("user_id").and_then(Value::as_i64) == Some(user_id);
        match ContactKey::phone(number) {
            Ok(key) if own => {
                let e164 = key.as_str().trim_start_matches("phone:").to_owned();
                lines.push(format!("Shared their phone number: {e164}"));
                contact.phone = Some(e164);
            }
            Ok(key) => {
                let e164 = key.as_str().trim_start_matches("phone:");
                let name = full_name(&Value::Object(card.clone())).unwrap_or_default();
                lines.push(format!("Shared a contact: {name} {e164}"));
            }
            Err(_) => {
                dropped.push("contact.phone_number");
                lines.push("Shared a contact with an unreadable phone number".to_owned());
            }
        }
    }
    if lines.is_empty() && files.is_empty() {
        return Ok(Update::Ignored(Ignored::Empty));
    }
    if lines.is_empty() {
        lines.push(format!("({} without caption)", files[0].kind));
    }
    let mut channel_message_id = format!("{}:{chat_id}:{message_id}", rules.bot);
    if edited {
        let edit_date = message["edit_date"].as_i64().unwrap_or_default();
        channel_message_id.push_str(&format!(":edited:{edit_date}"));
        lines.insert(
            0,
            "(The customer edited an earlier message; the new text:)".to_owned(),
        );
    }
    let text: String = lines.join("\n").chars().take(MAX_TEXT_CHARS).collect();
    let mut event = TicketEvent::new(CHANNEL, &channel_message_id, contact, text, received_at);
    event.sent_at = message["date"]
        .as_i64()
        .and_then(|secs| Utc.timestamp_opt(secs, 0).single());
    event.conversation.thread_id = Some(chat_id.to_string());
    if let Some(replied) = message["reply_to_message"]["message_id"].as_i64() {
        event.conversation.in_reply_to = Some(format!("{}:{chat_id}:{replied}", rules.bot));
    }
    let metadata = [
        ("telegram_bot", rules.bot.clone()),
        ("telegram_chat_id", chat_id.to_string()),
        ("telegram_chat_type", chat_type.to_owned()),
        ("telegram_message_id", message_id.to_string()),
    ];
    for (key, value) in metadata {
        event.metadata.insert(key.to_owned(), value);
    }
    if let Some(title) = message["chat"]["title"].as_str() {
        event
            .metadata
            .insert("telegram_chat_title".to_owned(), title.to_owned());
    }
    if let Some(username) = from["username"].as_str() {
        event
            .metadata
            .insert("telegram_username".to_owned(), username.to_owned());
    }
    event.dropped_fields = dropped.iter().map(|field| (*field).to_owned()).collect();
    Ok(Update::Message(Box::new(Normalised {
        dropped,
        ..Normalised::new(event, files)
    })))
}

/// `/start` or `/start@bot`, with or without a deep-link parameter.
fn is_start(text: &str) -> bool {
    let command = text.split_whitespace().next().unwrap_or_default();
    command == "/start" || command.starts_with("/start@")
}

/// True when a group message mentions the bot or replies to it.
fn addressed(rules: &Rules, message: &Value, text: &str) -> bool {
    let Some(username) = &rules.bot_username else {
        return false;
    };
    let replied_to = message["reply_to_message"]["from"]["username"]
        .as_str()
        .map(str::to_lowercase);
    if replied_to.as_deref() == Some(username.as_str()) {
        return true;
    }
    let mention = format!("@{username}");
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '@'))
        .any(|word| word == mention)
}

fn full_name(person: &Value) -> Option<String> {
    let first = person["first_name"].as_str().unwrap_or_default();
    let last = person["last_name"].as_str().unwrap_or_default();
    let name = format!("{first} {last}").trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// The files of a message: the largest photo size, a document, a voice
/// note, a video. One without a `file_id` is dropped and named.
fn files(message: &Value, dropped: &mut Vec<&'static str>) -> Vec<FileRef> {
    let mut files = Vec::new();
    let mut add = |kind: &'static str, value: &Value, filename: String, mime: &str| {
        let Some(file_id) = value["file_id"].as_str().filter(|id| !id.is_empty()) else {
            dropped.push(kind);
            return;
        };
        files.push(FileRef {
            file_id: file_id.to_owned(),
            kind,
            filename: value["file_name"].as_str().map_or(filename, str::to_owned),
            content_type: value["mime_type"].as_str().unwrap_or(mime).to_owned(),
            size: value["file_size"].as_u64(),
        });
    };
    if let Some(largest) = message["photo"].as_array().and_then(|sizes| sizes.last()) {
        add("photo", largest, "photo.jpg".to_owned(), "image/jpeg");
    }
    if message["document"].is_object() {
        add(
            "document",
            &message["document"],
            "document".to_owned(),
            "application/octet-stream",
        );
    }
    if message["voice"].is_object() {
        add(
            "voice",
            &message["voice"],
            "voice.ogg".to_owned(),
            "audio/ogg",
        );
    }
    if message["video"].is_object() {
        add(
            "video",
            &message["video"],
            "video.mp4".to_owned(),
            "video/mp4",
        );
    }
    files
}
