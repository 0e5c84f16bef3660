//! The email channel's errors. None carries a password or a message body.

use intake_channel::ChannelError;

use crate::normalise::CHANNEL;

/// Why a mailbox session ended.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The account cannot work as configured (bad CA file, bad TLS name).
    #[error("configuration: {0}")]
    Config(String),
    /// The server refused the credentials.
    #[error("login refused: {0}")]
    LoginRefused(String),
    /// No OAuth2 access token (the token endpoint failed or refused).
    #[error("oauth2 token: {0}")]
    Token(String),
    /// TCP connect, greeting or a command failed; the connection was lost.
    #[error("connection: {0}")]
    Connection(String),
    /// TLS handshake or STARTTLS failed.
    #[error("tls: {0}")]
    Tls(String),
    /// The server did not answer within the command timeout (a stalled connection).
    #[error("stalled: {0}")]
    Stalled(String),
    /// The server answered a command with NO/BAD or something unreadable.
    #[error("imap: {0}")]
    Protocol(String),
    /// The state store failed (cursor read or write).
    #[error("state store: {0}")]
    Store(#[from] intake_store::StoreError),
    /// The bus or the blob store failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

impl EmailError {
    /// The bounded `reason` label of a connection failure.
    pub fn label(&self) -> &'static str {
        match self {
            EmailError::Config(_) => "config",
            EmailError::LoginRefused(_) => "login_refused",
            EmailError::Token(_) => "token",
            EmailError::Connection(_) => "connection",
            EmailError::Tls(_) => "tls",
            EmailError::Stalled(_) => "stalled",
            EmailError::Protocol(_) => "protocol",
            EmailError::Store(_) => "store",
            EmailError::Channel(_) => "bus",
        }
    }
}

impl From<async_imap::error::Error> for EmailError {
    fn from(error: async_imap::error::Error) -> Self {
        use async_imap::error::Error;
        match error {
            Error::Io(e) => EmailError::Connection(e.to_string()),
            Error::ConnectionLost => EmailError::Connection("connection lost".to_owned()),
            other => EmailError::Protocol(other.to_string()),
        }
    }
}

impl From<EmailError> for ChannelError {
    fn from(error: EmailError) -> Self {
        match error {
            EmailError::Channel(inner) => inner,
            EmailError::Config(message) => ChannelError::Config {
                channel: CHANNEL,
                message,
            },
            EmailError::LoginRefused(message) => ChannelError::Config {
                channel: CHANNEL,
                message: format!(
                    "login refused ({message}); check the account's imap.username and imap.password_env/password_file"
                ),
            },
            other => ChannelError::Source {
                channel: CHANNEL,
                message: other.to_string(),
                retryable: true,
            },
        }
    }
}
