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
}

impl<'env> Ctx<'env> {
    pub(crate) fn new(problems: Problems, env: &'env HashMap<String, String>) -> Self {
        Self { problems, env }
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

    pub(crate) fn secret_from_env(&mut self, key: &str, name: &str) -> Option<SecretString> {
        if name.trim().is_empty() {
            self.problem(key, "must name an environment variable");
            return None;
        }
        match self.env.get(name) {
            None => {
                self.problem(key, format!("environment variable {name} is not set"));
                None
            }
            Some(value) if value.trim().is_empty() => {
                self.problem(key, format!("environment variable {name} is empty"));
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
