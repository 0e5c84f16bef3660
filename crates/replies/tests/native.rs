//! The route's second body (decision 54): a ticket Zendesk created in its
//! own channel is recorded once and handed to the router on
//! `<prefix>.events.zendesk`; agent comments on it are skipped.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::testing::{FakeReplySender, RecordingPublisher};
use intake_channel::{ChannelContext, ReplySenders};
use intake_event::TicketEvent;
use intake_replies::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use intake_replies::{AgentReplies, ROUTE, SigningSecret, WebhookOptions};
use intake_store::{ConversationRef, NativeTicketState, SqliteStore, StateStore};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const SECRET: &[u8] = b"webhook-secret";

const CREATED: &str = r#"{"event":"ticket_created","ticket_id":"812","via":"Mail",
    "requester_id":"42","requester_name":"Ann","requester_email":"ann@example.com",
    "subject":"Invoice","description":"Where is my invoice?"}"#;

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn StateStore>,
    publisher: Arc<RecordingPublisher>,
    app: axum::Router,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    let mut senders = ReplySenders::new();
    senders.register(FakeReplySender::new("chat")).unwrap();
    let replies = AgentReplies::new(
        Arc::clone(&store),
        senders,
        None,
        WebhookOptions::new(SigningSecret::new(SECRET)),
        CancellationToken::new(),
    );
    let publisher = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: publisher.clone(),
        topics: Topics::new("t"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path().join("blobs"))),
    };
    let app = replies.router_with_bus(ctx);
    Setup {
        _dir: dir,
        store,
        publisher,
        app,
    }
}

impl Setup {
    async fn post(&self, body: &str, signature: Option<&str>) -> (StatusCode, Value) {
        let timestamp = chrono::Utc::now().to_rfc3339();
        let signature =
            signature.map_or_else(|| sign(SECRET, &timestamp, body.as_bytes()), str::to_owned);
        let request = Request::post(ROUTE)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// Posts [`CREATED`], signed: the HTTP status and the reply's `status`.
    async fn post_created(&self) -> (StatusCode, Option<String>) {
        let (status, body) = self.post(CREATED, None).await;
        (status, body["status"].as_str().map(str::to_owned))
    }

    /// The store's state of the native ticket, if it has recorded one.
    async fn native_state(&self, ticket_id: u64) -> Option<NativeTicketState> {
        self.store
            .native_ticket(ticket_id)
            .await
            .unwrap()
            .map(|(_, s)| s)
    }
}

#[tokio::test]
async fn a_ticket_zendesk_created_goes_to_the_router_once() {
    let setup = setup().await;
    assert_eq!(
        setup.post_created().await,
        (StatusCode::OK, Some("accepted".to_owned()))
    );
    let records = setup.publisher.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].topic, "t.events.zendesk");
    assert_eq!(records[0].key, "thread:zendesk:ticket:812");
    let event = TicketEvent::from_json(&records[0].payload).unwrap();
    let native = event.zendesk_ticket.clone().unwrap();
    assert_eq!(
        (native.ticket_id, native.via.as_str(), native.requester_id),
        (812, "email", 42)
    );
    assert_eq!(event.subject.as_deref(), Some("Invoice"));
    assert_eq!(event.contact.email.as_deref(), Some("ann@example.com"));
    assert!(!event.contact.verified);
    assert_eq!(
        setup.native_state(812).await,
        Some(NativeTicketState::Published)
    );
    // Zendesk's retry or a redelivery: nothing more on the bus.
    assert_eq!(
        setup.post_created().await,
        (StatusCode::OK, Some("duplicate".to_owned()))
    );
    assert_eq!(setup.publisher.records().len(), 1);
}

#[tokio::test]
async fn a_wrong_signature_is_refused_before_anything_is_recorded() {
    let setup = setup().await;
    let (status, _) = setup.post(CREATED, Some("Zm9yZ2Vk")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(setup.publisher.records().is_empty());
    assert_eq!(setup.store.native_ticket(812).await.unwrap(), None);
}

#[tokio::test]
async fn a_bus_that_fails_gets_zendesks_retry_which_publishes() {
    let setup = setup().await;
    setup.publisher.set_failing(true);
    let (status, _) = setup.post(CREATED, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        setup.native_state(812).await,
        Some(NativeTicketState::Received),
        "recorded, not yet handed on"
    );
    setup.publisher.set_failing(false);
    assert_eq!(
        setup.post_created().await,
        (StatusCode::OK, Some("accepted".to_owned()))
    );
    assert_eq!(setup.publisher.records().len(), 1);
}

#[tokio::test]
async fn api_tickets_and_intakes_own_are_not_handed_on() {
    let setup = setup().await;
    let api = CREATED.replace(r#""Mail""#, r#""Web Service""#);
    let (_, body) = setup.post(&api, None).await;
    assert_eq!(body["status"], "api");
    let conversation = ConversationRef {
        channel: "chat".into(),
        thread_id: "t1".into(),
    };
    setup
        .store
        .set_conversation_ticket(&conversation, 812)
        .await
        .unwrap();
    let (_, body) = setup.post(CREATED, None).await;
    assert_eq!(body["status"], "own_ticket");
    assert!(setup.publisher.records().is_empty());
    let (status, body) = setup
        .post(&CREATED.replace("ticket_created", "ticket_merged"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn agent_comments_on_such_a_ticket_are_left_to_zendesk() {
    let setup = setup().await;
    setup.post(CREATED, None).await;
    let comment = r#"{"ticket_id":"812","comment_id":"90","author_id":"5","author_role":"agent",
        "requester_id":"42","public":"true","body":"Here it is","attachments":[]}"#;
    let (status, body) = setup.post(comment, None).await;
    assert_eq!(
        (status, body["status"].as_str(), body["reason"].as_str()),
        (StatusCode::OK, Some("skipped"), Some("zendesk_channel"))
    );
    let unknown = comment.replace(r#""812""#, r#""813""#);
    let (_, body) = setup.post(&unknown, None).await;
    assert_eq!(body["reason"], "unknown_ticket");
}
