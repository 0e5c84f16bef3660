//! Deserialisation that reports every problem, not only the first.
//!
//! Serde stops at the first error. So the tree is deserialised, the failing
//! key is recorded with its path and removed from the tree (its default then
//! applies), and deserialisation runs again, until it succeeds. Every raw
//! field has a default, so removing a key never makes a new error; each round
//! removes one key, so the loop ends within the number of keys in the tree.

use config::{ConfigError, Value, ValueKind};
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::problems::Problems;

/// Secrets that someone may try to give inline; the message points to the
/// `_env`/`_file` pair instead of just saying "unknown key".
const INLINE_SECRET_KEYS: &[&str] = &[
    "zendesk.api_token",
    "zendesk.oauth_token",
    "store.postgres_url",
    "bus.kafka.sasl_password",
];

pub(crate) fn deserialize_collecting<T: DeserializeOwned>(
    tree: Value,
    problems: &mut Problems,
) -> Option<T> {
    deserialize_collecting_at("", tree, problems)
}

/// [`deserialize_collecting`] of a subtree found at the key path `prefix`
/// (`channels.chat`), which starts every reported key.
pub(crate) fn deserialize_collecting_at<T: DeserializeOwned>(
    prefix: &str,
    mut tree: Value,
    problems: &mut Problems,
) -> Option<T> {
    let rounds = count_nodes(&tree) + 1;
    for _ in 0..rounds {
        let error = match serde_path_to_error::deserialize::<_, T>(tree.clone()) {
            Ok(value) => return Some(value),
            Err(error) => error,
        };
        let mut segments = Vec::new();
        let mut key = prefix.to_owned();
        for segment in error.path().iter() {
            match segment {
                Segment::Map { key: name } => {
                    if !key.is_empty() {
                        key.push('.');
                    }
                    key.push_str(name);
                    segments.push(name.clone());
                }
                Segment::Seq { index } => {
                    key.push_str(&format!("[{index}]"));
                    // A bad item makes the whole list fall back to its default.
                    break;
                }
                Segment::Enum { .. } | Segment::Unknown => break,
            }
        }
        let message = describe(&key, error.into_inner());
        let key = if key.is_empty() {
            "(root)".to_owned()
        } else {
            key
        };
        problems.push(key, message);
        if segments.is_empty() || !remove_path(&mut tree, &segments) {
            return None;
        }
    }
    None
}

fn describe(key: &str, error: ConfigError) -> String {
    match error {
        ConfigError::Type {
            unexpected,
            expected,
            ..
        } => format!("invalid type: {unexpected}, expected {expected}"),
        ConfigError::At { error, .. } => describe(key, *error),
        ConfigError::Message(message) => describe_message(key, &message),
        other => other.to_string(),
    }
}

fn describe_message(key: &str, message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let field = rest.split('`').next().unwrap_or_default();
    // A secret key written inline where the section has `<key>_env`.
    let has_env_pair = rest.contains(&format!("`{field}_env`"));
    if INLINE_SECRET_KEYS.contains(&key) || has_env_pair {
        return format!(
            "secrets are never given inline: use {key}_env (an environment variable name) or {key}_file (a file path)"
        );
    }
    match rest.split_once("`, expected ") {
        Some((_, expected)) => format!("unknown key (expected {expected})"),
        None => "unknown key".to_owned(),
    }
}

fn count_nodes(value: &Value) -> usize {
    match &value.kind {
        ValueKind::Table(table) => 1 + table.values().map(count_nodes).sum::<usize>(),
        ValueKind::Array(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

fn remove_path(tree: &mut Value, segments: &[String]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = tree;
    for segment in parents {
        let ValueKind::Table(table) = &mut node.kind else {
            return false;
        };
        let Some(child) = table.get_mut(segment) else {
            return false;
        };
        node = child;
    }
    match &mut node.kind {
        ValueKind::Table(table) => table.remove(last).is_some(),
        _ => false,
    }
}
