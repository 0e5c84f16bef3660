//! Pure decisions: what an event becomes in Zendesk (subject, body, tags, and
//! whether it is a new ticket, a comment or a follow-up). No I/O here.

use intake_event::{Contact, TicketEvent};
use intake_zendesk::Status;

/// What to do with an event given the ticket its conversation points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new ticket (no conversation ticket, or the old one is solved or gone).
    Create,
    /// A public comment on the open conversation ticket.
    Comment { ticket_id: u64 },
    /// A follow-up of the closed conversation ticket.
    FollowUp { source_id: u64 },
}

/// Decides from the conversation ticket (its id and current status, if the
/// store knows one and Zendesk still has it).
pub fn decide(conversation_ticket: Option<(u64, Status)>) -> Action {
    match conversation_ticket {
        None => Action::Create,
        Some((source_id, Status::Closed)) => Action::FollowUp { source_id },
        // A solved ticket is finished work: a new request gets its own ticket.
        Some((_, Status::Solved)) => Action::Create,
        Some((ticket_id, _)) => Action::Comment { ticket_id },
    }
}

/// The ticket subject: the event's subject, else the first non-empty line of
/// its text, else a line naming the attachments or the channel; trimmed and
/// cut to at most `max_chars` characters (the last one an ellipsis when cut).
pub fn subject(event: &TicketEvent, max_chars: usize) -> String {
    let from_subject = event
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let from_text = || {
        event
            .text
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
    };
    let chosen = match from_subject.or_else(from_text) {
        Some(line) => line.to_owned(),
        None if !event.attachments.is_empty() => {
            format!("Attachments: {}", attachment_names(event))
        }
        None => format!("Message via {}", event.channel),
    };
    truncate_chars(&collapse_whitespace(&chosen), max_chars)
}

/// The comment body: the text, or a placeholder naming the attachments.
pub fn body(event: &TicketEvent) -> String {
    if !event.text.trim().is_empty() {
        return event.text.clone();
    }
    if event.attachments.is_empty() {
        return "(empty message)".to_owned();
    }
    format!("(no text; attachments: {})", attachment_names(event))
}

/// Tag of tickets whose requester claimed an e-mail or phone the channel
/// does not vouch for (see [`unverified_note`]).
pub const UNVERIFIED_TAG: &str = "intake_unverified_identity";

/// For a contact that typed an e-mail or phone the channel does not vouch
/// for: the line shown to agents under the first message of a new ticket
/// (the requester is deliberately not linked to those details).
pub fn unverified_note(contact: &Contact) -> Option<String> {
    if contact.verified {
        return None;
    }
    let claimed: Vec<String> = [("e-mail", &contact.email), ("phone", &contact.phone)]
        .into_iter()
        .filter_map(|(what, value)| {
            let value = value.as_deref()?.trim();
            (!value.is_empty()).then(|| format!("{what} {value}"))
        })
        .collect();
    if claimed.is_empty() {
        return None;
    }
    Some(format!(
        "Unverified contact details (given by the customer, not checked; this \
         ticket is not linked to a Zendesk user with them): {}",
        claimed.join(", ")
    ))
}

/// The first comment of a new ticket: the body, then the unverified note.
pub fn first_comment(event: &TicketEvent) -> String {
    match unverified_note(&event.contact) {
        Some(note) => format!("{}\n\n---\n{note}", body(event)),
        None => body(event),
    }
}

/// Tags for a new ticket: `intake`, `channel_<name>`, then the channel
/// route's tags, normalised the way Zendesk stores them (lower case, no
/// spaces) and without duplicates.
pub fn tags(channel: &str, extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(2 + extra.len());
    let candidates = ["intake".to_owned(), format!("channel_{channel}")];
    for tag in candidates.iter().chain(extra) {
        let normalised: String = tag
            .trim()
            .chars()
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .flat_map(char::to_lowercase)
            .collect();
        if !normalised.is_empty() && !out.contains(&normalised) {
            out.push(normalised);
        }
    }
    out
}

fn attachment_names(event: &TicketEvent) -> String {
    event
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Cuts `text` to at most `max_chars` characters on a char boundary; a cut
/// text ends with `…` (counted in the limit).
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let kept: String = text.chars().take(max_chars - 1).collect();
    format!("{}…", kept.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use intake_event::{Attachment, BlobRef};

    fn event(text: &str) -> TicketEvent {
        let contact = Contact {
            key: "chat:visitor-1".to_owned(),
            ..Contact::default()
        };
        TicketEvent::new("chat", "m1", contact, text, Utc::now())
    }

    fn attachment(name: &str) -> Attachment {
        Attachment {
            filename: name.to_owned(),
            content_type: "application/pdf".to_owned(),
            size: 3,
            sha256: "00".repeat(32),
            blob: BlobRef(format!("sha256/{}", "00".repeat(32))),
        }
    }

    #[test]
    fn subject_prefers_the_event_subject() {
        let mut e = event("first line\nsecond");
        e.subject = Some("  Invoice   question ".to_owned());
        assert_eq!(subject(&e, 80), "Invoice question");
    }

    #[test]
    fn subject_falls_back_to_the_first_non_empty_line() {
        let mut e = event("\n   \n  Hello, my order is late \nmore");
        e.subject = Some("   ".to_owned());
        assert_eq!(subject(&e, 80), "Hello, my order is late");
    }

    #[test]
    fn subject_is_cut_on_a_char_boundary_with_an_ellipsis() {
        let e = event("Здравствуйте, у меня не работает оплата картой");
        let s = subject(&e, 13);
        assert_eq!(s, "Здравствуйте…");
        assert_eq!(s.chars().count(), 13);
        // Exactly at the limit: unchanged.
        assert_eq!(subject(&event("abcde"), 5), "abcde");
        assert_eq!(subject(&event("abcdef"), 5), "abcd…");
        // Emoji are one char each; never split inside one.
        assert_eq!(truncate_chars("😀😀😀😀", 3), "😀😀…");
        assert_eq!(truncate_chars("abc", 0), "");
        // No dangling space before the ellipsis.
        assert_eq!(truncate_chars("ab cd", 4), "ab…");
    }

    #[test]
    fn subject_without_text_names_attachments_or_channel() {
        let mut e = event("  ");
        assert_eq!(subject(&e, 80), "Message via chat");
        e.attachments = vec![attachment("a.pdf"), attachment("b.png")];
        assert_eq!(subject(&e, 80), "Attachments: a.pdf, b.png");
    }

    #[test]
    fn body_is_the_text_or_a_placeholder() {
        assert_eq!(body(&event("hi\nthere")), "hi\nthere");
        let mut e = event(" \n");
        assert_eq!(body(&e), "(empty message)");
        e.attachments = vec![attachment("scan.pdf")];
        assert_eq!(body(&e), "(no text; attachments: scan.pdf)");
    }

    #[test]
    fn an_unverified_claim_is_noted_under_the_first_message() {
        let mut e = event("my order");
        assert_eq!(unverified_note(&e.contact), None, "nothing claimed");
        e.contact.email = Some(" ann@x.test ".to_owned());
        e.contact.phone = Some("+15550100".to_owned());
        let note = unverified_note(&e.contact).unwrap();
        assert!(
            note.ends_with(": e-mail ann@x.test, phone +15550100"),
            "{note}"
        );
        let first = first_comment(&e);
        assert!(first.starts_with("my order\n\n---\nUnverified"), "{first}");
        e.contact.verified = true;
        assert_eq!(unverified_note(&e.contact), None);
        assert_eq!(first_comment(&e), "my order");
    }

    #[test]
    fn tags_are_normalised_and_unique() {
        let extra = vec![
            "VIP".to_owned(),
            "web site".to_owned(),
            "intake".to_owned(),
            " ".to_owned(),
        ];
        assert_eq!(
            tags("chat", &extra),
            ["intake", "channel_chat", "vip", "web_site"]
        );
    }

    #[test]
    fn decision_follows_the_conversation_ticket_status() {
        assert_eq!(decide(None), Action::Create);
        for open in [Status::New, Status::Open, Status::Pending, Status::Hold] {
            assert_eq!(decide(Some((5, open))), Action::Comment { ticket_id: 5 });
        }
        assert_eq!(decide(Some((5, Status::Solved))), Action::Create);
        assert_eq!(
            decide(Some((5, Status::Closed))),
            Action::FollowUp { source_id: 5 }
        );
    }
}
