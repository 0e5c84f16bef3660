//! The Slack channel passes the kit's webhook conformance suite.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_channel::testing::{WebhookTestSender, webhook_conformance};
use intake_channel::{ChannelContext, HttpChannel};
use intake_channel_slack::SlackChannel;

use common::*;

struct Sender;

impl WebhookTestSender for Sender {
    fn routes(&self, ctx: ChannelContext) -> axum::Router {
        SlackChannel::new(options("http://127.0.0.1:9/api/")).routes(ctx)
    }
    fn max_body_bytes(&self) -> usize {
        options("http://127.0.0.1:9/api/").max_body_bytes
    }
    fn body(&self, id: &str) -> Vec<u8> {
        callback(
            id,
            message("U0ANNA", "D0DM", "im", "1749416383.000200", "hello"),
        )
    }
    fn body_with_malformed_optional_field(&self, id: &str) -> (Vec<u8>, &'static str) {
        let mut event = message("U0ANNA", "D0DM", "im", "1749416383.000300", "hi");
        event["thread_ts"] = serde_json::json!(["not", "a", "ts"]);
        (callback(id, event), "event.thread_ts")
    }
    fn malformed_body(&self, id: &str) -> (Vec<u8>, StatusCode) {
        let mut event = message("U0ANNA", "D0DM", "im", "1749416383.000400", "no user");
        event.as_object_mut().unwrap().remove("user");
        (callback(id, event), StatusCode::UNPROCESSABLE_ENTITY)
    }
    fn signed(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        request(body, Some(SIGNING_SECRET))
    }
    fn unsigned(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        request(body, None)
    }
    fn forged(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        request(body, Some("another app's signing secret"))
    }
}

#[tokio::test]
async fn the_slack_channel_passes_the_webhook_conformance_suite() {
    webhook_conformance(&Sender).await;
}
