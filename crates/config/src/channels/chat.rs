//! `[channels.chat]`: the website chat webhook, signed with Standard Webhooks.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{TicketPriority, validate_tags};
use crate::general::positive_usize;
use crate::problems::Problem;
use crate::secret::{Ctx, SecretRef};

/// `[channels.chat]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChat {
    /// Accept chat webhooks.
    #[serde(default = "default_enabled")]
    enabled: bool,
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
    /// Priority of tickets from chat: `urgent`, `high`, `normal` or `low`.
    #[serde(default = "default_priority")]
    priority: TicketPriority,
    /// Zendesk group that chat tickets are assigned to (none: Zendesk's default).
    #[serde(default)]
    group_id: Option<u64>,
    /// Tags added to every chat ticket.
    #[serde(default)]
    tags: Vec<String>,
}

fn default_enabled() -> bool {
    true
}
fn default_timestamp_tolerance_secs() -> u64 {
    300
}
fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_max_attachment_bytes() -> u64 {
    20 * 1024 * 1024
}
fn default_max_attachments() -> u64 {
    20
}
fn default_priority() -> TicketPriority {
    TicketPriority::Normal
}

impl Default for RawChat {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            secret_env: None,
            secret_file: None,
            timestamp_tolerance_secs: default_timestamp_tolerance_secs(),
            max_body_bytes: default_max_body_bytes(),
            max_attachment_bytes: default_max_attachment_bytes(),
            max_attachments: default_max_attachments(),
            priority: default_priority(),
            group_id: None,
            tags: Vec::new(),
        }
    }
}

/// The website chat channel.
#[derive(Debug, Clone)]
pub struct ChatChannelConfig {
    pub enabled: bool,
    /// The `whsec_…` secret (checked to be `whsec_` + base64); required by the
    /// gateway while the channel is enabled.
    pub secret: Option<SecretString>,
    pub timestamp_tolerance: Duration,
    pub max_body_bytes: usize,
    pub max_attachment_bytes: u64,
    pub max_attachments: usize,
    pub priority: TicketPriority,
    pub group_id: Option<u64>,
    pub tags: Vec<String>,
}

impl RawChat {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> ChatChannelConfig {
        let source = SecretRef::new(&self.secret_env, &self.secret_file);
        let secret = source.resolve(ctx, "channels.chat.secret");
        if let Some(secret) = &secret
            && !is_standard_webhooks_secret(secret.expose_secret())
        {
            let key = if self.secret_env.is_some() {
                "channels.chat.secret_env"
            } else {
                "channels.chat.secret_file"
            };
            ctx.problem(
                key,
                "the secret is not a Standard Webhooks secret (\"whsec_\" followed by base64)",
            );
        }
        if self.timestamp_tolerance_secs == 0 {
            ctx.problem(
                "channels.chat.timestamp_tolerance_secs",
                "must be at least 1",
            );
        }
        let max_body_bytes =
            positive_usize(ctx, "channels.chat.max_body_bytes", self.max_body_bytes);
        if self.max_attachment_bytes == 0 {
            ctx.problem("channels.chat.max_attachment_bytes", "must be at least 1");
        }
        let max_attachments = usize::try_from(self.max_attachments).unwrap_or_else(|_| {
            ctx.problem("channels.chat.max_attachments", "is too large");
            usize::MAX
        });
        if self.group_id == Some(0) {
            ctx.problem(
                "channels.chat.group_id",
                "must be a Zendesk group id (not 0)",
            );
        }
        let tags = validate_tags(ctx, "channels.chat.tags", self.tags);
        ChatChannelConfig {
            enabled: self.enabled,
            secret,
            timestamp_tolerance: Duration::from_secs(self.timestamp_tolerance_secs),
            max_body_bytes,
            max_attachment_bytes: self.max_attachment_bytes,
            max_attachments,
            priority: self.priority,
            group_id: self.group_id,
            tags,
        }
    }
}

impl ChatChannelConfig {
    pub(crate) fn missing_for_gateway(&self) -> Option<Problem> {
        (self.enabled && self.secret.is_none()).then(|| {
            Problem::new(
                "channels.chat.secret_env",
                "required while channels.chat.enabled is true (or channels.chat.secret_file)",
            )
        })
    }
}

/// `whsec_` followed by non-empty standard base64.
fn is_standard_webhooks_secret(secret: &str) -> bool {
    secret.strip_prefix("whsec_").is_some_and(|encoded| {
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .is_ok_and(|key| !key.is_empty())
    })
}
