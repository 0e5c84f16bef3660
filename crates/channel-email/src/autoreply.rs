//! Recognising mail no human wrote to us (RFC 3834 and the headers the
//! common mail systems use instead), so no ticket acknowledgement is ever
//! sent to it and two auto-responders cannot talk to each other forever.

use mail_parser::{Message, MimeHeaders as _};

/// Why a message counts as automatic; the `reason` label of
/// `intake_email_auto_submitted_total` (a fixed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AutoReason {
    /// `Auto-Submitted` other than `no` (RFC 3834).
    AutoSubmitted,
    /// `X-Autoreply`, `X-Autorespond` or `X-Auto-Response-Suppress` (Exchange out-of-office).
    AutoReplyHeader,
    /// `Precedence: bulk`, `list` or `junk`.
    Precedence,
    /// A mailing list (`List-Id`, `List-Unsubscribe`).
    MailingList,
    /// A delivery status report (`multipart/report`).
    DeliveryReport,
    /// An empty return path (`Return-Path: <>`): a bounce.
    NullReturnPath,
    /// From `MAILER-DAEMON` or `postmaster`.
    MailerDaemon,
    /// From one of our own addresses (a loop through a forwarding rule).
    OwnAddress,
}

impl AutoReason {
    pub const ALL: [AutoReason; 8] = [
        AutoReason::AutoSubmitted,
        AutoReason::AutoReplyHeader,
        AutoReason::Precedence,
        AutoReason::MailingList,
        AutoReason::DeliveryReport,
        AutoReason::NullReturnPath,
        AutoReason::MailerDaemon,
        AutoReason::OwnAddress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AutoReason::AutoSubmitted => "auto_submitted",
            AutoReason::AutoReplyHeader => "auto_reply_header",
            AutoReason::Precedence => "precedence",
            AutoReason::MailingList => "mailing_list",
            AutoReason::DeliveryReport => "delivery_report",
            AutoReason::NullReturnPath => "null_return_path",
            AutoReason::MailerDaemon => "mailer_daemon",
            AutoReason::OwnAddress => "own_address",
        }
    }
}

/// The text of a header, if present (first occurrence).
fn header_text<'a>(message: &'a Message<'_>, name: &'static str) -> Option<&'a str> {
    message.header_raw(name).map(str::trim)
}

fn present(message: &Message<'_>, name: &'static str) -> bool {
    message.header_raw(name).is_some()
}

/// The first reason `message` is automatic, if it is. `own_addresses` are
/// lower-cased.
pub fn classify(message: &Message<'_>, own_addresses: &[String]) -> Option<AutoReason> {
    if let Some(value) = header_text(message, "Auto-Submitted") {
        let token = value.split(';').next().unwrap_or("").trim();
        if !token.eq_ignore_ascii_case("no") {
            return Some(AutoReason::AutoSubmitted);
        }
    }
    if present(message, "X-Autoreply") || present(message, "X-Autorespond") {
        return Some(AutoReason::AutoReplyHeader);
    }
    if let Some(value) = header_text(message, "X-Auto-Response-Suppress") {
        // Exchange marks its own automatic mail (OOF, receipts) with it.
        let automatic = value.split(',').any(|v| {
            let v = v.trim();
            ["All", "OOF", "AutoReply", "DR", "NDR", "RN", "NRN"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        });
        if automatic {
            return Some(AutoReason::AutoReplyHeader);
        }
    }
    if let Some(value) = header_text(message, "Precedence") {
        let value = value.to_ascii_lowercase();
        if ["bulk", "list", "junk"].contains(&value.as_str()) {
            return Some(AutoReason::Precedence);
        }
    }
    if present(message, "List-Id") || present(message, "List-Unsubscribe") {
        return Some(AutoReason::MailingList);
    }
    if message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    }) {
        return Some(AutoReason::DeliveryReport);
    }
    if let Some(raw) = message.header_raw("Return-Path") {
        let inner = raw
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if inner.is_empty() {
            return Some(AutoReason::NullReturnPath);
        }
    }
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_ascii_lowercase);
    if let Some(from) = from {
        let local = from.split('@').next().unwrap_or("");
        if local == "mailer-daemon" || local == "postmaster" {
            return Some(AutoReason::MailerDaemon);
        }
        if own_addresses.contains(&from) {
            return Some(AutoReason::OwnAddress);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn reason(raw: &str) -> Option<AutoReason> {
        let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
        classify(&message, &["help@example.test".to_owned()])
    }

    #[test]
    fn each_marker_is_recognised_and_plain_mail_is_not() {
        let base = "From: Ann <ann@example.org>\r\nTo: help@example.test\r\nSubject: s\r\n";
        let cases = [
            (
                "Auto-Submitted: auto-replied\r\n",
                Some(AutoReason::AutoSubmitted),
            ),
            ("Auto-Submitted: no\r\n", None),
            ("X-Autoreply: yes\r\n", Some(AutoReason::AutoReplyHeader)),
            ("X-Autorespond: yes\r\n", Some(AutoReason::AutoReplyHeader)),
            (
                "X-Auto-Response-Suppress: All\r\n",
                Some(AutoReason::AutoReplyHeader),
            ),
            ("Precedence: bulk\r\n", Some(AutoReason::Precedence)),
            ("Precedence: junk\r\n", Some(AutoReason::Precedence)),
            ("Precedence: first-class\r\n", None),
            (
                "List-Id: <news.example.org>\r\n",
                Some(AutoReason::MailingList),
            ),
            ("Return-Path: <>\r\n", Some(AutoReason::NullReturnPath)),
            ("Return-Path: <ann@example.org>\r\n", None),
            (
                "Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n",
                Some(AutoReason::DeliveryReport),
            ),
            ("", None),
        ];
        for (extra, expected) in cases {
            let raw = format!("{base}{extra}\r\nbody\r\n");
            assert_eq!(reason(&raw), expected, "{extra:?}");
        }
        let daemon = "From: MAILER-DAEMON@mx.example.org\r\nSubject: fail\r\n\r\nx\r\n";
        assert_eq!(reason(daemon), Some(AutoReason::MailerDaemon));
        let own = "From: Help <HELP@example.test>\r\nSubject: loop\r\n\r\nx\r\n";
        assert_eq!(reason(own), Some(AutoReason::OwnAddress));
    }
}
