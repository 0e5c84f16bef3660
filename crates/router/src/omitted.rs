//! Attachments a channel left out (over its size or count limit) are named
//! on the new ticket as an internal note, so agents know what the customer
//! sent that the ticket does not hold (the customer is told in the
//! acknowledgement, see `crates/ack`).
//!
//! The note is a second update after the ticket's creation, made replay-safe
//! like any comment: it has an id of its own (UUID v5 of the event id and
//! [`NOTE_ID_NAME`]) under which the state store records it, and it goes
//! through the safe comment path (`comment.rs`). A crash after the ticket
//! and before the note replays the event: the ticket is a recorded
//! duplicate, and the note is added then (once).

use intake_event::{OMITTED_TOO_LARGE, OMITTED_TOO_MANY, OmittedAttachment, TicketEvent};
use intake_store::Effect;
use intake_zendesk::Status;
use uuid::Uuid;

use crate::options::ChannelRoute;
use crate::process::{CommentResult, Draft, Failure, NoteKind, Outcome, Processor, Stamp};
use crate::recover::Recovered;

/// What the note's id is derived from (with the event id).
pub const NOTE_ID_NAME: &[u8] = b"intake:omitted-attachments-note";

/// `bytes` in the largest unit that keeps it above 1 (`25 MB`, `900 KB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if value >= 10.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn reason_text(omitted: &OmittedAttachment) -> String {
    match (omitted.reason.as_str(), omitted.limit) {
        (OMITTED_TOO_LARGE, Some(limit)) => {
            format!("larger than the limit of {}", human_bytes(limit))
        }
        (OMITTED_TOO_LARGE, None) => "too large".to_owned(),
        (OMITTED_TOO_MANY, Some(limit)) => format!("more than {limit} attachments in one message"),
        (OMITTED_TOO_MANY, None) => "too many attachments in one message".to_owned(),
        (other, _) => other.replace('_', " "),
    }
}

/// The note's text, None when nothing was left out.
pub fn note_text(event: &TicketEvent) -> Option<String> {
    if event.omitted_attachments.is_empty() {
        return None;
    }
    let lines: Vec<String> = event
        .omitted_attachments
        .iter()
        .map(|omitted| {
            let size = omitted
                .size
                .map(|s| format!(" ({})", human_bytes(s)))
                .unwrap_or_default();
            format!("- {}{size}: {}", omitted.filename, reason_text(omitted))
        })
        .collect();
    let kept = if event.raw.is_some() || event.raw_inline.is_some() {
        " The original message is kept by intake whole (its raw copy), with them."
    } else {
        ""
    };
    Some(format!(
        "Attachments left out of this message, not on the ticket; the sender was told in \
         the acknowledgement:{kept}\n{}",
        lines.join("\n")
    ))
}

impl Processor {
    /// Adds the omitted-attachments note to the ticket `outcome` opened
    /// (also on a duplicate: a crash may have come between ticket and note).
    pub(crate) async fn note_omitted_attachments(
        &self,
        route: &ChannelRoute,
        event: &TicketEvent,
        outcome: &Outcome,
    ) -> Result<(), Failure> {
        let ticket_id = match *outcome {
            Outcome::Created { ticket_id, .. } => ticket_id,
            Outcome::Duplicate(link)
                if matches!(link.effect, Effect::Created | Effect::FollowUp) =>
            {
                link.ticket_id
            }
            _ => return Ok(()),
        };
        let Some(text) = note_text(event) else {
            return Ok(());
        };
        let mut note = event.clone();
        note.event_id = Uuid::new_v5(&event.event_id, NOTE_ID_NAME);
        note.text = text;
        note.attachments.clear();
        if self.store.ticket_for_event(note.event_id).await?.is_some() {
            return Ok(());
        }
        let Some(ticket) = self.ticket_if_exists(ticket_id).await? else {
            return Ok(());
        };
        if ticket.status == Status::Closed {
            return Ok(());
        }
        let current = Some((ticket.id, ticket.status));
        let stamp = match self.recover(note.event_id, None, current).await? {
            Recovered::Done(_) => return Ok(()),
            Recovered::Resend(value) => Some(Stamp {
                value,
                resend: true,
            }),
            Recovered::Nothing => crate::conversation::stamp_of(&ticket).map(|value| Stamp {
                value,
                resend: false,
            }),
        };
        let draft = Draft {
            route,
            event: &note,
            requester: crate::requester::Who::Known(0),
            upload_token: None,
            conversation: None,
            deadline: None,
            stamp,
            note: Some(NoteKind::Plain),
            mention: None,
            comment_tags: Vec::new(),
        };
        match self.comment(&draft, ticket_id).await? {
            CommentResult::Added(_)
            | CommentResult::TicketClosed
            | CommentResult::TicketGone
            | CommentResult::AuthorGone(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use intake_event::Contact;

    #[test]
    fn sizes_are_said_in_a_readable_unit() {
        assert_eq!(human_bytes(900), "900 bytes");
        assert_eq!(human_bytes(1536), "1.5 KB");
        assert_eq!(human_bytes(26_214_400), "25 MB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GB");
    }

    #[test]
    fn the_note_names_each_file_and_why() {
        let mut event = TicketEvent::new("email", "m", Contact::default(), "hi", Utc::now());
        assert_eq!(note_text(&event), None);
        event.omitted_attachments = vec![
            OmittedAttachment {
                filename: "scan.tiff".to_owned(),
                size: Some(31_457_280),
                reason: OMITTED_TOO_LARGE.to_owned(),
                limit: Some(26_214_400),
            },
            OmittedAttachment {
                filename: "page-51.png".to_owned(),
                size: None,
                reason: OMITTED_TOO_MANY.to_owned(),
                limit: Some(50),
            },
        ];
        let text = note_text(&event).unwrap();
        assert!(
            text.contains("- scan.tiff (30 MB): larger than the limit of 25 MB"),
            "{text}"
        );
        assert!(
            text.contains("- page-51.png: more than 50 attachments in one message"),
            "{text}"
        );
    }
}
