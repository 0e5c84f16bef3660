//! `[channels.email]`: the support mailboxes (several accounts allowed),
//! as written ([`RawEmailConfig`], serde) and as validated
//! ([`EmailConfig`]). [`RawEmailConfig::validate`] reports every problem at
//! once, each with its full key path (`channels.email.accounts[0].imap.port`).
//! Secrets are only ever named (`*_env`, `*_file`), never written inline.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// `[channels.email]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailConfig {
    /// Read the mailboxes below.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The support mailboxes, each a shared help@ address (rule 2).
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
    /// `authserv-id`s of your own receiving mail servers (RFC 8601): when one
    /// of them reports `dmarc=pass` (or `dkim=pass` for the From domain) in
    /// `Authentication-Results`, the sender's address counts as verified.
    /// Empty: every mail sender is unverified (decision 35).
    #[serde(default)]
    pub trusted_authserv_ids: Vec<String>,
    /// The ticket token of subjects, a template with one `{ticket}`: written
    /// in front of the subject of the mail intake sends and looked for in
    /// the mail it receives (`[#1234]` with the default).
    #[serde(default = "default_ticket_token")]
    pub ticket_token: String,
}

/// `"[#{ticket}]"`.
pub fn default_ticket_token() -> String {
    crate::TicketToken::DEFAULT_TEMPLATE.to_owned()
}

/// One `[[channels.email.accounts]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    /// Short name of the account (letters, digits, `-`, `_`): logs and the
    /// state store's cursor scope. Never rename it: the cursor is kept under it.
    pub name: String,
    /// The shared support address this mailbox receives (`help@example.com`).
    /// Replies and acknowledgements are sent from it, never from a personal address.
    pub address: String,
    /// Further addresses that are ours too (aliases of the support address,
    /// other support mailboxes): mail to them is not "for someone else", and
    /// mail from them is a loop.
    #[serde(default)]
    pub alias_addresses: Vec<String>,
    /// How to read the mailbox.
    pub imap: RawImap,
    /// How to send replies from the address (none: this account cannot reply).
    #[serde(default)]
    pub smtp: Option<RawSmtp>,
    /// What to do with mail that reaches the mailbox but is addressed only to
    /// someone else (a forwarding rule of a personal address):
    /// `accept_tagged` (a ticket with the tag `intake_not_to_support_address`)
    /// or `refuse_with_pointer` (no ticket; the sender is told to write to
    /// the support address).
    #[serde(default = "default_foreign_recipient")]
    pub foreign_recipient: ForeignRecipientPolicy,
    /// Largest single attachment kept, in bytes; a larger one is left out and named in the ticket.
    #[serde(default = "default_max_attachment_bytes")]
    pub max_attachment_bytes: u64,
    /// Most attachments kept per message; the rest are left out and named in the ticket.
    #[serde(default = "default_max_attachments")]
    pub max_attachments: u64,
    /// Largest message read at all, in bytes; a larger one is set aside
    /// (flagged, moved to the processed folder) and counted, not turned into a ticket.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
}

/// `[channels.email.accounts.imap]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImap {
    /// Server host name (also the name checked in its certificate).
    pub host: String,
    /// Server port (993 for implicit TLS, 143 for STARTTLS).
    #[serde(default = "default_imap_port")]
    pub port: u16,
    /// `implicit` (IMAPS), `starttls`, or `none` (plaintext; tests and loopback only).
    #[serde(default = "default_tls")]
    pub tls: TlsMode,
    /// PEM file of the CA that signed the server's certificate (a private
    /// CA); unset: the public web PKI roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Login name.
    pub username: String,
    /// `password` (LOGIN) or `xoauth2` (an OAuth2 access token, as Gmail and
    /// Microsoft 365 want; refreshed from the `oauth2` table).
    #[serde(default = "default_auth")]
    pub auth: AuthMethod,
    /// Environment variable holding the password (`auth = "password"`).
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (`auth = "password"`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The token refresh of `auth = "xoauth2"`.
    #[serde(default)]
    pub oauth2: Option<RawOAuth2>,
    /// The folder new mail arrives in.
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// Where handed-off mail is moved (after the bus confirmed it); unset:
    /// flagged `$IntakeProcessed` only and left in place.
    #[serde(default = "default_processed_folder")]
    pub processed_folder: Option<String>,
    /// How long one IDLE lasts before it is re-issued, in seconds (at most
    /// 1740: RFC 2177 servers may drop an IDLE after 30 minutes).
    #[serde(default = "default_idle_renew_secs")]
    pub idle_renew_secs: u64,
    /// Poll interval for servers without IDLE, in seconds.
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    /// Longest wait for any server answer before the connection is judged
    /// stalled and replaced, in seconds.
    #[serde(default = "default_command_timeout_secs")]
    pub command_timeout_secs: u64,
}

/// `[channels.email.accounts.imap.oauth2]`: the refresh-token grant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth2 {
    /// The provider's token endpoint (`https://oauth2.googleapis.com/token`,
    /// `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`);
    /// `https` unless the host is loopback.
    pub token_url: String,
    /// The OAuth2 client id.
    pub client_id: String,
    /// Environment variable holding the client secret (none: a public client).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File holding the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Environment variable holding the refresh token.
    #[serde(default)]
    pub refresh_token_env: Option<String>,
    /// File holding the refresh token; a token the provider rotates is
    /// written back to it (so it survives a restart).
    #[serde(default)]
    pub refresh_token_file: Option<PathBuf>,
    /// Scope to ask for (`https://mail.google.com/`,
    /// `https://outlook.office.com/IMAP.AccessAsUser.All offline_access`); none: the grant's.
    #[serde(default)]
    pub scope: Option<String>,
}

/// How the mailbox logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// IMAP LOGIN with a password.
    Password,
    /// SASL XOAUTH2 with an access token.
    Xoauth2,
}

/// The validated credentials of a mailbox.
#[derive(Debug, Clone)]
pub enum ImapAuth {
    Password(SecretString),
    XOAuth2(crate::oauth::OAuth2Config),
}

/// `[channels.email.accounts.smtp]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    /// Server host name.
    pub host: String,
    /// Server port (465 implicit TLS, 587 STARTTLS).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `implicit`, `starttls`, or `none` (tests and loopback only).
    #[serde(default = "default_tls")]
    pub tls: TlsMode,
    /// PEM file of a private CA for the server's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Login name (unset: no AUTH).
    #[serde(default)]
    pub username: Option<String>,
    /// `password` (AUTH PLAIN/LOGIN with the password below) or `xoauth2`
    /// (AUTH XOAUTH2 with the access token of the account's IMAP `oauth2`
    /// table, which must use `auth = "xoauth2"` too: one token source, so a
    /// rotated refresh token is kept once; needs `username`).
    #[serde(default = "default_auth")]
    pub auth: AuthMethod,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Longest wait for the server per command, in seconds.
    #[serde(default = "default_smtp_timeout_secs")]
    pub timeout_secs: u64,
}

/// Transport security of a mail connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plaintext greeting, then STARTTLS before login (required, never optional).
    Starttls,
    /// No TLS at all (loopback tests).
    None,
}

/// Rule 2: mail addressed only to someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForeignRecipientPolicy {
    /// A ticket, tagged so agents see it came in through a forwarding rule.
    AcceptTagged,
    /// No ticket; a polite pointer to the support address goes back.
    RefuseWithPointer,
}

fn default_enabled() -> bool {
    true
}
fn default_foreign_recipient() -> ForeignRecipientPolicy {
    ForeignRecipientPolicy::AcceptTagged
}
fn default_max_attachment_bytes() -> u64 {
    25 * 1024 * 1024
}
fn default_max_attachments() -> u64 {
    50
}
fn default_max_message_bytes() -> u64 {
    50 * 1024 * 1024
}
fn default_imap_port() -> u16 {
    993
}
fn default_smtp_port() -> u16 {
    465
}
fn default_tls() -> TlsMode {
    TlsMode::Implicit
}
fn default_auth() -> AuthMethod {
    AuthMethod::Password
}
fn default_mailbox() -> String {
    "INBOX".to_owned()
}
fn default_processed_folder() -> Option<String> {
    Some("Processed".to_owned())
}
fn default_idle_renew_secs() -> u64 {
    25 * 60
}
fn default_poll_interval_secs() -> u64 {
    60
}
fn default_command_timeout_secs() -> u64 {
    60
}
fn default_smtp_timeout_secs() -> u64 {
    30
}

/// Longest IDLE before it is re-issued (RFC 2177: at most 29 minutes).
pub const MAX_IDLE_RENEW_SECS: u64 = 29 * 60;

/// A configuration problem with its full key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// `[channels.email]` validated.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub enabled: bool,
    pub accounts: Vec<AccountConfig>,
    pub trusted_authserv_ids: Vec<String>,
}

/// One validated account.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub name: String,
    /// The access tokens of `auth = "xoauth2"` (IMAP, and SMTP when it uses
    /// XOAUTH2 too): one per account for the whole process.
    pub tokens: Option<std::sync::Arc<crate::oauth::TokenSource>>,
    /// The support address, lower-cased.
    pub address: String,
    /// Aliases, lower-cased.
    pub alias_addresses: Vec<String>,
    pub imap: ImapConfig,
    pub smtp: Option<SmtpConfig>,
    pub foreign_recipient: ForeignRecipientPolicy,
    pub limits: crate::normalise::Limits,
    pub max_message_bytes: u64,
    /// The channel's ticket token format (`channels.email.ticket_token`).
    pub ticket_token: crate::TicketToken,
}

/// Validated IMAP settings (the password resolved, never printed).
#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub username: String,
    pub auth: ImapAuth,
    pub mailbox: String,
    pub processed_folder: Option<String>,
    pub idle_renew: Duration,
    pub poll_interval: Duration,
    pub command_timeout: Duration,
}

/// Validated SMTP settings.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub credentials: Option<(String, SecretString)>,
    /// The login name of AUTH XOAUTH2 (`auth = "xoauth2"`), whose token is
    /// the account's [`AccountConfig::tokens`].
    pub xoauth2_user: Option<String>,
    pub timeout: Duration,
}

mod validate;

pub use validate::{ProcessSecrets, SecretReader};
