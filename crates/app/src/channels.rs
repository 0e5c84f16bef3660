//! The channels this build knows: one line each. From this list come the
//! `[channels.<name>]` sections the configuration accepts, the adapters the
//! gateway runs (the enabled ones) and, through the enabled channels, the
//! topics the router consumes, so a channel cannot be enabled and unrouted.

use std::sync::Arc;

use anyhow::Context;
use intake_channel::cursor::CursorStore;
use intake_channel::{Adapter, BuildContext, HttpChannel, PullChannel, Registration};
use intake_config::{Config, Section};

/// Adding a channel: its dependency in `crates/app/Cargo.toml` and one line here.
pub(crate) const CHANNELS: &[Registration] = &[
    // One line per channel, in any order.
    Registration::of::<intake_channel_chat::Chat>(),
    Registration::of::<intake_channel_example::Example>(),
    Registration::of::<intake_channel_telegram::Telegram>(),
    Registration::of::<intake_channel_whatsapp::WhatsApp>(),
    Registration::of::<intake_channel_slack::Slack>(),
    Registration::of::<intake_channel_email::Email>(),
];

/// The configuration sections of every registered channel, for loading.
pub fn channel_sections() -> Vec<Section> {
    intake_channel::sections(CHANNELS)
}

/// The adapters of the enabled channels.
pub(crate) struct Adapters {
    /// Webhook channels, for the gateway.
    pub(crate) http: Vec<Arc<dyn HttpChannel>>,
    /// Pull channels, for the pull runner.
    pub(crate) pull: Vec<Box<dyn PullChannel>>,
}

/// Builds the adapter of every enabled channel.
/// A pull channel keeps its position in `cursors`.
pub(crate) fn adapters(config: &Config, cursors: Arc<dyn CursorStore>) -> anyhow::Result<Adapters> {
    let limits = BuildContext {
        max_body_bytes: config.http.max_body_bytes,
        cursors,
    };
    let (mut http, mut pull) = (Vec::new(), Vec::new());
    for registration in CHANNELS {
        let Some(built) = registration.build(&config.channels, &limits) else {
            continue;
        };
        match built.with_context(|| format!("channels.{}", registration.name()))? {
            Adapter::Http(channel) => http.push(channel),
            Adapter::Pull(channel) => pull.push(channel),
        }
    }
    Ok(Adapters { http, pull })
}
