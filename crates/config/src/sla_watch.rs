//! `[sla_watch]`: the 30-minute warning (rule 7). The router role watches
//! the first-response deadlines of new tickets; shortly before one (by
//! default 30 minutes) it tags the ticket, adds an internal note and posts to
//! a Slack channel unless an agent has answered publicly, and marks the
//! breach at the deadline. Off by default.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::general::non_empty;
use crate::secret::Ctx;

/// `[sla_watch]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlaWatch {
    /// Watch deadlines at all (runs in the router role, one active replica).
    #[serde(default)]
    enabled: bool,
    /// Warn this many minutes (wall-clock) before a ticket's first-response deadline.
    #[serde(default = "default_warn_before_minutes")]
    warn_before_minutes: u64,
    /// Per SLA policy (by name), minutes before the deadline replacing
    /// `warn_before_minutes`; 0 sends no warning for that policy (the
    /// breach is still marked).
    #[serde(default)]
    warn_before_minutes_by_policy: BTreeMap<String, u64>,
    /// How often the active replica looks for deadlines due, in seconds.
    #[serde(default = "default_scan_interval_secs")]
    scan_interval_secs: u64,
    /// How long the active replica's lease lasts without renewal, in
    /// seconds; another replica takes over at most this long after it stopped.
    #[serde(default = "default_lease_ttl_secs")]
    lease_ttl_secs: u64,
    /// Consumer group on `<prefix>.outcomes` that records the deadlines.
    #[serde(default = "default_consumer_group")]
    consumer_group: String,
    /// Tag put on a ticket when it is warned about.
    #[serde(default = "default_warning_tag")]
    warning_tag: String,
    /// Tag put on a ticket whose deadline passed without a public answer.
    #[serde(default = "default_breach_tag")]
    breach_tag: String,
    /// Where the warning is posted in Slack (no section: no Slack post).
    #[serde(default)]
    slack: Option<RawSlack>,
}

/// `[sla_watch.slack]` as written: an incoming webhook, or a bot token
/// and a channel for `chat.postMessage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    /// Environment variable holding the incoming webhook URL (a secret).
    #[serde(default)]
    webhook_url_env: Option<String>,
    /// File holding the incoming webhook URL.
    #[serde(default)]
    webhook_url_file: Option<PathBuf>,
    /// Environment variable holding the bot token for `chat.postMessage`.
    #[serde(default)]
    bot_token_env: Option<String>,
    /// File holding the bot token for `chat.postMessage`.
    #[serde(default)]
    bot_token_file: Option<PathBuf>,
    /// The channel id (`C0123…`) or name `chat.postMessage` posts to.
    #[serde(default)]
    channel: Option<String>,
    /// Slack's Web API base (for `chat.postMessage`), ending in `/`.
    #[serde(default = "default_api_base_url")]
    api_base_url: String,
    /// Seconds one post may take before it counts as failed (and is retried).
    #[serde(default = "default_request_timeout_secs")]
    request_timeout_secs: u64,
}

fn default_warn_before_minutes() -> u64 {
    30
}
fn default_scan_interval_secs() -> u64 {
    15
}
fn default_lease_ttl_secs() -> u64 {
    30
}
fn default_consumer_group() -> String {
    "intake-sla-watch".to_owned()
}
fn default_warning_tag() -> String {
    "intake_sla_warning".to_owned()
}
fn default_breach_tag() -> String {
    "intake_sla_breached".to_owned()
}
fn default_api_base_url() -> String {
    "https://slack.com/api/".to_owned()
}
fn default_request_timeout_secs() -> u64 {
    10
}

impl Default for RawSlaWatch {
    fn default() -> Self {
        Self {
            enabled: false,
            warn_before_minutes: default_warn_before_minutes(),
            warn_before_minutes_by_policy: BTreeMap::new(),
            scan_interval_secs: default_scan_interval_secs(),
            lease_ttl_secs: default_lease_ttl_secs(),
            consumer_group: default_consumer_group(),
            warning_tag: default_warning_tag(),
            breach_tag: default_breach_tag(),
            slack: None,
        }
    }
}

/// `[sla_watch]`, validated.
#[derive(Debug, Clone)]
pub struct SlaWatchConfig {
    pub enabled: bool,
    pub warn_before: Duration,
    /// Per policy name; zero: no warning for it.
    pub warn_before_by_policy: BTreeMap<String, Duration>,
    pub scan_interval: Duration,
    pub lease_ttl: Duration,
    pub consumer_group: String,
    pub warning_tag: String,
    pub breach_tag: String,
    pub slack: Option<SlaSlackConfig>,
}

/// Where warnings go in Slack.
#[derive(Clone)]
pub enum SlaSlackTarget {
    /// An incoming webhook URL (itself a secret).
    Webhook(SecretString),
    /// `chat.postMessage` with a bot token to a channel.
    PostMessage {
        bot_token: SecretString,
        channel: String,
        api_base_url: Url,
    },
}

impl std::fmt::Debug for SlaSlackTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlaSlackTarget::Webhook(_) => f.write_str("Webhook(<redacted>)"),
            SlaSlackTarget::PostMessage {
                channel,
                api_base_url,
                ..
            } => f
                .debug_struct("PostMessage")
                .field("bot_token", &"<redacted>")
                .field("channel", channel)
                .field("api_base_url", &api_base_url.as_str())
                .finish(),
        }
    }
}

/// `[sla_watch.slack]`, validated.
#[derive(Debug, Clone)]
pub struct SlaSlackConfig {
    pub target: SlaSlackTarget,
    pub request_timeout: Duration,
}

/// A Zendesk tag: lower-case letters, digits, `_` and `-`.
fn tag(ctx: &mut Ctx<'_>, key: &str, value: String) -> String {
    let value = non_empty(ctx, key, value);
    let valid = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        ctx.problem(
            key,
            "a tag has only lower-case letters, digits, `_` and `-`",
        );
    }
    value
}

impl RawSlaWatch {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> SlaWatchConfig {
        if self.scan_interval_secs == 0 {
            ctx.problem("sla_watch.scan_interval_secs", "must be at least 1");
        }
        if self.lease_ttl_secs < 2 * self.scan_interval_secs.max(1) {
            ctx.problem(
                "sla_watch.lease_ttl_secs",
                "must be at least twice sla_watch.scan_interval_secs (the lease is renewed once per scan)",
            );
        }
        let minutes = |m: u64| Duration::from_secs(m.saturating_mul(60));
        SlaWatchConfig {
            enabled: self.enabled,
            warn_before: minutes(self.warn_before_minutes),
            warn_before_by_policy: self
                .warn_before_minutes_by_policy
                .into_iter()
                .map(|(policy, m)| (policy, minutes(m)))
                .collect(),
            scan_interval: Duration::from_secs(self.scan_interval_secs.max(1)),
            lease_ttl: Duration::from_secs(self.lease_ttl_secs.max(2)),
            consumer_group: non_empty(ctx, "sla_watch.consumer_group", self.consumer_group),
            warning_tag: tag(ctx, "sla_watch.warning_tag", self.warning_tag),
            breach_tag: tag(ctx, "sla_watch.breach_tag", self.breach_tag),
            slack: self.slack.and_then(|slack| slack.validate(ctx)),
        }
    }
}

impl RawSlack {
    fn validate(self, ctx: &mut Ctx<'_>) -> Option<SlaSlackConfig> {
        const KEY: &str = "sla_watch.slack";
        let webhook = ctx.secret(
            &format!("{KEY}.webhook_url"),
            self.webhook_url_env.as_deref(),
            self.webhook_url_file.as_deref(),
        );
        let token = ctx.secret(
            &format!("{KEY}.bot_token"),
            self.bot_token_env.as_deref(),
            self.bot_token_file.as_deref(),
        );
        let webhook_given = self.webhook_url_env.is_some() || self.webhook_url_file.is_some();
        let token_given = self.bot_token_env.is_some() || self.bot_token_file.is_some();
        if self.request_timeout_secs == 0 {
            ctx.problem(format!("{KEY}.request_timeout_secs"), "must be at least 1");
        }
        let request_timeout = Duration::from_secs(self.request_timeout_secs.max(1));
        let target = match (webhook_given, token_given) {
            (true, true) => {
                ctx.problem(
                    format!("{KEY}.webhook_url_env"),
                    "give either an incoming webhook or a bot token, not both",
                );
                return None;
            }
            (false, false) => {
                ctx.problem(
                    format!("{KEY}.webhook_url_env"),
                    "required (or sla_watch.slack.bot_token_env with sla_watch.slack.channel)",
                );
                return None;
            }
            (true, false) => SlaSlackTarget::Webhook(webhook?),
            (false, true) => {
                let channel = match self.channel.as_deref().map(str::trim) {
                    Some(channel) if !channel.is_empty() => channel.to_owned(),
                    _ => {
                        ctx.problem(
                            format!("{KEY}.channel"),
                            "required with sla_watch.slack.bot_token_env (chat.postMessage)",
                        );
                        return None;
                    }
                };
                let api_base_url = match Url::parse(self.api_base_url.trim()) {
                    Ok(url) if url.path().ends_with('/') => url,
                    Ok(_) => {
                        ctx.problem(format!("{KEY}.api_base_url"), "must end with `/`");
                        return None;
                    }
                    Err(error) => {
                        ctx.problem(format!("{KEY}.api_base_url"), format!("not a URL: {error}"));
                        return None;
                    }
                };
                SlaSlackTarget::PostMessage {
                    bot_token: token?,
                    channel,
                    api_base_url,
                }
            }
        };
        Some(SlaSlackConfig {
            target,
            request_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn off_by_default_with_the_seeds_thirty_minutes() {
        let config = crate::load_from(None, &[], &[]).unwrap().sla_watch;
        assert!(!config.enabled);
        assert_eq!(config.warn_before.as_secs(), 30 * 60);
        assert!(config.slack.is_none());
        assert_eq!(config.warning_tag, "intake_sla_warning");
    }

    #[test]
    fn a_webhook_or_a_bot_token_and_never_shown() {
        let env = [
            (
                "HOOK".to_owned(),
                "https://hooks.slack.test/T/B/x-secret".to_owned(),
            ),
            ("BOT".to_owned(), "xoxb-secret-token".to_owned()),
        ];
        let text = "[sla_watch]\nenabled = true\nwarn_before_minutes = 45\n\
                    warn_before_minutes_by_policy = { chat = 0 }\n\
                    [sla_watch.slack]\nwebhook_url_env = \"HOOK\"\n";
        let config = crate::load_from(Some(text), &env, &[]).unwrap().sla_watch;
        assert_eq!(config.warn_before.as_secs(), 45 * 60);
        assert_eq!(config.warn_before_by_policy["chat"].as_secs(), 0);
        assert!(!format!("{config:?}").contains("x-secret"));

        let text = "[sla_watch.slack]\nbot_token_env = \"BOT\"\nchannel = \"C042\"\n";
        let config = crate::load_from(Some(text), &env, &[]).unwrap().sla_watch;
        let shown = format!("{config:?}");
        assert!(shown.contains("C042") && !shown.contains("xoxb"), "{shown}");

        let problems = |text: &str| {
            crate::load_from(Some(text), &env, &[])
                .unwrap_err()
                .to_string()
        };
        let both =
            problems("[sla_watch.slack]\nwebhook_url_env = \"HOOK\"\nbot_token_env = \"BOT\"\n");
        assert!(both.contains("sla_watch.slack.webhook_url_env"), "{both}");
        let no_channel = problems("[sla_watch.slack]\nbot_token_env = \"BOT\"\n");
        assert!(
            no_channel.contains("sla_watch.slack.channel"),
            "{no_channel}"
        );
        let bad =
            problems("[sla_watch]\nscan_interval_secs = 0\nwarning_tag = \"Bad Tag\"\nnope = 1\n");
        for key in [
            "sla_watch.scan_interval_secs",
            "sla_watch.warning_tag",
            "sla_watch.nope",
        ] {
            assert!(bad.contains(key), "{key}: {bad}");
        }
    }

    #[test]
    fn the_readme_example_loads() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("### The 30-minute warning")
            .nth(1)
            .expect("the README has the section");
        let example = section
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a toml example");
        let env = [(
            "INTAKE_SLA_SLACK_WEBHOOK_URL".to_owned(),
            "https://hooks.slack.test/T/B/x".to_owned(),
        )];
        let config = crate::load_from(Some(example), &env, &[])
            .unwrap_or_else(|e| panic!("{e}"))
            .sla_watch;
        assert!(config.enabled && config.slack.is_some());
        assert!(config.warn_before_by_policy["chat"].is_zero());
    }
}
