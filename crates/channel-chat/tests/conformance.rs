//! The kit's webhook conformance suite, run on the chat channel.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_channel::testing::{WebhookTestSender, webhook_conformance};
use intake_channel::{ChannelContext, HttpChannel};
use intake_channel_chat::{ChatChannel, ChatOptions, PATH, WebhookSecret, sign};
use secrecy::SecretString;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_c2Vjb25kIHNlY3JldCBmb3IgdGVzdHMh";
/// Small, so the oversized check sends little.
const MAX_BODY_BYTES: usize = 16 * 1024;

struct Chat;

fn request(id: &str, body: Vec<u8>, secret: Option<&str>) -> Request<Body> {
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = Request::post(PATH).header("content-type", "application/json");
    if let Some(secret) = secret {
        let secret = WebhookSecret::parse(secret).unwrap();
        request = request
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign(&secret, id, timestamp, &body));
    }
    request.body(Body::from(body)).unwrap()
}

impl WebhookTestSender for Chat {
    fn routes(&self, ctx: ChannelContext) -> axum::Router {
        let options = ChatOptions {
            max_body_bytes: MAX_BODY_BYTES,
            ..ChatOptions::with_secret(SecretString::from(SECRET))
        };
        Arc::new(ChatChannel::new(options).unwrap()).routes(ctx)
    }

    fn max_body_bytes(&self) -> usize {
        MAX_BODY_BYTES
    }

    fn body(&self, _id: &str) -> Vec<u8> {
        serde_json::json!({
            "conversation_id": "c-1",
            "author": {"id": "v-1"},
            "text": "hello",
        })
        .to_string()
        .into_bytes()
    }

    fn body_with_malformed_optional_field(&self, _id: &str) -> (Vec<u8>, &'static str) {
        let body = serde_json::json!({
            "conversation_id": "c-1",
            "author": {"id": "v-1"},
            "text": "hello",
            "sent_at": "not a time",
        });
        (body.to_string().into_bytes(), "sent_at")
    }

    fn malformed_body(&self, _id: &str) -> (Vec<u8>, StatusCode) {
        let body = serde_json::json!({"author": {"id": "v-1"}, "text": "no conversation"});
        (
            body.to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    }

    fn signed(&self, id: &str, body: Vec<u8>) -> Request<Body> {
        request(id, body, Some(SECRET))
    }

    fn unsigned(&self, id: &str, body: Vec<u8>) -> Request<Body> {
        request(id, body, None)
    }

    fn forged(&self, id: &str, body: Vec<u8>) -> Request<Body> {
        request(id, body, Some(OTHER_SECRET))
    }
}

#[tokio::test]
async fn chat_passes_the_webhook_conformance_suite() {
    webhook_conformance(&Chat).await;
}
