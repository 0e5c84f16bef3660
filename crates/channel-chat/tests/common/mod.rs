//! Shared helpers of the URL-attachment and rate-limit tests: a chat app
//! with a recording publisher and a local blob store, signed requests.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::testing::RecordingPublisher;
use intake_channel::{ChannelContext, HttpChannel};
use intake_channel_chat::{ChatChannel, ChatOptions, PATH, WebhookSecret, sign};
use intake_event::TicketEvent;
use secrecy::SecretString;
use tower::ServiceExt;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The site's identity secret of the test options.
pub const IDENTITY_SECRET: &str = "site-identity-secret-0123456789abcdef";

/// A valid identity token for `email`, as the site's backend signs it.
pub fn identity_token(email: &str) -> String {
    let claims = serde_json::json!({
        "external_id": format!("user-{email}"),
        "email": email,
        "exp": chrono::Utc::now().timestamp() + 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(IDENTITY_SECRET.as_bytes()),
    )
    .unwrap()
}

pub struct Harness {
    pub app: Router,
    pub publisher: Arc<RecordingPublisher>,
    pub blobs: LocalDirBlobStore,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// The published events, in order.
    pub fn events(&self) -> Vec<TicketEvent> {
        self.publisher
            .records()
            .iter()
            .map(|r| TicketEvent::from_json(&r.payload).unwrap())
            .collect()
    }
}

/// Default options with the test secrets.
pub fn options() -> ChatOptions {
    ChatOptions {
        identity_secret: Some(SecretString::from(IDENTITY_SECRET)),
        ..ChatOptions::with_secret(SecretString::from(SECRET))
    }
}

pub fn harness(options: ChatOptions) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalDirBlobStore::new(dir.path().join("blobs"));
    let publisher = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: publisher.clone(),
        topics: Topics::new("intake"),
        blobs: Arc::new(blobs.clone()),
    };
    let channel = Arc::new(ChatChannel::new(options).unwrap());
    Harness {
        app: channel.routes(ctx),
        publisher,
        blobs,
        _dir: dir,
    }
}

pub fn signed(id: &str, body: &str) -> Request<Body> {
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let timestamp = chrono::Utc::now().timestamp();
    Request::post(PATH)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            sign(&secret, id, timestamp, body.as_bytes()),
        )
        .body(Body::from(body.to_owned()))
        .unwrap()
}

pub async fn send(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, HeaderMap, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {bytes:?}"));
    (status, headers, json)
}

/// `Retry-After` in seconds, if present.
pub fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap())
}
