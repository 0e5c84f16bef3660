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
    /// Empty: every mail sender is unverified (decision 28).
    #[serde(default)]
    pub trusted_authserv_ids: Vec<String>,
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
    /// The support address, lower-cased.
    pub address: String,
    /// Aliases, lower-cased.
    pub alias_addresses: Vec<String>,
    pub imap: ImapConfig,
    pub smtp: Option<SmtpConfig>,
    pub foreign_recipient: ForeignRecipientPolicy,
    pub limits: crate::normalise::Limits,
    pub max_message_bytes: u64,
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
    pub timeout: Duration,
}

/// Reads a secret named by `env` or `file` (exactly one).
fn resolve_secret(
    env: &Option<String>,
    file: &Option<PathBuf>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<SecretString> {
    let mut problem = |k: String, m: String| problems.push(Problem { key: k, message: m });
    match (env, file) {
        (Some(_), Some(_)) => {
            problem(
                format!("{key}_env"),
                format!("set only one of {key}_env and {key}_file"),
            );
            None
        }
        (Some(var), None) => match std::env::var(var) {
            Ok(value) if !value.is_empty() => Some(SecretString::from(value)),
            _ => {
                problem(
                    format!("{key}_env"),
                    format!("environment variable {var} is not set or empty"),
                );
                None
            }
        },
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(value) if !value.trim().is_empty() => Some(SecretString::from(
                value.trim_end_matches(['\r', '\n']).to_owned(),
            )),
            Ok(_) => {
                problem(
                    format!("{key}_file"),
                    format!("{} is empty", path.display()),
                );
                None
            }
            Err(e) => {
                problem(
                    format!("{key}_file"),
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
        },
        (None, None) => {
            problem(
                format!("{key}_env"),
                format!("a secret is required: set {key}_env or {key}_file"),
            );
            None
        }
    }
}

fn valid_address(address: &str) -> Option<String> {
    intake_event::normalise_email(address).ok()
}

fn check_secs(value: u64, min: u64, max: u64, key: String, problems: &mut Vec<Problem>) {
    if value < min || value > max {
        problems.push(Problem {
            key,
            message: format!("must be between {min} and {max} seconds, got {value}"),
        });
    }
}

impl RawEmailConfig {
    /// Validates everything, returning every problem (key path + message).
    pub fn validate(self) -> Result<EmailConfig, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut accounts = Vec::new();
        if self.enabled && self.accounts.is_empty() {
            problems.push(Problem {
                key: "channels.email.accounts".to_owned(),
                message: "the email channel is enabled but lists no account".to_owned(),
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for (index, raw) in self.accounts.into_iter().enumerate() {
            let base = format!("channels.email.accounts[{index}]");
            let Some(account) = raw.validate(&base, &mut problems) else {
                continue;
            };
            if !names.insert(account.name.clone()) {
                problems.push(Problem {
                    key: format!("{base}.name"),
                    message: format!("account name {:?} is used twice", account.name),
                });
            }
            accounts.push(account);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(EmailConfig {
            enabled: self.enabled,
            accounts,
            trusted_authserv_ids: self.trusted_authserv_ids,
        })
    }
}

impl RawAccount {
    fn validate(self, base: &str, problems: &mut Vec<Problem>) -> Option<AccountConfig> {
        let before = problems.len();
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            problems.push(Problem {
                key: format!("{base}.name"),
                message: "use 1 to 64 letters, digits, `-` or `_`".to_owned(),
            });
        }
        let address = valid_address(&self.address);
        if address.is_none() {
            problems.push(Problem {
                key: format!("{base}.address"),
                message: format!("{:?} is not an e-mail address", self.address),
            });
        }
        let mut aliases = Vec::new();
        for (i, alias) in self.alias_addresses.iter().enumerate() {
            match valid_address(alias) {
                Some(a) => aliases.push(a),
                None => problems.push(Problem {
                    key: format!("{base}.alias_addresses[{i}]"),
                    message: format!("{alias:?} is not an e-mail address"),
                }),
            }
        }
        for (value, key) in [
            (self.max_attachment_bytes, "max_attachment_bytes"),
            (self.max_message_bytes, "max_message_bytes"),
        ] {
            if value == 0 {
                problems.push(Problem {
                    key: format!("{base}.{key}"),
                    message: "must be at least 1".to_owned(),
                });
            }
        }
        if self.foreign_recipient == ForeignRecipientPolicy::RefuseWithPointer
            && self.smtp.is_none()
        {
            problems.push(Problem {
                key: format!("{base}.foreign_recipient"),
                message: "\"refuse_with_pointer\" sends a reply: add the account's smtp section"
                    .to_owned(),
            });
        }
        let imap = self.imap.validate(&format!("{base}.imap"), problems);
        let smtp = self
            .smtp
            .map(|smtp| smtp.validate(&format!("{base}.smtp"), problems));
        if problems.len() != before {
            return None;
        }
        Some(AccountConfig {
            name: self.name,
            address: address?,
            alias_addresses: aliases,
            imap: imap?,
            smtp: smtp.flatten(),
            foreign_recipient: self.foreign_recipient,
            limits: crate::normalise::Limits {
                max_attachment_bytes: self.max_attachment_bytes,
                max_attachments: usize::try_from(self.max_attachments).unwrap_or(usize::MAX),
            },
            max_message_bytes: self.max_message_bytes,
        })
    }
}

fn check_host_and_ca(
    host: &str,
    ca_file: &Option<PathBuf>,
    base: &str,
    problems: &mut Vec<Problem>,
) {
    if host.trim().is_empty() {
        problems.push(Problem {
            key: format!("{base}.host"),
            message: "must not be empty".to_owned(),
        });
    }
    if let Some(path) = ca_file
        && let Err(e) = std::fs::metadata(path)
    {
        problems.push(Problem {
            key: format!("{base}.ca_file"),
            message: format!("cannot read {}: {e}", path.display()),
        });
    }
}

impl RawImap {
    fn validate(self, base: &str, problems: &mut Vec<Problem>) -> Option<ImapConfig> {
        let before = problems.len();
        check_host_and_ca(&self.host, &self.ca_file, base, problems);
        if self.username.is_empty() {
            problems.push(Problem {
                key: format!("{base}.username"),
                message: "must not be empty".to_owned(),
            });
        }
        let auth = match (self.auth, self.oauth2) {
            (AuthMethod::Password, None) => resolve_secret(
                &self.password_env,
                &self.password_file,
                &format!("{base}.password"),
                problems,
            )
            .map(ImapAuth::Password),
            (AuthMethod::Password, Some(_)) => {
                problems.push(Problem {
                    key: format!("{base}.oauth2"),
                    message: "only used with auth = \"xoauth2\"".to_owned(),
                });
                None
            }
            (AuthMethod::Xoauth2, None) => {
                problems.push(Problem {
                    key: format!("{base}.oauth2"),
                    message: "auth = \"xoauth2\" needs the oauth2 table (token_url, client_id, refresh token)".to_owned(),
                });
                None
            }
            (AuthMethod::Xoauth2, Some(oauth2)) => {
                if self.password_env.is_some() || self.password_file.is_some() {
                    problems.push(Problem {
                        key: format!("{base}.password_env"),
                        message: "no password is used with auth = \"xoauth2\"".to_owned(),
                    });
                }
                oauth2
                    .validate(&format!("{base}.oauth2"), problems)
                    .map(ImapAuth::XOAuth2)
            }
        };
        if self.mailbox.is_empty() {
            problems.push(Problem {
                key: format!("{base}.mailbox"),
                message: "must not be empty".to_owned(),
            });
        }
        if self.processed_folder.as_deref() == Some(self.mailbox.as_str()) {
            problems.push(Problem {
                key: format!("{base}.processed_folder"),
                message: "must differ from the mailbox it is moved out of".to_owned(),
            });
        }
        check_secs(
            self.idle_renew_secs,
            10,
            MAX_IDLE_RENEW_SECS,
            format!("{base}.idle_renew_secs"),
            problems,
        );
        check_secs(
            self.poll_interval_secs,
            1,
            3600,
            format!("{base}.poll_interval_secs"),
            problems,
        );
        check_secs(
            self.command_timeout_secs,
            1,
            600,
            format!("{base}.command_timeout_secs"),
            problems,
        );
        if problems.len() != before {
            return None;
        }
        Some(ImapConfig {
            host: self.host,
            port: self.port,
            tls: self.tls,
            ca_file: self.ca_file,
            username: self.username,
            auth: auth?,
            mailbox: self.mailbox,
            processed_folder: self.processed_folder,
            idle_renew: Duration::from_secs(self.idle_renew_secs),
            poll_interval: Duration::from_secs(self.poll_interval_secs),
            command_timeout: Duration::from_secs(self.command_timeout_secs),
        })
    }
}

impl RawOAuth2 {
    fn validate(
        self,
        base: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<crate::oauth::OAuth2Config> {
        let before = problems.len();
        let loopback = |host: &str| matches!(host, "127.0.0.1" | "localhost" | "[::1]");
        let url_ok = match self.token_url.split_once("://") {
            Some(("https", rest)) => !rest.is_empty(),
            Some(("http", rest)) => loopback(rest.split(['/', ':']).next().unwrap_or("")),
            _ => false,
        };
        if !url_ok {
            problems.push(Problem {
                key: format!("{base}.token_url"),
                message: "must be an https URL (http only for a loopback host)".to_owned(),
            });
        }
        if self.client_id.trim().is_empty() {
            problems.push(Problem {
                key: format!("{base}.client_id"),
                message: "must not be empty".to_owned(),
            });
        }
        let client_secret = if self.client_secret_env.is_some() || self.client_secret_file.is_some()
        {
            resolve_secret(
                &self.client_secret_env,
                &self.client_secret_file,
                &format!("{base}.client_secret"),
                problems,
            )
        } else {
            None
        };
        let refresh_token = resolve_secret(
            &self.refresh_token_env,
            &self.refresh_token_file,
            &format!("{base}.refresh_token"),
            problems,
        );
        if problems.len() != before {
            return None;
        }
        Some(crate::oauth::OAuth2Config {
            token_url: self.token_url,
            client_id: self.client_id,
            client_secret,
            refresh_token: refresh_token?,
            refresh_token_file: self.refresh_token_file,
            scope: self.scope,
        })
    }
}

impl RawSmtp {
    fn validate(self, base: &str, problems: &mut Vec<Problem>) -> Option<SmtpConfig> {
        let before = problems.len();
        check_host_and_ca(&self.host, &self.ca_file, base, problems);
        let credentials = match &self.username {
            Some(user) => resolve_secret(
                &self.password_env,
                &self.password_file,
                &format!("{base}.password"),
                problems,
            )
            .map(|password| (user.clone(), password)),
            None => {
                if self.password_env.is_some() || self.password_file.is_some() {
                    problems.push(Problem {
                        key: format!("{base}.username"),
                        message: "a password is set but no username".to_owned(),
                    });
                }
                None
            }
        };
        check_secs(
            self.timeout_secs,
            1,
            600,
            format!("{base}.timeout_secs"),
            problems,
        );
        if problems.len() != before {
            return None;
        }
        Some(SmtpConfig {
            host: self.host,
            port: self.port,
            tls: self.tls,
            ca_file: self.ca_file,
            credentials,
            timeout: Duration::from_secs(self.timeout_secs),
        })
    }
}
