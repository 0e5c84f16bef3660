//! `[channels.chat]`: the chat channel's own keys, their defaults and their
//! rules, validated into [`ChatOptions`]; and its registration ([`Chat`]).
//! The generic keys (`enabled`, `priority`, `group_id`, `tags`) are the
//! config crate's (`intake_config::ChannelsConfig`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use intake_channel::{
    Adapter, BuildContext, BuildError, Channel, ChannelSection, ReplySender, SectionContext,
};
use serde::{Deserialize, Deserializer};

use crate::fetch::parse_host_rule;
use crate::signature::MIN_SECRET_BYTES;
use crate::{
    CallbackOptions, ChatCallback, ChatChannel, ChatOptions, IdentityVerifier, WebhookSecret,
};

/// `[channels.chat]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChat {
    /// Environment variable holding the Standard Webhooks secret (`whsec_…`).
    #[serde(default)]
    secret_env: Option<String>,
    /// File holding the Standard Webhooks secret (`whsec_…`).
    #[serde(default)]
    secret_file: Option<PathBuf>,
    /// Largest allowed difference between `webhook-timestamp` and now, in seconds.
    #[serde(default = "default_timestamp_tolerance_secs")]
    timestamp_tolerance_secs: u64,
    /// Largest webhook body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: u64,
    /// Largest single attachment, in bytes.
    #[serde(default = "default_max_attachment_bytes")]
    max_attachment_bytes: u64,
    /// Most attachments in one message.
    #[serde(default = "default_max_attachments")]
    max_attachments: u64,
    /// Hosts attachment URLs are downloaded from (`files.example.com`,
    /// `*.cdn.example`, an IP address). Empty: URL attachments are refused.
    #[serde(default, deserialize_with = "list_or_comma_separated")]
    attachment_url_hosts: Vec<String>,
    /// Also download plain `http` URLs from those hosts (default: https only).
    #[serde(default)]
    allow_http_attachment_urls: bool,
    /// Also download from hosts whose addresses are loopback or private
    /// (RFC 1918, CGNAT, IPv6 unique-local). Link-local, cloud metadata,
    /// multicast and reserved addresses are never fetched.
    #[serde(default)]
    attachment_url_allow_private_networks: bool,
    /// Ports attachment URLs may use. Empty: 443, and 80 when http is allowed.
    #[serde(default, deserialize_with = "ports_list_or_comma_separated")]
    attachment_url_ports: Vec<u64>,
    /// Longest time to download one attachment URL, in seconds (1 to 20).
    #[serde(default = "default_attachment_fetch_timeout_secs")]
    attachment_fetch_timeout_secs: u64,
    /// Messages per minute one sender (contact key) may send on average; 0: no limit.
    #[serde(default = "default_sender_messages_per_minute")]
    sender_messages_per_minute: u32,
    /// Messages one sender may send at once before the per-minute rate applies.
    #[serde(default = "default_sender_burst_messages")]
    sender_burst_messages: u32,
    /// Environment variable holding the site's identity secret: the HS256
    /// key of `author.identity_token` (at least 32 bytes). Unset: every
    /// visitor is unverified.
    #[serde(default)]
    identity_secret_env: Option<String>,
    /// File holding the site's identity secret.
    #[serde(default)]
    identity_secret_file: Option<PathBuf>,
    /// ISO 3166-1 alpha-2 region (`RU`) for reading national phone numbers
    /// when the message's locale names no region. Unset: only international
    /// numbers are read.
    #[serde(default)]
    phone_region: Option<String>,
    /// Largest raw webhook body carried inside the bus event instead of the
    /// blob store, in bytes (0 to 262144); 0: always the blob store.
    #[serde(default = "default_raw_inline_max_bytes")]
    raw_inline_max_bytes: u64,
    /// The site's endpoint for acknowledgements (`[channels.chat.callback]`);
    /// none: the chat channel cannot reply.
    #[serde(default)]
    callback: Option<RawChatCallback>,
}

/// `[channels.chat.callback]` as written: where the chat channel's reply
/// sender posts acknowledgements, signed with Standard Webhooks under the
/// site's own secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChatCallback {
    /// The site's endpoint receiving acknowledgements (`http` or `https`).
    url: String,
    /// Environment variable holding the site's Standard Webhooks secret (`whsec_…`).
    #[serde(default)]
    secret_env: Option<String>,
    /// File holding the site's Standard Webhooks secret (`whsec_…`).
    #[serde(default)]
    secret_file: Option<PathBuf>,
    /// Longest time one callback may take, connection included, in seconds.
    #[serde(default = "default_callback_timeout_secs")]
    timeout_secs: u64,
}

/// Longest accepted `attachment_fetch_timeout_secs`: the gateway answers
/// every request within 45 seconds and gives all downloads of one message
/// at most 20.
pub const MAX_ATTACHMENT_FETCH_TIMEOUT_SECS: u64 = 20;

/// Five minutes, as the Standard Webhooks spec suggests.
pub fn default_timestamp_tolerance_secs() -> u64 {
    300
}
/// 10 MiB: base64 attachments must fit in it.
pub fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}
/// 20 MiB: reachable by attachments sent by URL.
pub fn default_max_attachment_bytes() -> u64 {
    20 * 1024 * 1024
}
/// 20 attachments.
pub fn default_max_attachments() -> u64 {
    20
}
/// Ten seconds.
pub fn default_attachment_fetch_timeout_secs() -> u64 {
    10
}
/// One message per second on average.
pub fn default_sender_messages_per_minute() -> u32 {
    60
}
/// Ten messages at once.
pub fn default_sender_burst_messages() -> u32 {
    10
}
/// Ten seconds ([`crate::callback::DEFAULT_CALLBACK_TIMEOUT`]).
pub fn default_callback_timeout_secs() -> u64 {
    crate::callback::DEFAULT_CALLBACK_TIMEOUT.as_secs()
}
/// The kit's default (64 KiB).
pub fn default_raw_inline_max_bytes() -> u64 {
    intake_channel::DEFAULT_RAW_INLINE_MAX_BYTES as u64
}

/// The chat channel, as the app's registration list names it.
#[derive(Debug)]
pub struct Chat;

impl ChannelSection for Chat {
    const NAME: &'static str = crate::CHANNEL;
    const ENABLED_BY_DEFAULT: bool = true;
    type Raw = RawChat;
    type Options = ChatOptions;

    fn validate(raw: RawChat, ctx: &mut SectionContext<'_, '_>) -> Option<ChatOptions> {
        let secret = ctx.required_secret("secret", &raw.secret_env, &raw.secret_file);
        if let Some(Err(error)) = secret.as_ref().map(WebhookSecret::from_secret_string) {
            let key = ctx.secret_key("secret", &raw.secret_env);
            ctx.problem(
                &key,
                format!(
                    "the secret is not a Standard Webhooks secret (\"whsec_\" followed by the base64 of at least {MIN_SECRET_BYTES} bytes): {error}"
                ),
            );
        }
        ctx.at_least_one("timestamp_tolerance_secs", raw.timestamp_tolerance_secs);
        let max_body_bytes = ctx.positive_usize("max_body_bytes", raw.max_body_bytes);
        let max_attachment_bytes =
            ctx.positive_usize("max_attachment_bytes", raw.max_attachment_bytes);
        let max_attachments = usize::try_from(raw.max_attachments).unwrap_or(usize::MAX);
        let attachment_url_hosts = validate_hosts(ctx, raw.attachment_url_hosts);
        let attachment_url_ports = validate_ports(ctx, &raw.attachment_url_ports);
        let max_timeout = MAX_ATTACHMENT_FETCH_TIMEOUT_SECS;
        let attachment_fetch_timeout = ctx.secs_between(
            "attachment_fetch_timeout_secs",
            raw.attachment_fetch_timeout_secs,
            1,
            max_timeout,
        );
        ctx.at_least_one(
            "sender_burst_messages",
            u64::from(raw.sender_burst_messages),
        );
        let identity_secret = ctx.secret(
            "identity_secret",
            &raw.identity_secret_env,
            &raw.identity_secret_file,
        );
        if let Some(Err(error)) = identity_secret.as_ref().map(IdentityVerifier::new) {
            let key = ctx.secret_key("identity_secret", &raw.identity_secret_env);
            ctx.problem(&key, error.to_string());
        }
        let phone_region = raw
            .phone_region
            .map(|region| region.trim().to_ascii_uppercase());
        if let Some(region) = phone_region
            .as_ref()
            .filter(|r| !intake_event::is_phone_region(r))
        {
            let message =
                format!("{region:?} is not an ISO 3166-1 alpha-2 region code such as \"RU\"");
            ctx.problem("phone_region", message);
        }
        let inline_cap = intake_event::MAX_INLINE_RAW_BYTES;
        let raw_inline_max_bytes = usize::try_from(raw.raw_inline_max_bytes).unwrap_or(usize::MAX);
        if raw_inline_max_bytes > inline_cap {
            ctx.problem(
                "raw_inline_max_bytes",
                format!("must be at most {inline_cap} (larger bodies go to the blob store; the event must stay well under the bus's record limit)"),
            );
        }
        let callback = raw
            .callback
            .and_then(|callback| validate_callback(ctx, callback));
        Some(ChatOptions {
            callback,
            timestamp_tolerance: Duration::from_secs(raw.timestamp_tolerance_secs),
            max_body_bytes,
            max_attachment_bytes,
            max_attachments,
            attachment_url_hosts,
            allow_http_attachment_urls: raw.allow_http_attachment_urls,
            attachment_url_allow_private_networks: raw.attachment_url_allow_private_networks,
            attachment_url_ports,
            attachment_host_lookup: None,
            attachment_fetch_timeout,
            sender_messages_per_minute: raw.sender_messages_per_minute,
            sender_burst_messages: raw.sender_burst_messages,
            identity_secret,
            phone_region,
            raw_inline_max_bytes,
            ..ChatOptions::with_secret(secret?)
        })
    }
}

impl Channel for Chat {
    fn build(options: &ChatOptions, gateway: &BuildContext) -> Result<Adapter, BuildError> {
        let options = ChatOptions {
            max_body_bytes: options.max_body_bytes.min(gateway.max_body_bytes),
            ..options.clone()
        };
        let channel = ChatChannel::new(options).map_err(BuildError::from_error)?;
        Ok(Adapter::Http(Arc::new(channel)))
    }

    fn reply_sender(options: &ChatOptions) -> Result<Option<Arc<dyn ReplySender>>, BuildError> {
        let Some(callback) = &options.callback else {
            return Ok(None);
        };
        let sender = ChatCallback::new(callback.clone()).map_err(BuildError::from_error)?;
        Ok(Some(Arc::new(sender)))
    }
}

/// `[channels.chat.callback]`: an http(s) URL (never repeated in a message:
/// it may carry a token), a Standard Webhooks secret, a timeout.
fn validate_callback(
    ctx: &mut SectionContext<'_, '_>,
    raw: RawChatCallback,
) -> Option<CallbackOptions> {
    let url = match url::Url::parse(raw.url.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
        Ok(_) => {
            ctx.problem("callback.url", "must be an http or https URL");
            None
        }
        Err(error) => {
            ctx.problem("callback.url", format!("not a URL: {error}"));
            None
        }
    };
    ctx.at_least_one("callback.timeout_secs", raw.timeout_secs);
    if raw.secret_env.is_none() && raw.secret_file.is_none() {
        let message = format!(
            "required with a callback URL (or {})",
            ctx.key("callback.secret_file")
        );
        ctx.problem("callback.secret_env", message);
    }
    let secret = ctx.secret("callback.secret", &raw.secret_env, &raw.secret_file);
    if let Some(Err(error)) = secret.as_ref().map(WebhookSecret::from_secret_string) {
        let key = ctx.secret_key("callback.secret", &raw.secret_env);
        ctx.problem(
            &key,
            format!(
                "the secret is not a Standard Webhooks secret (\"whsec_\" followed by the base64 of at least {MIN_SECRET_BYTES} bytes): {error}"
            ),
        );
        return None;
    }
    Some(CallbackOptions {
        url: url?,
        secret: secret?,
        timeout: Duration::from_secs(raw.timeout_secs.max(1)),
    })
}

/// Each port must be 1 to 65535; duplicates are dropped.
fn validate_ports(ctx: &mut SectionContext<'_, '_>, ports: &[u64]) -> Vec<u16> {
    let mut valid = Vec::new();
    for (index, port) in ports.iter().enumerate() {
        match u16::try_from(*port) {
            Ok(port) if port > 0 => {
                if !valid.contains(&port) {
                    valid.push(port);
                }
            }
            _ => ctx.problem(
                &format!("attachment_url_ports[{index}]"),
                format!("{port} is not a port (1 to 65535)"),
            ),
        }
    }
    valid
}

/// Each entry must pass the fetcher's own host rule; entries are lower-cased
/// and duplicates dropped.
fn validate_hosts(ctx: &mut SectionContext<'_, '_>, hosts: Vec<String>) -> Vec<String> {
    let mut valid = Vec::new();
    for (index, entry) in hosts.into_iter().enumerate() {
        let entry = entry.trim().to_ascii_lowercase();
        match parse_host_rule(&entry) {
            Err(message) => ctx.problem(&format!("attachment_url_hosts[{index}]"), message),
            Ok(()) if !valid.contains(&entry) => valid.push(entry),
            Ok(()) => {}
        }
    }
    valid
}

/// A TOML list, or one comma-separated string (how an environment variable
/// such as `INTAKE__CHANNELS__CHAT__ATTACHMENT_URL_HOSTS=a.example,b.example`
/// arrives).
fn list_or_comma_separated<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrString::deserialize(de)? {
        ListOrString::List(items) => items,
        ListOrString::Text(text) => text
            .split(',')
            .map(|item| item.trim().to_owned())
            .filter(|item| !item.is_empty())
            .collect(),
    })
}

/// Ports as a TOML list, or one comma-separated string (an environment variable).
fn ports_list_or_comma_separated<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<u64>),
        Number(u64),
        Text(String),
    }
    match ListOrString::deserialize(de)? {
        ListOrString::List(items) => Ok(items),
        ListOrString::Number(port) => Ok(vec![port]),
        ListOrString::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<u64>()
                    .map_err(|_| serde::de::Error::custom(format!("{item:?} is not a port number")))
            })
            .collect(),
    }
}
