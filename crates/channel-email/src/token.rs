//! The ticket token in mail subjects (`[#1234]` by default): written in
//! front of the subject of the mail intake sends, and looked for in the
//! subject of mail it receives (a reply whose threading headers were lost
//! still names its ticket; the router attaches it only for the ticket's own
//! requester or CC, `crates/router/src/token.rs`). The format is
//! `channels.email.ticket_token`, a template with one `{ticket}`.

/// A token format: the text before and after the ticket number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketToken {
    prefix: String,
    suffix: String,
}

/// The placeholder of the ticket number in the template.
const PLACEHOLDER: &str = "{ticket}";

impl TicketToken {
    /// The default template.
    pub const DEFAULT_TEMPLATE: &'static str = "[#{ticket}]";

    /// A format from a template such as `"[#{ticket}]"` or `"(Ticket {ticket})"`:
    /// exactly one `{ticket}`, and some text before it that is not a digit
    /// at its end (a bare number in a subject is no token).
    pub fn parse(template: &str) -> Result<Self, String> {
        let Some((prefix, suffix)) = template.split_once(PLACEHOLDER) else {
            return Err(format!("{template:?} has no {PLACEHOLDER}"));
        };
        if suffix.contains(PLACEHOLDER) {
            return Err(format!("{template:?} has {PLACEHOLDER} more than once"));
        }
        if prefix.trim().is_empty() {
            return Err(format!(
                "{template:?} needs text before {PLACEHOLDER} (e.g. \"[#{PLACEHOLDER}]\")"
            ));
        }
        let digit_edge = prefix.ends_with(|c: char| c.is_ascii_digit())
            || suffix.starts_with(|c: char| c.is_ascii_digit());
        if digit_edge || template.contains(['\r', '\n']) {
            return Err(format!(
                "{template:?}: no digit may touch {PLACEHOLDER}, and no line break"
            ));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The token of `ticket`.
    pub fn render(&self, ticket: u64) -> String {
        format!("{}{ticket}{}", self.prefix, self.suffix)
    }

    /// The ticket number of the first token in `subject` (letters compared
    /// without regard to ASCII case, spaces around the number allowed).
    pub fn find(&self, subject: &str) -> Option<u64> {
        let haystack = subject.to_ascii_lowercase();
        let prefix = self.prefix.to_ascii_lowercase();
        let suffix = self.suffix.to_ascii_lowercase();
        let mut from = 0;
        while let Some(at) = haystack[from..].find(&prefix) {
            let start = from + at + prefix.len();
            let rest = haystack[start..].trim_start();
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0
                && rest[digits..].trim_start().starts_with(&suffix)
                && let Ok(ticket) = rest[..digits].parse()
            {
                return Some(ticket);
            }
            from = from + at + prefix.len().max(1);
        }
        None
    }
}

impl Default for TicketToken {
    fn default() -> Self {
        Self::parse(Self::DEFAULT_TEMPLATE).expect("the default template parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_token_is_found_where_mail_programs_leave_it() {
        let token = TicketToken::default();
        assert_eq!(token.render(1234), "[#1234]");
        assert_eq!(token.find("Re: [#1234] Invoice missing"), Some(1234));
        assert_eq!(token.find("AW: Fwd: Re: [# 77 ] x"), Some(77));
        assert_eq!(token.find("[#] [#abc] then [#9]"), Some(9));
        assert_eq!(token.find("Invoice 1234"), None);
        assert_eq!(token.find("[#1234"), None);
    }

    #[test]
    fn a_configured_format_is_written_and_found() {
        let token = TicketToken::parse("(Ticket {ticket})").unwrap();
        assert_eq!(token.render(5), "(Ticket 5)");
        assert_eq!(token.find("RE: (ticket 5) broken"), Some(5));
        assert_eq!(
            token.find("Re: [#5] broken"),
            None,
            "the default is not read"
        );
        let bare = TicketToken::parse("Req-{ticket}").unwrap();
        assert_eq!(bare.find("Re: Req-42: hello"), Some(42));
    }

    #[test]
    fn templates_that_cannot_work_are_refused() {
        for bad in [
            "#",
            "{ticket}",
            " {ticket}]",
            "[#{ticket}]{ticket}",
            "A1{ticket}",
            "[#{ticket}2]",
            "[#\n{ticket}]",
        ] {
            assert!(TicketToken::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
