//! Configuration problems: every one found is collected and reported at once.

use std::fmt;

/// One thing wrong with the configuration, at a key path such as
/// `zendesk.requests_per_minute` or `channels.chat.secret_env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (`section.key`, list items as `key[2]`); for problems
    /// with the file itself, the file name.
    pub key: String,
    /// What is wrong, in words an operator can act on. Never holds a secret.
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// All problems found while loading or checking a configuration.
///
/// `Display` prints one line per problem, `<key.path>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub problems: Vec<Problem>,
}

impl ConfigErrors {
    /// Never retryable: the same configuration gives the same problems until
    /// an operator changes it (or sets the missing variable or file).
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// The problem reported for exactly this key, if any.
    pub fn for_key(&self, key: &str) -> Option<&Problem> {
        self.problems.iter().find(|problem| problem.key == key)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Collects problems during loading and validation.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    pub(crate) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        let problem = Problem::new(key, message);
        if !self.list.contains(&problem) {
            self.list.push(problem);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn has_key(&self, key: &str) -> bool {
        self.list.iter().any(|problem| problem.key == key)
    }

    /// `Ok(value)` when nothing was reported, otherwise every problem.
    /// Problems come out sorted by key (stable), so the report reads section
    /// by section whatever order they were found in.
    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.list.is_empty() {
            return Ok(value);
        }
        self.list.sort_by(|a, b| a.key.cmp(&b.key));
        Err(ConfigErrors {
            problems: self.list,
        })
    }
}
