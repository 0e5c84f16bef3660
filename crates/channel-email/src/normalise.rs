//! Pure: the raw bytes of one mail -> a [`Normalised`] ticket event (no I/O).
//! Attachments are returned as bytes; the channel stores them in the blob
//! store and fills `event.attachments` ([`crate::intake`]).

use chrono::{DateTime, TimeZone as _, Utc};
use intake_event::{Contact, OmittedAttachment, TicketEvent};
use mail_parser::{Message, MessageParser, MimeHeaders as _};
use sha2::{Digest as _, Sha256};

use crate::autoreply::{self, AutoReason};
use crate::quoting::strip_quoted;

/// The channel name, as used in topics, event ids and metrics.
pub const CHANNEL: &str = "email";

/// The tag-like metadata value of mail addressed only to someone else.
pub const FOREIGN_RECIPIENT_TAG: &str = "intake_not_to_support_address";

/// Longest `text_full` kept in the event, in characters (the raw mail is kept whole).
pub const MAX_TEXT_FULL_CHARS: usize = 100_000;

/// Longest `html` kept in the event, in bytes.
pub const MAX_HTML_BYTES: usize = 200_000;

/// Size and count limits for attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_attachment_bytes: u64,
    pub max_attachments: usize,
}

/// Who we are: the support address and the other addresses that are ours.
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// The support address, lower-cased.
    pub address: String,
    /// Our other addresses, lower-cased.
    pub aliases: Vec<String>,
    pub limits: Limits,
    /// `authserv-id`s of the receiving servers whose `Authentication-Results`
    /// are trusted to vouch for the From address (decision 35).
    pub trusted_authserv_ids: Vec<String>,
    /// The ticket token format of subjects (`channels.email.ticket_token`).
    pub ticket_token: crate::TicketToken,
}

impl Mailbox {
    /// Who `account` is, with the section's trusted `authserv-id`s: what the
    /// account's intake and `intake route-explain` read a mail as.
    pub fn of_account(
        account: &crate::config::AccountConfig,
        trusted_authserv_ids: Vec<String>,
    ) -> Self {
        Self {
            address: account.address.clone(),
            aliases: account.alias_addresses.clone(),
            limits: account.limits,
            trusted_authserv_ids,
            ticket_token: account.ticket_token.clone(),
        }
    }

    fn own_addresses(&self) -> Vec<String> {
        let mut own = vec![self.address.clone()];
        own.extend(self.aliases.iter().cloned());
        own
    }
}

/// An attachment kept, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One mail, understood.
#[derive(Debug, Clone)]
pub struct Normalised {
    /// The event without attachments' blobs and without the raw payload.
    pub event: TicketEvent,
    pub attachments: Vec<PendingAttachment>,
    /// Attachments left out, each with why (structured in
    /// `event.omitted_attachments`).
    pub omitted: Vec<String>,
    /// Why the mail is automatic (then `event.auto_submitted` is set).
    pub auto_reason: Option<AutoReason>,
    /// Addressed only to someone else (rule 2).
    pub foreign_recipient: bool,
    /// The sender's address (to answer to), lower-cased.
    pub from_address: String,
}

/// Why a mail could not become an event; the `reason` of its dead letter
/// and of `intake_email_malformed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    /// Not a mail at all (no header block could be read).
    #[error("the message could not be parsed as MIME")]
    Unparseable,
    /// No usable From address: nobody to make a requester of or to answer.
    #[error("the message has no readable From address")]
    NoSender,
}

impl NormaliseError {
    pub fn as_str(self) -> &'static str {
        match self {
            NormaliseError::Unparseable => "unparseable",
            NormaliseError::NoSender => "no_sender",
        }
    }
}

/// A message id without angle brackets or spaces.
pub fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

/// The mail's own id: its Message-ID, or `sha256:<hex>` of the raw bytes
/// when it has none (so a replay of the same bytes has the same id).
pub fn channel_message_id(message_id: Option<&str>, raw: &[u8]) -> String {
    match message_id.map(clean_id).filter(|id| !id.is_empty()) {
        Some(id) => id,
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

/// The Message-ID of a mail intake sends: `<intake.<outcome>.<conversation,
/// base64url>@<domain>>`, or without the conversation part when there is none.
pub fn our_message_id(outcome: &uuid::Uuid, conversation: Option<&str>, domain: &str) -> String {
    use base64::Engine as _;
    match conversation.filter(|c| !c.is_empty()) {
        Some(thread) => format!(
            "<intake.{}.{}@{domain}>",
            outcome.simple(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(thread)
        ),
        None => format!("<intake.{}@{domain}>", outcome.simple()),
    }
}

/// The conversation carried in one of our own Message-IDs (see
/// [`our_message_id`]), when `id` is one and its domain is one of `domains`.
pub fn thread_of_our_id(id: &str, domains: &[&str]) -> Option<String> {
    use base64::Engine as _;
    let id = clean_id(id);
    let (local, domain) = id.rsplit_once('@')?;
    if !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return None;
    }
    let rest = local.strip_prefix("intake.")?;
    let (_, encoded) = rest.split_once('.')?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok().filter(|t| !t.is_empty())
}

fn text_list(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    match value {
        mail_parser::HeaderValue::Text(t) => vec![clean_id(t)],
        mail_parser::HeaderValue::TextList(list) => list.iter().map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|id| !id.is_empty())
    .collect()
}

/// The Message-ID of the mail a delivery report reports on: from its
/// `message/rfc822` part, or its `text/rfc822-headers` part.
fn reported_message_id(message: &Message<'_>) -> Option<String> {
    message.parts.iter().find_map(|part| {
        let id = match &part.body {
            mail_parser::PartType::Message(inner) => inner.message_id().map(clean_id),
            mail_parser::PartType::Text(text)
                if part
                    .content_type()
                    .and_then(|ct| ct.subtype())
                    .is_some_and(|sub| sub.eq_ignore_ascii_case("rfc822-headers")) =>
            {
                MessageParser::default()
                    .parse(text.as_bytes())
                    .and_then(|headers| headers.message_id().map(clean_id))
            }
            _ => None,
        };
        id.filter(|id| !id.is_empty())
    })
}

fn cap_chars(text: &str, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((cut, _)) => (text[..cut].to_owned(), true),
        None => (text.to_owned(), false),
    }
}

fn all_recipients(message: &Message<'_>) -> Vec<String> {
    message
        .to()
        .into_iter()
        .chain(message.cc())
        .flat_map(|list| list.iter())
        .filter_map(|a| a.address())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// True when a trusted receiving server reports DMARC passed (or DKIM
/// passed for the From domain) in `Authentication-Results` (RFC 8601).
fn sender_vouched(message: &Message<'_>, mailbox: &Mailbox, from: &str) -> bool {
    if mailbox.trusted_authserv_ids.is_empty() {
        return false;
    }
    let from_domain = from.rsplit('@').next().unwrap_or("");
    message
        .header_values("Authentication-Results")
        .filter_map(|value| value.as_text())
        .any(|text| {
            let mut parts = text.split(';');
            let authserv = parts
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("");
            if !mailbox
                .trusted_authserv_ids
                .iter()
                .any(|id| id.eq_ignore_ascii_case(authserv))
            {
                return false;
            }
            parts.any(|result| {
                let result = result.trim().to_ascii_lowercase();
                if result.starts_with("dmarc=pass") {
                    return true;
                }
                result.starts_with("dkim=pass")
                    && result
                        .split_whitespace()
                        .any(|kv| kv == format!("header.d={from_domain}"))
            })
        })
}

fn attachment_name(part: &mail_parser::MessagePart<'_>, index: usize) -> String {
    if let Some(name) = part.attachment_name().filter(|n| !n.trim().is_empty()) {
        return name.trim().to_owned();
    }
    let ext = part
        .content_type()
        .and_then(|ct| ct.subtype())
        .map(|s| format!(".{}", s.to_ascii_lowercase()))
        .unwrap_or_default();
    format!("attachment-{}{ext}", index + 1)
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "application/octet-stream".to_owned(),
    }
}

/// Turns one raw mail into a ticket event. `received_at` is when the
/// mailbox got it (IMAP INTERNALDATE, or now).
pub fn normalise(
    raw: &[u8],
    mailbox: &Mailbox,
    received_at: DateTime<Utc>,
) -> Result<Normalised, NormaliseError> {
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or(NormaliseError::Unparseable)?;
    let from = message.from().and_then(|a| a.first());
    let from_address = from
        .and_then(|a| a.address())
        .and_then(|a| intake_event::normalise_email(a).ok())
        .ok_or(NormaliseError::NoSender)?;
    let from_name = from
        .and_then(|a| a.name())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);

    let own = mailbox.own_addresses();
    let auto_reason = autoreply::classify(&message, &own);
    let recipients = all_recipients(&message);
    let foreign_recipient = !recipients.is_empty() && !recipients.iter().any(|r| own.contains(r));

    let id = channel_message_id(message.message_id(), raw);
    let body = message
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let body = crate::charset::repaired_body(&message, raw, &body).unwrap_or(body);
    let body = body.replace("\r\n", "\n");
    let (text_full, full_cut) = cap_chars(body.trim_end(), MAX_TEXT_FULL_CHARS);
    let (text, text_cut) = cap_chars(&strip_quoted(&text_full), intake_event::MAX_TEXT_CHARS);

    let mut attachments = Vec::new();
    let mut omitted = Vec::new();
    let mut omitted_attachments = Vec::new();
    for (index, part) in message.attachments().enumerate() {
        let filename = attachment_name(part, index);
        let bytes = part.contents();
        if bytes.len() as u64 > mailbox.limits.max_attachment_bytes {
            omitted.push(format!(
                "{filename} ({} bytes): larger than the limit of {} bytes",
                bytes.len(),
                mailbox.limits.max_attachment_bytes
            ));
            omitted_attachments.push(OmittedAttachment {
                filename,
                size: Some(bytes.len() as u64),
                reason: intake_event::OMITTED_TOO_LARGE.to_owned(),
                limit: Some(mailbox.limits.max_attachment_bytes),
            });
        } else if attachments.len() >= mailbox.limits.max_attachments {
            omitted.push(format!(
                "{filename}: more than {} attachments in one message",
                mailbox.limits.max_attachments
            ));
            omitted_attachments.push(OmittedAttachment {
                filename,
                size: Some(bytes.len() as u64),
                reason: intake_event::OMITTED_TOO_MANY.to_owned(),
                limit: Some(mailbox.limits.max_attachments as u64),
            });
        } else {
            attachments.push(PendingAttachment {
                filename,
                content_type: content_type(part),
                bytes: bytes.to_vec(),
            });
        }
    }
    // Attachments left out are named in `event.omitted_attachments`: the
    // router puts them on the ticket as an internal note, the
    // acknowledgement tells the sender; the customer's text stays theirs.

    let verified = sender_vouched(&message, mailbox, &from_address);
    let contact = Contact {
        key: format!("email:{from_address}"),
        verified,
        name: from_name,
        email: Some(from_address.clone()),
        ..Contact::default()
    };
    let mut event = TicketEvent::new(CHANNEL, &id, contact, text, received_at);
    event.sent_at = message
        .date()
        .and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single());
    event.subject = message.subject().map(|subject| {
        crate::charset::repaired_header(&message, raw, "Subject", subject)
            .unwrap_or_else(|| subject.trim().to_owned())
    });
    if text_full != event.text {
        event.text_full = Some(text_full);
    }
    let has_html = message.html_part(0).is_some_and(|p| p.is_text_html());
    event.html = has_html
        .then(|| message.body_html(0))
        .flatten()
        .map(|h| h.into_owned())
        .filter(|h| h.len() <= MAX_HTML_BYTES);

    let references = text_list(message.references());
    let in_reply_to = text_list(message.in_reply_to()).into_iter().next();
    // The root of the thread: the first reference, else the answered mail;
    // one of our own mails stands for the conversation it carries.
    let domains: Vec<&str> = own
        .iter()
        .filter_map(|a| a.rsplit_once('@').map(|(_, d)| d))
        .collect();
    // A delivery report names the bounced mail only in its attached copy
    // (`message/rfc822` or `text/rfc822-headers`): the bounce of one of our
    // acknowledgements finds its conversation through it.
    let reported = (auto_reason.is_some() && references.is_empty() && in_reply_to.is_none())
        .then(|| reported_message_id(&message))
        .flatten();
    let in_reply_to = in_reply_to.or(reported);
    let root = references.first().or(in_reply_to.as_ref());
    event.conversation.thread_id = Some(match root {
        Some(root) => thread_of_our_id(root, &domains).unwrap_or_else(|| root.clone()),
        None => id.clone(),
    });
    event.conversation.in_reply_to = in_reply_to;
    event.conversation.references = references;

    if let Some(reason) = auto_reason {
        event.auto_submitted = true;
        event
            .metadata
            .insert("email_auto_reason".to_owned(), reason.as_str().to_owned());
    }
    if foreign_recipient {
        event
            .metadata
            .insert("email_tag".to_owned(), FOREIGN_RECIPIENT_TAG.to_owned());
    }
    if let Some(token) = event
        .subject
        .as_deref()
        .and_then(|subject| mailbox.ticket_token.find(subject))
    {
        event.conversation.ticket_token = Some(token);
        event
            .metadata
            .insert("email_ticket_token".to_owned(), token.to_string());
    }
    event.omitted_attachments = omitted_attachments;
    event
        .metadata
        .insert("email_mailbox".to_owned(), mailbox.address.clone());
    if !omitted.is_empty() {
        // For the acknowledgement: the sender is told what was left out.
        event
            .metadata
            .insert("email_omitted_attachments".to_owned(), omitted.join("; "));
    }
    if text_cut || full_cut {
        event.dropped_fields.push("text".to_owned());
    }
    Ok(Normalised {
        event,
        attachments,
        omitted,
        auto_reason,
        foreign_recipient,
        from_address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_message_ids_carry_the_conversation_only_for_our_domains() {
        let outcome = uuid::Uuid::new_v4();
        let id = our_message_id(&outcome, Some("order-1@customer.test"), "example.test");
        assert_eq!(
            thread_of_our_id(&id, &["example.test"]).as_deref(),
            Some("order-1@customer.test")
        );
        assert_eq!(
            thread_of_our_id(&id, &["other.test"]),
            None,
            "someone else's domain"
        );
        assert_eq!(
            thread_of_our_id("<random@example.test>", &["example.test"]),
            None
        );
        let bare = our_message_id(&outcome, None, "example.test");
        assert_eq!(thread_of_our_id(&bare, &["example.test"]), None);
    }
}
