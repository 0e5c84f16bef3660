//! The webhook pipeline with a channel whose deliveries carry several
//! messages (`normalise_batch`) and a handshake the channel answers itself:
//! one event per message, all published before the 2xx, any refusal
//! refusing the whole delivery; the one-message answer unchanged.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::testing::RecordingPublisher;
use intake_channel::webhook::{Authenticated, Normalised, Rejection, WebhookSettings};
use intake_channel::{ChannelContext, HttpChannel, RejectReason, TicketEvent, WebhookChannel};
use intake_event::Contact;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const PATH: &str = "/v1/batch";

struct Batch {
    settings: WebhookSettings,
}

fn one(message: &Value, received_at: DateTime<Utc>) -> Result<Normalised<()>, Rejection> {
    let field = |name: &str| {
        message[name]
            .as_str()
            .ok_or_else(|| Rejection::new(RejectReason::Schema, format!("{name}: a string")))
    };
    let contact = Contact {
        key: format!("batch:{}", field("from")?),
        ..Contact::default()
    };
    let event = TicketEvent::new("batch", field("id")?, contact, field("text")?, received_at);
    Ok(Normalised::new(event, ()))
}

#[async_trait::async_trait]
impl WebhookChannel for Batch {
    type Extra = ();
    const ACCEPTED: StatusCode = StatusCode::OK;

    fn name(&self) -> &'static str {
        "batch"
    }
    fn path(&self) -> &'static str {
        PATH
    }
    fn settings(&self) -> &WebhookSettings {
        &self.settings
    }
    fn verify(&self, headers: &HeaderMap, _body: &[u8]) -> Result<Authenticated, Rejection> {
        match headers.get("x-token") {
            Some(token) if token == "ok" => Ok(Authenticated::default()),
            _ => Err(Rejection::new(RejectReason::Signature, "wrong x-token")),
        }
    }
    fn handshake(&self, body: &[u8]) -> Option<Response> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let challenge = value["challenge"].as_str()?.to_owned();
        Some((StatusCode::OK, challenge).into_response())
    }
    fn normalise(
        &self,
        _: &Authenticated,
        _body: &[u8],
        _received_at: DateTime<Utc>,
    ) -> Result<Normalised<()>, Rejection> {
        Err(Rejection::new(RejectReason::Schema, "only batches"))
    }
    fn normalise_batch(
        &self,
        _: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<Normalised<()>>, Rejection> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Rejection::new(RejectReason::BadJson, e.to_string()))?;
        let messages = value
            .as_array()
            .ok_or_else(|| Rejection::new(RejectReason::Schema, "an array"))?;
        messages.iter().map(|m| one(m, received_at)).collect()
    }
}

struct World {
    app: axum::Router,
    bus: Arc<RecordingPublisher>,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let bus = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: Arc::clone(&bus) as _,
        topics: Topics::new("batch"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path().join("blobs"))),
    };
    let channel = Arc::new(Batch {
        settings: WebhookSettings::new(4096),
    });
    World {
        app: channel.routes(ctx),
        bus,
        _dir: dir,
    }
}

impl World {
    async fn send(&self, body: Value, token: &str) -> (StatusCode, String) {
        let request = Request::post(PATH)
            .header("content-type", "application/json")
            .header("x-token", token)
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn ids(&self) -> Vec<String> {
        self.bus
            .records()
            .iter()
            .map(|r| {
                TicketEvent::from_json(&r.payload)
                    .unwrap()
                    .channel_message_id
            })
            .collect()
    }
}

fn message(id: &str, from: &str) -> Value {
    json!({"id": id, "from": from, "text": format!("text of {id}")})
}

#[tokio::test]
async fn every_message_of_a_delivery_is_published_before_the_answer_names_them_all() {
    let world = world();
    let body = json!([message("a", "p1"), message("b", "p2"), message("c", "p1")]);
    let (status, answer) = world.send(body, "ok").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(world.ids(), ["a", "b", "c"]);
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let expected: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|id| intake_event::event_id("batch", id).to_string())
        .collect();
    assert_eq!(answer, json!({"event_ids": expected, "status": "accepted"}));
}

#[tokio::test]
async fn one_message_keeps_the_single_answer_and_none_publishes_nothing() {
    let world = world();
    let (status, answer) = world.send(json!([message("only", "p1")]), "ok").await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let id = intake_event::event_id("batch", "only").to_string();
    assert_eq!(answer, json!({"event_id": id, "status": "accepted"}));

    let (status, answer) = world.send(json!([]), "ok").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap()["event_ids"],
        json!([])
    );
    assert_eq!(world.ids(), ["only"]);
}

#[tokio::test]
async fn a_bad_message_or_a_failing_bus_refuses_the_whole_delivery() {
    let world = world();
    let body = json!([message("a", "p1"), {"id": "b", "text": "no sender"}]);
    let (status, _) = world.send(body, "ok").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        world.ids().is_empty(),
        "nothing published for a refused delivery"
    );

    world.bus.set_failing(true);
    let body = json!([message("a", "p1"), message("b", "p2")]);
    let (status, _) = world.send(body.clone(), "ok").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    world.bus.set_failing(false);
    let (status, _) = world.send(body, "ok").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(world.ids(), ["a", "b"]);
}

#[tokio::test]
async fn a_handshake_is_answered_by_the_channel_after_authentication_only() {
    let world = world();
    let (status, answer) = world.send(json!({"challenge": "c-42"}), "ok").await;
    assert_eq!((status, answer.as_str()), (StatusCode::OK, "c-42"));
    let (status, _) = world.send(json!({"challenge": "c-42"}), "forged").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(world.ids().is_empty());
}
