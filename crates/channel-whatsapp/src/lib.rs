#![forbid(unsafe_code)]
//! The WhatsApp Cloud API channel on the kit. `GET /v1/whatsapp` answers
//! Meta's subscription check (`hub.mode=subscribe`, `hub.verify_token`,
//! `hub.challenge`); `POST /v1/whatsapp` takes webhook deliveries signed
//! with `X-Hub-Signature-256`, one event per message of the payload.
//! Limits, content type, blobs, publishing, error answers and telemetry are
//! the kit's; replies go through [`WhatsAppReplies`].

pub mod config;
mod media;
mod normalise;
pub mod reply;
mod verify;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use intake_channel::events::{MessageRejected, NoticeIgnored};
use intake_channel::webhook::{self, Authenticated, Normalised, Rejection, WebhookSettings};
use intake_channel::{ChannelContext, RejectReason, WebhookChannel};
use secrecy::SecretString;
use uuid::Uuid;

pub use config::{WhatsApp, WhatsAppOptions};
pub use normalise::{CHANNEL, MediaRef, Payload, normalise};
pub use reply::{OUTSIDE_WINDOW_CODE, ReplyTemplate, WhatsAppReplies};
pub use verify::{SIGNATURE_HEADER, sign};

use media::MediaFetcher;

/// The route of the webhook (both the check and the deliveries).
pub const PATH: &str = "/v1/whatsapp";

/// Why the channel cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

fn client(options: &WhatsAppOptions) -> Result<reqwest::Client, SetupError> {
    reqwest::Client::builder()
        .timeout(options.api_timeout)
        .build()
        .map_err(|e| SetupError::Client(e.to_string()))
}

/// The reply sender of `options`.
pub fn replies(options: &WhatsAppOptions) -> Result<WhatsAppReplies, SetupError> {
    Ok(WhatsAppReplies {
        http: client(options)?,
        api_base_url: options.api_base_url.clone(),
        access_token: options.access_token.clone(),
        phone_number_id: options.phone_number_id.clone(),
        template: options.reply_template.clone(),
    })
}

/// The WhatsApp channel (an `HttpChannel` through [`WebhookChannel`]).
#[derive(Debug)]
pub struct WhatsAppChannel {
    app_secret: SecretString,
    verify_token: SecretString,
    media: MediaFetcher,
    settings: WebhookSettings,
}

impl WhatsAppChannel {
    pub fn new(options: WhatsAppOptions) -> Result<Arc<Self>, SetupError> {
        Ok(Arc::new(Self {
            media: MediaFetcher {
                http: client(&options)?,
                api_base_url: options.api_base_url.clone(),
                access_token: options.access_token.clone(),
                max_media_bytes: options.max_media_bytes,
                media_hosts: options.media_hosts.clone(),
            },
            app_secret: options.app_secret,
            verify_token: options.verify_token,
            settings: WebhookSettings::new(options.max_body_bytes),
        }))
    }

    /// Meta's subscription check: the challenge when the token matches, 403 otherwise.
    fn challenge(&self, query: &HashMap<String, String>) -> Response {
        let token = query.get("hub.verify_token").map(String::as_str);
        let subscribe = query.get("hub.mode").map(String::as_str) == Some("subscribe");
        match (subscribe, token, query.get("hub.challenge")) {
            (true, Some(token), Some(challenge))
                if verify::token_matches(&self.verify_token, token) =>
            {
                (StatusCode::OK, challenge.clone()).into_response()
            }
            (true, Some(_), Some(_)) => {
                let rejection =
                    Rejection::new(RejectReason::Signature, "hub.verify_token does not match");
                let mut answer = webhook::reject(CHANNEL, None, rejection).into_response();
                *answer.status_mut() = StatusCode::FORBIDDEN;
                answer
            }
            _ => webhook::reject(
                CHANNEL,
                None,
                Rejection::new(
                    RejectReason::BadRequest,
                    "expected hub.mode=subscribe, hub.verify_token and hub.challenge",
                ),
            )
            .into_response(),
        }
    }
}

#[async_trait::async_trait]
impl WebhookChannel for WhatsAppChannel {
    type Extra = Vec<MediaRef>;

    /// Meta expects 200.
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

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Authenticated, Rejection> {
        verify::verify(&self.app_secret, headers, body)?;
        Ok(Authenticated::default())
    }

    /// A payload of exactly one message (the pipeline calls
    /// [`WebhookChannel::normalise_batch`], which takes them all).
    fn normalise(
        &self,
        _: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Normalised<Vec<MediaRef>>, Rejection> {
        let mut payload = normalise(body, received_at)?;
        match payload.messages.len() {
            1 => Ok(payload.messages.remove(0)),
            n => Err(Rejection::new(
                RejectReason::Schema,
                format!("expected one message, the payload holds {n}"),
            )),
        }
    }

    fn normalise_batch(
        &self,
        _: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<Normalised<Vec<MediaRef>>>, Rejection> {
        let payload = normalise(body, received_at)?;
        for rejection in &payload.skipped {
            MessageRejected {
                channel: CHANNEL,
                reason: rejection.reason,
                event_id: None,
                detail: &rejection.message,
            }
            .emit();
        }
        for _ in 0..payload.statuses {
            NoticeIgnored {
                channel: CHANNEL,
                kind: "status",
            }
            .emit();
        }
        Ok(payload.messages)
    }

    async fn complete(
        &self,
        ctx: &ChannelContext,
        _event_id: Uuid,
        message: &mut Normalised<Vec<MediaRef>>,
    ) -> Result<(), Rejection> {
        self.media.complete(ctx, message).await
    }

    fn extra_routes(self: Arc<Self>, _ctx: ChannelContext) -> axum::Router {
        axum::Router::new().route(
            PATH,
            get(
                move |Query(query): Query<HashMap<String, String>>| async move {
                    self.challenge(&query)
                },
            ),
        )
    }
}
