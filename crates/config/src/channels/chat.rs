//! `[channels.chat]`: the website chat webhook, signed with Standard Webhooks.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

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
    /// Longest time to download one attachment URL, in seconds.
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
    callback: Option<super::chat_callback::RawChatCallback>,
}

/// Longest accepted `attachment_fetch_timeout_secs`: the gateway answers
/// every request within 45 seconds and gives all downloads of one message
/// at most 20.
pub const MAX_ATTACHMENT_FETCH_TIMEOUT_SECS: u64 = 20;

fn default_raw_inline_max_bytes() -> u64 {
    64 * 1024
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
fn default_attachment_fetch_timeout_secs() -> u64 {
    10
}
fn default_sender_messages_per_minute() -> u32 {
    60
}
fn default_sender_burst_messages() -> u32 {
    10
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
            attachment_url_hosts: Vec::new(),
            allow_http_attachment_urls: false,
            attachment_url_allow_private_networks: false,
            attachment_url_ports: Vec::new(),
            attachment_fetch_timeout_secs: default_attachment_fetch_timeout_secs(),
            sender_messages_per_minute: default_sender_messages_per_minute(),
            sender_burst_messages: default_sender_burst_messages(),
            identity_secret_env: None,
            identity_secret_file: None,
            phone_region: None,
            raw_inline_max_bytes: default_raw_inline_max_bytes(),
            callback: None,
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
    /// Hosts attachment URLs may be downloaded from, checked to be host
    /// names (lower-cased), `*.` + host name, or IP addresses. Empty: URL
    /// attachments are refused.
    pub attachment_url_hosts: Vec<String>,
    /// Plain `http` attachment URLs are downloaded too.
    pub allow_http_attachment_urls: bool,
    /// Attachment hosts in loopback and private networks are downloaded too.
    pub attachment_url_allow_private_networks: bool,
    /// Allowed attachment URL ports (1-65535); empty: 443, and 80 with http.
    pub attachment_url_ports: Vec<u16>,
    /// Longest time to download one attachment URL (1 to 20 seconds).
    pub attachment_fetch_timeout: Duration,
    /// Average messages per minute per sender; 0 means no limit.
    pub sender_messages_per_minute: u32,
    /// Messages a sender may send at once (at least 1).
    pub sender_burst_messages: u32,
    /// The site's identity secret (at least 32 bytes), when configured.
    pub identity_secret: Option<SecretString>,
    /// Upper-case ISO 3166-1 alpha-2 region for national phone numbers.
    pub phone_region: Option<String>,
    /// Largest raw body sent inside the event (at most
    /// [`intake_event::MAX_INLINE_RAW_BYTES`]); 0: always the blob store.
    pub raw_inline_max_bytes: usize,
    /// The reply sender's endpoint, when configured.
    pub callback: Option<super::chat_callback::ChatCallbackConfig>,
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
                "the secret is not a Standard Webhooks secret (\"whsec_\" followed by the base64 of at least 16 bytes)",
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
        let attachment_url_hosts = validate_hosts(ctx, self.attachment_url_hosts);
        if !(1..=MAX_ATTACHMENT_FETCH_TIMEOUT_SECS).contains(&self.attachment_fetch_timeout_secs) {
            ctx.problem(
                "channels.chat.attachment_fetch_timeout_secs",
                format!(
                    "must be between 1 and {MAX_ATTACHMENT_FETCH_TIMEOUT_SECS} (the gateway answers every request within 45 seconds)"
                ),
            );
        }
        if self.sender_burst_messages == 0 {
            ctx.problem("channels.chat.sender_burst_messages", "must be at least 1");
        }
        let attachment_url_ports = validate_ports(ctx, &self.attachment_url_ports);
        let identity_source = SecretRef::new(&self.identity_secret_env, &self.identity_secret_file);
        let identity_secret = identity_source.resolve(ctx, "channels.chat.identity_secret");
        if let Some(secret) = &identity_secret
            && secret.expose_secret().len() < MIN_IDENTITY_SECRET_BYTES
        {
            let key = if self.identity_secret_env.is_some() {
                "channels.chat.identity_secret_env"
            } else {
                "channels.chat.identity_secret_file"
            };
            ctx.problem(
                key,
                format!(
                    "the identity secret must be at least {MIN_IDENTITY_SECRET_BYTES} bytes (an HS256 key)"
                ),
            );
        }
        let phone_region = self.phone_region.map(|r| r.trim().to_ascii_uppercase());
        if let Some(region) = &phone_region
            && !intake_event::is_phone_region(region)
        {
            ctx.problem(
                "channels.chat.phone_region",
                format!("{region:?} is not an ISO 3166-1 alpha-2 region code such as \"RU\""),
            );
        }
        let inline_cap = intake_event::MAX_INLINE_RAW_BYTES;
        let raw_inline_max_bytes = match usize::try_from(self.raw_inline_max_bytes) {
            Ok(bytes) if bytes <= inline_cap => bytes,
            _ => {
                ctx.problem(
                    "channels.chat.raw_inline_max_bytes",
                    format!(
                        "must be at most {inline_cap} (larger bodies go to the blob store; the event must stay well under the bus's record limit)"
                    ),
                );
                0
            }
        };
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
            attachment_url_hosts,
            allow_http_attachment_urls: self.allow_http_attachment_urls,
            attachment_url_allow_private_networks: self.attachment_url_allow_private_networks,
            attachment_url_ports,
            attachment_fetch_timeout: Duration::from_secs(self.attachment_fetch_timeout_secs),
            sender_messages_per_minute: self.sender_messages_per_minute,
            sender_burst_messages: self.sender_burst_messages.max(1),
            identity_secret,
            phone_region,
            raw_inline_max_bytes,
            callback: self.callback.and_then(|callback| callback.validate(ctx)),
        }
    }
}

/// Each port must be 1 to 65535.
fn validate_ports(ctx: &mut Ctx<'_>, ports: &[u64]) -> Vec<u16> {
    let mut valid = Vec::new();
    for (index, port) in ports.iter().enumerate() {
        match u16::try_from(*port) {
            Ok(port) if port > 0 => {
                if !valid.contains(&port) {
                    valid.push(port);
                }
            }
            _ => ctx.problem(
                format!("channels.chat.attachment_url_ports[{index}]"),
                format!("{port} is not a port (1 to 65535)"),
            ),
        }
    }
    valid
}

/// Each entry must be a host name, `*.` + host name, or an IP address (IPv6
/// in brackets), without scheme, port or path.
fn validate_hosts(ctx: &mut Ctx<'_>, hosts: Vec<String>) -> Vec<String> {
    let mut valid = Vec::new();
    for (index, entry) in hosts.into_iter().enumerate() {
        let entry = entry.trim().to_ascii_lowercase();
        let (wildcard, name) = match entry.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, entry.as_str()),
        };
        let bracketed_ip = name.starts_with('[') && name.ends_with(']');
        let host = if name.contains(['/', ':', '@', '*', '?', '#', ' ']) && !bracketed_ip {
            None
        } else {
            url::Host::parse(name).ok()
        };
        let ok = match host {
            Some(url::Host::Domain(_)) => true,
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => !wildcard,
            None => false,
        };
        if !ok {
            ctx.problem(
                format!("channels.chat.attachment_url_hosts[{index}]"),
                format!(
                    "{entry:?} is not a host: write a name such as \"files.example.com\", \"*.example.com\" or an IP address, without scheme, port or path"
                ),
            );
        } else if !valid.contains(&entry) {
            valid.push(entry);
        }
    }
    valid
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

/// Fewest identity secret bytes the chat adapter accepts (its
/// `MIN_IDENTITY_SECRET_BYTES`: an HS256 key of 256 bits).
const MIN_IDENTITY_SECRET_BYTES: usize = 32;

/// Fewest key bytes the chat adapter accepts (its `MIN_SECRET_BYTES`).
const MIN_SECRET_BYTES: usize = 16;

/// `whsec_` followed by standard base64 of at least [`MIN_SECRET_BYTES`].
pub(super) fn is_standard_webhooks_secret(secret: &str) -> bool {
    secret.strip_prefix("whsec_").is_some_and(|encoded| {
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .is_ok_and(|key| key.len() >= MIN_SECRET_BYTES)
    })
}
