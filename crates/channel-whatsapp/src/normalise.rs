//! Pure: a Cloud API webhook payload to one event per message, no I/O.
//!
//! A payload (`object: whatsapp_business_account`) holds `entry[]`, each
//! with `changes[]`; a change with `field: messages` has a `value` with the
//! receiving number (`metadata.phone_number_id`), the senders' profiles
//! (`contacts[]`), the messages (`messages[]`) and delivery notices
//! (`statuses[]`). Every message becomes one event whose message id is its
//! `wamid` (so Meta's redelivery makes no second ticket); statuses are
//! ignored and counted. A message type this adapter does not read is kept as
//! a note naming its type, never dropped. Media are named in
//! [`MediaRef`]s, downloaded later by [`crate::media`].

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use intake_channel::webhook::{Normalised, Rejection};
use intake_channel::{RejectReason, TicketEvent};
use intake_event::{Contact, ContactKey};
use serde_json::Value;

/// The channel name (topics `<prefix>.events.whatsapp`, metric label).
pub const CHANNEL: &str = "whatsapp";

/// The media types whose file is fetched through the media endpoint.
const MEDIA_TYPES: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

/// A media object of a message, to download by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// The media id (`GET /{media-id}` gives its URL).
    pub id: String,
    /// The file name on the ticket (`document.filename`, else `<type>-<id>`).
    pub filename: String,
    /// The declared MIME type.
    pub mime_type: String,
}

/// A payload's messages, one event each, how many status notices it held,
/// and the malformed messages set aside beside good ones.
#[derive(Debug)]
pub struct Payload {
    pub messages: Vec<Normalised<Vec<MediaRef>>>,
    pub statuses: usize,
    /// Why each malformed message was left out (the field, never content).
    /// A message that can never be read is not worth Meta's retries, and
    /// refusing the delivery for it would, after Meta's retry period, lose
    /// the good messages beside it. A delivery with nothing good in it is
    /// still refused.
    pub skipped: Vec<Rejection>,
}

/// One event per message of `body`; none for a payload of statuses only.
pub fn normalise(body: &[u8], received_at: DateTime<Utc>) -> Result<Payload, Rejection> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::new(RejectReason::BadJson, format!("body is not JSON: {e}")))?;
    let schema = |message: String| Rejection::new(RejectReason::Schema, message);
    let entries = value["entry"]
        .as_array()
        .ok_or_else(|| schema("entry: an array".to_owned()))?;
    let (mut out, mut statuses, mut skipped) = (Vec::new(), 0, Vec::new());
    for (e, entry) in entries.iter().enumerate() {
        let Some(changes) = entry["changes"].as_array() else {
            return Err(schema(format!("entry[{e}].changes: an array")));
        };
        for (c, change) in changes.iter().enumerate() {
            let at = format!("entry[{e}].changes[{c}].value");
            let value = &change["value"];
            statuses += value["statuses"].as_array().map_or(0, Vec::len);
            let Some(messages) = value["messages"].as_array() else {
                continue;
            };
            let phone_number_id = value["metadata"]["phone_number_id"]
                .as_str()
                .ok_or_else(|| schema(format!("{at}.metadata.phone_number_id: a string")))?;
            let profiles = Profiles::of(value);
            for (m, message) in messages.iter().enumerate() {
                let at = format!("{at}.messages[{m}]");
                match one(message, &at, phone_number_id, &profiles, received_at) {
                    Ok(normalised) => out.push(normalised),
                    Err(rejection) => skipped.push(rejection),
                }
            }
        }
    }
    if out.is_empty() && !skipped.is_empty() {
        return Err(skipped.remove(0));
    }
    Ok(Payload {
        messages: out,
        statuses,
        skipped,
    })
}

/// The senders' profile names by `wa_id` (`contacts[].profile.name`).
struct Profiles<'a> {
    names: HashMap<&'a str, &'a Value>,
}

impl<'a> Profiles<'a> {
    fn of(value: &'a Value) -> Self {
        let names = value["contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| Some((c["wa_id"].as_str()?, &c["profile"]["name"])))
            .collect();
        Self { names }
    }
}

fn one(
    message: &Value,
    at: &str,
    phone_number_id: &str,
    profiles: &Profiles<'_>,
    received_at: DateTime<Utc>,
) -> Result<Normalised<Vec<MediaRef>>, Rejection> {
    let required = |field: &str| {
        message[field]
            .as_str()
            .filter(|text| !text.trim().is_empty())
            .ok_or_else(|| {
                Rejection::new(
                    RejectReason::Schema,
                    format!("{at}.{field}: a non-empty string"),
                )
            })
    };
    let (wamid, from) = (required("id")?, required("from")?);
    let kind = message["type"].as_str().unwrap_or("unknown");
    // A `wa_id` is the number in international form without the `+`.
    let number = format!("+{}", from.trim_start_matches('+'));
    let key = match ContactKey::phone(&number) {
        Ok(key) => key,
        Err(_) => ContactKey::channel_user(CHANNEL, from)
            .map_err(|e| Rejection::new(RejectReason::Schema, format!("{at}.from: {e}")))?,
    };
    // Meta vouches for the number: a WhatsApp account is its phone's, and
    // the delivery is signed. So the key is the phone, shared with other
    // channels that know the same person by it.
    let contact = Contact {
        key: key.into_string(),
        verified: true,
        phone: intake_event::normalise_phone(&number).ok(),
        channel_user_id: Some(from.to_owned()),
        ..Contact::default()
    };
    let (text, media) = content(kind, message);
    let mut event = TicketEvent::new(CHANNEL, wamid, contact, text, received_at);
    event.conversation.thread_id = Some(format!("{phone_number_id}:{from}"));
    event.conversation.in_reply_to = message["context"]["id"].as_str().map(str::to_owned);
    event.sent_at = message["timestamp"]
        .as_str()
        .and_then(|secs| secs.parse::<i64>().ok())
        .and_then(|secs| Utc.timestamp_opt(secs, 0).single());
    event
        .metadata
        .insert("whatsapp.type".to_owned(), kind.to_owned());
    event.metadata.insert(
        "whatsapp.phone_number_id".to_owned(),
        phone_number_id.to_owned(),
    );
    let mut dropped = Vec::new();
    match profiles.names.get(from) {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => event.contact.name = Some(name.clone()),
        Some(_) => {
            dropped.push("contacts.profile.name");
            event
                .dropped_fields
                .push("contacts.profile.name".to_owned());
        }
    }
    Ok(Normalised {
        dropped,
        ..Normalised::new(event, media)
    })
}

/// The text of a message of type `kind`, and its media to download.
fn content(kind: &str, message: &Value) -> (String, Vec<MediaRef>) {
    let body = &message[kind];
    let str_of = |v: &Value| v.as_str().unwrap_or_default().trim().to_owned();
    let text = match kind {
        "text" => str_of(&body["body"]),
        _ if MEDIA_TYPES.contains(&kind) => {
            let caption = str_of(&body["caption"]);
            let Some(id) = body["id"].as_str() else {
                return (unread(kind), Vec::new());
            };
            let filename = body["filename"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{kind}-{id}"));
            let media = MediaRef {
                id: id.to_owned(),
                filename: filename.clone(),
                mime_type: body["mime_type"]
                    .as_str()
                    .unwrap_or("application/octet-stream")
                    .to_owned(),
            };
            let text = if caption.is_empty() {
                format!("[{kind}: {filename}]")
            } else {
                caption
            };
            return (text, vec![media]);
        }
        "location" => {
            let place = [str_of(&body["name"]), str_of(&body["address"])]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "Location: {place} ({}, {})",
                body["latitude"], body["longitude"]
            )
        }
        "contacts" => {
            let shared: Vec<String> = body
                .as_array()
                .into_iter()
                .flatten()
                .map(|card| {
                    let phones: Vec<String> = card["phones"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| str_of(&p["phone"]))
                        .collect();
                    format!(
                        "{} {}",
                        str_of(&card["name"]["formatted_name"]),
                        phones.join(", ")
                    )
                })
                .collect();
            format!("Shared contact: {}", shared.join("; "))
        }
        "interactive" => {
            let reply = &body[body["type"].as_str().unwrap_or_default()];
            str_of(&reply["title"])
        }
        "button" => str_of(&body["text"]),
        "reaction" => format!(
            "Reaction {} to message {}",
            str_of(&body["emoji"]),
            str_of(&body["message_id"])
        ),
        _ => String::new(),
    };
    if text.trim().is_empty() {
        (unread(kind), Vec::new())
    } else {
        (text, Vec::new())
    }
}

/// The note kept for a message this adapter cannot read.
fn unread(kind: &str) -> String {
    format!(
        "[WhatsApp message of type \"{kind}\" that intake does not read; the raw payload is attached]"
    )
}
