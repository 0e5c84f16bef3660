//! The WhatsApp channel passes the kit's webhook conformance suite.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_channel::testing::{WebhookTestSender, webhook_conformance};
use intake_channel::{ChannelContext, HttpChannel};
use intake_channel_whatsapp::WhatsAppChannel;
use serde_json::json;

use common::*;

struct Sender;

impl WebhookTestSender for Sender {
    fn routes(&self, ctx: ChannelContext) -> axum::Router {
        WhatsAppChannel::new(options("http://127.0.0.1:9/", ""))
            .unwrap()
            .routes(ctx)
    }
    fn max_body_bytes(&self) -> usize {
        options("http://127.0.0.1:9/", "").max_body_bytes
    }
    fn body(&self, id: &str) -> Vec<u8> {
        let contacts = [("16505551234", json!("Sheena"))];
        payload(vec![vec![change(
            &contacts,
            vec![text(id, "16505551234", "hello")],
        )]])
    }
    fn body_with_malformed_optional_field(&self, id: &str) -> (Vec<u8>, &'static str) {
        let contacts = [("16505551234", json!(["not", "a", "name"]))];
        let body = payload(vec![vec![change(
            &contacts,
            vec![text(id, "16505551234", "hi")],
        )]]);
        (body, "contacts.profile.name")
    }
    fn malformed_body(&self, id: &str) -> (Vec<u8>, StatusCode) {
        let mut message = text(id, "16505551234", "no sender");
        message.as_object_mut().unwrap().remove("from");
        let body = payload(vec![vec![change(&[], vec![message])]]);
        (body, StatusCode::UNPROCESSABLE_ENTITY)
    }
    fn signed(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        request(body, Some(APP_SECRET))
    }
    fn unsigned(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        request(body, None)
    }
    fn forged(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        request(body, Some("another app's secret"))
    }
}

#[tokio::test]
async fn the_whatsapp_channel_passes_the_webhook_conformance_suite() {
    webhook_conformance(&Sender).await;
}
