//! Tickets Zendesk created in its own channels (issue 16 point 6, decision
//! 54): its e-mail address, web widget or messaging. The second trigger
//! `intake zendesk setup` installs fires when a ticket is created other than
//! through the API and posts [`CREATED_TRIGGER_BODY_TEMPLATE`] to the same
//! webhook. The route (signature first, as for comments) records the
//! ticket in the state store (first record wins) and hands it to the router
//! as a ticket event on `<prefix>.events.zendesk` naming the ticket
//! ([`TicketEvent::zendesk_ticket`]); the router applies the rulebook to it
//! and creates no ticket. No acknowledgement goes out (Zendesk answers its
//! own channels) and later agent comments on it are skipped
//! (`zendesk_channel`: Zendesk notifies its own channels itself).

use chrono::{DateTime, Utc};
use intake_event::{Contact, MAX_TEXT_CHARS, TicketEvent, ZendeskTicket};
use intake_store::NativeTicket;
use serde::Deserialize;

use crate::payload::{id, optional_text};

/// The `event` value that tells this body from a comment's.
pub const TICKET_CREATED: &str = "ticket_created";

/// The bus channel (topic `<prefix>.events.zendesk`).
pub const CHANNEL: &str = "zendesk";

/// The JSON body of the "ticket created in a Zendesk channel" trigger's
/// webhook action (docs/agent-replies.md): `intake zendesk setup` installs
/// exactly this.
pub const CREATED_TRIGGER_BODY_TEMPLATE: &str = r#"{
  "event": "ticket_created",
  "ticket_id": "{{ticket.id}}",
  "via": "{{ticket.via}}",
  "requester_id": "{{ticket.requester.id}}",
  "requester_name": "{{ticket.requester.name}}",
  "requester_email": "{{ticket.requester.email}}",
  "subject": "{{ticket.title}}",
  "description": "{{ticket.description}}"
}"#;

/// A ticket Zendesk created, as the trigger's body template sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatedEvent {
    /// Always [`TICKET_CREATED`].
    pub event: String,
    #[serde(deserialize_with = "id")]
    pub ticket_id: u64,
    /// Zendesk's channel of the ticket (`{{ticket.via}}`: `Mail`, `Web
    /// Widget`, ...), normalised by [`CreatedEvent::via`].
    pub via: String,
    #[serde(deserialize_with = "id")]
    pub requester_id: u64,
    #[serde(default, deserialize_with = "optional_text")]
    pub requester_name: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub requester_email: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub subject: Option<String>,
    /// The ticket's first comment.
    #[serde(default)]
    pub description: String,
}

impl CreatedEvent {
    /// The via channel in lower case with `_` for spaces and dashes
    /// (`Web Widget` → `web_widget`); `mail` is spelled `email`.
    pub fn via(&self) -> String {
        let via: String = self
            .via
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| if c == ' ' || c == '-' { '_' } else { c })
            .collect();
        match via.as_str() {
            "mail" => "email".to_owned(),
            "" => "unknown".to_owned(),
            _ => via,
        }
    }

    /// Made through the API: intake's own ticket or another integration's,
    /// never one of Zendesk's own channels (the trigger excludes them too).
    pub fn through_api(&self) -> bool {
        matches!(self.via().as_str(), "api" | "web_service")
    }

    /// The store's record, received at `at`.
    pub fn record(&self, at: DateTime<Utc>) -> NativeTicket {
        NativeTicket {
            ticket_id: self.ticket_id,
            via_channel: self.via(),
            requester_id: self.requester_id,
            requester_email: self.requester_email.clone(),
            subject: self.subject.clone(),
            text: self.text(),
            received_at: at,
        }
    }

    /// The description, cut to the event's limit.
    fn text(&self) -> String {
        self.description
            .trim()
            .chars()
            .take(MAX_TEXT_CHARS)
            .collect()
    }
}

/// The event the router gets for `ticket`: its own conversation
/// (`ticket:<id>`, so one claim per ticket), the requester as contact (the
/// e-mail unverified: Zendesk's mailbox vouches for nothing to us).
pub fn event_for(ticket: &NativeTicket) -> TicketEvent {
    let contact = Contact {
        key: format!("zendesk:{}", ticket.requester_id),
        email: ticket.requester_email.clone(),
        ..Contact::default()
    };
    let message_id = format!("ticket:{}", ticket.ticket_id);
    let mut event = TicketEvent::new(
        CHANNEL,
        &message_id,
        contact,
        ticket.text.clone(),
        ticket.received_at,
    );
    event.conversation.thread_id = Some(message_id);
    event.subject.clone_from(&ticket.subject);
    event.zendesk_ticket = Some(ZendeskTicket {
        ticket_id: ticket.ticket_id,
        via: ticket.via_channel.clone(),
        requester_id: ticket.requester_id,
    });
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = r#"{"event":"ticket_created","ticket_id":"812","via":"Mail",
        "requester_id":"42","requester_name":"Ann","requester_email":"ann@example.com",
        "subject":"Invoice","description":" Where is my invoice? "}"#;

    #[test]
    fn the_documented_template_is_the_one_setup_installs() {
        let doc = include_str!("../../../docs/agent-replies.md");
        assert!(
            doc.contains(CREATED_TRIGGER_BODY_TEMPLATE),
            "docs/agent-replies.md drifted"
        );
    }

    #[test]
    fn placeholders_as_text_are_read_and_the_via_normalised() {
        let created: CreatedEvent = serde_json::from_str(CREATED).unwrap();
        assert_eq!((created.ticket_id, created.requester_id), (812, 42));
        assert_eq!(created.via(), "email");
        assert!(!created.through_api());
        let widget = CREATED.replace(r#""Mail""#, r#""Web Widget""#);
        let widget: CreatedEvent = serde_json::from_str(&widget).unwrap();
        assert_eq!(widget.via(), "web_widget");
        let api: CreatedEvent =
            serde_json::from_str(&CREATED.replace(r#""Mail""#, r#""Web Service""#)).unwrap();
        assert!(api.through_api());
        let at = Utc::now();
        let event = event_for(&created.record(at));
        assert_eq!(event.channel, "zendesk");
        assert_eq!(event.text, "Where is my invoice?");
        assert_eq!(event.conversation.thread_id.as_deref(), Some("ticket:812"));
        assert_eq!(
            event.zendesk_ticket,
            Some(ZendeskTicket {
                ticket_id: 812,
                via: "email".into(),
                requester_id: 42
            })
        );
        // A redelivery makes the same event id, whenever it comes.
        assert_eq!(
            event.event_id,
            event_for(&created.record(at + chrono::Duration::hours(1))).event_id
        );
    }

    #[test]
    fn empty_placeholders_are_absent_and_unknown_keys_refused() {
        let bare = CREATED
            .replace(r#""ann@example.com""#, r#""""#)
            .replace(r#""Invoice""#, r#""  ""#);
        let bare: CreatedEvent = serde_json::from_str(&bare).unwrap();
        assert_eq!((bare.requester_email, bare.subject), (None, None));
        assert!(
            serde_json::from_str::<CreatedEvent>(&CREATED.replace("\"via\"", "\"vía\"")).is_err()
        );
        assert!(
            serde_json::from_str::<CreatedEvent>(&CREATED.replace(r#""812""#, r#""x""#)).is_err()
        );
    }
}
