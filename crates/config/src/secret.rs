//! Secrets come from an environment variable (`<name>_env`) or a file
//! (`<name>_file`), never inline, and are held as [`SecretString`] from then on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::problems::Problems;

/// Validation state: collected problems and the environment to read secrets from.
pub(crate) struct Ctx<'env> {
    pub(crate) problems: Problems,
    env: &'env HashMap<String, String>,
    /// Channel names `router.channel_priority` and `[sla]` accept: the
    /// registered channels and the planned ones (`KNOWN_CHANNELS`).
    known_channels: Vec<String>,
}

impl<'env> Ctx<'env> {
    pub(crate) fn new(
        problems: Problems,
        env: &'env HashMap<String, String>,
        known_channels: Vec<String>,
    ) -> Self {
        Self {
            problems,
            env,
            known_channels,
        }
    }

    pub(crate) fn known_channels(&self) -> Vec<String> {
        self.known_channels.clone()
    }

    pub(crate) fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(key, message);
    }

    /// Resolves the secret `<key>_env` / `<key>_file` (e.g. key `zendesk.api_token`).
    /// `None` when neither is given or when it cannot be read (then a problem is
    /// recorded with the key path that was given).
    pub(crate) fn secret(
        &mut self,
        key: &str,
        env_name: Option<&str>,
        file: Option<&Path>,
    ) -> Option<SecretString> {
        match (env_name, file) {
            (None, None) => None,
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{key}_env"),
                    format!("conflicts with {key}_file: give the secret one way only"),
                );
                None
            }
            (Some(name), None) => self.secret_from_env(&format!("{key}_env"), name),
            (None, Some(path)) => self.secret_from_file(&format!("{key}_file"), path),
        }
    }

    /// Reads the secret from the variable `name` given at `key`. Messages
    /// show the name only when it reads like a conventional variable name:
    /// what is written at a `*_env` key may be the secret itself, pasted there
    /// by mistake.
    pub(crate) fn secret_from_env(&mut self, key: &str, name: &str) -> Option<SecretString> {
        if let Some(problem) = env_name_problem(name) {
            self.problem(key, problem);
            return None;
        }
        let variable = if is_conventional_env_name(name) {
            format!("environment variable {name}")
        } else {
            "the environment variable named here (name not shown: it is not an upper-case \
             variable name, so it may be a pasted secret)"
                .to_owned()
        };
        match self.env.get(name) {
            None => {
                self.problem(key, format!("{variable} is not set"));
                None
            }
            Some(value) if value.trim().is_empty() => {
                self.problem(key, format!("{variable} is empty"));
                None
            }
            Some(value) => Some(SecretString::from(value.trim().to_owned())),
        }
    }

    pub(crate) fn secret_from_file(&mut self, key: &str, path: &Path) -> Option<SecretString> {
        match std::fs::read_to_string(path) {
            Err(error) => {
                self.problem(key, format!("cannot read {}: {error}", path.display()));
                None
            }
            Ok(text) if text.trim().is_empty() => {
                self.problem(key, format!("file {} is empty", path.display()));
                None
            }
            Ok(text) => Some(SecretString::from(text.trim().to_owned())),
        }
    }
}

/// The raw pair of fields for one secret, as written in the file.
pub(crate) struct SecretRef<'raw> {
    pub(crate) env: Option<&'raw str>,
    pub(crate) file: Option<&'raw Path>,
}

impl<'raw> SecretRef<'raw> {
    pub(crate) fn new(env: &'raw Option<String>, file: &'raw Option<PathBuf>) -> Self {
        Self {
            env: env.as_deref(),
            file: file.as_deref(),
        }
    }

    pub(crate) fn is_given(&self) -> bool {
        self.env.is_some() || self.file.is_some()
    }

    pub(crate) fn resolve(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<SecretString> {
        ctx.secret(key, self.env, self.file)
    }
}

/// Longest variable name accepted at a `*_env` key.
const MAX_ENV_NAME_CHARS: usize = 128;

/// Why `name` cannot be an environment variable name (POSIX portable names:
/// ASCII letters, digits and `_`, not starting with a digit), in words that
/// never repeat it; `None` when it can be.
pub(crate) fn env_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("must name an environment variable".to_owned());
    }
    let why = if name.chars().count() > MAX_ENV_NAME_CHARS {
        format!(
            "it is {} characters long (at most {MAX_ENV_NAME_CHARS})",
            name.chars().count()
        )
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        "it starts with a digit".to_owned()
    } else if name.contains(char::is_whitespace) {
        "it contains white space".to_owned()
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        "it has characters other than ASCII letters, digits and '_'".to_owned()
    } else {
        return None;
    };
    Some(format!(
        "is not an environment variable name ({why}); the value is not shown, as it may be a \
         secret pasted here by mistake: put the secret in an environment variable and give \
         that variable's name here"
    ))
}

/// True for names that read like a conventional variable name and so may
/// be shown in a message: upper-case letters, digits and `_`, at most 64
/// characters, and either short or split into words by `_`. A mixed-case or
/// long unbroken run (an API token, a base64 key) is not shown.
fn is_conventional_env_name(name: &str) -> bool {
    let upper = name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    upper && name.len() <= 64 && (name.contains('_') || name.len() <= 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_checked_without_repeating_them() {
        for valid in ["ZENDESK_TOKEN", "_X", "a1", "Kafka_Password"] {
            assert_eq!(env_name_problem(valid), None, "{valid}");
        }
        for invalid in [
            "",
            "  ",
            "9LIVES",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=",
            "TOKEN VALUE",
            "пароль",
        ] {
            let problem = env_name_problem(invalid).unwrap_or_else(|| panic!("{invalid:?}"));
            if !invalid.trim().is_empty() {
                assert!(!problem.contains(invalid), "{problem}");
            }
        }
        let long = "A".repeat(MAX_ENV_NAME_CHARS + 1);
        assert!(env_name_problem(&long).is_some());
    }

    #[test]
    fn only_conventional_names_are_shown() {
        for shown in [
            "ZENDESK_TOKEN",
            "NOT_SET_ANYWHERE",
            "KAFKA_SSL_KEY_PASSWORD",
            "TOKEN",
        ] {
            assert!(is_conventional_env_name(shown), "{shown}");
        }
        for hidden in [
            "Xk9fQ2mZ7pL0aB3cD4eF5gH6iJ7kL8mN9oP0qR1s",
            "zendesk_token",
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        ] {
            assert!(!is_conventional_env_name(hidden), "{hidden}");
        }
    }
}
