//! `[channels.example]`: the channel's own keys (`enabled`, `priority`,
//! `group_id` and `tags` are the config crate's), validated into
//! [`ExampleOptions`]; and the registration, [`Example`].

use std::path::PathBuf;

use intake_channel::{Adapter, BuildContext, BuildError, Channel, ChannelSection, SectionContext};
use secrecy::SecretString;
use serde::Deserialize;

/// `[channels.example]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExample {
    /// Environment variable holding the sender's shared HMAC key.
    secret_env: Option<String>,
    /// File holding the sender's shared HMAC key.
    secret_file: Option<PathBuf>,
    /// Largest request body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: u64,
    /// Messages per minute one sender may send on average; 0: no limit.
    #[serde(default = "default_sender_messages_per_minute")]
    sender_messages_per_minute: u32,
}

/// 64 KiB.
pub fn default_max_body_bytes() -> u64 {
    64 * 1024
}
/// One message per second on average.
pub fn default_sender_messages_per_minute() -> u32 {
    60
}

/// Settings of the example channel, validated.
#[derive(Debug, Clone)]
pub struct ExampleOptions {
    /// The sender's shared HMAC key.
    pub secret: SecretString,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Messages per minute one sender may send on average; 0: no limit.
    pub sender_messages_per_minute: u32,
}

/// The example channel, as the app's registration list names it.
#[derive(Debug)]
pub struct Example;

impl ChannelSection for Example {
    const NAME: &'static str = crate::CHANNEL;
    type Raw = RawExample;
    type Options = ExampleOptions;

    fn validate(raw: RawExample, ctx: &mut SectionContext<'_, '_>) -> Option<ExampleOptions> {
        let max_body_bytes = ctx.positive_usize("max_body_bytes", raw.max_body_bytes);
        let secret = ctx.required_secret("secret", &raw.secret_env, &raw.secret_file)?;
        let sender_messages_per_minute = raw.sender_messages_per_minute;
        Some(ExampleOptions {
            secret,
            max_body_bytes,
            sender_messages_per_minute,
        })
    }
}

impl Channel for Example {
    fn build(options: &ExampleOptions, gateway: &BuildContext) -> Result<Adapter, BuildError> {
        let max_body_bytes = options.max_body_bytes.min(gateway.max_body_bytes);
        let options = ExampleOptions {
            max_body_bytes,
            ..options.clone()
        };
        Ok(Adapter::Http(crate::ExampleChannel::new(options)))
    }
}
