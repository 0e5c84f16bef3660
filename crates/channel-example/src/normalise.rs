//! Pure: the body to a ticket event, no I/O. `id` and `from` and `text` are
//! required (422 naming the field); `name` is optional and dropped (and
//! named in `dropped_fields`) when it is not a string.

use chrono::{DateTime, Utc};
use intake_channel::webhook::{Normalised, Rejection};
use intake_channel::{RejectReason, TicketEvent};
use intake_event::{Contact, ContactKey};
use serde_json::Value;

/// The channel name (topics `<prefix>.events.example`, metric label).
pub const CHANNEL: &str = "example";

/// The event for `body`, received at `received_at`.
pub fn normalise(body: &[u8], received_at: DateTime<Utc>) -> Result<Normalised<()>, Rejection> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::new(RejectReason::BadJson, format!("body is not JSON: {e}")))?;
    let required = |field: &str| {
        value[field]
            .as_str()
            .filter(|text| !text.trim().is_empty())
            .ok_or_else(|| {
                Rejection::new(RejectReason::Schema, format!("{field}: a non-empty string"))
            })
    };
    let (id, from, text) = (required("id")?, required("from")?, required("text")?);
    let key = ContactKey::channel_user(CHANNEL, from)
        .map_err(|e| Rejection::new(RejectReason::Schema, format!("from: {e}")))?;
    let contact = Contact {
        key: key.into_string(),
        channel_user_id: Some(from.to_owned()),
        ..Contact::default()
    };
    let mut event = TicketEvent::new(CHANNEL, id, contact, text, received_at);
    let mut dropped = Vec::new();
    match &value["name"] {
        Value::Null => {}
        Value::String(name) => event.contact.name = Some(name.clone()),
        _ => {
            dropped.push("name");
            event.dropped_fields.push("name".to_owned());
        }
    }
    Ok(Normalised {
        dropped,
        ..Normalised::new(event, ())
    })
}
