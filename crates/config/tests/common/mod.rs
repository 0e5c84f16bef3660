//! Shared helpers for the config integration tests.
#![allow(dead_code)]

/// A valid Standard Webhooks secret (base64 of 32 ASCII bytes).
pub const CHAT_SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

pub fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}
