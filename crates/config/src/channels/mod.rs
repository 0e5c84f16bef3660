//! `[channels.<name>]`: one section per registered channel.
//!
//! The config crate knows a channel section only as a table: it takes out
//! the keys every channel shares (`enabled` and the routing keys of
//! [`RawRouting`]), and hands the rest to the channel's own
//! [`ChannelSection`] (defined in the channel's crate, registered by the app
//! as a [`Section`]). A section name no channel registered is a problem that
//! lists the registered ones.

mod section;

use std::collections::BTreeMap;
use std::sync::Arc;

use config::{Value, ValueKind};
use serde::Deserialize;

pub use section::{ChannelSection, Section, SectionContext};

use crate::general::parse_choice;
use crate::problems::Problem;
use crate::secret::Ctx;
use section::SectionOptions;

/// Channel names accepted in `router.channel_priority` and `[sla]` before
/// their crate is registered (planned channels), besides the registered ones.
pub const KNOWN_CHANNELS: &[&str] = &["chat", "email", "telegram", "whatsapp", "slack"];

/// The keys every `[channels.<name>]` section has, as written: parsed here,
/// once, for every channel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    /// Run the channel (default: the channel's own, see
    /// `ChannelSection::ENABLED_BY_DEFAULT`).
    #[serde(default)]
    enabled: Option<bool>,
    /// Priority of the tickets the channel creates: `urgent`, `high`,
    /// `normal` or `low`.
    #[serde(default = "default_priority")]
    priority: TicketPriority,
    /// Zendesk group the channel's tickets are assigned to (none: Zendesk's
    /// default).
    #[serde(default)]
    group_id: Option<u64>,
    /// Tags added to every ticket of the channel.
    #[serde(default)]
    tags: Vec<String>,
}

impl Default for RawRouting {
    fn default() -> Self {
        Self {
            enabled: None,
            priority: default_priority(),
            group_id: None,
            tags: Vec::new(),
        }
    }
}

/// The keys every `[channels.<name>]` section has, parsed by the config
/// crate (in the order of `RawRouting`); a channel's own raw type must not
/// define them.
pub const GENERIC_CHANNEL_KEYS: &[&str] = &["enabled", "priority", "group_id", "tags"];

fn default_priority() -> TicketPriority {
    TicketPriority::Normal
}

/// How the router files the tickets of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRouting {
    pub priority: TicketPriority,
    pub group_id: Option<u64>,
    pub tags: Vec<String>,
}

/// One registered channel, validated.
#[derive(Debug, Clone)]
pub struct ChannelEntry {
    pub name: &'static str,
    pub enabled: bool,
    pub routing: ChannelRouting,
    /// The channel's own options; `None` when its section had problems or
    /// lacks a secret the gateway needs.
    options: Option<Arc<dyn SectionOptions>>,
}

/// Every registered channel's settings, in registration order.
#[derive(Debug, Clone, Default)]
pub struct ChannelsConfig {
    entries: Vec<ChannelEntry>,
    missing: Vec<Problem>,
}

impl ChannelsConfig {
    /// Every registered channel, in registration order.
    pub fn entries(&self) -> &[ChannelEntry] {
        &self.entries
    }

    /// The ticket settings of `channel`, when it is registered.
    pub fn routing(&self, channel: &str) -> Option<ChannelRouting> {
        self.entry(channel).map(|entry| entry.routing.clone())
    }

    /// Whether `channel` is registered and enabled.
    pub fn is_enabled(&self, channel: &str) -> bool {
        self.entry(channel).is_some_and(|entry| entry.enabled)
    }

    /// The channels whose adapters are enabled (the gateway accepts messages
    /// for them), in registration order.
    pub fn enabled(&self) -> Vec<&'static str> {
        let enabled = self.entries.iter().filter(|entry| entry.enabled);
        enabled.map(|entry| entry.name).collect()
    }

    /// The validated options of channel `S`, when it is registered and its
    /// section had no problem.
    pub fn options<S: ChannelSection>(&self) -> Option<&S::Options> {
        self.options_of(S::NAME)?.downcast_ref()
    }

    /// The options of the channel named `name`, type-erased (for a
    /// registration list that downcasts them to the channel's type).
    pub fn options_of(&self, name: &str) -> Option<&dyn std::any::Any> {
        let options = self.entry(name)?.options.as_deref()?;
        Some(options.as_any())
    }

    fn entry(&self, channel: &str) -> Option<&ChannelEntry> {
        self.entries.iter().find(|entry| entry.name == channel)
    }

    /// What enabled channels still need before the gateway can run them.
    pub(crate) fn missing_for_gateway(&self) -> Vec<Problem> {
        self.missing.clone()
    }
}

/// Validates `[channels]` (the subtree taken out of the file, if any)
/// against the registered `sections`.
pub(crate) fn validate(
    ctx: &mut Ctx<'_>,
    tree: Option<Value>,
    sections: &[Section],
) -> ChannelsConfig {
    let mut tables = BTreeMap::new();
    match tree.map(|value| value.kind) {
        None => {}
        Some(ValueKind::Table(table)) => tables = table.into_iter().collect(),
        Some(_) => ctx.problem("channels", "must be a table of [channels.<name>] sections"),
    }
    let names: Vec<&str> = sections.iter().map(Section::name).collect();
    for name in tables.keys().filter(|name| !names.contains(&name.as_str())) {
        let registered = if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        };
        ctx.problem(
            format!("channels.{name}"),
            format!("unknown key: no channel {name:?} is registered (registered: {registered})"),
        );
    }
    let mut config = ChannelsConfig::default();
    for section in sections {
        let table = tables.remove(section.name);
        if table.is_none() && !section.enabled_by_default {
            config.entries.push(ChannelEntry {
                name: section.name,
                enabled: false,
                routing: ChannelRouting {
                    priority: default_priority(),
                    group_id: None,
                    tags: Vec::new(),
                },
                options: None,
            });
            continue;
        }
        config
            .entries
            .push(validate_one(ctx, section, table, &mut config.missing));
    }
    config
}

fn validate_one(
    ctx: &mut Ctx<'_>,
    section: &Section,
    table: Option<Value>,
    missing: &mut Vec<Problem>,
) -> ChannelEntry {
    let prefix = format!("channels.{}", section.name);
    let mut own = table.unwrap_or_else(|| Value::new(None, ValueKind::Table(Default::default())));
    let mut generic = config::Map::new();
    match &mut own.kind {
        ValueKind::Table(table) => {
            for key in GENERIC_CHANNEL_KEYS {
                if let Some(value) = table.remove(*key) {
                    generic.insert((*key).to_owned(), value);
                }
            }
        }
        _ => ctx.problem(prefix.clone(), "must be a table of settings"),
    }
    let generic = Value::new(None, ValueKind::Table(generic));
    let raw: RawRouting =
        crate::collect::deserialize_collecting_at(&prefix, generic, &mut ctx.problems)
            .unwrap_or_default();
    let enabled = raw.enabled.unwrap_or(section.enabled_by_default);
    if raw.group_id == Some(0) {
        ctx.problem(
            format!("{prefix}.group_id"),
            "must be a Zendesk group id (not 0)",
        );
    }
    let tags = validate_tags(ctx, &format!("{prefix}.tags"), raw.tags);
    let routing = ChannelRouting {
        priority: raw.priority,
        group_id: raw.group_id,
        tags,
    };
    let own = if matches!(own.kind, ValueKind::Table(_)) {
        own
    } else {
        Value::new(None, ValueKind::Table(Default::default()))
    };
    let mut section_ctx = SectionContext::new(ctx, section.name, enabled);
    let options = (section.load)(own, &mut section_ctx);
    missing.append(&mut section_ctx.missing);
    ChannelEntry {
        name: section.name,
        enabled,
        routing,
        options,
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
