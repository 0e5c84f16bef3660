//! Validation of `[channels.email]`: every problem with its key path.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::*;

/// Reads a secret named by `env` or `file` (exactly one).
/// Where secrets are read from: the process (files and environment
/// variables), or the configuration loader's context (section mode).
pub trait SecretReader {
    /// Reads the secret given by exactly one of `env` / `file`; `key` is the
    /// full key path without `_env`/`_file`. Reports why it cannot.
    fn read(
        &mut self,
        key: &str,
        env: &Option<String>,
        file: &Option<PathBuf>,
        problems: &mut Vec<Problem>,
    ) -> Option<SecretString>;
}

/// Secrets from this process's environment variables and files.
#[derive(Debug, Default)]
pub struct ProcessSecrets;

impl SecretReader for ProcessSecrets {
    fn read(
        &mut self,
        key: &str,
        env: &Option<String>,
        file: &Option<PathBuf>,
        problems: &mut Vec<Problem>,
    ) -> Option<SecretString> {
        let mut problem = |k: String, m: String| problems.push(Problem { key: k, message: m });
        if let Some(var) = env {
            return match std::env::var(var) {
                Ok(value) if !value.is_empty() => Some(SecretString::from(value)),
                _ => {
                    problem(
                        format!("{key}_env"),
                        format!("environment variable {var} is not set or empty"),
                    );
                    None
                }
            };
        }
        let path = file.as_ref()?;
        match std::fs::read_to_string(path) {
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
        }
    }
}

/// Reads a secret named by `env` or `file` (exactly one).
fn resolve_secret(
    env: &Option<String>,
    file: &Option<PathBuf>,
    key: &str,
    problems: &mut Vec<Problem>,
    secrets: &mut dyn SecretReader,
) -> Option<SecretString> {
    match (env, file) {
        (Some(_), Some(_)) => {
            problems.push(Problem {
                key: format!("{key}_env"),
                message: format!("set only one of {key}_env and {key}_file"),
            });
            None
        }
        (None, None) => {
            problems.push(Problem {
                key: format!("{key}_env"),
                message: format!("a secret is required: set {key}_env or {key}_file"),
            });
            None
        }
        _ => secrets.read(key, env, file, problems),
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
        self.validate_with(&mut ProcessSecrets)
    }

    /// [`RawEmailConfig::validate`] with secrets read by `secrets`.
    pub fn validate_with(
        self,
        secrets: &mut dyn SecretReader,
    ) -> Result<EmailConfig, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut accounts = Vec::new();
        let ticket_token = match crate::TicketToken::parse(&self.ticket_token) {
            Ok(token) => token,
            Err(message) => {
                problems.push(Problem {
                    key: "channels.email.ticket_token".to_owned(),
                    message,
                });
                crate::TicketToken::default()
            }
        };
        if self.enabled && self.accounts.is_empty() {
            problems.push(Problem {
                key: "channels.email.accounts".to_owned(),
                message: "the email channel is enabled but lists no account".to_owned(),
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for (index, raw) in self.accounts.into_iter().enumerate() {
            let base = format!("channels.email.accounts[{index}]");
            let Some(mut account) = raw.validate(&base, &mut problems, secrets) else {
                continue;
            };
            account.ticket_token = ticket_token.clone();
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
    fn validate(
        self,
        base: &str,
        problems: &mut Vec<Problem>,
        secrets: &mut dyn SecretReader,
    ) -> Option<AccountConfig> {
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
        // As written: a problem elsewhere in the imap section is reported
        // there, not again as a wrong smtp auth.
        let imap_xoauth2 = self.imap.auth == AuthMethod::Xoauth2;
        let imap = self
            .imap
            .validate(&format!("{base}.imap"), problems, secrets);
        let smtp = self
            .smtp
            .map(|smtp| smtp.validate(&format!("{base}.smtp"), imap_xoauth2, problems, secrets));
        let tokens = match imap.as_ref().map(|imap| &imap.auth) {
            Some(ImapAuth::XOAuth2(oauth2)) => {
                match crate::oauth::TokenSource::new(&self.name, oauth2.clone()) {
                    Ok(tokens) => Some(std::sync::Arc::new(tokens)),
                    Err(error) => {
                        problems.push(Problem {
                            key: format!("{base}.imap.oauth2"),
                            message: error.to_string(),
                        });
                        None
                    }
                }
            }
            _ => None,
        };
        if problems.len() != before {
            return None;
        }
        Some(AccountConfig {
            tokens,
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
            ticket_token: crate::TicketToken::default(),
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
    fn validate(
        self,
        base: &str,
        problems: &mut Vec<Problem>,
        secrets: &mut dyn SecretReader,
    ) -> Option<ImapConfig> {
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
                secrets,
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
                    .validate(&format!("{base}.oauth2"), problems, secrets)
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
        secrets: &mut dyn SecretReader,
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
                secrets,
            )
        } else {
            None
        };
        let refresh_token = resolve_secret(
            &self.refresh_token_env,
            &self.refresh_token_file,
            &format!("{base}.refresh_token"),
            problems,
            secrets,
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
    fn validate(
        self,
        base: &str,
        imap_xoauth2: bool,
        problems: &mut Vec<Problem>,
        secrets: &mut dyn SecretReader,
    ) -> Option<SmtpConfig> {
        let before = problems.len();
        check_host_and_ca(&self.host, &self.ca_file, base, problems);
        let xoauth2 = self.auth == AuthMethod::Xoauth2;
        if xoauth2 {
            if !imap_xoauth2 {
                problems.push(Problem {
                    key: format!("{base}.auth"),
                    message: "\"xoauth2\" uses the account's IMAP token: set the imap section's \
                              auth = \"xoauth2\" and its oauth2 table"
                        .to_owned(),
                });
            }
            if self.username.is_none() {
                problems.push(Problem {
                    key: format!("{base}.username"),
                    message: "auth = \"xoauth2\" needs the login name".to_owned(),
                });
            }
            if self.password_env.is_some() || self.password_file.is_some() {
                problems.push(Problem {
                    key: format!("{base}.password"),
                    message: "no password is used with auth = \"xoauth2\"".to_owned(),
                });
            }
        }
        let credentials = match &self.username {
            Some(_) if xoauth2 => None,
            Some(user) => resolve_secret(
                &self.password_env,
                &self.password_file,
                &format!("{base}.password"),
                problems,
                secrets,
            )
            .map(|password| (user.clone(), password)),
            None => {
                if !xoauth2 && (self.password_env.is_some() || self.password_file.is_some()) {
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
            xoauth2_user: if xoauth2 { self.username } else { None },
            timeout: Duration::from_secs(self.timeout_secs),
        })
    }
}
