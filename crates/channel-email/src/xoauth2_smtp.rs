//! AUTH XOAUTH2 for SMTP (Gmail, Microsoft 365): each send opens its
//! connection with a current access token from the account's token source,
//! the same one IMAP uses (`AccountConfig::tokens`), so a refresh or a
//! rotated refresh token is shared, never raced. A token the server refuses
//! (535) is counted as a token failure (`intake_email_token_failures_total`,
//! reason `rejected`), forgotten, and the send is tried once more with a
//! fresh one; a second refusal is the send's failure (`unauthorized`). A
//! token endpoint that fails is a retryable failure of the send (the
//! acknowledger retries it), counted by the token source.

use std::sync::Arc;

use intake_channel::{ReplyError, ReplyFailure};
use lettre::message::Message;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncTransport as _, Tokio1Executor};
use secrecy::ExposeSecret as _;

use crate::oauth::TokenSource;

/// SMTP's "authentication credentials invalid".
const AUTH_REFUSED: u16 = 535;

/// The XOAUTH2 login of one account's sender.
pub(crate) struct XOAuth2Login {
    user: String,
    builder: AsyncSmtpTransportBuilder,
    /// The account and its token source (set by `SmtpReplySender::for_account`).
    tokens: Option<(String, Arc<TokenSource>)>,
}

impl XOAuth2Login {
    pub(crate) fn new(user: &str, builder: AsyncSmtpTransportBuilder) -> Self {
        Self {
            user: user.to_owned(),
            builder,
            tokens: None,
        }
    }

    pub(crate) fn attach(&mut self, account: &str, tokens: Arc<TokenSource>) {
        self.tokens = Some((account.to_owned(), tokens));
    }

    /// Sends `message` over a connection authenticated with a current token.
    pub(crate) async fn send(&self, message: Message) -> Result<(), ReplyError> {
        let Some((account, tokens)) = &self.tokens else {
            return Err(ReplyError::new(
                ReplyFailure::Unauthorized,
                "smtp auth = \"xoauth2\" without a token source",
            ));
        };
        let mut refused_once = false;
        loop {
            let token = tokens.access_token().await.map_err(|e| {
                ReplyError::new(
                    ReplyFailure::Unreachable,
                    format!("no access token for smtp: {e}"),
                )
            })?;
            let transport = self
                .builder
                .clone()
                .credentials(Credentials::new(
                    self.user.clone(),
                    token.expose_secret().to_owned(),
                ))
                .authentication(vec![Mechanism::Xoauth2])
                .build::<Tokio1Executor>();
            let error = match transport.send(message.clone()).await {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            let refused = error.status().map(u16::from) == Some(AUTH_REFUSED);
            if !refused {
                return Err(crate::reply::classify(&error));
            }
            crate::events::token_failed(
                account,
                "rejected",
                "the smtp server refused the access token",
            );
            tokens.invalidate().await;
            if refused_once {
                return Err(crate::reply::classify(&error));
            }
            refused_once = true;
        }
    }
}
