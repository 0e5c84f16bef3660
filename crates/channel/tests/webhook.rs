//! The webhook pipeline with a minimal channel: a shared-token header, a
//! JSON body `{"id", "from", "text", "lang"?}`, a GET challenge route. It runs
//! the conformance suite, and the steps the suite does not cover.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::testing::{
    RecordingPublisher, WebhookTestSender, check_accepted_only_after_the_bus,
    check_authentication_required, check_malformed_optional_field_dropped, check_malformed_refused,
    check_oversized_refused, check_same_message_same_event_id, webhook_conformance,
};
use intake_channel::webhook::{Authenticated, Normalised, Rejection, WebhookSettings};
use intake_channel::{
    ChannelContext, HttpChannel, RejectReason, SenderLimiter, TicketEvent, WebhookChannel,
};
use intake_event::{Contact, ContactKey};
use tower::ServiceExt as _;

const TOKEN: &str = "token-of-the-toy-channel";
const PATH: &str = "/v1/toy";
const LIMIT: usize = 4096;

#[derive(serde::Deserialize)]
struct ToyMessage {
    id: String,
    from: String,
    text: String,
    #[serde(default)]
    lang: Option<serde_json::Value>,
}

struct Toy {
    settings: WebhookSettings,
    /// The header check ran (to prove it runs before the body is read).
    headers_checked: AtomicBool,
    fault: Fault,
}

/// A step of the pipeline taken out, to show that the conformance suite
/// notices (each check must fail without its step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Every request reaches the pipeline as if authenticated.
    AuthenticationSkipped,
    /// The body limit the channel runs with is not the one it declares.
    BodyLimitIgnored,
    /// 503 answers (the bus failed or stalled) go out as 202.
    AnsweredBeforeTheBus,
    /// 422 answers (malformed bodies) go out as 202.
    MalformedAccepted,
    /// Invalid optional fields are left out silently.
    DropsNotRecorded,
    /// Every delivery gets a new event id.
    UnstableEventId,
}

impl Toy {
    fn new(settings: WebhookSettings) -> Arc<Self> {
        Self::with_fault(settings, Fault::None)
    }

    fn with_fault(settings: WebhookSettings, fault: Fault) -> Arc<Self> {
        Arc::new(Self {
            settings,
            headers_checked: AtomicBool::new(false),
            fault,
        })
    }
}

#[async_trait::async_trait]
impl WebhookChannel for Toy {
    type Extra = ();

    fn name(&self) -> &'static str {
        "toy"
    }
    fn path(&self) -> &'static str {
        PATH
    }
    fn settings(&self) -> &WebhookSettings {
        &self.settings
    }
    fn check_headers(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        self.headers_checked.store(true, Ordering::SeqCst);
        match headers.get("x-toy-token") {
            Some(_) => Ok(()),
            None => Err(Rejection::new(
                RejectReason::Signature,
                "missing x-toy-token",
            )),
        }
    }
    fn verify(&self, headers: &HeaderMap, _body: &[u8]) -> Result<Authenticated, Rejection> {
        match headers.get("x-toy-token") {
            Some(token) if token == TOKEN => Ok(Authenticated::default()),
            _ => Err(Rejection::new(RejectReason::Signature, "wrong x-toy-token")),
        }
    }
    fn normalise(
        &self,
        _authenticated: &Authenticated,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Normalised<()>, Rejection> {
        let message: ToyMessage = serde_json::from_slice(body)
            .map_err(|e| Rejection::new(RejectReason::Schema, e.to_string()))?;
        let key = ContactKey::channel_user("toy", &message.from)
            .map_err(|e| Rejection::new(RejectReason::Schema, format!("from: {e}")))?;
        let contact = Contact {
            key: key.into_string(),
            channel_user_id: Some(message.from.clone()),
            ..Contact::default()
        };
        let id = match self.fault {
            Fault::UnstableEventId => format!("{}-{}", message.id, uuid::Uuid::new_v4()),
            _ => message.id,
        };
        let mut event = TicketEvent::new("toy", &id, contact, message.text, received_at);
        let mut dropped = Vec::new();
        match message.lang {
            Some(serde_json::Value::String(lang)) => event.contact.locale = Some(lang),
            Some(_) if self.fault == Fault::DropsNotRecorded => {}
            Some(_) => {
                dropped.push("lang");
                event.dropped_fields.push("lang".to_owned());
            }
            None => {}
        }
        Ok(Normalised {
            dropped,
            ..Normalised::new(event, ())
        })
    }
    fn extra_routes(self: Arc<Self>, _ctx: ChannelContext) -> axum::Router {
        axum::Router::new()
            .route(PATH, get(|| async { "challenge" }))
            .route("/v1/toy/echo", post(|body: String| async move { body }))
    }
}

struct ToySender(Fault);

fn toy_request(body: Vec<u8>, token: Option<&str>) -> Request<Body> {
    let mut request = Request::post(PATH).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("x-toy-token", token);
    }
    request.body(Body::from(body)).unwrap()
}

fn toy_body(id: &str) -> Vec<u8> {
    serde_json::json!({"id": id, "from": "u-1", "text": "hello"})
        .to_string()
        .into_bytes()
}

impl WebhookTestSender for ToySender {
    fn routes(&self, ctx: ChannelContext) -> axum::Router {
        let limit = match self.0 {
            Fault::BodyLimitIgnored => LIMIT * 8,
            _ => LIMIT,
        };
        let routes = Toy::with_fault(WebhookSettings::new(limit), self.0).routes(ctx);
        let answer_as_accepted = |refused: StatusCode| {
            middleware::map_response(move |mut response: Response| async move {
                if response.status() == refused {
                    *response.status_mut() = StatusCode::ACCEPTED;
                }
                response
            })
        };
        match self.0 {
            Fault::AuthenticationSkipped => routes.layer(middleware::map_request(
                |mut request: Request<Body>| async move {
                    let token = axum::http::HeaderValue::from_static(TOKEN);
                    request.headers_mut().insert("x-toy-token", token);
                    request
                },
            )),
            Fault::AnsweredBeforeTheBus => {
                routes.layer(answer_as_accepted(StatusCode::SERVICE_UNAVAILABLE))
            }
            Fault::MalformedAccepted => {
                routes.layer(answer_as_accepted(StatusCode::UNPROCESSABLE_ENTITY))
            }
            _ => routes,
        }
    }
    fn max_body_bytes(&self) -> usize {
        LIMIT
    }
    fn body(&self, id: &str) -> Vec<u8> {
        toy_body(id)
    }
    fn body_with_malformed_optional_field(&self, id: &str) -> (Vec<u8>, &'static str) {
        let body = serde_json::json!({"id": id, "from": "u-1", "text": "hi", "lang": 7});
        (body.to_string().into_bytes(), "lang")
    }
    fn malformed_body(&self, _id: &str) -> (Vec<u8>, StatusCode) {
        (b"{\"text\": 1}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY)
    }
    fn signed(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        toy_request(body, Some(TOKEN))
    }
    fn unsigned(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        toy_request(body, None)
    }
    fn forged(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        toy_request(body, Some("not-the-token"))
    }
}

#[tokio::test]
async fn a_minimal_channel_passes_the_conformance_suite() {
    webhook_conformance(&ToySender(Fault::None)).await;
}

// Each check of the suite fails when the step it checks is taken out.

#[tokio::test]
#[should_panic(expected = "same event id")]
async fn the_suite_notices_an_unstable_event_id() {
    check_same_message_same_event_id(&ToySender(Fault::UnstableEventId)).await;
}

#[tokio::test]
#[should_panic(expected = "missing authentication")]
async fn the_suite_notices_skipped_authentication() {
    check_authentication_required(&ToySender(Fault::AuthenticationSkipped)).await;
}

#[tokio::test]
#[should_panic(expected = "bus Fail")]
async fn the_suite_notices_an_answer_before_the_bus_confirmed() {
    check_accepted_only_after_the_bus(&ToySender(Fault::AnsweredBeforeTheBus)).await;
}

#[tokio::test]
#[should_panic(expected = "\"status\":\"accepted\"")]
async fn the_suite_notices_an_ignored_body_limit() {
    check_oversized_refused(&ToySender(Fault::BodyLimitIgnored)).await;
}

#[tokio::test]
#[should_panic(expected = "\"error\":\"schema\"")]
async fn the_suite_notices_an_accepted_malformed_body() {
    check_malformed_refused(&ToySender(Fault::MalformedAccepted)).await;
}

#[tokio::test]
#[should_panic(expected = "lang is named in dropped_fields")]
async fn the_suite_notices_an_unrecorded_dropped_field() {
    check_malformed_optional_field_dropped(&ToySender(Fault::DropsNotRecorded)).await;
}

struct Mounted {
    app: axum::Router,
    publisher: Arc<RecordingPublisher>,
    _dir: tempfile::TempDir,
}

fn mount(channel: Arc<Toy>) -> Mounted {
    let dir = tempfile::tempdir().unwrap();
    let publisher = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: publisher.clone(),
        topics: Topics::new("intake"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path().join("blobs"))),
    };
    Mounted {
        app: channel.routes(ctx),
        publisher,
        _dir: dir,
    }
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, json)
}

#[tokio::test]
async fn the_content_type_is_checked_after_authentication() {
    let mounted = mount(Toy::new(WebhookSettings::new(LIMIT)));
    let mut request = toy_request(toy_body("m-1"), Some(TOKEN));
    request
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    let (status, json) = send(&mounted.app, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{json}");
    assert_eq!(json["error"], "content_type");
    // Unauthenticated, the content type is not even looked at.
    let mut request = toy_request(toy_body("m-1"), Some("wrong"));
    request
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(
        send(&mounted.app, request).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(mounted.publisher.records().is_empty());
}

#[tokio::test]
async fn the_header_check_runs_before_the_body_is_read() {
    let toy = Toy::new(WebhookSettings::new(LIMIT));
    let mounted = mount(Arc::clone(&toy));
    // Over the limit and unauthenticated: 401, the body was never read.
    let request = toy_request(vec![b' '; LIMIT * 2], None);
    let (status, json) = send(&mounted.app, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    assert!(toy.headers_checked.load(Ordering::SeqCst));
}

#[tokio::test]
async fn the_per_sender_limit_answers_429_with_retry_after() {
    let settings = WebhookSettings {
        sender_limiter: SenderLimiter::new(1, 1),
        ..WebhookSettings::new(LIMIT)
    };
    let mounted = mount(Toy::new(settings));
    let first = send(&mounted.app, toy_request(toy_body("m-1"), Some(TOKEN))).await;
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
    let response = mounted
        .app
        .clone()
        .oneshot(toy_request(toy_body("m-2"), Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(mounted.publisher.records().len(), 1);
}

#[tokio::test]
async fn the_channels_in_flight_limit_sheds_with_503() {
    let settings = WebhookSettings {
        max_in_flight: Some(1),
        ..WebhookSettings::new(LIMIT)
    };
    let mounted = mount(Toy::new(settings));
    // One delivery holds the only slot while its body has not arrived.
    let (sender, body) = futures_channel_body();
    let held = tokio::spawn({
        let app = mounted.app.clone();
        async move {
            app.oneshot(
                Request::post(PATH)
                    .header("content-type", "application/json")
                    .header("x-toy-token", TOKEN)
                    .body(body)
                    .unwrap(),
            )
            .await
            .unwrap()
            .status()
        }
    });
    // Until the held request took its slot, a second one may still pass:
    // retry (bounded) until it is shed.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let shed = loop {
        let (status, json) = send(&mounted.app, toy_request(toy_body("m-3"), Some(TOKEN))).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break json;
        }
        assert!(tokio::time::Instant::now() < deadline, "never shed");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(shed["error"], "overloaded");
    sender.send(toy_body("m-4")).await.unwrap();
    drop(sender);
    assert_eq!(held.await.unwrap(), StatusCode::ACCEPTED);
}

/// A body whose bytes the test sends when it wants.
fn futures_channel_body() -> (tokio::sync::mpsc::Sender<Vec<u8>>, Body) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, std::io::Error>(chunk), receiver))
    });
    (sender, Body::from_stream(stream))
}

#[tokio::test]
async fn extra_routes_are_mounted_behind_the_body_limit() {
    let mounted = mount(Toy::new(WebhookSettings::new(LIMIT)));
    let challenge = Request::get(PATH).body(Body::empty()).unwrap();
    let (status, body) = send(&mounted.app, challenge).await;
    assert_eq!((status, body), (StatusCode::OK, "challenge".into()));
    let small = Request::post("/v1/toy/echo")
        .body(Body::from("ping"))
        .unwrap();
    assert_eq!(
        send(&mounted.app, small).await,
        (StatusCode::OK, "ping".into())
    );
    // Declared over the limit, and streamed over it without a length.
    let declared = Request::post("/v1/toy/echo")
        .body(Body::from(vec![b'x'; LIMIT + 1]))
        .unwrap();
    let (status, json) = send(&mounted.app, declared).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert_eq!(json["error"], "too_large");
    let chunks = futures::stream::iter(
        (0..5).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; LIMIT / 4]))),
    );
    let streamed = Request::post("/v1/toy/echo")
        .body(Body::from_stream(chunks))
        .unwrap();
    assert_eq!(
        send(&mounted.app, streamed).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}
