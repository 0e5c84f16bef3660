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

/// The channel sections the tests load with: the chat channel's.
pub fn sections() -> Vec<intake_config::Section> {
    vec![intake_config::Section::of::<intake_channel_chat::Chat>()]
}

/// `intake_config::load_from` with [`sections`] registered.
pub fn load_from(
    toml_text: Option<&str>,
    env: &[(String, String)],
) -> Result<intake_config::Config, intake_config::ConfigErrors> {
    intake_config::load_from(toml_text, env, &sections())
}

/// `intake_config::load_for` with [`sections`] registered.
pub fn load_for(
    path: Option<&std::path::Path>,
    needs: intake_config::Needs,
) -> Result<intake_config::Config, intake_config::ConfigErrors> {
    intake_config::load_for(path, needs, &sections())
}

/// The validated `[channels.chat]` options (present once the section has no
/// problem and its secret is given).
pub fn chat(config: &intake_config::Config) -> &intake_channel_chat::ChatOptions {
    config
        .channels
        .options::<intake_channel_chat::Chat>()
        .expect("chat options")
}

/// `intake_config::load` with [`sections`] registered.
pub fn load(
    path: Option<&std::path::Path>,
) -> Result<intake_config::Config, intake_config::ConfigErrors> {
    intake_config::load(path, &sections())
}
