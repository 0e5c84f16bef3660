//! [`SmtpReplySender`]: acknowledgements, notices and agent replies by SMTP
//! (lettre), always from the support address (rule 2), threaded into the
//! customer's conversation (`In-Reply-To`/`References`). Automatic ones are
//! marked (`Auto-Submitted: auto-replied`, `X-Auto-Response-Suppress: All`)
//! so that auto-responders on the other side do not answer them; an agent's
//! reply is not, and its files go as `name: url` lines.

use std::error::Error as StdError;

use async_trait::async_trait;
use intake_channel::{Delivery, Reply, ReplyError, ReplyFailure, ReplyKind, ReplySender};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use secrecy::ExposeSecret as _;

use crate::config::{SmtpConfig, TlsMode};
use crate::normalise::CHANNEL;

/// `Auto-Submitted` (RFC 3834).
#[derive(Debug, Clone)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn StdError + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `X-Auto-Response-Suppress` (Exchange: no out-of-office answers to this).
#[derive(Debug, Clone)]
struct AutoResponseSuppress(String);

impl Header for AutoResponseSuppress {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn StdError + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The support address's SMTP sender.
pub struct SmtpReplySender {
    from: Mailbox,
    domain: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// AUTH XOAUTH2 with a fresh access token per connection, instead of
    /// the transport's fixed credentials.
    xoauth2: Option<crate::xoauth2_smtp::XOAuth2Login>,
    /// The ticket token put in front of subjects.
    ticket_token: crate::TicketToken,
}

impl std::fmt::Debug for SmtpReplySender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpReplySender")
            .field("from", &self.from.email.to_string())
            .finish_non_exhaustive()
    }
}

/// The sender could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[error("smtp sender: {0}")]
pub struct SmtpConfigError(String);

impl SmtpReplySender {
    /// A sender for `address` (the support address) over `config`.
    pub fn new(address: &str, config: &SmtpConfig) -> Result<Self, SmtpConfigError> {
        let from: Mailbox = address
            .parse()
            .map_err(|e| SmtpConfigError(format!("invalid from address {address:?}: {e}")))?;
        let domain = from.email.domain().to_owned();
        let tls = match config.tls {
            TlsMode::None => Tls::None,
            mode => {
                let mut params = TlsParameters::builder(config.host.clone());
                if let Some(path) = &config.ca_file {
                    let pem = std::fs::read(path).map_err(|e| {
                        SmtpConfigError(format!("cannot read {}: {e}", path.display()))
                    })?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| SmtpConfigError(format!("{}: {e}", path.display())))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| SmtpConfigError(format!("TLS: {e}")))?;
                if mode == TlsMode::Implicit {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        let xoauth2 = config
            .xoauth2_user
            .as_ref()
            .map(|user| crate::xoauth2_smtp::XOAuth2Login::new(user, builder.clone()));
        let mut builder = builder;
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            from,
            domain,
            transport: builder.build(),
            xoauth2,
            ticket_token: crate::TicketToken::default(),
        })
    }

    /// The sender of `account` (its address and `smtp` section), with the
    /// account's token source for `auth = "xoauth2"`.
    pub fn for_account(account: &crate::config::AccountConfig) -> Result<Self, SmtpConfigError> {
        let smtp = account.smtp.as_ref().ok_or_else(|| {
            SmtpConfigError(format!("account {} has no smtp section", account.name))
        })?;
        let mut sender = Self::new(&account.address, smtp)?;
        sender.ticket_token = account.ticket_token.clone();
        if let Some(login) = &mut sender.xoauth2 {
            let tokens = account.tokens.clone().ok_or_else(|| {
                SmtpConfigError(format!(
                    "account {}: smtp auth = \"xoauth2\" needs the imap oauth2 table",
                    account.name
                ))
            })?;
            login.attach(&account.name, tokens);
        }
        Ok(sender)
    }

    /// The subject, with the ticket token in front when there is a ticket
    /// and the subject does not carry it yet (replies thread on it).
    fn subject_with_token(&self, subject: Option<&str>, ticket: Option<u64>) -> String {
        let subject = subject.map(str::trim).filter(|s| !s.is_empty());
        match (subject, ticket) {
            (Some(subject), Some(ticket)) if self.ticket_token.find(subject) == Some(ticket) => {
                subject.to_owned()
            }
            (Some(subject), Some(ticket)) => {
                format!("{} {subject}", self.ticket_token.render(ticket))
            }
            (Some(subject), None) => subject.to_owned(),
            (None, Some(ticket)) => format!(
                "{} Your request has been received",
                self.ticket_token.render(ticket)
            ),
            (None, None) => "Your request has been received".to_owned(),
        }
    }

    /// The reply's Message-ID: the same for the same outcome (a retried send
    /// is one message), carrying the conversation it belongs to, so that an
    /// answer naming only this id (Outlook sends `In-Reply-To` without
    /// `References`) still finds its conversation
    /// ([`crate::normalise::thread_of_our_id`]).
    pub fn message_id(&self, reply: &Reply) -> String {
        crate::normalise::our_message_id(
            &reply.outcome_id,
            reply.conversation_id.as_deref(),
            &self.domain,
        )
    }

    /// The mail for `reply` (public for tests of its headers).
    pub fn message(&self, reply: &Reply) -> Result<Message, ReplyError> {
        let to_address = reply.contact_key.strip_prefix("email:").ok_or_else(|| {
            ReplyError::new(ReplyFailure::Invalid, "the contact has no e-mail address")
        })?;
        let to: Mailbox = to_address.parse().map_err(|_| {
            ReplyError::new(
                ReplyFailure::Invalid,
                "the contact's e-mail address is invalid",
            )
        })?;
        let message_id = self.message_id(reply);
        // The answered mails; without them (the acknowledgement path knows
        // only the conversation), the conversation's root mail.
        let mut answered: Vec<&str> = reply.in_reply_to.iter().map(String::as_str).collect();
        if answered.is_empty()
            && let Some(root) = reply.conversation_id.as_deref()
        {
            answered.push(root);
        }
        let ids: Vec<String> = answered
            .into_iter()
            .map(crate::normalise::clean_id)
            .filter(|id| !id.is_empty() && !id.starts_with("sha256:") && id.contains('@'))
            .map(|id| format!("<{id}>"))
            .collect();
        // An agent's answer is a person's mail: "Re:" its ticket's subject,
        // and none of the automatic-mail headers (which would keep the
        // customer's mail program from treating it as a normal answer).
        let subject = match (reply.kind, reply.subject.as_deref()) {
            (ReplyKind::AgentReply, Some(subject)) if !subject.trim().is_empty() => {
                self.subject_with_token(Some(&format!("Re: {}", subject.trim())), reply.ticket_id)
            }
            (ReplyKind::AgentReply, _) => {
                self.subject_with_token(Some("Re: your request"), reply.ticket_id)
            }
            _ => self.subject_with_token(reply.subject.as_deref(), reply.ticket_id),
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id));
        if reply.kind.is_automatic() {
            builder = builder
                .header(AutoSubmitted("auto-replied".to_owned()))
                .header(AutoResponseSuppress("All".to_owned()));
        }
        builder = builder.header(ContentType::TEXT_PLAIN);
        if let Some(last) = ids.last() {
            builder = builder.in_reply_to(last.clone()).references(ids.join(" "));
        }
        builder.body(reply.text_with_links()).map_err(|e| {
            ReplyError::new(ReplyFailure::Invalid, format!("cannot build the mail: {e}"))
        })
    }
}

pub(crate) fn classify(error: &lettre::transport::smtp::Error) -> ReplyError {
    if let Some(code) = error.status() {
        return ReplyError::from_smtp_code(u16::from(code), format!("smtp server answered {code}"));
    }
    if error.is_timeout() {
        return ReplyError::new(ReplyFailure::Timeout, "smtp server did not answer in time");
    }
    ReplyError::new(ReplyFailure::Unreachable, format!("smtp: {error}"))
}

#[async_trait]
impl ReplySender for SmtpReplySender {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    async fn send(&self, reply: &Reply) -> Result<Delivery, ReplyError> {
        let message = self.message(reply)?;
        let message_id = self.message_id(reply);
        match &self.xoauth2 {
            Some(login) => login.send(message).await?,
            None => {
                self.transport
                    .send(message)
                    .await
                    .map_err(|e| classify(&e))?;
            }
        }
        Ok(Delivery {
            message_id: Some(message_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use intake_channel::ReplyAttachment;

    use super::*;

    fn sender() -> SmtpReplySender {
        let config = SmtpConfig {
            host: "127.0.0.1".to_owned(),
            port: 1,
            tls: TlsMode::None,
            ca_file: None,
            credentials: None,
            xoauth2_user: None,
            timeout: Duration::from_secs(5),
        };
        SmtpReplySender::new("help@example.test", &config).unwrap()
    }

    fn mail(reply: &Reply) -> String {
        String::from_utf8(sender().message(reply).unwrap().formatted()).unwrap()
    }

    #[test]
    fn an_agent_reply_is_a_threaded_answer_not_automatic_mail() {
        let reply = Reply {
            kind: ReplyKind::AgentReply,
            channel: "email".into(),
            contact_key: "email:anna@customer.test".into(),
            conversation_id: Some("root@customer.test".into()),
            ticket_id: Some(41),
            text: "Your parcel left today.".into(),
            subject: Some("Order".into()),
            in_reply_to: vec!["root@customer.test".into(), "second@customer.test".into()],
            attachments: vec![ReplyAttachment {
                file_name: "label.pdf".into(),
                url: "https://x.example/label.pdf".into(),
            }],
            ..Reply::default()
        };
        let text = mail(&reply);
        assert!(text.contains("From: help@example.test"), "{text}");
        assert!(text.contains("Subject: [#41] Re: Order"), "{text}");
        assert!(
            text.contains("In-Reply-To: <second@customer.test>"),
            "{text}"
        );
        assert!(
            text.contains("References: <root@customer.test> <second@customer.test>"),
            "{text}"
        );
        assert!(!text.contains("Auto-Submitted"), "{text}");
        assert!(!text.contains("X-Auto-Response-Suppress"), "{text}");
        assert!(
            text.contains("label.pdf: https://x.example/label.pdf"),
            "{text}"
        );

        let untitled = Reply {
            subject: None,
            ..reply.clone()
        };
        assert!(mail(&untitled).contains("Subject: [#41] Re: your request"));
        let acknowledgement = Reply {
            kind: ReplyKind::Acknowledgement,
            ..reply
        };
        assert!(mail(&acknowledgement).contains("Auto-Submitted: auto-replied"));
    }

    #[test]
    fn the_configured_ticket_token_leads_the_subject_once() {
        let mut sender = sender();
        sender.ticket_token = crate::TicketToken::parse("(Ticket {ticket})").unwrap();
        let reply = Reply {
            channel: "email".into(),
            contact_key: "email:anna@customer.test".into(),
            ticket_id: Some(41),
            text: "We have your request.".into(),
            subject: Some("Order".into()),
            ..Reply::default()
        };
        let subject = |reply: &Reply| {
            String::from_utf8(sender.message(reply).unwrap().formatted())
                .unwrap()
                .lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap()
                .to_owned()
        };
        assert_eq!(subject(&reply), "Subject: (Ticket 41) Order");
        let tokened = Reply {
            subject: Some("Re: (ticket 41) Order".into()),
            ..reply
        };
        assert_eq!(subject(&tokened), "Subject: Re: (ticket 41) Order");
    }
}
