//! `[channels.slack]`: the channel's own keys (`enabled`, `priority`,
//! `group_id` and `tags` are the config crate's), validated into
//! [`SlackOptions`]; and the registration, [`Slack`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use intake_channel::{
    Adapter, BuildContext, BuildError, Channel, ChannelSection, ReplySender, SectionContext,
};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// `[channels.slack]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlack {
    /// Environment variable holding the app's signing secret.
    signing_secret_env: Option<String>,
    /// File holding the app's signing secret.
    signing_secret_file: Option<PathBuf>,
    /// Environment variable holding the bot token (`xoxb-…`) for replies.
    bot_token_env: Option<String>,
    /// File holding the bot token.
    bot_token_file: Option<PathBuf>,
    /// Base URL of Slack's Web API.
    #[serde(default = "default_api_base_url")]
    api_base_url: String,
    /// Channel ids whose messages become tickets, besides direct messages to the app.
    #[serde(default)]
    support_channels: Vec<String>,
    /// The app's own bot user id, ignored as a sender (also taken from each
    /// delivery's `authorizations`).
    bot_user_id: Option<String>,
    /// Accepted distance between `X-Slack-Request-Timestamp` and the gateway clock, in seconds.
    #[serde(default = "default_timestamp_tolerance_secs")]
    timestamp_tolerance_secs: u64,
    /// Largest request body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: u64,
    /// Longest time one Web API call may take, in seconds.
    #[serde(default = "default_api_timeout_secs")]
    api_timeout_secs: u64,
}

/// Slack's Web API.
pub fn default_api_base_url() -> String {
    "https://slack.com/api/".to_owned()
}
/// Five minutes, Slack's own replay window.
pub fn default_timestamp_tolerance_secs() -> u64 {
    300
}
/// 256 KiB.
pub fn default_max_body_bytes() -> u64 {
    256 * 1024
}
/// Thirty seconds.
pub fn default_api_timeout_secs() -> u64 {
    30
}

/// Settings of the Slack channel, validated.
#[derive(Debug, Clone)]
pub struct SlackOptions {
    pub signing_secret: SecretString,
    pub bot_token: SecretString,
    /// Always ends in `/`.
    pub api_base_url: Url,
    pub support_channels: Vec<String>,
    pub bot_user_id: Option<String>,
    pub timestamp_tolerance: Duration,
    pub max_body_bytes: usize,
    pub api_timeout: Duration,
}

/// The Slack channel, as the app's registration list names it.
#[derive(Debug)]
pub struct Slack;

impl ChannelSection for Slack {
    const NAME: &'static str = crate::CHANNEL;
    type Raw = RawSlack;
    type Options = SlackOptions;

    fn validate(raw: RawSlack, ctx: &mut SectionContext<'_, '_>) -> Option<SlackOptions> {
        let max_body_bytes = ctx.positive_usize("max_body_bytes", raw.max_body_bytes);
        let api_timeout = ctx.secs_between("api_timeout_secs", raw.api_timeout_secs, 1, 300);
        let timestamp_tolerance = ctx.secs_between(
            "timestamp_tolerance_secs",
            raw.timestamp_tolerance_secs,
            1,
            300,
        );
        let mut api_base_url = match Url::parse(&raw.api_base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                ctx.problem("api_base_url", "must be an http or https URL");
                Url::parse(&default_api_base_url()).expect("the default parses")
            }
        };
        if !api_base_url.path().ends_with('/') {
            let path = format!("{}/", api_base_url.path());
            api_base_url.set_path(&path);
        }
        for (i, id) in raw.support_channels.iter().enumerate() {
            if id.trim().is_empty() || id.contains(':') {
                ctx.problem(
                    &format!("support_channels[{i}]"),
                    "must be a channel id (C0123ABCD)",
                );
            }
        }
        let signing_secret = ctx.required_secret(
            "signing_secret",
            &raw.signing_secret_env,
            &raw.signing_secret_file,
        );
        let bot_token = ctx.required_secret("bot_token", &raw.bot_token_env, &raw.bot_token_file);
        Some(SlackOptions {
            signing_secret: signing_secret?,
            bot_token: bot_token?,
            api_base_url,
            support_channels: raw.support_channels,
            bot_user_id: raw.bot_user_id,
            timestamp_tolerance,
            max_body_bytes,
            api_timeout,
        })
    }
}

impl Channel for Slack {
    fn build(options: &SlackOptions, gateway: &BuildContext) -> Result<Adapter, BuildError> {
        let max_body_bytes = options.max_body_bytes.min(gateway.max_body_bytes);
        let options = SlackOptions {
            max_body_bytes,
            ..options.clone()
        };
        Ok(Adapter::Http(crate::SlackChannel::new(options)))
    }

    fn reply_sender(options: &SlackOptions) -> Result<Option<Arc<dyn ReplySender>>, BuildError> {
        let sender = crate::replies(options).map_err(BuildError::from_error)?;
        Ok(Some(Arc::new(sender)))
    }
}
