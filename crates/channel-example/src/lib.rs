#![forbid(unsafe_code)]
//! A minimal webhook channel on the kit (`intake_channel::webhook`), the
//! worked example of `docs/adding-a-channel.md`.
//!
//! `POST /v1/example/messages` with a JSON body
//! `{"id": "<message id>", "from": "<user id>", "name"?: "<display name>", "text": "…"}`
//! and the header `x-example-signature: <hex HMAC-SHA256 of the body>`.
//! Everything else (limits, content type, blobs, publishing, error answers,
//! telemetry) is the kit's.

mod normalise;
mod verify;

use std::sync::Arc;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use intake_channel::webhook::{Authenticated, Normalised, Rejection, WebhookSettings};
use intake_channel::{SenderLimiter, WebhookChannel};
use secrecy::SecretString;

pub use normalise::{CHANNEL, normalise};
pub use verify::{SIGNATURE_HEADER, sign};

/// The route of the example webhook.
pub const PATH: &str = "/v1/example/messages";

/// Settings of the example channel.
#[derive(Debug, Clone)]
pub struct ExampleOptions {
    /// The shared HMAC key of the sender.
    pub secret: SecretString,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Messages per minute one sender may send on average; 0: no limit.
    pub sender_messages_per_minute: u32,
}

impl ExampleOptions {
    /// 64 KiB bodies, 60 messages per minute per sender.
    pub fn with_secret(secret: SecretString) -> Self {
        Self {
            secret,
            max_body_bytes: 64 * 1024,
            sender_messages_per_minute: 60,
        }
    }
}

/// The example channel, ready to be mounted on the gateway (it is an
/// `intake_channel::HttpChannel` through [`WebhookChannel`]).
#[derive(Debug)]
pub struct ExampleChannel {
    secret: SecretString,
    settings: WebhookSettings,
}

impl ExampleChannel {
    pub fn new(options: ExampleOptions) -> Arc<Self> {
        let per_minute = options.sender_messages_per_minute;
        Arc::new(Self {
            secret: options.secret,
            settings: WebhookSettings {
                sender_limiter: SenderLimiter::new(per_minute, per_minute.max(1)),
                ..WebhookSettings::new(options.max_body_bytes)
            },
        })
    }
}

#[async_trait::async_trait]
impl WebhookChannel for ExampleChannel {
    type Extra = ();

    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn path(&self) -> &'static str {
        PATH
    }

    fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Authenticated, Rejection> {
        verify::verify(&self.secret, headers, body)?;
        Ok(Authenticated::default())
    }

    fn normalise(
        &self,
        _authenticated: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Normalised<()>, Rejection> {
        normalise(body, received_at)
    }
}
