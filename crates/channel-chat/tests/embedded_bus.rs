//! Through the real embedded bus: a 202 means a consumer can read the event,
//! also after the bus was closed and reopened.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_blob::LocalDirBlobStore;
use intake_bus::{BusOptions, EmbeddedOptions, Topics};
use intake_channel::{ChannelContext, HttpChannel};
use intake_channel_chat::{ChatChannel, ChatOptions, PATH, WebhookSecret, sign};
use intake_event::TicketEvent;
use secrecy::SecretString;
use tower::ServiceExt;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test]
async fn accepted_message_is_on_the_embedded_bus() {
    let dir = tempfile::tempdir().unwrap();
    let bus_path = dir.path().join("bus.sqlite");
    let topics = Topics::new("intake");
    let topic = topics.events("chat");
    {
        let bus = intake_bus::connect(BusOptions::Embedded(EmbeddedOptions::new(bus_path.clone())))
            .await
            .unwrap();
        bus.ensure_topics(std::slice::from_ref(&topic))
            .await
            .unwrap();
        let ctx = ChannelContext {
            publisher: bus.publisher(),
            topics: topics.clone(),
            blobs: Arc::new(LocalDirBlobStore::new(dir.path().join("blobs"))),
        };
        let channel = Arc::new(
            ChatChannel::new(ChatOptions::with_secret(SecretString::from(SECRET))).unwrap(),
        );
        let app = channel.routes(ctx);

        let body = r#"{"conversation_id":"c-7","author":{"id":"v-7","name":"Пётр"},"text":"Где мой заказ? 🤔"}"#;
        let ts = chrono::Utc::now().timestamp();
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let request = Request::post(PATH)
            .header("content-type", "application/json; charset=utf-8")
            .header("webhook-id", "msg_embedded")
            .header("webhook-timestamp", ts.to_string())
            .header(
                "webhook-signature",
                sign(&secret, "msg_embedded", ts, body.as_bytes()),
            )
            .body(Body::from(body))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }

    // Reopen: what was acknowledged is durable.
    let bus = intake_bus::connect(BusOptions::Embedded(EmbeddedOptions::new(bus_path)))
        .await
        .unwrap();
    let mut consumer = bus
        .consumer("test-router", std::slice::from_ref(&topic))
        .await
        .unwrap();
    let delivery = consumer
        .poll(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the accepted event is on the bus");
    assert_eq!(delivery.topic, topic);
    assert_eq!(
        delivery.key, "thread:chat:c-7",
        "the conversation is the key"
    );
    let event = TicketEvent::from_json(&delivery.payload).unwrap();
    assert_eq!(
        event.event_id,
        intake_event::event_id("chat", "msg_embedded")
    );
    assert_eq!(event.text, "Где мой заказ? 🤔");
    assert_eq!(
        delivery.header("ce_id"),
        Some(event.event_id.to_string().as_str())
    );
    assert!(
        consumer
            .poll(Duration::from_millis(200))
            .await
            .unwrap()
            .is_none()
    );
}
