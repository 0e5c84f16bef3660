//! `[channels.telegram]`: the channel's own keys (`enabled`, `priority`,
//! `group_id` and `tags` are the config crate's), validated into
//! [`TelegramOptions`]; and the registration, [`Telegram`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use intake_channel::{
    Adapter, BuildContext, BuildError, Channel, ChannelSection, ReplySender, SectionContext,
};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// `[channels.telegram]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelegram {
    /// The bot's name in the webhook path `/v1/telegram/<bot>` and in event ids.
    #[serde(default = "default_bot")]
    bot: String,
    /// The bot's `@username` (without `@`), to recognise mentions in groups.
    bot_username: Option<String>,
    /// Environment variable holding the bot token (from @BotFather).
    token_env: Option<String>,
    /// File holding the bot token.
    token_file: Option<PathBuf>,
    /// Environment variable holding the webhook secret (`secret_token` of setWebhook).
    secret_token_env: Option<String>,
    /// File holding the webhook secret.
    secret_token_file: Option<PathBuf>,
    /// How updates arrive: `webhook` (POST /v1/telegram/<bot>, set with
    /// setWebhook) or `polling` (getUpdates, for hosts without a public URL).
    #[serde(default = "default_mode")]
    mode: String,
    /// `getUpdates` long-poll timeout, in seconds (polling mode).
    #[serde(default = "default_poll_timeout_secs")]
    poll_timeout_secs: u64,
    /// Updates per `getUpdates` call, 1..100 (polling mode).
    #[serde(default = "default_poll_limit")]
    poll_limit: u32,
    /// Base URL of the Bot API.
    #[serde(default = "default_api_base_url")]
    api_base_url: String,
    /// Group and supergroup messages taken: `all`, or `mentions` (mentions of
    /// the bot and replies to it).
    #[serde(default = "default_group_messages")]
    group_messages: String,
    /// Largest file downloaded from Telegram, in bytes; larger files are
    /// named on the ticket instead.
    #[serde(default = "default_max_file_bytes")]
    max_file_bytes: u64,
    /// Largest request body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: u64,
    /// Timeout of one Bot API request, in seconds.
    #[serde(default = "default_request_timeout_secs")]
    request_timeout_secs: u64,
    /// Attempts of one reply when Telegram answers 429.
    #[serde(default = "default_reply_max_attempts")]
    reply_max_attempts: u32,
    /// Longest `retry_after` waited inside one reply, in seconds; a longer
    /// one is returned to the caller as a retryable failure.
    #[serde(default = "default_reply_max_wait_secs")]
    reply_max_wait_secs: u64,
    /// Messages per minute one sender may send on average; 0: no limit.
    #[serde(default = "default_sender_messages_per_minute")]
    sender_messages_per_minute: u32,
}

/// `bot`.
pub fn default_bot() -> String {
    "bot".to_owned()
}
/// `webhook`.
pub fn default_mode() -> String {
    "webhook".to_owned()
}
/// 30 seconds.
pub fn default_poll_timeout_secs() -> u64 {
    30
}
/// 100, the Bot API's largest.
pub fn default_poll_limit() -> u32 {
    100
}
/// The public Bot API.
pub fn default_api_base_url() -> String {
    "https://api.telegram.org".to_owned()
}
/// Only mentions of the bot and replies to it.
pub fn default_group_messages() -> String {
    "mentions".to_owned()
}
/// 20 MB: the Bot API's download limit for bots.
pub fn default_max_file_bytes() -> u64 {
    20 * 1024 * 1024
}
/// 256 KiB (an update is a few KiB).
pub fn default_max_body_bytes() -> u64 {
    256 * 1024
}
/// 30 seconds.
pub fn default_request_timeout_secs() -> u64 {
    30
}
/// Three attempts.
pub fn default_reply_max_attempts() -> u32 {
    3
}
/// One minute.
pub fn default_reply_max_wait_secs() -> u64 {
    60
}
/// One message per second on average.
pub fn default_sender_messages_per_minute() -> u32 {
    60
}

/// Which group messages become events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMessages {
    /// Every message in the group.
    All,
    /// Mentions of the bot and replies to the bot's messages.
    Mentions,
}

/// How updates arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Webhook,
    Polling,
}

/// Settings of the Telegram channel, validated.
#[derive(Debug, Clone)]
pub struct TelegramOptions {
    /// Name of the bot in the path and in event ids.
    pub bot: String,
    /// The bot's username, lower-cased, without `@`.
    pub bot_username: Option<String>,
    /// The bot token.
    pub token: SecretString,
    /// The webhook secret (required in webhook mode; without one every
    /// delivery is refused).
    pub secret_token: Option<SecretString>,
    /// Base URL of the Bot API (no trailing slash).
    pub api_base_url: String,
    pub group_messages: GroupMessages,
    pub mode: Mode,
    pub poll_timeout: Duration,
    pub poll_limit: u32,
    pub max_file_bytes: u64,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub reply_max_attempts: u32,
    pub reply_max_wait: Duration,
    pub sender_messages_per_minute: u32,
}

/// The Telegram channel, as the app's registration list names it.
#[derive(Debug)]
pub struct Telegram;

impl ChannelSection for Telegram {
    const NAME: &'static str = crate::CHANNEL;
    type Raw = RawTelegram;
    type Options = TelegramOptions;

    fn validate(raw: RawTelegram, ctx: &mut SectionContext<'_, '_>) -> Option<TelegramOptions> {
        let bot = raw.bot.trim().to_owned();
        let bot_ok = !bot.is_empty()
            && bot
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !bot_ok {
            ctx.problem(
                "bot",
                "must be letters, digits, '-' or '_' (a path segment)",
            );
        }
        if Url::parse(&raw.api_base_url)
            .map(|url| !matches!(url.scheme(), "http" | "https"))
            .unwrap_or(true)
        {
            ctx.problem("api_base_url", "must be an http(s) URL");
        }
        let group_messages = match raw.group_messages.as_str() {
            "all" => GroupMessages::All,
            "mentions" => GroupMessages::Mentions,
            _ => {
                ctx.problem("group_messages", "must be \"all\" or \"mentions\"");
                GroupMessages::Mentions
            }
        };
        let mode = match raw.mode.as_str() {
            "webhook" => Mode::Webhook,
            "polling" => Mode::Polling,
            _ => {
                ctx.problem("mode", "must be \"webhook\" or \"polling\"");
                Mode::Webhook
            }
        };
        let poll_timeout = ctx.secs_between("poll_timeout_secs", raw.poll_timeout_secs, 0, 50);
        if !(1..=100).contains(&raw.poll_limit) {
            ctx.problem("poll_limit", "must be between 1 and 100");
        }
        let bot_username = raw
            .bot_username
            .map(|name| name.trim().trim_start_matches('@').to_lowercase())
            .filter(|name| !name.is_empty());
        if group_messages == GroupMessages::Mentions && bot_username.is_none() && ctx.enabled() {
            ctx.problem(
                "bot_username",
                "required while group_messages = \"mentions\" (to recognise mentions)",
            );
        }
        let max_file_bytes = ctx.positive_usize("max_file_bytes", raw.max_file_bytes) as u64;
        let max_body_bytes = ctx.positive_usize("max_body_bytes", raw.max_body_bytes);
        let request_timeout =
            ctx.secs_between("request_timeout_secs", raw.request_timeout_secs, 1, 300);
        let reply_max_wait =
            ctx.secs_between("reply_max_wait_secs", raw.reply_max_wait_secs, 0, 3600);
        ctx.at_least_one("reply_max_attempts", u64::from(raw.reply_max_attempts));
        let token = ctx.required_secret("token", &raw.token_env, &raw.token_file);
        let (env, file) = (&raw.secret_token_env, &raw.secret_token_file);
        let secret_token = match mode {
            Mode::Webhook => ctx.required_secret("secret_token", env, file),
            Mode::Polling => ctx.secret("secret_token", env, file),
        };
        if mode == Mode::Webhook && secret_token.is_none() {
            return None;
        }
        Some(TelegramOptions {
            bot,
            bot_username,
            token: token?,
            secret_token,
            api_base_url: raw.api_base_url.trim_end_matches('/').to_owned(),
            group_messages,
            mode,
            poll_timeout,
            poll_limit: raw.poll_limit.clamp(1, 100),
            max_file_bytes,
            max_body_bytes,
            request_timeout,
            reply_max_attempts: raw.reply_max_attempts.max(1),
            reply_max_wait,
            sender_messages_per_minute: raw.sender_messages_per_minute,
        })
    }
}

impl Channel for Telegram {
    fn build(options: &TelegramOptions, gateway: &BuildContext) -> Result<Adapter, BuildError> {
        let max_body_bytes = options.max_body_bytes.min(gateway.max_body_bytes);
        let options = TelegramOptions {
            max_body_bytes,
            ..options.clone()
        };
        if options.mode == Mode::Polling {
            let poller = crate::poller(&options).map_err(BuildError::from_error)?;
            return Ok(Adapter::Pull(Box::new(poller)));
        }
        let channel = crate::TelegramChannel::new(options).map_err(BuildError::from_error)?;
        Ok(Adapter::Http(channel))
    }

    fn reply_sender(options: &TelegramOptions) -> Result<Option<Arc<dyn ReplySender>>, BuildError> {
        let sender =
            crate::reply::TelegramReplySender::new(options).map_err(BuildError::from_error)?;
        Ok(Some(Arc::new(sender)))
    }
}
