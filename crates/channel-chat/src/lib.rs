#![forbid(unsafe_code)]
//! The website chat adapter: `POST /v1/chat/messages`, a generic JSON body
//! signed with the Standard Webhooks scheme. See `docs/chat-webhook.md`.
//!
//! Order of checks (authentication before anything is parsed or queued):
//! signature headers present (401) → timestamp within the window (401) →
//! `Content-Length` within the limit (413) → body read within the limit (413)
//! → signature matches (401) → content type `application/json` (415) → JSON
//! (400) → required fields and limits (422; invalid optional fields are
//! dropped, unknown fields ignored) → per-sender rate limit on the contact
//! key (429) →
//! attachment URLs allowed (422) → attachment URLs fetched (422 permanent,
//! 503 transient) → attachments and raw body to the blob store (503) → event
//! on the bus (503, or 413 when the bus refuses it for its size) →
//! `202 {"event_id", "status": "accepted"}`.

pub mod attachment;
pub mod author;
pub mod callback;
pub mod config;
pub mod fetch;
mod handler;
pub mod identity;
pub mod message;
pub mod normalise;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use intake_channel::WebhookSettings;
use secrecy::SecretString;

pub use attachment::{AttachmentLimits, AttachmentLink};
pub use callback::{CallbackOptions, CallbackSetupError, ChatCallback};
pub use config::Chat;
pub use fetch::{
    AttachmentFetcher, FetchError, HostLookup, HostRuleError, Refusal, StaticLookup, UrlPolicy,
};
pub use identity::{IdentitySecretError, IdentityVerifier, MIN_IDENTITY_SECRET_BYTES};
pub use intake_channel::SenderLimiter;
pub use message::{ChatAttachment, ChatAuthor, ChatMessage, Lenient, json_schema};
pub use normalise::{
    CHANNEL, DroppedField, MessageRules, NormaliseError, Normalised, ParsedMessage, normalise,
    normalise_bytes, parse_message,
};
pub use signature::{SecretError, VerifyError, WebhookSecret, sign};

/// The route of the chat webhook.
pub const PATH: &str = "/v1/chat/messages";

/// Settings of the chat adapter, validated from `[channels.chat]` by
/// [`config::Chat`].
#[derive(Debug, Clone)]
pub struct ChatOptions {
    /// Standard Webhooks secret, `whsec_<base64 of the key bytes>`.
    pub secret: SecretString,
    /// Accepted distance between `webhook-timestamp` and the gateway clock, either way.
    pub timestamp_tolerance: Duration,
    /// Largest accepted request body, in bytes (base64 attachments included).
    pub max_body_bytes: usize,
    /// Largest decoded attachment, in bytes.
    pub max_attachment_bytes: usize,
    /// Most attachments per message.
    pub max_attachments: usize,
    /// Hosts attachment URLs may be fetched from (`files.example.com`,
    /// `*.cdn.example`, an IP address). Empty: URL attachments are refused.
    pub attachment_url_hosts: Vec<String>,
    /// Also fetch plain `http` URLs from the listed hosts (default: https only).
    pub allow_http_attachment_urls: bool,
    /// Also fetch from hosts whose addresses are loopback or private
    /// (RFC 1918, CGNAT, IPv6 unique-local); link-local, cloud metadata,
    /// multicast and reserved addresses are never fetched.
    pub attachment_url_allow_private_networks: bool,
    /// Ports attachment URLs may use; empty: 443, and 80 when http is allowed.
    pub attachment_url_ports: Vec<u16>,
    /// How attachment host names are resolved; `None`: the system resolver.
    pub attachment_host_lookup: Option<Arc<dyn HostLookup>>,
    /// Longest time to download one attachment URL.
    pub attachment_fetch_timeout: Duration,
    /// Messages per minute one sender (contact key) may send on average; 0: no limit.
    pub sender_messages_per_minute: u32,
    /// Messages one sender may send at once before the per-minute rate applies.
    pub sender_burst_messages: u32,
    /// The site's identity secret (HS256 key of `author.identity_token`, at
    /// least 32 bytes); `None`: every visitor is unverified.
    pub identity_secret: Option<SecretString>,
    /// ISO 3166-1 alpha-2 region (`RU`) for national phone numbers when the
    /// message's locale names no region.
    pub phone_region: Option<String>,
    /// Largest raw body carried inside the event instead of the blob store,
    /// in bytes (at most [`intake_event::MAX_INLINE_RAW_BYTES`]); 0: always
    /// the blob store.
    pub raw_inline_max_bytes: usize,
    /// The reply sender's endpoint (`[channels.chat.callback]`), used by
    /// [`config::Chat`]'s reply role, not by the webhook; `None`: the chat
    /// channel cannot reply.
    pub callback: Option<CallbackOptions>,
}

impl ChatOptions {
    /// Options with the defaults of `[channels.chat]` (see [`config`]) and
    /// the given secret.
    pub fn with_secret(secret: SecretString) -> Self {
        let size = |bytes: u64| usize::try_from(bytes).unwrap_or(usize::MAX);
        Self {
            secret,
            timestamp_tolerance: Duration::from_secs(config::default_timestamp_tolerance_secs()),
            max_body_bytes: size(config::default_max_body_bytes()),
            max_attachment_bytes: size(config::default_max_attachment_bytes()),
            max_attachments: size(config::default_max_attachments()),
            attachment_url_hosts: Vec::new(),
            allow_http_attachment_urls: false,
            attachment_url_allow_private_networks: false,
            attachment_url_ports: Vec::new(),
            attachment_host_lookup: None,
            attachment_fetch_timeout: Duration::from_secs(
                config::default_attachment_fetch_timeout_secs(),
            ),
            sender_messages_per_minute: config::default_sender_messages_per_minute(),
            sender_burst_messages: config::default_sender_burst_messages(),
            identity_secret: None,
            phone_region: None,
            raw_inline_max_bytes: size(config::default_raw_inline_max_bytes()),
            callback: None,
        }
    }
}

/// The chat adapter, ready to be mounted on the gateway.
#[derive(Debug)]
pub struct ChatChannel {
    secret: WebhookSecret,
    timestamp_tolerance: Duration,
    rules: MessageRules,
    fetcher: AttachmentFetcher,
    /// Body limit, inline raw size and the per-sender limit of the pipeline.
    settings: WebhookSettings,
}

/// Why [`ChatOptions`] cannot make a channel. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum ChatSetupError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    UrlHost(#[from] HostRuleError),
    #[error(transparent)]
    HttpClient(#[from] fetch::ClientBuildError),
    #[error(transparent)]
    IdentitySecret(#[from] IdentitySecretError),
    #[error("phone region {0:?} is not an ISO 3166-1 alpha-2 region code such as \"RU\"")]
    PhoneRegion(String),
}

impl ChatSetupError {
    /// Never: the options have to change.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl ChatChannel {
    /// Validates the options (the secret and the URL host list must parse).
    pub fn new(options: ChatOptions) -> Result<Self, ChatSetupError> {
        let policy = UrlPolicy::new(
            &options.attachment_url_hosts,
            options.allow_http_attachment_urls,
        )?
        .allowing_private_networks(options.attachment_url_allow_private_networks)
        .with_ports(&options.attachment_url_ports);
        let lookup = options
            .attachment_host_lookup
            .clone()
            .unwrap_or_else(|| Arc::new(fetch::SystemLookup));
        let fetcher = AttachmentFetcher::with_lookup(
            policy,
            options.max_attachment_bytes,
            options.attachment_fetch_timeout,
            lookup,
        )?;
        let identity = options
            .identity_secret
            .as_ref()
            .map(IdentityVerifier::new)
            .transpose()?;
        if let Some(region) = &options.phone_region
            && !intake_event::is_phone_region(region)
        {
            return Err(ChatSetupError::PhoneRegion(region.clone()));
        }
        let mut rules = MessageRules::new(AttachmentLimits {
            max_attachment_bytes: options.max_attachment_bytes,
            max_attachments: options.max_attachments,
        });
        rules.identity = identity;
        rules.phone_region = options.phone_region.clone();
        Ok(Self {
            secret: WebhookSecret::from_secret_string(&options.secret)?,
            timestamp_tolerance: options.timestamp_tolerance,
            rules,
            fetcher,
            settings: WebhookSettings {
                raw_inline_max_bytes: options.raw_inline_max_bytes,
                sender_limiter: SenderLimiter::new(
                    options.sender_messages_per_minute,
                    options.sender_burst_messages,
                ),
                ..WebhookSettings::new(options.max_body_bytes)
            },
        })
    }
}
