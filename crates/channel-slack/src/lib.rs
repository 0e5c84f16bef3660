#![forbid(unsafe_code)]
//! The Slack Events API channel on the kit: `POST /v1/slack/events`,
//! signed with request signing v0 (`X-Slack-Signature`,
//! `X-Slack-Request-Timestamp` within five minutes, checked before
//! parsing). The `url_verification` handshake is answered with its
//! challenge; direct messages to the app and messages in the configured
//! support channels become events; a retry (`X-Slack-Retry-Num`) carries
//! the same `event_id` and so the same event id. Limits, content type,
//! publishing, error answers and telemetry are the kit's; replies go
//! through [`SlackReplies`].

pub mod config;
mod normalise;
pub mod profile;
pub mod reply;
mod verify;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use intake_channel::events::NoticeIgnored;
use intake_channel::webhook::{Authenticated, Normalised, Rejection, WebhookSettings};
use intake_channel::{RejectReason, WebhookChannel};
use secrecy::SecretString;

pub use config::{Slack, SlackOptions};
pub use normalise::{CHANNEL, Delivery, Scope, normalise};
pub use profile::Profiles;
pub use reply::SlackReplies;
pub use verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

/// The route of the Events API request URL.
pub const PATH: &str = "/v1/slack/events";
/// The header Slack sets on a redelivery.
pub const RETRY_HEADER: &str = "x-slack-retry-num";

/// Why the reply sender cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// The reply sender of `options`.
pub fn replies(options: &SlackOptions) -> Result<SlackReplies, SetupError> {
    let http = reqwest::Client::builder()
        .timeout(options.api_timeout)
        .build()
        .map_err(|e| SetupError::Client(e.to_string()))?;
    Ok(SlackReplies {
        http,
        api_base_url: options.api_base_url.clone(),
        bot_token: options.bot_token.clone(),
    })
}

/// The Slack channel (an `HttpChannel` through [`WebhookChannel`]).
#[derive(Debug)]
pub struct SlackChannel {
    signing_secret: SecretString,
    timestamp_tolerance: std::time::Duration,
    scope: Scope,
    settings: WebhookSettings,
    /// The member's profile e-mail (`users.info`), put on the contact.
    profiles: Profiles,
}

impl SlackChannel {
    pub fn new(options: SlackOptions) -> Arc<Self> {
        // The same client settings as the reply sender's; building it fails
        // only without a TLS backend, which the reply sender would hit too.
        let http = reqwest::Client::builder()
            .timeout(options.api_timeout)
            .build()
            .unwrap_or_default();
        Arc::new(Self {
            profiles: Profiles::new(
                http,
                options.api_base_url.clone(),
                options.bot_token.clone(),
            ),
            signing_secret: options.signing_secret,
            timestamp_tolerance: options.timestamp_tolerance,
            scope: Scope {
                support_channels: options.support_channels,
                bot_user_id: options.bot_user_id,
            },
            settings: WebhookSettings::new(options.max_body_bytes),
        })
    }
}

#[async_trait::async_trait]
impl WebhookChannel for SlackChannel {
    type Extra = ();

    /// Slack expects 200 within three seconds.
    const ACCEPTED: StatusCode = StatusCode::OK;

    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn path(&self) -> &'static str {
        PATH
    }

    fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    fn check_headers(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let now = intake_telemetry::clock::now().timestamp();
        verify::check_headers(headers, self.timestamp_tolerance, now)
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Authenticated, Rejection> {
        verify::verify(&self.signing_secret, headers, body)?;
        if let Some(retry) = headers.get(RETRY_HEADER).and_then(|v| v.to_str().ok()) {
            let reason = headers
                .get("x-slack-retry-reason")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info!(channel = CHANNEL, retry, reason, "Slack redelivery");
        }
        Ok(Authenticated::default())
    }

    fn handshake(&self, body: &[u8]) -> Option<Response> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        if value["type"].as_str() != Some("url_verification") {
            return None;
        }
        let challenge = value["challenge"].as_str()?.to_owned();
        Some(
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({"challenge": challenge})),
            )
                .into_response(),
        )
    }

    fn normalise(
        &self,
        _: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Normalised<()>, Rejection> {
        match normalise(body, &self.scope, received_at)? {
            Delivery::Message(message) => Ok(*message),
            Delivery::Ignored(kind) => Err(Rejection::new(
                RejectReason::Schema,
                format!("the delivery holds no customer message ({kind})"),
            )),
        }
    }

    /// Puts the member's profile e-mail on the (verified) contact, so the
    /// router can link the member to the Zendesk user with that address
    /// (`profile.rs`); without one the message goes on as it is.
    async fn complete(
        &self,
        _ctx: &intake_channel::ChannelContext,
        _event_id: uuid::Uuid,
        message: &mut Normalised<()>,
    ) -> Result<(), Rejection> {
        let contact = &mut message.event.contact;
        if contact.email.is_none()
            && let Some(user) = contact.channel_user_id.clone()
        {
            contact.email = self.profiles.email(&user).await;
        }
        Ok(())
    }

    fn normalise_batch(
        &self,
        _: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<Normalised<()>>, Rejection> {
        match normalise(body, &self.scope, received_at)? {
            Delivery::Message(message) => Ok(vec![*message]),
            Delivery::Ignored(kind) => {
                NoticeIgnored {
                    channel: CHANNEL,
                    kind,
                }
                .emit();
                Ok(Vec::new())
            }
        }
    }
}
