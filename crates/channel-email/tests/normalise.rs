//! The golden corpus (`tests/corpus/*.eml`, made by `generate.py`): each
//! raw mail against its expected fields in `expected.json`. No text may be
//! replaced by `?` or U+FFFD in any charset.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use intake_channel_email::normalise::{Limits, Mailbox, channel_message_id, normalise};
use serde_json::Value;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn mailbox() -> Mailbox {
    Mailbox {
        address: "help@example.test".to_owned(),
        aliases: vec!["support@example.test".to_owned()],
        limits: Limits {
            max_attachment_bytes: 1000,
            max_attachments: 2,
        },
        trusted_authserv_ids: Vec::new(),
        ticket_token: Default::default(),
    }
}

#[test]
fn every_corpus_mail_gives_its_expected_fields() {
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("expected.json")).unwrap())
            .unwrap();
    assert!(
        expected.len() >= 20,
        "the corpus has {} mails",
        expected.len()
    );
    let received = Utc.with_ymd_and_hms(2026, 12, 1, 7, 0, 0).unwrap();
    let mut failures = Vec::new();
    for (name, want) in &expected {
        let raw = std::fs::read(corpus().join(format!("{name}.eml"))).unwrap();
        let got = match normalise(&raw, &mailbox(), received) {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let event = &got.event;
        let mut check = |field: &str, ok: bool, detail: String| {
            if !ok {
                failures.push(format!("{name}: {field}: {detail}"));
            }
        };
        for text in [
            Some(event.text.as_str()),
            event.subject.as_deref(),
            event.contact.name.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            check(
                "no replacement characters",
                !text.contains('\u{fffd}'),
                text.to_owned(),
            );
        }
        let str_of = |key: &str| want.get(key).and_then(Value::as_str);
        if let Some(subject) = str_of("subject") {
            check(
                "subject",
                event.subject.as_deref() == Some(subject),
                format!("{:?}", event.subject),
            );
        }
        if let Some(text) = str_of("text") {
            check("text", event.text == text, format!("{:?}", event.text));
        }
        if let Some(parts) = want.get("text_contains").and_then(Value::as_array) {
            for part in parts.iter().filter_map(Value::as_str) {
                check(
                    "text contains",
                    event.text.contains(part),
                    format!("{part:?} not in {:?}", event.text),
                );
            }
        }
        if let Some(contact) = str_of("contact_name") {
            check(
                "contact name",
                event.contact.name.as_deref() == Some(contact),
                format!("{:?}", event.contact.name),
            );
        }
        if let Some(id) = str_of("channel_message_id") {
            check(
                "channel_message_id",
                event.channel_message_id == id,
                event.channel_message_id.clone(),
            );
        }
        if let Some(thread) = str_of("thread_id") {
            check(
                "thread_id",
                event.conversation.thread_id.as_deref() == Some(thread),
                format!("{:?}", event.conversation.thread_id),
            );
        }
        if let Some(reply) = str_of("in_reply_to") {
            check(
                "in_reply_to",
                event.conversation.in_reply_to.as_deref() == Some(reply),
                format!("{:?}", event.conversation.in_reply_to),
            );
        }
        if let Some(token) = str_of("ticket_token") {
            check(
                "ticket token",
                event.metadata.get("email_ticket_token").map(String::as_str) == Some(token),
                format!("{:?}", event.metadata),
            );
        }
        let auto = want
            .get("auto_submitted")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        check(
            "auto_submitted",
            event.auto_submitted == auto,
            format!("{:?}", got.auto_reason),
        );
        if let Some(reason) = str_of("auto_reason") {
            check(
                "auto reason",
                got.auto_reason.map(|r| r.as_str()) == Some(reason),
                format!("{:?}", got.auto_reason),
            );
        }
        let foreign = want
            .get("foreign")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        check(
            "foreign recipient",
            got.foreign_recipient == foreign,
            String::new(),
        );
        if let Some(names) = want.get("attachments").and_then(Value::as_array) {
            let got_names: Vec<_> = got
                .attachments
                .iter()
                .map(|a| a.filename.as_str())
                .collect();
            let want_names: Vec<_> = names.iter().filter_map(Value::as_str).collect();
            check(
                "attachments",
                got_names == want_names,
                format!("{got_names:?}"),
            );
        }
        let omitted = want.get("omitted").and_then(Value::as_u64).unwrap_or(0) as usize;
        check(
            "omitted",
            got.omitted.len() == omitted,
            format!("{:?}", got.omitted),
        );
        if let Some(names) = want.get("omitted_attachments").and_then(Value::as_array) {
            let want_omitted: Vec<(String, String)> = names
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_str().unwrap_or_default().to_owned(),
                        pair[1].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let got_omitted: Vec<(String, String)> = event
                .omitted_attachments
                .iter()
                .map(|o| (o.filename.clone(), o.reason.clone()))
                .collect();
            check(
                "omitted_attachments",
                got_omitted == want_omitted,
                format!("{got_omitted:?}"),
            );
        }
        if let Some(html) = want.get("has_html").and_then(Value::as_bool) {
            check(
                "html",
                event.html.is_some() == html,
                format!("{:?}", event.html),
            );
        }
        if let Some(chars) = want.get("text_chars").and_then(Value::as_u64) {
            check(
                "text length",
                event.text.chars().count() == chars as usize,
                event.text.chars().count().to_string(),
            );
        }
        if let Some(dropped) = want.get("dropped").and_then(Value::as_array) {
            let want: Vec<_> = dropped.iter().filter_map(Value::as_str).collect();
            check(
                "dropped_fields",
                event.dropped_fields == want,
                format!("{:?}", event.dropped_fields),
            );
        }
        let dated = raw.windows(7).any(|w| w == b"\nDate: ") || raw.starts_with(b"Date: ");
        check(
            "sent_at from Date",
            event.sent_at.is_some() == dated,
            format!("{:?}", event.sent_at),
        );
        if want.get("id_is_hash").is_some() {
            check(
                "hash id",
                event.channel_message_id == channel_message_id(None, &raw),
                event.channel_message_id.clone(),
            );
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn the_same_bytes_always_give_the_same_event_id_and_other_bytes_another() {
    let raw = std::fs::read(corpus().join("no_message_id.eml")).unwrap();
    let at = Utc::now();
    let a = normalise(&raw, &mailbox(), at).unwrap().event.event_id;
    let b = normalise(&raw, &mailbox(), at).unwrap().event.event_id;
    assert_eq!(a, b);
    let mut other = raw.clone();
    other.extend_from_slice(b"x");
    assert_ne!(normalise(&other, &mailbox(), at).unwrap().event.event_id, a);
}

#[test]
fn garbage_is_a_typed_error_never_a_panic() {
    for raw in [
        &b""[..],
        b"\x00\x01\x02",
        b"no headers at all",
        b"Subject: x\r\n\r\nno from",
    ] {
        assert!(normalise(raw, &mailbox(), Utc::now()).is_err(), "{raw:?}");
    }
}

/// A delivery report about one of our acknowledgements: its conversation is
/// found through the bounced mail's Message-ID in the attached copy.
#[test]
fn a_bounce_of_our_mail_finds_the_conversation_through_the_attached_copy() {
    let ours = intake_channel_email::normalise::our_message_id(
        &uuid::Uuid::new_v4(),
        Some("order-7@customer.test"),
        "example.test",
    );
    for (content_type, copy) in [
        (
            "message/rfc822",
            format!(
                "From: help@example.test\r\nMessage-ID: {ours}\r\nSubject: [#9] Re: order\r\n\r\nThanks\r\n"
            ),
        ),
        (
            "text/rfc822-headers",
            format!("From: help@example.test\r\nMessage-ID: {ours}\r\nSubject: [#9] Re: order\r\n"),
        ),
    ] {
        let raw = format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\nTo: help@example.test\r\n\
             Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@mx.customer.test>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\
             --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\nAction: failed\r\n\
             --b\r\nContent-Type: {content_type}\r\n\r\n{copy}\r\n--b--\r\n"
        );
        let normalised = normalise(raw.as_bytes(), &mailbox(), chrono::Utc::now()).unwrap();
        assert!(normalised.event.auto_submitted, "{content_type}");
        assert_eq!(
            normalised.event.conversation.thread_id.as_deref(),
            Some("order-7@customer.test"),
            "{content_type}"
        );
    }
}

/// `channels.email.ticket_token`: the configured format is the one read from
/// subjects, and the default one is then plain text.
#[test]
fn a_configured_ticket_token_is_the_one_read_from_the_subject() {
    let mut custom = mailbox();
    custom.ticket_token = intake_channel_email::TicketToken::parse("(Ticket {ticket})").unwrap();
    let raw = |subject: &str| {
        format!(
            "From: anna@customer.test\r\nTo: help@example.test\r\nMessage-ID: <t-{}@customer.test>\r\n\
             Subject: {subject}\r\n\r\nStill broken.\r\n",
            uuid::Uuid::new_v4().simple()
        )
    };
    let token = |subject: &str, mailbox: &Mailbox| {
        normalise(raw(subject).as_bytes(), mailbox, Utc::now())
            .unwrap()
            .event
            .conversation
            .ticket_token
    };
    assert_eq!(token("RE: (Ticket 512) still broken", &custom), Some(512));
    assert_eq!(token("Re: [#512] still broken", &custom), None);
    assert_eq!(token("Re: [#512] still broken", &mailbox()), Some(512));
}
