//! Pure: an Events API delivery to its event, no I/O.
//!
//! An `event_callback` carries one `event`; a `message` becomes a ticket
//! event when it is a direct message to the app (`channel_type: im`) or
//! was posted in one of the configured support channels. Its message id is
//! the delivery's `event_id`, which Slack keeps on every retry. A thread
//! reply belongs to its thread: the conversation is
//! `<team>:<channel>:<thread_ts>`, the same as for the thread's first
//! message (whose `ts` is the `thread_ts`). Messages of bots (`bot_id`,
//! `subtype: bot_message`), the app's own (its user id from
//! `authorizations`, or `bot_user_id`), edits, joins and other events are
//! ignored and counted, so the app's replies never loop back.

use chrono::{DateTime, TimeZone, Utc};
use intake_channel::webhook::{Normalised, Rejection};
use intake_channel::{RejectReason, TicketEvent};
use intake_event::{Contact, ContactKey};
use serde_json::Value;

/// The channel name (topics `<prefix>.events.slack`, metric label).
pub const CHANNEL: &str = "slack";

/// Message subtypes that are a person's message.
const PERSON_SUBTYPES: [&str; 3] = ["file_share", "thread_broadcast", "me_message"];

/// What the rules need besides the body.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Channel ids whose messages become tickets (besides direct messages).
    pub support_channels: Vec<String>,
    /// The app's own user id, when configured.
    pub bot_user_id: Option<String>,
}

/// What a delivery is.
#[derive(Debug)]
pub enum Delivery {
    /// A customer message.
    Message(Box<Normalised<()>>),
    /// Left out on purpose; the `kind` label of the counter.
    Ignored(&'static str),
}

/// The delivery of `body`.
pub fn normalise(
    body: &[u8],
    scope: &Scope,
    received_at: DateTime<Utc>,
) -> Result<Delivery, Rejection> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::new(RejectReason::BadJson, format!("body is not JSON: {e}")))?;
    let schema = |m: &str| Rejection::new(RejectReason::Schema, m.to_owned());
    if value["type"].as_str() != Some("event_callback") {
        return Ok(Delivery::Ignored("other_event"));
    }
    let event = &value["event"];
    if event["type"].as_str() != Some("message") {
        return Ok(Delivery::Ignored("other_event"));
    }
    let subtype = event["subtype"].as_str();
    if event.get("bot_id").is_some_and(|b| !b.is_null()) || subtype == Some("bot_message") {
        return Ok(Delivery::Ignored("bot_message"));
    }
    if subtype.is_some_and(|s| !PERSON_SUBTYPES.contains(&s)) {
        return Ok(Delivery::Ignored("other_event"));
    }
    let required = |v: &Value, m: &str| {
        v.as_str()
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| schema(m))
    };
    let event_id = required(&value["event_id"], "event_id: a non-empty string")?;
    let team = required(&value["team_id"], "team_id: a non-empty string")?;
    let user = required(&event["user"], "event.user: a non-empty string")?;
    let channel = required(&event["channel"], "event.channel: a non-empty string")?;
    let ts = required(&event["ts"], "event.ts: a non-empty string")?;
    let own = value["authorizations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["user_id"].as_str())
        .any(|id| id == user);
    if own || scope.bot_user_id.as_deref() == Some(user.as_str()) {
        return Ok(Delivery::Ignored("own_message"));
    }
    let direct = event["channel_type"].as_str() == Some("im");
    if !direct && !scope.support_channels.contains(&channel) {
        return Ok(Delivery::Ignored("other_channel"));
    }

    let key = ContactKey::channel_user(CHANNEL, &format!("{team}:{user}"))
        .map_err(|e| schema(&format!("event.user: {e}")))?;
    // Slack vouches for the user: the id comes from its signed delivery
    // and belongs to a member of the workspace. Verified, a thread reply by
    // another member joins the thread's ticket (the router keeps
    // unverified strangers out of others' tickets).
    let contact = Contact {
        key: key.into_string(),
        verified: true,
        channel_user_id: Some(user.clone()),
        ..Contact::default()
    };
    let mut text = event["text"].as_str().unwrap_or_default().trim().to_owned();
    let files: Vec<&str> = event["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    if !files.is_empty() {
        text.push_str(&format!(
            "\n\n[files shared in Slack: {}]",
            files.join(", ")
        ));
    }
    if text.trim().is_empty() {
        text = "[an empty Slack message]".to_owned();
    }
    let mut dropped = Vec::new();
    let thread_ts = match &event["thread_ts"] {
        Value::Null => None,
        Value::String(t) if !t.trim().is_empty() => Some(t.clone()),
        _ => {
            dropped.push("event.thread_ts");
            None
        }
    };
    let mut ticket = TicketEvent::new(CHANNEL, &event_id, contact, text.trim(), received_at);
    let root = thread_ts.clone().unwrap_or_else(|| ts.clone());
    ticket.conversation.thread_id = Some(format!("{team}:{channel}:{root}"));
    ticket.conversation.in_reply_to = thread_ts.filter(|t| *t != ts);
    ticket.sent_at = slack_time(&ts);
    for (name, value) in [
        ("slack.channel", &channel),
        ("slack.ts", &ts),
        ("slack.team", &team),
    ] {
        ticket.metadata.insert(name.to_owned(), value.clone());
    }
    ticket
        .metadata
        .insert("slack.direct".to_owned(), direct.to_string());
    ticket.dropped_fields = dropped.iter().map(|d| (*d).to_owned()).collect();
    Ok(Delivery::Message(Box::new(Normalised {
        dropped,
        ..Normalised::new(ticket, ())
    })))
}

/// `1749416383.000200` to a time.
fn slack_time(ts: &str) -> Option<DateTime<Utc>> {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    let nanos = micros.parse::<u32>().ok()?.checked_mul(1000)?;
    Utc.timestamp_opt(secs.parse().ok()?, nanos).single()
}
