//! `[acknowledgements]`: the one message a customer gets for a new ticket
//! (ticket number and answer time), with per-channel overrides under
//! `[acknowledgements.channels.<name>]`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::general::{non_empty, parse_choice};
use crate::secret::Ctx;

/// `[acknowledgements]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcknowledgements {
    /// Send acknowledgements at all (the gateway role consumes the outcomes).
    #[serde(default = "default_enabled")]
    enabled: bool,
    /// Consumer group of the acknowledgement consumers on `<prefix>.outcomes`.
    #[serde(default = "default_consumer_group")]
    consumer_group: String,
    /// Language when neither the contact's locale nor the message's
    /// language has templates: `ru` or `en`.
    #[serde(default = "default_locale")]
    default_locale: String,
    /// At most one acknowledgement per sender within this many seconds (0: no limit).
    #[serde(default = "default_sender_window_secs")]
    sender_window_secs: u64,
    /// First wait before retrying a send that failed retryably, in milliseconds.
    #[serde(default = "default_retry_initial_backoff_ms")]
    retry_initial_backoff_ms: u64,
    /// Longest wait between retries, in seconds.
    #[serde(default = "default_retry_max_backoff_secs")]
    retry_max_backoff_secs: u64,
    /// A send still failing retryably this many seconds after the first
    /// attempt is dead-lettered (`acknowledgement_retries_exhausted`).
    #[serde(default = "default_give_up_after_secs")]
    give_up_after_secs: u64,
    /// Per-channel settings, by channel name.
    #[serde(default)]
    channels: BTreeMap<String, RawChannelAck>,
}

/// `[acknowledgements.channels.<name>]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannelAck {
    /// Acknowledge in this channel (false where Zendesk's own triggers
    /// already notify requesters).
    #[serde(default = "default_enabled")]
    enabled: bool,
    /// A `minijinja` template replacing the built-in Russian text.
    #[serde(default)]
    template_ru: Option<String>,
    /// A `minijinja` template replacing the built-in English text.
    #[serde(default)]
    template_en: Option<String>,
}

fn default_enabled() -> bool {
    true
}
fn default_consumer_group() -> String {
    "intake-acks".to_owned()
}
fn default_locale() -> String {
    "ru".to_owned()
}
fn default_sender_window_secs() -> u64 {
    600
}
fn default_retry_initial_backoff_ms() -> u64 {
    1000
}
fn default_retry_max_backoff_secs() -> u64 {
    60
}
fn default_give_up_after_secs() -> u64 {
    3600
}

impl Default for RawAcknowledgements {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            consumer_group: default_consumer_group(),
            default_locale: default_locale(),
            sender_window_secs: default_sender_window_secs(),
            retry_initial_backoff_ms: default_retry_initial_backoff_ms(),
            retry_max_backoff_secs: default_retry_max_backoff_secs(),
            give_up_after_secs: default_give_up_after_secs(),
            channels: BTreeMap::new(),
        }
    }
}

/// A language acknowledgements are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AckLanguage {
    Ru,
    En,
}

/// `[acknowledgements]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcknowledgementsConfig {
    pub enabled: bool,
    pub consumer_group: String,
    pub default_language: AckLanguage,
    pub sender_window: Duration,
    pub retry_initial_backoff: Duration,
    pub retry_max_backoff: Duration,
    pub give_up_after: Duration,
    /// Per channel: switched on or off, and template replacements.
    pub channels: BTreeMap<String, ChannelAckConfig>,
}

/// `[acknowledgements.channels.<name>]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAckConfig {
    pub enabled: bool,
    pub templates: BTreeMap<AckLanguage, String>,
}

impl RawAcknowledgements {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> AcknowledgementsConfig {
        let consumer_group = non_empty(ctx, "acknowledgements.consumer_group", self.consumer_group);
        let choices = [("ru", AckLanguage::Ru), ("en", AckLanguage::En)];
        let default_language = parse_choice(&self.default_locale, &choices).unwrap_or_else(|e| {
            ctx.problem("acknowledgements.default_locale", e);
            AckLanguage::Ru
        });
        if self.retry_initial_backoff_ms == 0 {
            ctx.problem(
                "acknowledgements.retry_initial_backoff_ms",
                "must be at least 1",
            );
        }
        let retry_initial_backoff = Duration::from_millis(self.retry_initial_backoff_ms);
        let retry_max_backoff = Duration::from_secs(self.retry_max_backoff_secs);
        if retry_max_backoff < retry_initial_backoff {
            ctx.problem(
                "acknowledgements.retry_max_backoff_secs",
                "must not be shorter than acknowledgements.retry_initial_backoff_ms",
            );
        }
        let mut channels = BTreeMap::new();
        let known_channels = ctx.known_channels();
        for (name, raw) in self.channels {
            let base = format!("acknowledgements.channels.{name}");
            if !known_channels.contains(&name) {
                ctx.problem(
                    base.clone(),
                    format!("unknown channel (known: {})", known_channels.join(", ")),
                );
            }
            let mut templates = BTreeMap::new();
            for (language, suffix, text) in [
                (AckLanguage::Ru, "template_ru", raw.template_ru),
                (AckLanguage::En, "template_en", raw.template_en),
            ] {
                let Some(text) = text else { continue };
                if let Err(message) = check_template(&text) {
                    ctx.problem(format!("{base}.{suffix}"), message);
                }
                templates.insert(language, text);
            }
            let enabled = raw.enabled;
            channels.insert(name, ChannelAckConfig { enabled, templates });
        }
        AcknowledgementsConfig {
            enabled: self.enabled,
            consumer_group,
            default_language,
            sender_window: Duration::from_secs(self.sender_window_secs),
            retry_initial_backoff,
            retry_max_backoff,
            give_up_after: Duration::from_secs(self.give_up_after_secs),
            channels,
        }
    }
}

/// A template that is empty or does not compile.
fn check_template(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    let mut env = minijinja::Environment::new();
    env.add_template("template", text)
        .map(|_| ())
        .map_err(|e| format!("not a valid template: {e}"))
}

#[cfg(test)]
mod tests {
    use crate::{AckLanguage, load_from};

    #[test]
    fn defaults_apply_without_a_section() {
        let config = load_from(None, &[], &[]).unwrap().acknowledgements;
        assert!(config.enabled);
        assert_eq!(config.consumer_group, "intake-acks");
        assert_eq!(config.default_language, AckLanguage::Ru);
        assert_eq!(config.sender_window.as_secs(), 600);
        assert!(config.channels.is_empty());
    }

    #[test]
    fn channel_overrides_are_read() {
        let text = r##"
            [acknowledgements]
            default_locale = "EN"
            sender_window_secs = 0
            [acknowledgements.channels.chat]
            template_en = "#{{ ticket_id }}"
            [acknowledgements.channels.slack]
            enabled = false
        "##;
        let config = load_from(Some(text), &[], &[]).unwrap().acknowledgements;
        assert_eq!(config.default_language, AckLanguage::En);
        assert!(config.sender_window.is_zero());
        assert_eq!(
            config.channels["chat"].templates[&AckLanguage::En],
            "#{{ ticket_id }}"
        );
        assert!(config.channels["chat"].enabled);
        assert!(!config.channels["slack"].enabled);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = r#"
            [acknowledgements]
            default_locale = "de"
            retry_initial_backoff_ms = 0
            colour = "blue"
            [acknowledgements.channels.fax]
            enabled = false
            [acknowledgements.channels.chat]
            template_ru = "{% if %}"
            template_en = " "
        "#;
        let errors = load_from(Some(text), &[], &[]).unwrap_err();
        let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "acknowledgements.default_locale",
            "acknowledgements.retry_initial_backoff_ms",
            "acknowledgements.colour",
            "acknowledgements.channels.fax",
            "acknowledgements.channels.chat.template_ru",
            "acknowledgements.channels.chat.template_en",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
    }
}
