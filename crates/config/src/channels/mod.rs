//! `[channels.*]`: one section and one module per channel adapter.
//!
//! Adding a channel: a new `channels/<name>.rs` with its raw and typed
//! structs, one field in [`RawChannels`] and [`ChannelsConfig`], and one line
//! in each of `validate` and `missing_for_gateway` below.

mod chat;
mod chat_callback;

use serde::Deserialize;

pub use chat::ChatChannelConfig;
pub use chat_callback::ChatCallbackConfig;

use crate::general::parse_choice;
use crate::problems::Problem;
use crate::secret::Ctx;

/// Every channel name the system knows (used by `router.channel_priority`).
pub const KNOWN_CHANNELS: &[&str] = &["chat", "email", "telegram", "whatsapp", "slack"];

/// `[channels]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChannels {
    /// The website chat webhook (`POST /v1/chat/messages`).
    #[serde(default)]
    chat: chat::RawChat,
}

/// Settings of every channel adapter.
#[derive(Debug, Clone)]
pub struct ChannelsConfig {
    pub chat: ChatChannelConfig,
}

impl RawChannels {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> ChannelsConfig {
        ChannelsConfig {
            chat: self.chat.validate(ctx),
        }
    }
}

/// How the router files the tickets of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRouting {
    pub priority: TicketPriority,
    pub group_id: Option<u64>,
    pub tags: Vec<String>,
}

impl ChannelsConfig {
    /// The ticket settings of `channel`, when it has a section; channels
    /// without one get the router's defaults.
    pub fn routing(&self, channel: &str) -> Option<ChannelRouting> {
        match channel {
            "chat" => Some(ChannelRouting {
                priority: self.chat.priority,
                group_id: self.chat.group_id,
                tags: self.chat.tags.clone(),
            }),
            _ => None,
        }
    }

    /// The channels whose adapters are enabled (the gateway accepts messages
    /// for them), in [`KNOWN_CHANNELS`] order.
    pub fn enabled(&self) -> Vec<&'static str> {
        let mut enabled = Vec::new();
        if self.chat.enabled {
            enabled.push("chat");
        }
        enabled
    }

    /// What enabled channels still need before the gateway can run them.
    pub(crate) fn missing_for_gateway(&self) -> Vec<Problem> {
        let mut missing = Vec::new();
        missing.extend(self.chat.missing_for_gateway());
        missing
    }
}

/// Priority of tickets a channel creates (Zendesk's `priority` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum TicketPriority {
    Urgent,
    High,
    Normal,
    Low,
}

impl TryFrom<String> for TicketPriority {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        parse_choice(
            &value,
            &[
                ("urgent", Self::Urgent),
                ("high", Self::High),
                ("normal", Self::Normal),
                ("low", Self::Low),
            ],
        )
    }
}

impl TicketPriority {
    /// The value of Zendesk's `ticket.priority`.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketPriority::Urgent => "urgent",
            TicketPriority::High => "high",
            TicketPriority::Normal => "normal",
            TicketPriority::Low => "low",
        }
    }
}

/// Zendesk tags: non-empty, no whitespace, lower-cased by Zendesk anyway.
pub(crate) fn validate_tags(ctx: &mut Ctx<'_>, key: &str, tags: Vec<String>) -> Vec<String> {
    let mut valid = Vec::new();
    for (index, tag) in tags.into_iter().enumerate() {
        let tag = tag.trim().to_owned();
        if tag.is_empty() || tag.chars().any(char::is_whitespace) {
            ctx.problem(
                format!("{key}[{index}]"),
                format!("{tag:?} is not a Zendesk tag (no spaces, not empty)"),
            );
        } else if !valid.contains(&tag) {
            valid.push(tag);
        }
    }
    valid
}
