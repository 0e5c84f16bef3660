#![forbid(unsafe_code)]
//! A minimal webhook channel on the kit, the worked example of
//! `docs/adding-a-channel.md`: `POST /v1/example/messages` with a JSON body
//! `{"id", "from", "name"?, "text"}` and `x-example-signature: <hex
//! HMAC-SHA256 of the body>`. Limits, content type, blobs, publishing,
//! error answers and telemetry are the kit's.

pub mod config;
mod normalise;
mod verify;

use std::sync::Arc;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use intake_channel::webhook::{Authenticated, Normalised, Rejection, WebhookSettings};
use intake_channel::{SenderLimiter, WebhookChannel};
use secrecy::SecretString;

pub use config::{Example, ExampleOptions};
pub use normalise::{CHANNEL, normalise};
pub use verify::{SIGNATURE_HEADER, sign};

/// The route of the example webhook.
pub const PATH: &str = "/v1/example/messages";

/// The example channel (an `HttpChannel` through [`WebhookChannel`]).
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
        _: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Normalised<()>, Rejection> {
        normalise(body, received_at)
    }
}
